"""The imagegen handler's public face: what the CLI and the daemon call.

`run(episode_dir, request, settings)` turns one episode directory into images, a
manifest and a provenance record, then its gallery and its rows in the media
database. It never raises for an expected problem: the RunResult says what happened.
Everything else here is small and read-only, or writes only a marker a person could
write by hand (the review server's actions included), or rebuilds the database.
"""

from __future__ import annotations

import errno
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import structlog

from config.settings import Settings
from handlers.episode import layout
from handlers.episode.chapters import load_chapters
from handlers.episode.dirs import EpisodeDirs
from handlers.episode.paths import (
    episode_dir_of,
    episode_paths,
    media_db_path,
    root_gallery_path,
)
from handlers.episode.routing import route_of
from handlers.episode.tree import MAX_DEPTH, find_episodes
from handlers.errors import ImagegenError, LockBusy, UsageError
from handlers.files.lock import episode_lock
from handlers.money.pricing import PRICES_DATE, PriceTable
from handlers.outputs import media_sink
from handlers.outputs.current import needs_job, state_key
from handlers.outputs.entries import now_iso
from handlers.outputs.manifest import ManifestEntry
from handlers.outputs.markers import marker_info
from handlers.outputs.media_rows import RunRow
from handlers.outputs.media_sink import EpisodeStatus, RebuildReport
from handlers.outputs.publish import after_job
from handlers.result import Outcome, RunRequest, RunResult

if TYPE_CHECKING:
    from handlers.run.keys import ProviderStatus
    from handlers.run.services import Services

__all__ = [
    "MAX_DEPTH",
    "EpisodeStatus",
    "ManifestEntry",
    "Outcome",
    "RebuildReport",
    "ReviewAction",
    "RunRequest",
    "RunResult",
    "RunRow",
    "Validation",
    "chapter_candidates",
    "episode_dir_of",
    "episode_runs",
    "find_episodes",
    "forget_verified_keys",
    "gallery_of",
    "media_db_file",
    "needs_job",
    "pick",
    "price_table",
    "provider_report",
    "rebuild_media_db",
    "request_retry",
    "rescore",
    "review_episode_page",
    "review_file",
    "review_request",
    "review_tree_page",
    "review_version",
    "run",
    "state_key",
    "status",
    "validate",
    "warm_up",
]

log = structlog.get_logger("imagegen")


def run(
    episode_dir: Path,
    request: RunRequest,
    settings: Settings,
    *,
    services: Services | None = None,
) -> RunResult:
    started = time.monotonic()
    started_at = now_iso()
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
                # Here, not at the top: an up-to-date episode needs none of it (see warm_up).
                from handlers.run.episode import EpisodeRun

                if request.on_start is not None:
                    request.on_start()
                result = _guarded(name, lambda: EpisodeRun(dirs, request, settings, services).run())
            after_job(dirs, result, trigger=request.trigger, started_at=started_at)
    except LockBusy as e:
        result = RunResult(name, "busy", str(e))
    except (ImagegenError, OSError) as e:
        result = _failure(name, e)
    result.duration_s = time.monotonic() - started
    return result


def _tell_waiting(name: str, holder: str, request: RunRequest) -> None:
    message = f"{name}: waiting for the lock held by {holder}"
    log.info("waiting_for_lock", episode_id=name, holder=holder, message=message)
    if request.on_lock_wait is not None:
        request.on_lock_wait(message)


def _guarded(name: str, job: Callable[[], RunResult]) -> RunResult:
    """The job's result, or a failed one saying what went wrong (then the gallery and
    the database still record the failure)."""
    try:
        return job()
    except (ImagegenError, OSError) as e:
        return _failure(name, e)


def _failure(name: str, e: ImagegenError | OSError) -> RunResult:
    if isinstance(e, ImagegenError):
        return RunResult(name, "failed", str(e))
    # Disk full, permissions, a vanished directory: this episode fails, nothing else.
    where = f" ({e.filename})" if e.filename else ""
    hint = ""
    if e.errno in (errno.EACCES, errno.EPERM):
        hint = (
            "; the service's user cannot write there: episode directories must be "
            "writable by its group (upstream: umask 002 and mkdir, or chmod -R g+rwX; "
            "see README, Operate)"
        )
    return RunResult(name, "failed", f"filesystem error{where}: {e.strerror or e}{hint}")


def provider_report(settings: Settings, *, check: bool) -> list[ProviderStatus]:
    """One status per paid image provider (`imagegen config`, the daemon's start-up
    check); `check` asks each one in use with a key. Loaded on use: see run()."""
    from handlers.run.keys import provider_report as report

    return report(settings, check=check)


def warm_up(settings: Settings) -> None:
    """Load what a job needs (about 1 s of CPU) before the first one needs it: the
    orchestrator, the pipeline and its checks, and with OCR on, a Tesseract engine and
    the word lists. `run` imports on first use, so that start-up and the light commands
    do not pay for it; the daemon calls this beside its loop once READY, so that its
    first job does not either."""
    import handlers.run.episode
    import handlers.run.pipeline  # noqa: F401
    from handlers.outputs import gallery
    from handlers.select import checks

    checks.warm_up(read_text=settings.selection.ocr)
    gallery.warm_up()


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
    from handlers.outputs.review_pages import request_pick

    paths = episode_paths(settings.outputs_dir, episode_dir_of(episode_dir))
    request_pick(paths, chapter_id, candidate, by)
    return run(paths.dir, RunRequest(mode="picks", trigger=f"select by {by}"), settings)


