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
        self._event = threading.Event()

    def halt(self, reason: str) -> None:
        """Stop the episode: no further calls (bad credentials, unknown model)."""
        if self.reason is None:
            self.reason = reason
            log.error("episode_halted", episode_id=self.episode, error=reason)
        self._event.set()

    def stopping(self) -> bool:
        if not self._event.is_set():
            if self.cancel is not None and self.cancel.is_set():
                self.halt("imagegen is shutting down")
            elif self._gone is not None:
                problem = self._gone()
                if problem is not None:
                    self.mark_removed(problem)
        return self._event.is_set()

    def mark_removed(self, problem: str) -> None:
        """The episode folder went away: stop quietly (the run logs it once, as a
        warning: nobody did anything wrong)."""
        self.removed = self.removed or problem
        if self.reason is None:
            self.reason = f"{problem}: nothing more is paid for"
        self._event.set()

    def check(self) -> None:
        """Raise NotStarted when no further paid call may start."""
        if self.stopping():
            raise NotStarted(self.reason or "stopping")

    @property
    def cancelled(self) -> bool:
        """Stopped because the daemon is shutting down (not because the run failed)."""
        return self.reason is not None and self.cancel is not None and self.cancel.is_set()
