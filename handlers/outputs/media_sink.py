"""Writing the media database from the files, and reading it back for `imagegen status`
and the tree's gallery.

`record_job` runs after every job (the files are written by then): it replaces the
episode's rows with what its files say, inside one write transaction, reading the
files after taking the write lock, so whichever writer comes last wrote what the
disk holds last. `rebuild` does the same for every episode of the tree. A database
found missing or damaged is rebuilt on the spot, whoever opens it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import structlog

from handlers.episode.dirs import EpisodeDirs
from handlers.episode.paths import EpisodePaths, episode_paths
from handlers.episode.tree import find_episodes
from handlers.errors import ImagegenError
from handlers.outputs import media_db
from handlers.outputs.media_rows import EpisodeRows, PromptUse, RunRow, episode_rows, text
from handlers.outputs.provenance import RUN_COUNTS

log = structlog.get_logger("imagegen")

T = TypeVar("T")


@dataclass(frozen=True)
class RebuildReport:
    episodes: int
    assets: int
    runs: int
    seconds: float


class EpisodeStatus(NamedTuple):
    """One line of `imagegen status`: what the episode's files hold and how its last
    job ended (None: no job recorded). A tuple: 50,000 of them are made at once."""

    episode_id: str
    title: str | None
    chapters: int
    images: int
    failed_chapters: int
    cumulative_cost_usd: float
    updated_at: str | None
    status: str | None
    finished_at: str | None
    trigger: str | None
    cost_usd: float | None
    error: str | None


# -- writing ------------------------------------------------------------------------------


def record_job(root: Path, paths: EpisodePaths, job: RunRow | None) -> None:
    """The episode's rows from its files, and `job` when it left no provenance."""
    _with_db(root, lambda conn: sync_episode(conn, paths, job))


def rebuild_database(root: Path) -> RebuildReport:
    """`imagegen db rebuild`: a new database from the tree, nothing kept from the old."""
    started = time.monotonic()
    media_db.delete_database(root)
    return _with_db(root, lambda conn: _counts(conn, time.monotonic() - started))


def sync_episode(conn: sqlite3.Connection, paths: EpisodePaths, job: RunRow | None) -> None:
    with media_db.transaction(conn), EpisodeDirs(paths) as dirs:
        rows = episode_rows(dirs)
        episode = rows.episode_id
        conn.execute("DELETE FROM media_assets WHERE episode_id = ?", (episode,))
        _replace_prompts(conn, rows)
        conn.executemany(
            "INSERT INTO media_assets (episode_id, asset_type, chapter_id, file_path, "
            "mime_type, size_bytes, duration_seconds, metadata, prompt_version_id, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
            "(SELECT id FROM prompt_versions WHERE content_sha256 = ?), ?)",
            [
                (
                    episode,
                    a.asset_type,
                    a.chapter_id,
                    a.file_path,
                    a.mime_type,
                    a.size_bytes,
                    a.duration_seconds,
                    a.metadata_json(),
                    a.prompt_sha256,
                    a.created_at,
                )
                for a in rows.assets
            ],
        )
        _replace_runs(conn, rows, job)
        last = (
            conn.execute(
                "SELECT id, status, finished_at, trigger, cost_usd, error FROM runs "
                "WHERE episode_id = ? ORDER BY finished_at DESC, id DESC LIMIT 1",
                (episode,),
            ).fetchone()
            or (None,) * 6
        )
        conn.execute(
            "INSERT OR REPLACE INTO episodes (episode_id, title, chapters, images, "
            "failed_chapters, cumulative_cost_usd, updated_at, last_run_id, last_status, "
            "last_finished_at, last_trigger, last_cost_usd, last_error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                episode,
                rows.title,
                rows.chapters,
                rows.images,
                rows.failed,
                rows.cumulative_cost_usd,
                rows.updated_at,
                *last,
            ),
        )


