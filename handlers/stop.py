"""When an episode's run must start no further paid call: the daemon is shutting down
(its cancel event), the run halted itself (bad credentials, no usable model), or the
episode folder was deleted or moved away under it."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from handlers.errors import ImagegenError

log = structlog.get_logger("imagegen")


class NotStarted(ImagegenError):
    """Shutdown or a halt came before this chapter's next paid call."""


class StopSignal:
    """Shared by every worker of one run; the first reason given is the one reported."""

    def __init__(
        self,
        episode: str,
        cancel: threading.Event | None = None,
        gone: Callable[[], str | None] | None = None,
    ) -> None:
        self.episode = episode
        self.cancel = cancel
        self._gone = gone
        self.reason: str | None = None
        # What happened to the episode folder, when that is why the run stopped.
        self.removed: str | None = None
        # The first reason was the daemon's shutdown (an interrupted run, not a failed one).
        self._by_shutdown = False
        self._event = threading.Event()
        # Workers halt at once (a refused key, a gone folder, shutdown): the first keeps it.
        self._lock = threading.Lock()

    def halt(self, reason: str) -> None:
        """Stop the episode: no further calls (bad credentials, unknown model)."""
        self._first(reason, by_shutdown=False, quiet=False)

    def stopping(self) -> bool:
        if not self._event.is_set():
            if self.cancel is not None and self.cancel.is_set():
                self._first("imagegen is shutting down", by_shutdown=True, quiet=False)
            elif self._gone is not None:
                problem = self._gone()
                if problem is not None:
                    self.mark_removed(problem)
        return self._event.is_set()

    def mark_removed(self, problem: str) -> None:
        """The episode folder went away: stop quietly (the run logs it once, as a
        warning: nobody did anything wrong)."""
        with self._lock:
            self.removed = self.removed or problem
        self._first(f"{problem}: nothing more is paid for", by_shutdown=False, quiet=True)

    def _first(self, reason: str, *, by_shutdown: bool, quiet: bool) -> None:
        with self._lock:
            first = self.reason is None
            if first:
                self.reason = reason
                self._by_shutdown = by_shutdown
        if first and not quiet:
            log.error("episode_halted", episode_id=self.episode, error=reason)
        self._event.set()

    def check(self) -> None:
        """Raise NotStarted when no further paid call may start."""
        if self.stopping():
            raise NotStarted(self.reason or "stopping")

    @property
    def cancelled(self) -> bool:
        """Stopped because the daemon is shutting down, before any other reason to stop
        (a run halted by a refused key and then shut down failed; it was not interrupted)."""
        return self._by_shutdown
