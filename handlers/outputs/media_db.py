"""`<outputs_dir>/.imagegen/media.sqlite3`: an index of the tree's media files, their
prompt templates and the jobs that made them (standard library sqlite3, WAL).

The files stay the truth: rows are written after the files, and the whole database
can be made again from them (`media_sink.rebuild`). So a missing or corrupt file is
never an error to report; it is moved aside and rebuilt.

Concurrency: the daemon's workers, `imagegen run`, `imagegen status` and the review
server each open their own short-lived connection. WAL lets readers go on while one
writer writes; `busy_timeout` makes writers queue instead of failing. Every user
holds a shared flock on `.imagegen/media.lock`; moving a corrupt file aside takes it
exclusively, so nobody is inside the file being replaced. A SIGKILL mid-write loses
at most the transaction in flight (SQLite's journal), never the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import structlog

from handlers.episode import layout
from handlers.episode.paths import media_db_path
from handlers.errors import ConfinementError

log = structlog.get_logger("imagegen")

BUSY_TIMEOUT_MS = 30_000
LOCK_NAME = "media.lock"
REBUILD_LOCK_NAME = "rebuild.lock"
# SQLite's primary result codes for a damaged file (extended codes add high bits).
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26

ASSET_TYPES = ("image", "candidate", "storyboard_frame", "storyboard", "manifest", "provenance")
_ASSET_TYPES_SQL = ", ".join(f"'{t}'" for t in ASSET_TYPES)

# Versioned migrations, applied in order, each once (schema_migrations records them).
# A new version appends here; a released one is never edited.
MIGRATIONS: list[tuple[int, str, str]] = [
    (
        1,
        "media assets, prompt versions, runs",
        f"""
        CREATE TABLE prompt_versions (
            id INTEGER PRIMARY KEY,
            name TEXT,
            source TEXT,
            content_sha256 TEXT NOT NULL UNIQUE,
            text TEXT,
            first_used TEXT
        );
        -- Which episode uses which template since when: first_used above is their minimum,
        -- kept exact when an episode stops using a template.
        CREATE TABLE prompt_uses (
            episode_id TEXT NOT NULL,
            prompt_version_id INTEGER NOT NULL REFERENCES prompt_versions(id),
            first_used TEXT,
            PRIMARY KEY (episode_id, prompt_version_id)
        );
        CREATE TABLE media_assets (
            id INTEGER PRIMARY KEY,
            episode_id TEXT NOT NULL,
            asset_type TEXT NOT NULL CHECK (asset_type IN ({_ASSET_TYPES_SQL})),
            chapter_id TEXT,
            file_path TEXT NOT NULL UNIQUE,
            mime_type TEXT NOT NULL,
            size_bytes INTEGER NOT NULL,
            duration_seconds REAL,
            metadata TEXT NOT NULL DEFAULT '{{}}' CHECK (json_valid(metadata)),
            prompt_version_id INTEGER REFERENCES prompt_versions(id),
            created_at TEXT NOT NULL
        );
        CREATE INDEX media_assets_episode_type_chapter
            ON media_assets (episode_id, asset_type, chapter_id);
        CREATE INDEX media_assets_type ON media_assets (asset_type);
        CREATE INDEX media_assets_episode ON media_assets (episode_id);
        CREATE INDEX media_assets_prompt ON media_assets (prompt_version_id);
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            job_id TEXT NOT NULL UNIQUE,
            episode_id TEXT NOT NULL,
            trigger TEXT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL,
            generated INTEGER NOT NULL DEFAULT 0,
            templates INTEGER NOT NULL DEFAULT 0,
            reused INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            picked INTEGER NOT NULL DEFAULT 0,
            rescored INTEGER NOT NULL DEFAULT 0,
            cost_usd REAL NOT NULL DEFAULT 0,
            error TEXT,
            -- 'provenance': listed in the episode's provenance history (rebuilt from it);
            -- 'job': a job that wrote no file (unreadable input, blocked): only here.
            source TEXT NOT NULL CHECK (source IN ('provenance', 'job'))
        );
        CREATE INDEX runs_episode ON runs (episode_id, finished_at);
        -- One row per episode, its last job copied in: `imagegen status` reads this table
        -- alone, in key order (50,000 episodes in well under a second).
        CREATE TABLE episodes (
            episode_id TEXT PRIMARY KEY,
            title TEXT,
            chapters INTEGER NOT NULL DEFAULT 0,
            images INTEGER NOT NULL DEFAULT 0,
            failed_chapters INTEGER NOT NULL DEFAULT 0,
            cumulative_cost_usd REAL NOT NULL DEFAULT 0,
            updated_at TEXT,
            last_run_id INTEGER REFERENCES runs(id),
            last_status TEXT,
            last_finished_at TEXT,
            last_trigger TEXT,
            last_cost_usd REAL,
            last_error TEXT
        ) WITHOUT ROWID;
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        """,
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def state_dir(root: Path) -> Path:
    """`<root>/.imagegen`, made when missing; refused when it is a symlink (it would
    take our writes out of the outputs root)."""
    directory = media_db_path(root).parent
    if directory.is_symlink():
        raise ConfinementError(
            f"{directory} is a symlink; imagegen keeps its database inside the outputs root"
        )
    directory.mkdir(exist_ok=True)
    return directory


class Corrupt(Exception):
    """The database file is damaged (or not a database): it is rebuilt from the files."""


@contextlib.contextmanager
def connect(root: Path) -> Iterator[tuple[sqlite3.Connection, bool]]:
    """A connection to the tree's database, schema current; yields (connection, fresh):
    fresh is True when the file was just made (missing, or corrupt and moved aside),
    so the caller rebuilds it from the files."""
    directory = state_dir(root)
    for _ in range(3):
        with _flock(directory / LOCK_NAME, fcntl.LOCK_SH):
            path = directory / layout.MEDIA_DB
            fresh = not path.exists() or path.stat().st_size == 0
            try:
                conn = _open(path)
            except Corrupt:
                conn = None
            if conn is not None:
                try:
                    yield conn, fresh
                    return
                finally:
                    conn.close()
        move_aside(directory)
    raise Corrupt(f"{directory / layout.MEDIA_DB}: still unusable after moving it aside")


def is_corruption(error: BaseException) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(code, int) and (code & 0xFF) in (SQLITE_CORRUPT, SQLITE_NOTADB)


def _open(path: Path) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE ... COMMIT), so a
    # writer takes the write lock before reading what it will change.
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode: a power loss may drop the last transactions, never corrupt;
        # whatever is dropped is made again from the files.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _migrate(conn)
    except sqlite3.DatabaseError as e:
        conn.close()
        if is_corruption(e):
            raise Corrupt(str(e)) from e
        raise
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
    if all(version in done for version, _, _ in MIGRATIONS):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = {v for (v,) in conn.execute("SELECT version FROM schema_migrations")}
        for version, name, sql in MIGRATIONS:
            if version in done:
                continue
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, datetime.now(UTC).isoformat(timespec="seconds")),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _statements(sql: str) -> list[str]:
    """executescript() would commit the open transaction; one statement at a time keeps
    a migration all-or-nothing."""
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def move_aside(directory: Path) -> None:
    """Under the exclusive lock (nobody is connected): keep the damaged file for a look,
    named by the time, and let the next connect start a new one."""
    with _flock(directory / LOCK_NAME, fcntl.LOCK_EX):
        path = directory / layout.MEDIA_DB
        try:
            _open(path).close()
            return  # another process already replaced it
        except Corrupt:
            pass
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.replace(f"{path}{suffix}", f"{path}.corrupt-{stamp}{suffix}")
        log.warning(
            "media_db_corrupt",
            message=f"{path} was damaged; kept as {path.name}.corrupt-{stamp}, rebuilding "
            "it from the files",
        )


def delete_database(root: Path) -> None:
    """Remove the database (for `imagegen db rebuild`), waiting until nobody uses it."""
    directory = state_dir(root)
    with _flock(directory / LOCK_NAME, fcntl.LOCK_EX):
        path = directory / layout.MEDIA_DB
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")


@contextlib.contextmanager
def rebuild_lock(root: Path) -> Iterator[bool]:
    """Yields True to the one process that may rebuild now, False while another does."""
    path = state_dir(root) / REBUILD_LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o664)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _flock(path: Path, how: int) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o664)
    try:
        fcntl.flock(fd, how)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE: the write lock first, so what is read inside stays true."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
