"""The imagegen handler's public face: what the CLI and the daemon call.

`run(episode_dir, request, settings)` turns one episode directory into images, a
manifest and a provenance record. It never raises for an expected problem: the
RunResult says what happened. Everything else here is small and read-only, or
writes only a marker a person could write by hand.
"""

from __future__ import annotations

import errno
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from config.settings import Settings
from handlers.episode import layout
from handlers.episode.chapters import load_chapters
from handlers.episode.paths import ensure_inside, episode_dir_of, episode_paths
from handlers.episode.routing import route_of
from handlers.errors import ImagegenError, LockBusy
from handlers.files.lock import episode_lock
from handlers.money.pricing import PRICES_DATE, PriceTable
from handlers.outputs.current import needs_job, state_key
from handlers.outputs.markers import write_marker
from handlers.result import Outcome, RunRequest, RunResult

if TYPE_CHECKING:
    from handlers.run.services import Services

__all__ = [
    "Outcome",
    "RunRequest",
    "RunResult",
    "Validation",
    "episode_dir_of",
    "forget_verified_keys",
    "load_run_machinery",
    "needs_job",
    "price_table",
    "request_retry",
    "run",
    "state_key",
    "validate",
]

log = structlog.get_logger("imagegen")


def run(
    episode_dir: Path,
    request: RunRequest,
    settings: Settings,
    *,
    services: Services | None = None,
) -> RunResult:
    from handlers.run.episode import EpisodeRun  # see load_run_machinery

    started = time.monotonic()
    name = episode_dir.name
    try:
        paths = episode_paths(settings.outputs_dir, episode_dir)
        name = paths.name
        with episode_lock(
            paths.dir,
            wait=request.wait,
            timeout=settings.lock_timeout_seconds,
            on_wait=lambda: log.info("waiting_for_lock", episode_id=name),
        ):
            if request.only_if_needed and _found_current(paths.dir):
                result = RunResult(name, "up_to_date", "up to date")
            else:
                if request.on_start is not None:
                    request.on_start()
                result = EpisodeRun(paths, request, settings, services).run()
    except LockBusy as e:
        result = RunResult(name, "busy", str(e))
    except ImagegenError as e:
        result = RunResult(name, "failed", str(e))
    except OSError as e:
        # Disk full, permissions, a vanished directory: this episode fails, nothing else.
        where = f" ({e.filename})" if e.filename else ""
        hint = ""
        if e.errno in (errno.EACCES, errno.EPERM):
            hint = (
                "; the service's user cannot write there: episode directories must be "
                "writable by its group (upstream: umask 002 and mkdir, or chmod -R g+rwX; "
                "see README, Operate)"
            )
        result = RunResult(name, "failed", f"filesystem error{where}: {e.strerror or e}{hint}")
    result.duration_s = time.monotonic() - started
    return result


def load_run_machinery() -> None:
    """Import what a run needs (the orchestrator, planning, outputs) now. `run` imports
    it on first use, so that the daemon's start-up and the light commands do not pay
    for it; the daemon calls this once READY, so that its first job does not either."""
    import handlers.run.episode  # noqa: F401


def _found_current(episode: Path) -> bool:
    """Current by the cheap check; a blocked episode goes ahead, to say it is blocked."""
    return not (episode / layout.CHAPTERS_STALE).exists() and needs_job(episode) is None


@dataclass
class Validation:
    """A chapters.json that passed, and what a run would do with it."""

    file: Path
    chapters: int
    to_generate: int
    templates: int
    skipped: int
    warnings: list[str] = field(default_factory=list)


def validate(path: Path, settings: Settings) -> Validation:
    """Check one chapters.json (or an episode folder); ImagegenError says what is wrong."""
    file = path / layout.CHAPTERS if path.is_dir() else path
    episode = load_chapters(file, max_bytes=settings.max_input_bytes, episode_name=file.parent.name)
    routes = [route_of(c) for c in episode.chapters]
    return Validation(
        file=file,
        chapters=len(routes),
        to_generate=routes.count("generate"),
        templates=routes.count("template"),
        skipped=routes.count("skip"),
        warnings=list(episode.warnings),
    )


def request_retry(episode_dir: Path, settings: Settings) -> str:
    """Leave `images/imagegen.retry` for the daemon; return the episode's name."""
    paths = episode_paths(settings.outputs_dir, episode_dir_of(episode_dir))
    images = ensure_inside(paths, paths.images)
    images.mkdir(exist_ok=True)
    write_marker(
        ensure_inside(paths, paths.retry_request), by="imagegen retry", reason="operator asked"
    )
    return paths.name


def price_table(settings: Settings) -> tuple[str, dict[str, float]]:
    """(date of the built-in prices, the effective table with overrides)."""
    return PRICES_DATE, dict(PriceTable.with_overrides(settings.prices).prices)


def forget_verified_keys() -> None:
    """Check API keys again on next use (after a reload). The key check's module is
    only loaded once an SDK is: until then no key was verified."""
    key_check = sys.modules.get("handlers.api.key_check")
    if key_check is not None:
        key_check.forget_verified_keys()
