"""The short form of `make torture`: every scenario, fewer runs; every figure zero."""

from __future__ import annotations

from tests.torture.__main__ import run_all
from tests.torture.report import table


def test_torture_short_form_is_clean():
    rows = run_all(full=False)
    print(table(rows))
    assert all(r.clean for r in rows), table(rows)
    assert all(r.runs > 0 for r in rows if "skipped" not in " ".join(r.notes)), table(rows)
