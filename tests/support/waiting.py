"""Waiting for a condition in a test, with a deadline instead of a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable


def until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """True as soon as `predicate()` is; False if it is still false after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False