def chapter_candidates(episode_dir: Path, chapter_id: str, settings: Settings) -> ManifestEntry:
    """A chapter's manifest entry: its candidates, which one is chosen and why."""
    from handlers.outputs.review_pages import chapter_entry

    return chapter_entry(
        episode_paths(settings.outputs_dir, episode_dir_of(episode_dir)), chapter_id
    )


def rescore(
    episode_dir: Path, settings: Settings, chapters: frozenset[str] | None = None
) -> RunResult:
    """Checks and judge again on the kept candidates; no image is paid for."""
    request = RunRequest(mode="rescore", chapters=chapters, trigger="rescore")
    return run(episode_dir_of(episode_dir), request, settings)


# -- the media database and the gallery -------------------------------------------------


def rebuild_media_db(settings: Settings) -> RebuildReport:
    """A new media database from the files of the tree (`imagegen db rebuild`)."""
    return media_sink.rebuild_database(_root(settings))


def status(settings: Settings, episode: Path | None = None) -> list[EpisodeStatus]:
    """Every episode's last job (or one episode's), from the media database; a missing
    or damaged database is rebuilt from the files first."""
    root = _root(settings)
    if episode is None:
        return media_sink.read_status(root)
    paths = episode_paths(root, episode_dir_of(episode))
    return media_sink.read_status(root, paths.relative)


def episode_runs(settings: Settings, episode: Path, limit: int = 20) -> list[RunRow]:
    root = _root(settings)
    relative = episode_paths(root, episode_dir_of(episode)).relative
    return media_sink.episode_runs(root, relative, limit)


def gallery_of(settings: Settings, episode: Path | None = None) -> Path:
    """Where the tree's (or an episode's) gallery page is written."""
    if episode is None:
        return root_gallery_path(_root(settings))
    return episode_paths(settings.outputs_dir, episode_dir_of(episode)).gallery


def media_db_file(settings: Settings) -> Path:
    return media_db_path(_root(settings))


# -- the review server: pages, files and requests (pages and files read-only) -------------
# Its addresses name an episode by its path under the root ("ep001", "show/ep001").

ReviewAction = Literal["select", "regenerate_chapter", "regenerate_clip", "regenerate_episode"]


def review_tree_page(settings: Settings) -> str:
    from handlers.outputs import review_pages  # Jinja2: only for pages

    return review_pages.tree_page(_root(settings))


def review_episode_page(settings: Settings, episode: str) -> str:
    from handlers.outputs import review_pages

    return review_pages.episode_page(_root(settings), episode)


def review_version(settings: Settings, episode: str | None) -> str:
    """Changes when the page of the episode (or of the tree) would show something new."""
    from handlers.outputs import review_pages

    root = _root(settings)
    return (
        review_pages.tree_version(root)
        if episode is None
        else review_pages.episode_version(root, episode)
    )


def review_file(settings: Settings, relative: str) -> bytes:
    from handlers.outputs import review_pages

    return review_pages.served_file(_root(settings), relative)


def review_request(
    settings: Settings,
    episode: str,
    action: ReviewAction,
    chapter_id: str | None,
    candidate: str | None,
    *,
    by: str,
) -> str:
    """Write the request file a person could write by hand; returns what was asked."""
    from handlers.outputs import review_pages

    paths = review_pages.episode_of(_root(settings), episode)
    if action == "select":
        if chapter_id is None or candidate is None:
            raise UsageError("select needs chapter_id and candidate")
        target = review_pages.request_pick(paths, chapter_id, candidate, by)
        return f"{paths.relative} {chapter_id}: {candidate} requested ({target})."
    if action == "regenerate_chapter":
        if chapter_id is None:
            raise UsageError("regenerate_chapter needs chapter_id")
        target = review_pages.request_regenerate(paths, chapter_id, by)
        return f"{paths.relative} {chapter_id}: regeneration requested ({target})."
    if action == "regenerate_clip":
        if chapter_id is None:
            raise UsageError("regenerate_clip needs chapter_id")
        target = review_pages.request_regenerate_clip(paths, chapter_id, by)
        return f"{paths.relative} {chapter_id}: a new clip requested ({target})."
    target = review_pages.request_regenerate(paths, None, by)
    return f"{paths.relative}: regeneration of every chapter requested ({target})."


def _root(settings: Settings) -> Path:
    root = Path(os.path.realpath(settings.outputs_dir))
    if not root.is_dir():
        raise ImagegenError(
            f"outputs root {settings.outputs_dir} does not exist or is not a directory "
            "(setting outputs_dir)"
        )
    return root


def price_table(settings: Settings) -> tuple[str, dict[str, float]]:
    """(date of the built-in prices, the effective table with overrides)."""
    return PRICES_DATE, dict(PriceTable.with_overrides(settings.prices).prices)


def forget_verified_keys() -> None:
    """Check API keys again on next use (after a reload). The key check's module is
    only loaded once an SDK is: until then no key was verified."""
    key_check = sys.modules.get("handlers.api.key_check")
    if key_check is not None:
        key_check.forget_verified_keys()