def _replace_prompts(conn: sqlite3.Connection, rows: EpisodeRows) -> None:
    """The episode's templates: those its provenance lists, and any an image names that
    it does not (a record from before prompt_templates existed)."""
    uses = {p.sha256: p for p in rows.prompts}
    for asset in rows.assets:
        if asset.prompt_sha256 and asset.prompt_sha256 not in uses:
            uses[asset.prompt_sha256] = PromptUse(asset.prompt_sha256, None, None, None, None)
    before = {
        vid
        for (vid,) in conn.execute(
            "SELECT prompt_version_id FROM prompt_uses WHERE episode_id = ?", (rows.episode_id,)
        )
    }
    conn.execute("DELETE FROM prompt_uses WHERE episode_id = ?", (rows.episode_id,))
    for use in uses.values():
        (vid,) = conn.execute(
            "INSERT INTO prompt_versions (name, source, content_sha256, text) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (content_sha256) DO UPDATE SET name = coalesce(name, excluded.name), "
            "source = coalesce(source, excluded.source), text = coalesce(text, excluded.text) "
            "RETURNING id",
            (use.name, use.source, use.sha256, use.text),
        ).fetchone()
        conn.execute(
            "INSERT INTO prompt_uses (episode_id, prompt_version_id, first_used) VALUES (?, ?, ?)",
            (rows.episode_id, vid, use.first_used),
        )
        before.add(vid)
    for vid in before:
        conn.execute(
            "UPDATE prompt_versions SET first_used = (SELECT min(first_used) FROM prompt_uses "
            "WHERE prompt_version_id = ?1) WHERE id = ?1",
            (vid,),
        )
    # A template no episode uses any more is no longer a version of anything here.
    conn.executemany(
        "DELETE FROM prompt_versions WHERE id = ?1 "
        "AND NOT EXISTS (SELECT 1 FROM prompt_uses WHERE prompt_version_id = ?1) "
        "AND NOT EXISTS (SELECT 1 FROM media_assets WHERE prompt_version_id = ?1)",
        [(vid,) for vid in before],
    )


def _replace_runs(conn: sqlite3.Connection, rows: EpisodeRows, job: RunRow | None) -> None:
    episode = rows.episode_id
    listed = [r.job_id for r in rows.runs]
    # Runs that fell out of provenance's bounded history go, as a rebuild would drop them.
    conn.execute("UPDATE episodes SET last_run_id = NULL WHERE episode_id = ?", (episode,))
    conn.execute(
        "DELETE FROM runs WHERE episode_id = ? AND source = 'provenance' "
        f"AND job_id NOT IN ({', '.join('?' * len(listed))})",
        (episode, *listed),
    )
    for run, source in [*((r, "provenance") for r in rows.runs), *([(job, "job")] if job else [])]:
        conn.execute(
            "INSERT OR IGNORE INTO runs (job_id, episode_id, trigger, started_at, finished_at, "
            f"status, {', '.join(RUN_COUNTS)}, cost_usd, error, source) "
            f"VALUES (?, ?, ?, ?, ?, ?, {', '.join('?' * len(RUN_COUNTS))}, ?, ?, ?)",
            (
                run.job_id,
                episode,
                run.trigger,
                run.started_at,
                run.finished_at,
                run.status,
                *(run.counts.get(k, 0) for k in RUN_COUNTS),
                run.cost_usd,
                run.error,
                source,
            ),
        )


def _rebuild(conn: sqlite3.Connection, root: Path) -> None:
    """Every episode of the tree, one transaction each (jobs finishing meanwhile write
    between them); rows of episodes no longer in the tree go."""
    started = time.monotonic()
    _set_meta(conn, "rebuild_state", "running")
    log.info("media_db_rebuilding", message=f"rebuilding the media database from {root}")
    found: list[str] = []
    for directory in find_episodes(root):
        try:
            paths = episode_paths(root, directory)
        except ImagegenError:
            continue  # a symlink out of the root: the handler refuses it by name
        sync_episode(conn, paths, None)
        found.append(text(paths.relative))
    with media_db.transaction(conn):
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS found (episode_id TEXT PRIMARY KEY)")
        conn.execute("DELETE FROM found")
        conn.executemany("INSERT OR IGNORE INTO found VALUES (?)", [(e,) for e in found])
        gone = "episode_id NOT IN (SELECT episode_id FROM found)"
        conn.execute(f"DELETE FROM episodes WHERE {gone}")
        conn.execute(f"DELETE FROM media_assets WHERE {gone}")
        conn.execute(f"DELETE FROM runs WHERE {gone}")
        conn.execute(f"DELETE FROM prompt_uses WHERE {gone}")
        conn.execute(
            "DELETE FROM prompt_versions WHERE id NOT IN (SELECT prompt_version_id FROM "
            "prompt_uses) AND id NOT IN (SELECT prompt_version_id FROM media_assets "
            "WHERE prompt_version_id IS NOT NULL)"
        )
    _set_meta(conn, "rebuild_state", "done")
    report = _counts(conn, time.monotonic() - started)
    log.info(
        "media_db_rebuilt",
        message=f"media database rebuilt: {report.episodes} episodes, {report.assets} assets, "
        f"{report.runs} runs in {report.seconds:.1f} s",
    )


