"""Per-episode settle, coalescing and failure backoff. Single-threaded: only the
service loop calls it, so there are no locks; workers report back through the loop.

A file its writer has finished (closed after writing, renamed into place) is read at
once: when the input validates, the job starts now. Otherwise, a write still going
or an invalid file, the episode waits for `settle_seconds` of quiet after its last
event (at most `settle_max_seconds` after its first, while chapters.json does not
parse), and an invalid finished file is reported at once. Events during a job mark it
dirty: exactly one follow-up job. A failed job is retried after a backoff, or at once
when the input or a marker changes."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import DaemonSettings
from daemon.triggers import Trigger
from handlers.episode import layout
from handlers.errors import ImagegenError
from handlers.files.reading import read_json

BUSY_RETRY_SECONDS = 5.0
# A finished, valid file's job still waits this long for a sign that its writer is not
# done after all (another event, or the file changed since it was read: a rewrite
# storm); then the settle applies.
QUICK_START_GRACE_SECONDS = 0.005
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
    # Its input was found complete and valid (or a retry was asked): no settle.
    start_now: bool = False
    # chapters.json's stat when it was found valid: it must not change before the job.
    stamp: tuple[int, ...] | None = None
    # Its invalid input was reported in this settle: once is enough.
    reported: bool = False
    # Armed by events during its last job: the follow-up always settles.
    follow_up: bool = False

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
        *,
        check_input: Callable[[Path], str | None] = lambda episode: None,
        report_invalid: Callable[[Path, str, float], None] = lambda episode, why, wait: None,
    ) -> None:
        """`check_input(episode)`: why its chapters.json is not usable now, or None.
        `report_invalid(episode, why, seconds)`: a finished file is not usable; the job
        reports the final error after the settle, `seconds` from now at most."""
        self.settings = settings
        self.max_input_bytes = max_input_bytes
        self._start_job = start_job
        self._check_input = check_input
        self._report_invalid = report_invalid
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
        if trigger.kind == "retry":
            ep.start_now = True  # asked for by a person: run now and report what happens
        elif trigger.ready is None or ep.follow_up:
            ep.start_now = False  # a writer still going, or a storm: settle
        elif not ep.start_now and self.accepting:
            self._try_now(ep, trigger, now)

    def finished(self, episode: Path, outcome: str, now: float, started: bool = True) -> bool:
        """A job ended; `started` False when it found nothing to do before it began (the
        episode current, or locked by another process). True when events during the
        job armed a follow-up."""
        ep = self._episodes[episode]
        ep.running = False
        if started:
            self.counts.running -= 1
            if outcome == "failed":
                self.counts.failed += 1
            elif outcome != "busy":
                self.counts.done += 1
        else:
            self.counts.queued -= 1
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
            ep.follow_up = True
            self._arm(ep, now)
            return True
        if ep.retry_at is not None:
            ep.note("retry after failure" if outcome == "failed" else "episode was locked")
            self._pending.add(episode)
        elif not ep.failures:
            del self._episodes[episode]  # nothing left to remember
        return False

    def job_started(self) -> None:
        self.counts.queued -= 1
        self.counts.running += 1

    def retry_in(self, episode: Path, now: float) -> float | None:
        """Seconds until a failed or locked episode is tried again, if it waits for that."""
        ep = self._episodes.get(episode)
        if ep is None or ep.retry_at is None or ep.running or ep.first_event is not None:
            return None
        return max(0.0, ep.retry_at - now)

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
            if ep.start_now and ep.stamp is not None and _stamp(ep.path) != ep.stamp:
                ep.start_now = False  # rewritten since it was read: a writer still going
                next_due = min(next_due, self._due(ep))
                continue
            if ep.first_event is not None and not ep.start_now and not self._input_ready(ep, now):
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
        if ep.start_now:
            return ep.last_event + QUICK_START_GRACE_SECONDS
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

    def _try_now(self, ep: _Episode, trigger: Trigger, now: float) -> None:
        stamp = _stamp(ep.path)
        problem = self._check_input(ep.path)
        if problem is None:
            ep.start_now = True
            ep.stamp = stamp
        elif trigger.ready == "complete" and not ep.reported:
            ep.reported = True
            assert ep.first_event is not None
            limit = ep.first_event + self.settings.settle_max_seconds
            self._report_invalid(ep.path, problem, max(0.0, limit - now))

    def _start(self, ep: _Episode) -> None:
        self._pending.discard(ep.path)
        reason = ", ".join(ep.reasons) or "scheduled"
        ep.first_event = ep.last_event = ep.retry_at = None
        ep.start_now = ep.reported = ep.follow_up = False
        ep.stamp = None
        ep.reasons = []
        ep.running = True
        self.counts.queued += 1
        self._start_job(ep.path, reason)


def _stamp(episode: Path) -> tuple[int, ...] | None:
    try:
        st = os.stat(episode / layout.CHAPTERS)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
