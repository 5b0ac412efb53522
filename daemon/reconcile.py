"""Find episodes under the outputs root; whether one needs a job is the handler's
cheap pre-check (`handlers.imagegen.needs_job`), the same reader the handler uses."""

from __future__ import annotations

from handlers.imagegen import MAX_DEPTH, find_episodes, needs_job

__all__ = ["MAX_DEPTH", "find_episodes", "needs_job"]