def _set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def _counts(conn: sqlite3.Connection, seconds: float) -> RebuildReport:
    def count(table: str) -> int:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])

    return RebuildReport(count("episodes"), count("media_assets"), count("runs"), seconds)


# -- the connection, with its repairs -----------------------------------------------------


def _with_db(root: Path, use: Callable[[sqlite3.Connection], T]) -> T:
    """`use` on a healthy database: a missing one is built from the files first, a
    damaged one moved aside and rebuilt, a rebuild that was killed finished."""
    for attempt in (1, 2):
        try:
            with _healthy(root) as conn:
                return use(conn)
        except sqlite3.DatabaseError as e:
            if attempt == 2 or not media_db.is_corruption(e):
                raise
            media_db.move_aside(media_db.state_dir(root))
    raise AssertionError("unreachable")


@contextmanager
def _healthy(root: Path) -> Iterator[sqlite3.Connection]:
    with media_db.connect(root) as (conn, fresh):
        row = conn.execute("SELECT value FROM meta WHERE key = 'rebuild_state'").fetchone()
        if fresh or (row is not None and row[0] == "running"):
            with media_db.rebuild_lock(root) as mine:
                # Another process rebuilding: it covers every episode; go on meanwhile.
                if mine:
                    _rebuild(conn, root)
        yield conn


# -- reading ------------------------------------------------------------------------------

_STATUS_SQL = (
    "SELECT episode_id, title, chapters, images, failed_chapters, cumulative_cost_usd, "
    "updated_at, last_status, last_finished_at, last_trigger, last_cost_usd, last_error "
    "FROM episodes"
)


def read_status(root: Path, episode: str | None = None) -> list[EpisodeStatus]:
    """Every episode (or one) with its last job, in episode order."""

    def query(conn: sqlite3.Connection) -> list[EpisodeStatus]:
        if episode is None:
            cursor = conn.execute(_STATUS_SQL + " ORDER BY episode_id")
        else:
            cursor = conn.execute(_STATUS_SQL + " WHERE episode_id = ?", (text(episode),))
        return list(map(EpisodeStatus._make, cursor))

    return _with_db(root, query)


def recent_episodes(root: Path, limit: int) -> tuple[list[EpisodeStatus], int]:
    """The `limit` episodes whose last job finished last, and how many there are."""

    def query(conn: sqlite3.Connection) -> tuple[list[EpisodeStatus], int]:
        total = int(conn.execute("SELECT count(*) FROM episodes").fetchone()[0])
        cursor = conn.execute(
            _STATUS_SQL + " ORDER BY coalesce(last_finished_at, updated_at) DESC, "
            "episode_id LIMIT ?",
            (limit,),
        )
        return list(map(EpisodeStatus._make, cursor)), total

    return _with_db(root, query)


def episode_runs(root: Path, episode: str, limit: int = 20) -> list[RunRow]:
    def query(conn: sqlite3.Connection) -> list[RunRow]:
        cursor = conn.execute(
            "SELECT job_id, trigger, started_at, finished_at, status, "
            f"{', '.join(RUN_COUNTS)}, cost_usd, error FROM runs WHERE episode_id = ? "
            "ORDER BY finished_at DESC, id DESC LIMIT ?",
            (text(episode), limit),
        )
        return [_run(row) for row in cursor]

    return _with_db(root, query)


def _run(values: Sequence[Any]) -> RunRow:
    n = len(RUN_COUNTS)
    return RunRow(
        job_id=values[0],
        trigger=values[1],
        started_at=values[2],
        finished_at=values[3],
        status=values[4],
        counts=dict(zip(RUN_COUNTS, values[5 : 5 + n], strict=True)),
        cost_usd=values[5 + n],
        error=values[6 + n],
    )
