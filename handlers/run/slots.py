"""The run's API slots: `image.concurrency` paid calls at a time, handed to the chapter
furthest along first.

Each chapter's candidates are made one after another (best-of-N stops early), so a
plain semaphore lets every started chapter advance at the same slow pace: the chapter
threads stay busy until near the end and the last chapters start late, leaving slots
idle in a long tail (8 chapters x 3 candidates at c=3: 10.9 s against the ideal 8 s).
Serving the chapter with the most paid calls behind it first finishes chapters in
turn, so threads free up early and every slot stays busy to the end."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ApiSlots:
    def __init__(self, slots: int) -> None:
        self._free = max(1, slots)
        self._waiting: list[tuple[tuple[int, int], int]] = []
        self._tickets = itertools.count()
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, progress: int = 0, order: int = 0) -> Iterator[None]:
        """One slot; among waiters, the most `progress` goes first, then the lowest
        `order` (the chapter's place in the episode)."""
        ticket = next(self._tickets)
        key = (progress, order)
        with self._cond:
            heapq.heappush(self._waiting, (key, ticket))
            while not (self._free > 0 and self._waiting[0][1] == ticket):
                self._cond.wait()
            heapq.heappop(self._waiting)
            self._free -= 1
            # The next waiter may be served too if more than one slot is free.
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self._free += 1
                self._cond.notify_all()
