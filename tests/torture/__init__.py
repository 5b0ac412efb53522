"""The torture suite: scenarios that attack the real daemon and handler, each
returning one row of figures. `make torture` runs them in full; `make test` runs a
short form through tests/test_torture.py."""
