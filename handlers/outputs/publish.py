"""After a job, what describes its files: the episode's gallery, the media database, the
tree's gallery, in that order and each after the files it reads. None of it can fail
the job: the images, manifest and provenance are written already, and a problem here
is a warning (the next job, or `imagegen db rebuild`, makes it good)."""

from __future__ import annotations

import sqlite3
import uuid

import structlog

from handlers.episode import layout
from handlers.episode.dirs import EpisodeDirs
from handlers.errors import ImagegenError
from handlers.outputs.entries import now_iso
from handlers.outputs.media_rows import RunRow, text
from handlers.outputs.provenance import RUN_COUNTS
from handlers.result import RunResult

log = structlog.get_logger("imagegen")

# Jobs that leave the files as they were and are not worth a row: nothing happened.
NOT_RECORDED = frozenset({"dry_run", "busy", "up_to_date"})


def after_job(dirs: EpisodeDirs, result: RunResult, *, trigger: str, started_at: str) -> None:
    """Called with the episode lock still held, so no other job's files change meanwhile."""
    if result.outcome in ("dry_run", "busy", "removed"):
        return  # "removed": the episode folder went away under the job; nothing to show
    paths = dirs.paths
    if result.outcome == "up_to_date" and _has_gallery(dirs):
        return  # nothing changed, and nothing is written: not even a page
    # Imported here: Jinja2 and Pillow are for jobs that write; "up to date" needs neither.
    from handlers.outputs import gallery, media_sink

    def warn(event: str, what: str, e: BaseException) -> None:
        message = f"{what}: {type(e).__name__}: {e}"
        result.warnings.append(message)
        log.warning(event, episode_id=paths.name, message=message)

    try:
        result.warnings.extend(gallery.write_episode_gallery(dirs))
    except (ImagegenError, OSError, ValueError) as e:
        warn("gallery_failed", f"{paths.gallery} not written", e)
    try:
        media_sink.record_job(paths.root, paths, _unrecorded_job(result, trigger, started_at))
        episodes, total = media_sink.recent_episodes(paths.root, gallery.TREE_PAGE_EPISODES)
        gallery.write_tree_gallery(dirs.root, episodes, total)
    except (ImagegenError, OSError, sqlite3.Error, ValueError) as e:
        # ValueError: a name SQLite or JSON cannot take; the files are right regardless.
        warn("media_db_failed", "media database or tree gallery not updated", e)


def _has_gallery(dirs: EpisodeDirs) -> bool:
    try:
        images = dirs.images()
    except ImagegenError:
        return False
    return images is not None and images.stat(layout.GALLERY) is not None


def _unrecorded_job(result: RunResult, trigger: str, started_at: str) -> RunRow | None:
    """A job that wrote provenance is in its history (result.job_id); one that stopped
    before (unreadable input, blocked) gets its row here, in the database only."""
    if result.job_id or result.outcome in NOT_RECORDED:
        return None
    return RunRow(
        job_id=uuid.uuid4().hex,
        trigger=text(trigger),
        started_at=started_at,
        finished_at=now_iso(),
        status=result.outcome,
        counts={k: getattr(result, k) for k in RUN_COUNTS},
        cost_usd=result.cost_usd,
        error=text(result.message) if result.message else None,
    )
