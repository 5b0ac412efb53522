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
from handlers.episode.dirs import EpisodeDirs
from handlers.episode.paths import episode_dir_of, episode_paths
from handlers.episode.routing import route_of
from handlers.errors import ImagegenError, LockBusy, UsageError
from handlers.files.lock import episode_lock
from handlers.money.pricing import PRICES_DATE, PriceTable
from handlers.outputs.current import needs_job, state_key
from handlers.outputs.manifest import read_manifest
from handlers.outputs.markers import marker_info
from handlers.outputs.picks import pick_record
from handlers.result import Outcome, RunRequest, RunResult

if TYPE_CHECKING:
    from handlers.run.keys import ProviderStatus
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
    "pick",
    "price_table",
    "provider_report",
    "request_retry",
    "rescore",
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
        with (
            EpisodeDirs(paths) as dirs,
            episode_lock(
                paths.dir,
                wait=request.wait,
                timeout=settings.lock_timeout_seconds,
                on_wait=lambda holder: _tell_waiting(paths.name, holder, request),
                held=dirs.episode.fd,
            ),
        ):
            if request.only_if_needed and _found_current(paths.dir):
                result = RunResult(name, "up_to_date", "up to date")
            else:
                if request.on_start is not None:
                    request.on_start()
                result = EpisodeRun(dirs, request, settings, services).run()
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


def _tell_waiting(name: str, holder: str, request: RunRequest) -> None:
    message = f"{name}: waiting for the lock held by {holder}"
    log.info("waiting_for_lock", episode_id=name, holder=holder, message=message)
    if request.on_lock_wait is not None:
        request.on_lock_wait(message)


def provider_report(settings: Settings, *, check: bool) -> list[ProviderStatus]:
    """One status per paid image provider (`imagegen config`, the daemon's start-up
    check); `check` asks each one in use with a key. Loaded on use: see run()."""
    from handlers.run.keys import provider_report as report

    return report(settings, check=check)


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
    chapter_ids: list[str] = field(default_factory=list)
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
        chapter_ids=[c.chapter_id for c in episode.chapters],
        warnings=list(episode.warnings),
    )


def request_retry(episode_dir: Path, settings: Settings) -> str:
    """Leave `images/imagegen.retry` for the daemon; return the episode's name."""
    paths = episode_paths(settings.outputs_dir, episode_dir_of(episode_dir))
    with EpisodeDirs(paths) as dirs:
        images = dirs.images(create=True)
        assert images is not None
        images.write_json(layout.RETRY_REQUEST, marker_info("imagegen retry", "operator asked"))
    return paths.name


def pick(
    episode_dir: Path, chapter_id: str, candidate: str, settings: Settings, *, by: str
) -> RunResult:
    """A person's choice of a chapter's candidate: checked against the manifest, left
    as `images/<chapter_id>.select` (what the review page and the daemon read too),
    then applied at once by a run that does nothing else and pays nothing."""
    paths = episode_paths(settings.outputs_dir, episode_dir_of(episode_dir))
    warnings: list[str] = []
    with EpisodeDirs(paths) as dirs:
        images = dirs.images()
        manifest = read_manifest(images, warnings)
        entry = manifest.entry(chapter_id) if manifest else None
        if entry is None:
            known = ", ".join(e.chapter_id for e in manifest.chapters) if manifest else "none yet"
            raise UsageError(
                f"{paths.manifest}: no chapter {chapter_id!r} has images (chapters: {known})"
            )
        if entry.candidate(candidate) is None:
            known = ", ".join(c.id for c in entry.candidates) or "none kept"
            raise UsageError(f"{chapter_id} has no candidate {candidate!r} (candidates: {known})")
        assert images is not None  # a manifest was read there
        images.write_json(layout.select_name(chapter_id), pick_record(candidate, by))
    return run(paths.dir, RunRequest(mode="picks", trigger=f"select by {by}"), settings)


def rescore(
    episode_dir: Path, settings: Settings, chapters: frozenset[str] | None = None
) -> RunResult:
    """Checks and judge again on the kept candidates; no image is paid for."""
    request = RunRequest(mode="rescore", chapters=chapters, trigger="rescore")
    return run(episode_dir_of(episode_dir), request, settings)


def price_table(settings: Settings) -> tuple[str, dict[str, float]]:
    """(date of the built-in prices, the effective table with overrides)."""
    return PRICES_DATE, dict(PriceTable.with_overrides(settings.prices).prices)


def forget_verified_keys() -> None:
    """Check API keys again on next use (after a reload). The key check's module is
    only loaded once an SDK is: until then no key was verified."""
    key_check = sys.modules.get("handlers.api.key_check")
    if key_check is not None:
        key_check.forget_verified_keys()
