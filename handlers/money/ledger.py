"""The episode's money: every paid call holds its price first, under one lock, so
parallel workers can never spend past `max_episode_cost_usd` together.

    with ledger.hold(price, "image") as hold:
        answer = provider.generate(...)
        hold.settle(answer.cost_usd, answer.usage)

A hold not settled (the call failed, was stopped, raised anything) is released.
The ledger also keeps what the run spent, its tokens, and imagegen's cumulative
spend on the episode (the manifest's and provenance's `cost_usd`); with a journal
(handlers/money/journal.py) every hold and settle is on disk before it counts.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

import structlog

from handlers.episode import layout
from handlers.errors import ImagegenError
from handlers.files.dirs import Dir
from handlers.money.journal import NANO, SpendJournal, to_nano

_EPSILON = 1e-9

log = structlog.get_logger("imagegen")


class CostCapReached(ImagegenError):
    """A chapter's next paid call would take the episode past its cost cap."""


class JournalUnreadable(ImagegenError):
    """The episode's spend journal is there but cannot be read: no call is paid for."""


class Hold:
    """Money held for one paid call until it is settled or released."""

    def __init__(self, ledger: Ledger, amount: float, kind: str, hold_id: str) -> None:
        self._ledger = ledger
        self.amount = amount
        self.kind = kind
        self.id = hold_id
        self.settled = False

    def settle(self, cost: float, usage: Mapping[str, int] | None = None) -> None:
        """The call came back: what it really cost, and its tokens."""
        self._ledger._settle(self, cost, usage or {})


class Ledger:
    def __init__(
        self,
        cap_usd: float,
        cumulative_usd: float,
        upstream_usd: Callable[[], float],
        journal: SpendJournal | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        """`cumulative_usd`: what imagegen spent on the episode before this run, as its
        manifest or storyboard last said; `journal`: the episode's spend journal, whose
        count wins when larger (it also holds what a killed run spent after them);
        `upstream_usd`: other stages' spend, read only when the first call is held."""
        self.cap = cap_usd
        self._upstream_usd = upstream_usd
        self._upstream: float | None = None
        self._journal = journal
        # Why no call may be paid for: the journal is there but cannot be read.
        self._refused: str | None = None
        before = to_nano(cumulative_usd)
        # The journal counted every call before this run: a file a killed run left
        # (a candidate, a trace, a chapter image) is not counted again when recovered.
        self._journaled = False
        if journal is not None:
            state = journal.read()
            self._refused = state.unreadable
            if warnings is not None:
                warnings.extend(state.problems)
                if state.unreadable is not None:
                    warnings.append(state.unreadable)
            if state.total is not None:
                self._journaled = True
                # Larger than the manifest's after a kill; smaller only when a power cut
                # took the journal's last lines and not the manifest's.
                before = max(before, state.total)
        # imagegen's spend on the episode, this run's settled calls included.
        self._spent = before
        self._run = 0.0
        self._reserved = 0.0
        self._tokens: dict[str, int] = {}
        self._lock = threading.Lock()
        self._upstream_lock = threading.Lock()

    @property
    def journals(self) -> bool:
        """Every call this ledger holds is in the episode's spend journal: the files
        those calls make say so (`journaled` below)."""
        return self._journal is not None

    def add_recovered(self, amount: float, *, journaled: bool) -> None:
        """Spend found in a file a killed run left (a candidate, a trace, a chapter
        image) that no manifest counted. A file `journaled` when it was paid is counted
        by the journal this run read; one made before journals, or with the journal
        since lost, is counted here (and written down, so only once)."""
        if journaled and self._journaled:
            return
        nano = to_nano(amount)
        with self._lock:
            self._write(f"A {nano}", durable=True)
            self._spent += nano

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
                    self._write_after(f"R {hold.id}", durable=False)

    def _reserve(self, amount: float, kind: str, what: str) -> Hold:
        upstream = self._upstream_spend()
        with self._lock:
            spent = upstream + self._spent / NANO
            if spent + self._reserved + amount > self.cap + _EPSILON:
                left = max(0.0, self.cap - spent - self._reserved)
                raise CostCapReached(
                    f"{what} costs about ${amount:.3f}; the episode has ${left:.3f} left of "
                    f"max_episode_cost_usd {self.cap:.2f}"
                )
            hold = Hold(self, amount, kind, secrets.token_hex(6))
            # Written before the call leaves, and durably: a kill at any later moment
            # still counts the call (at its hold) against the cap.
            self._write(f"H {hold.id} {to_nano(amount)}", durable=True)
            self._reserved += amount
        return hold

    def _settle(self, hold: Hold, cost: float, usage: Mapping[str, int]) -> None:
        nano = to_nano(cost)
        with self._lock:
            hold.settled = True
            self._reserved -= hold.amount
            self._run += cost
            self._spent += nano
            for direction in ("input", "output"):
                n = usage.get(f"{direction}_tokens", 0)
                if n:
                    key = f"{hold.kind}_{direction}"
                    self._tokens[key] = self._tokens.get(key, 0) + n
            # Durable when it says more than the hold: lost, the call would count short.
            self._write_after(f"S {hold.id} {nano}", durable=nano > to_nano(hold.amount))

    def _write(self, line: str, *, durable: bool) -> None:
        """One journal line, under the lock (the journal's order is the ledger's). The
        run's first starts the journal afresh with the spend counted so far."""
        if self._journal is None:
            return
        if self._refused is not None:
            raise JournalUnreadable(self._refused)
        if not self._journal.started:
            self._journal.start(self._spent)
        self._journal.append(line, durable=durable)

    def _write_after(self, line: str, *, durable: bool) -> None:
        """A settle or release line. Its call is over and counted here; without the
        line the next run counts the call at its hold (never short), so a journal that
        cannot take it (disk full, the folder gone) costs no image already paid for:
        said, not raised (the next write that matters raises)."""
        try:
            self._write(line, durable=durable)
        except (ImagegenError, OSError) as e:
            log.warning("spend_journal_not_written", line=line, error=str(e))

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
            return self._spent / NANO

    @property
    def tokens(self) -> dict[str, int]:
        with self._lock:
            return dict(self._tokens)

    @property
    def remaining(self) -> float:
        upstream = self._upstream_spend()
        with self._lock:
            spent = upstream + self._spent / NANO
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
