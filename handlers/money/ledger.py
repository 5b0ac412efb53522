"""The episode's money: every paid call holds its price first, under one lock, so
parallel workers can never spend past `max_episode_cost_usd` together.

    with ledger.hold(price, "image") as hold:
        answer = provider.generate(...)
        hold.settle(answer.cost_usd, answer.usage)

A hold not settled (the call failed, was stopped, raised anything) is released.
The ledger also keeps what the run spent, its tokens, and imagegen's cumulative
spend on the episode (the manifest's and provenance's `cost_usd`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from handlers.episode import layout
from handlers.errors import ImagegenError
from handlers.files.dirs import Dir

_EPSILON = 1e-9


class CostCapReached(ImagegenError):
    """A chapter's next paid call would take the episode past its cost cap."""


class Hold:
    """Money held for one paid call until it is settled or released."""

    def __init__(self, ledger: Ledger, amount: float, kind: str) -> None:
        self._ledger = ledger
        self.amount = amount
        self.kind = kind
        self.settled = False

    def settle(self, cost: float, usage: Mapping[str, int] | None = None) -> None:
        """The call came back: what it really cost, and its tokens."""
        self._ledger._settle(self, cost, usage or {})
        self.settled = True


class Ledger:
    def __init__(
        self,
        cap_usd: float,
        cumulative_usd: float,
        upstream_usd: Callable[[], float],
    ) -> None:
        """`cumulative_usd`: what imagegen spent on the episode before this run;
        `upstream_usd`: other stages' spend, read only when the first call is held."""
        self.cap = cap_usd
        self.cumulative_before = cumulative_usd
        self._upstream_usd = upstream_usd
        self._upstream: float | None = None
        self._run = 0.0
        self._reserved = 0.0
        self._tokens: dict[str, int] = {}
        self._lock = threading.Lock()
        self._upstream_lock = threading.Lock()

    def add_recovered(self, amount: float) -> None:
        """Spend found in an image's own metadata that no manifest counted yet (a crash
        came between the paid image and its manifest entry)."""
        with self._lock:
            self.cumulative_before += amount

    @contextmanager
    def hold(self, amount: float, kind: str, what: str = "the next call") -> Iterator[Hold]:
        """Hold `amount` for one call of `kind` ("image", "prompt", ...); CostCapReached
        when it does not fit. Released unless settled inside the block."""
        hold = self._reserve(amount, kind, what)
        try:
            yield hold
        finally:
            if not hold.settled:
                with self._lock:
                    self._reserved -= hold.amount

    def _reserve(self, amount: float, kind: str, what: str) -> Hold:
        upstream = self._upstream_spend()
        with self._lock:
            spent = upstream + self.cumulative_before + self._run
            if spent + self._reserved + amount > self.cap + _EPSILON:
                left = max(0.0, self.cap - spent - self._reserved)
                raise CostCapReached(
                    f"{what} costs about ${amount:.3f}; the episode has ${left:.3f} left of "
                    f"max_episode_cost_usd {self.cap:.2f}"
                )
            self._reserved += amount
        return Hold(self, amount, kind)

    def _settle(self, hold: Hold, cost: float, usage: Mapping[str, int]) -> None:
        with self._lock:
            self._reserved -= hold.amount
            self._run += cost
            for direction in ("input", "output"):
                n = usage.get(f"{direction}_tokens", 0)
                if n:
                    key = f"{hold.kind}_{direction}"
                    self._tokens[key] = self._tokens.get(key, 0) + n

    def _upstream_spend(self) -> float:
        # Read once, by the first call held, while any other waits: every hold must
        # count it.
        with self._upstream_lock:
            if self._upstream is None:
                self._upstream = self._upstream_usd()
            return self._upstream

    @property
    def run_cost(self) -> float:
        with self._lock:
            return self._run

    @property
    def cumulative(self) -> float:
        """imagegen's spend on the episode, this run included."""
        with self._lock:
            return self.cumulative_before + self._run

    @property
    def tokens(self) -> dict[str, int]:
        with self._lock:
            return dict(self._tokens)

    @property
    def remaining(self) -> float:
        upstream = self._upstream_spend()
        with self._lock:
            spent = upstream + self.cumulative_before + self._run
            return max(0.0, self.cap - spent - self._reserved)


def upstream_spend(provenance: Dir | None, warnings: list[str]) -> float:
    """Sum of `cost_usd` in every other stage's provenance/*.json."""
    total = 0.0
    if provenance is None:
        return 0.0
    for name in sorted(provenance.names()):
        if (
            name == layout.PROVENANCE
            or not name.endswith(layout.PROVENANCE_SUFFIX)
            or name.startswith(".")
        ):
            continue
        try:
            data = provenance.read_json(
                name, max_bytes=layout.MAX_PROVENANCE_BYTES, what="provenance record"
            )
        except (ImagegenError, OSError, ValueError):
            warnings.append(
                f"{provenance.path / name}: unreadable provenance; its cost is not counted"
            )
            continue
        cost = data.get("cost_usd") if isinstance(data, dict) else None
        if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
            total += float(cost)
    return total
