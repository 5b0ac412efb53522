"""Per-episode settle, coalescing and failure backoff. Single-threaded: only the
service loop calls it, so there are no locks; workers report back through the loop.

An episode waits for `settle_seconds` of quiet after its last event (at most
`settle_max_seconds` after its first) before its job starts. Events during a job mark
it dirty: exactly one follow-up job. A failed job is retried after a backoff, or at
once when the input or a marker changes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import DaemonSettings
from daemon.triggers import Trigger
from handlers.episode import layout
from handlers.errors import ImagegenError
from handlers.files.reading import read_json

BUSY_RETRY_SECONDS = 5.0
MAX_REASONS = 5


@dataclass
class _Episode:
    path: Path
    first_event: float | None = None
    last_event: float | None = None
    reasons: list[str] = field(default_factory=list)
    running: bool = False
    dirty: bool = False
    failures: int = 0
    retry_at: float | None = None

    def note(self, reason: str) -> None:
        if reason not in self.reasons and len(self.reasons) < MAX_REASONS:
            self.reasons.append(reason)


@dataclass
class Counts:
    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0


class Scheduler:
    def __init__(
        self,
        settings: DaemonSettings,
        start_job: Callable[[Path, str], None],
        max_input_bytes: int = 5_000_000,
    ) -> None:
        self.settings = settings
        self.max_input_bytes = max_input_bytes
        self._start_job = start_job
        self._episodes: dict[Path, _Episode] = {}
        self._pending: set[Path] = set()
        self.counts = Counts()
        self.accepting = True

    # -- input ---------------------------------------------------------------------

    def add(self, trigger: Trigger, now: float) -> None:
        ep = self._episodes.get(trigger.episode)
        if ep is None:
            ep = self._episodes[trigger.episode] = _Episode(trigger.episode)
        if trigger.kind == "scan":
            # A rescan never overrides a running job or a failure's backoff.
            if ep.running or (ep.retry_at is not None and ep.retry_at > now):
                return
        else:
            ep.retry_at = None  # the input or a marker changed: try again now
        ep.note(trigger.reason)
        if ep.running:
            ep.dirty = True
            return
        self._arm(ep, now)

    def finished(self, episode: Path, outcome: str, now: float) -> None:
        ep = self._episodes[episode]
        ep.running = False
        self.counts.running -= 1
        if outcome in ("failed", "busy"):
            self.counts.failed += outcome == "failed"
        else:
            self.counts.done += 1
        if outcome == "failed":
            ep.failures += 1
            backoff = self.settings.failure_backoff_seconds * 2 ** (ep.failures - 1)
            ep.retry_at = now + min(backoff, self.settings.failure_backoff_max_seconds)
        elif outcome == "busy":
            ep.retry_at = now + BUSY_RETRY_SECONDS
        else:
            ep.failures = 0
        if ep.dirty:
            ep.dirty = False
            ep.retry_at = None
            self._arm(ep, now)
        elif ep.retry_at is not None:
            ep.note("retry after failure" if outcome == "failed" else "episode was locked")
            self._pending.add(episode)
        elif not ep.failures:
            del self._episodes[episode]  # nothing left to remember

    def job_started(self) -> None:
        self.counts.queued -= 1
        self.counts.running += 1

    # -- time ----------------------------------------------------------------------

    def tick(self, now: float) -> float:
        """Start every job that is due; return seconds until the next one is."""
        next_due = math.inf
        for path in list(self._pending):
            ep = self._episodes[path]
            due = self._due(ep)
            if due > now:
                next_due = min(next_due, due)
                continue
            if not self.accepting:
                continue
            if ep.first_event is not None and not self._input_ready(ep, now):
                # Still being written: wait for its next event, or the settle limit.
                limit = ep.first_event + self.settings.settle_max_seconds
                ep.last_event = limit - self.settings.settle_seconds
                next_due = min(next_due, limit)
                continue
            self._start(ep)
        return next_due - now

    @property
    def pending(self) -> int:
        return len(self._pending)

    def is_running(self, episode: Path) -> bool:
        ep = self._episodes.get(episode)
        return ep is not None and ep.running

    # -- internals ------------------------------------------------------------------

    def _arm(self, ep: _Episode, now: float) -> None:
        if ep.first_event is None:
            ep.first_event = now
        ep.last_event = now
        self._pending.add(ep.path)

    def _due(self, ep: _Episode) -> float:
        if ep.first_event is None or ep.last_event is None:
            return ep.retry_at if ep.retry_at is not None else math.inf
        settle = self.settings
        due = min(ep.last_event + settle.settle_seconds, ep.first_event + settle.settle_max_seconds)
        return max(due, ep.retry_at) if ep.retry_at is not None else due

    def _input_ready(self, ep: _Episode, now: float) -> bool:
        """chapters.json parses as JSON, or it is past the settle limit (then the
        handler reports the error). A missing file is not ready either."""
        assert ep.first_event is not None
        if now >= ep.first_event + self.settings.settle_max_seconds:
            return True
        try:
            # Non-blocking and size-bounded: a FIFO or a huge file must not stall the loop.
            read_json(
                ep.path / layout.CHAPTERS, max_bytes=self.max_input_bytes, what=layout.CHAPTERS
            )
        except (ImagegenError, OSError, ValueError):
            return False
        return True

    def _start(self, ep: _Episode) -> None:
        self._pending.discard(ep.path)
        reason = ", ".join(ep.reasons) or "scheduled"
        ep.first_event = ep.last_event = ep.retry_at = None
        ep.reasons = []
        ep.running = True
        self.counts.queued += 1
        self._start_job(ep.path, reason)
