"""The ``fake_api`` fixture; register with ``pytest_plugins = ["tests.fakeapi.pytest_plugin"]``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakeapi.server import FakeAPI


@pytest.fixture
def fake_api() -> Iterator[FakeAPI]:
    """A started FakeAPI on an ephemeral loopback port, stopped at teardown."""
    with FakeAPI() as fake:
        yield fake
