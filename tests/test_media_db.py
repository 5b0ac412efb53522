"""The media database: its schema, rows that match the files after runs,
regenerations and a manual pick, `db rebuild`, repairs, a kill mid-write, and
`imagegen status`."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog

from config import Settings, load_settings
from config.settings import StoryboardSettings
from daemon.cli import main
from handlers.episode.dirs import EpisodeDirs
from handlers.episode.paths import episode_paths
from handlers.errors import ConfinementError
from handlers.imagegen import RunRequest, pick, rebuild_media_db, run, status
from handlers.outputs import gallery, media_sink
from handlers.outputs.markers import write_marker
from tests.conftest import REPO, demo_doc, snapshot, write_episode

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture
def three(outputs: Path) -> Settings:
    return load_settings(overrides={"outputs_dir": outputs, "selection": {"candidates": 3}})


def db_path(outputs: Path) -> Path:
    return outputs / ".imagegen/media.sqlite3"


def query(outputs: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db_path(outputs))
    try:
        return [tuple(r) for r in conn.execute(sql, args)]
    finally:
        conn.close()


def rows_without_ids(outputs: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's content with ids replaced by what they point at."""
    return {
        "media_assets": sorted(
            query(
                outputs,
                "SELECT a.episode_id, a.asset_type, a.chapter_id, a.file_path, a.mime_type, "
                "a.size_bytes, a.duration_seconds, a.metadata, p.content_sha256, a.created_at "
                "FROM media_assets a LEFT JOIN prompt_versions p ON p.id = a.prompt_version_id",
            )
        ),
        "prompt_versions": sorted(
            query(
                outputs,
                "SELECT name, source, content_sha256, text, first_used FROM prompt_versions",
            )
        ),
        "runs": sorted(
            query(
                outputs,
                "SELECT job_id, episode_id, trigger, started_at, finished_at, status, generated, "
                "templates, reused, failed, picked, rescored, cost_usd, error, source FROM runs",
            )
        ),
        "episodes": sorted(
            query(
                outputs,
                "SELECT e.episode_id, e.title, e.chapters, e.images, e.failed_chapters, "
                "e.cumulative_cost_usd, e.updated_at, r.job_id, e.last_status, "
                "e.last_finished_at, e.last_trigger, e.last_cost_usd, e.last_error "
                "FROM episodes e LEFT JOIN runs r ON r.id = e.last_run_id",
            )
        ),
    }


def assert_rows_match_files(outputs: Path, episode: Path) -> None:
    """Every file of the episode that is a media asset has its row, with its size,
    and nothing else has one."""
    manifest = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))
    expected = {"ep001/images/manifest.json": "manifest"}
    if (episode / "provenance/imagegen_provenance.json").exists():
        expected["ep001/provenance/imagegen_provenance.json"] = "provenance"
    for e in manifest["chapters"]:
        if e.get("file"):
            expected[f"ep001/images/{e['file']}"] = "image"
        for c in e["candidates"]:
            expected[f"ep001/images/{c['file']}"] = "candidate"
    rows = query(
        outputs,
        "SELECT file_path, asset_type, size_bytes, metadata FROM media_assets "
        "WHERE episode_id = 'ep001'",
    )
    assert {r[0]: r[1] for r in rows} == expected
    for file_path, asset_type, size, metadata in rows:
        path = outputs / file_path
        assert path.stat().st_size == size, file_path
        meta = json.loads(metadata)
        if asset_type in ("image", "candidate"):
            assert meta["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), file_path


def test_schema_migrations_and_indexes(episode, settings):
    run(episode, RunRequest(), settings)
    tables = {r[0] for r in query(settings.outputs_dir, "SELECT name FROM sqlite_master")}
    assert {"media_assets", "prompt_versions", "runs", "schema_migrations"} <= tables
    columns = [r[1] for r in query(settings.outputs_dir, "PRAGMA table_info(media_assets)")]
    assert columns == [
        "id",
        "episode_id",
        "asset_type",
        "chapter_id",
        "file_path",
        "mime_type",
        "size_bytes",
        "duration_seconds",
        "metadata",
        "prompt_version_id",
        "created_at",
    ]
    indexes = {
        r[1]: [c[2] for c in query(settings.outputs_dir, f"PRAGMA index_info({r[1]})")]
        for r in query(settings.outputs_dir, "PRAGMA index_list(media_assets)")
        if not r[1].startswith("sqlite_autoindex")
    }
    assert ["episode_id", "asset_type", "chapter_id"] in indexes.values()
    assert ["asset_type"] in indexes.values()
    assert ["episode_id"] in indexes.values()
    fks = query(settings.outputs_dir, "PRAGMA foreign_key_list(media_assets)")
    assert [(r[2], r[3], r[4]) for r in fks] == [("prompt_versions", "prompt_version_id", "id")]
    assert query(settings.outputs_dir, "SELECT version FROM schema_migrations") == [(1,)]
    assert query(settings.outputs_dir, "PRAGMA journal_mode") == [("wal",)]


def test_rows_match_the_files_after_runs_regeneration_and_a_pick(episode, three):
    outputs = three.outputs_dir
    assert run(episode, RunRequest(), three).outcome == "ok"
    assert_rows_match_files(outputs, episode)
    counts = dict(
        query(outputs, "SELECT asset_type, count(*) FROM media_assets GROUP BY asset_type")
    )
    assert counts == {"image": 5, "candidate": 9, "manifest": 1, "provenance": 1}

    # The prompt template the writer used, with its text, and the images that used it.
    template = (REPO / "handlers/prompts/templates/imagegen.md").read_bytes()
    versions = query(
        outputs, "SELECT id, name, content_sha256, text, first_used FROM prompt_versions"
    )
    assert len(versions) == 1
    vid, name, sha, text, first_used = versions[0]
    assert sha == hashlib.sha256(template).hexdigest() and text == template.decode()
    assert name and first_used
    users = query(
        outputs,
        "SELECT DISTINCT chapter_id FROM media_assets WHERE prompt_version_id = ? "
        "AND asset_type = 'image' ORDER BY chapter_id",
        vid,
    )
    written = [
        e["chapter_id"]
        for e in json.loads((episode / "images/manifest.json").read_text())["chapters"]
        if e["prompt_source"] == "writer:template"
    ]
    assert written and [u[0] for u in users] == written  # not ch03: it brings its own prompt
    assert "ch03" not in written

    # A regeneration: ch04's candidates are replaced, and so are their rows.
    write_marker(episode / "images/ch04.png.stale", by="test", reason="redo")
    assert run(episode, RunRequest(), three).outcome == "ok"
    assert_rows_match_files(outputs, episode)
    ch04 = query(
        outputs,
        "SELECT file_path FROM media_assets WHERE chapter_id = 'ch04' AND asset_type = 'candidate'",
    )
    assert sorted(r[0] for r in ch04) == [
        f"ep001/images/candidates/ch04/c0{n}.png" for n in (4, 5, 6)
    ]

    # A manual pick: the image row is the picked candidate's picture, selected by hand.
    other = next(
        c["id"]
        for c in json.loads((episode / "images/manifest.json").read_text())["chapters"][2][
            "candidates"
        ]
        if c["id"] != "c01"
    )
    assert pick(episode, "ch03", other, three, by="ayşe").picked == 1
    assert_rows_match_files(outputs, episode)
    (meta,) = query(
        outputs,
        "SELECT metadata FROM media_assets WHERE chapter_id = 'ch03' AND asset_type = 'image'",
    )[0]
    assert json.loads(meta)["selected"] == other
    assert json.loads(meta)["selection"]["method"] == "manual"
    runs = query(outputs, "SELECT status, trigger, picked, generated FROM runs ORDER BY id")
    assert runs == [("ok", "cli", 0, 3), ("ok", "cli", 0, 1), ("ok", "select by ayşe", 1, 0)]

    # Deleted: `imagegen db rebuild` gives the same rows (ids aside).
    before = rows_without_ids(outputs)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path(outputs)}{suffix}").unlink(missing_ok=True)
    report = rebuild_media_db(three)
    assert (report.episodes, report.assets, report.runs) == (1, 16, 3)
    assert rows_without_ids(outputs) == before


def test_storyboard_frames_are_assets_too(episode, settings):
    """Every clip's start and end frame, and storyboard.json, get a row; a clip redone
    has its rows replaced, not added to."""
    board = settings.model_copy(update={"storyboard": StoryboardSettings(enabled=True)})
    assert run(episode, RunRequest(), board).ok
    sql = (
        "SELECT asset_type, chapter_id, file_path, json_extract(metadata, '$.frame'), "
        "size_bytes FROM media_assets WHERE asset_type LIKE 'storyboard%' ORDER BY file_path"
    )
    rows = query(settings.outputs_dir, sql)
    chapters = [
        c["chapter_id"] for c in json.loads((episode / "chapters.json").read_text())["chapters"]
    ]
    expected = [
        ("storyboard_frame", cid, f"ep001/storyboard/{cid}/{frame}.png", frame)
        for cid in sorted(chapters)
        for frame in ("end", "start")
    ] + [("storyboard", None, "ep001/storyboard/storyboard.json", None)]
    assert [r[:4] for r in rows] == expected
    for _, _, path, _, size in rows:
        assert size == (settings.outputs_dir / path).stat().st_size

    (episode / "storyboard/ch02.stale").write_text("{}", encoding="utf-8")
    assert run(episode, RunRequest(), board).ok
    again = query(settings.outputs_dir, sql)
    assert [r[:4] for r in again] == expected
    for _, _, path, _, size in again:
        assert size == (settings.outputs_dir / path).stat().st_size


def test_an_unusable_database_costs_a_warning_never_the_job(episode, settings):
    (settings.outputs_dir / ".imagegen").write_text("a file where the folder should be")
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok" and result.generated == 3
    assert any("media database" in w for w in result.warnings), result.warnings
    assert (episode / "images/index.html").is_file()  # the gallery does not need it


def test_runs_follow_provenance_history_when_it_is_trimmed(episode, settings, monkeypatch):
    monkeypatch.setattr("handlers.outputs.provenance.HISTORY", 2)
    run(episode, RunRequest(), settings)
    for cid in ("ch01", "ch05"):
        write_marker(episode / f"images/{cid}.png.stale", by="test", reason="redo")
        assert run(episode, RunRequest(), settings).outcome == "ok"
    history = json.loads((episode / "provenance/imagegen_provenance.json").read_text())["history"]
    assert [h["templates"] for h in history] == [1, 1]  # the first job (2 templates) fell out
    assert query(settings.outputs_dir, "SELECT templates FROM runs ORDER BY id") == [(1,), (1,)]
    before = rows_without_ids(settings.outputs_dir)
    rebuild_media_db(settings)
    assert rows_without_ids(settings.outputs_dir) == before


def test_an_images_folder_leading_out_of_the_root_is_never_indexed(outputs, settings, tmp_path):
    # A complete episode elsewhere, and an episode here whose images/ points at it.
    elsewhere = write_episode(tmp_path / "elsewhere", "ep001")
    run(elsewhere, RunRequest(), load_settings(overrides={"outputs_dir": elsewhere.parent}))
    episode = write_episode(outputs, "ep001")
    (episode / "images").symlink_to(elsewhere / "images", target_is_directory=True)
    outside = snapshot(elsewhere)
    paths = episode_paths(outputs, episode)
    media_sink.record_job(outputs, paths, None)
    assert query(outputs, "SELECT file_path FROM media_assets") == []
    with EpisodeDirs(paths) as dirs:
        with pytest.raises(ConfinementError):
            gallery.write_episode_gallery(dirs)
        assert "is a symlink" in gallery.episode_page(dirs, served=True)  # says why only
    assert snapshot(elsewhere) == outside  # no gallery, no thumbnail written out there


def test_an_episode_named_in_no_encoding_is_indexed_and_shown(outputs, settings):
    name = os.fsdecode(b"ep-\xff\xfe")  # not UTF-8: Python holds it as lone surrogates
    write_episode(outputs, "ep001")
    doc = demo_doc()
    doc["episode_id"] = "ep-bytes"  # the folder's name differs: a warning, not an error
    episode = write_episode(outputs, name, doc)
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok" and not any("media" in w for w in result.warnings), result
    assert run(outputs / "ep001", RunRequest(), settings).outcome == "ok"  # a rebuild walks it
    ids = {r.episode_id for r in status(settings)}
    assert ids == {"ep001", "ep-\\xff\\xfe"}
    assert (episode / "images/index.html").is_file() and (outputs / "index.html").is_file()


def test_up_to_date_job_writes_no_row_and_touches_nothing(episode, settings):
    run(episode, RunRequest(), settings)
    files = snapshot(settings.outputs_dir)
    assert run(episode, RunRequest(), settings).outcome == "up_to_date"
    assert snapshot(settings.outputs_dir) == files  # database and galleries included
    assert query(settings.outputs_dir, "SELECT count(*) FROM runs") == [(1,)]


def test_a_job_that_writes_nothing_is_a_database_only_row(episode, settings):
    run(episode, RunRequest(), settings)
    write_marker(episode / "chapters.json.stale", by="upstream", reason="rewriting")
    assert run(episode, RunRequest(), settings).outcome == "blocked"
    (episode / "chapters.json.stale").unlink()
    (episode / "chapters.json").write_text("{not json", encoding="utf-8")
    assert run(episode, RunRequest(), settings).outcome == "failed"
    rows = query(settings.outputs_dir, "SELECT status, source, error FROM runs ORDER BY id")
    assert [(s, src) for s, src, _ in rows] == [
        ("ok", "provenance"),
        ("blocked", "job"),
        ("failed", "job"),
    ]
    assert "chapters.json" in rows[2][2]
    (last,) = status(settings)
    assert last.status == "failed" and "chapters.json" in (last.error or "")
    assert last.images == 5  # the files from the last good job are still there


def test_deleted_database_is_rebuilt_by_the_next_job(outputs, settings):
    for name in ("ep001", "ep002"):
        run(write_episode(outputs, name), RunRequest(), settings)
    before = rows_without_ids(outputs)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path(outputs)}{suffix}").unlink(missing_ok=True)
    # A job on ep001 rebuilds everything, ep002 included, before adding its own row.
    write_marker(outputs / "ep001/images/ch01.png.stale", by="test", reason="redo")
    assert run(outputs / "ep001", RunRequest(), settings).outcome == "ok"
    after = rows_without_ids(outputs)
    assert [r for r in after["media_assets"] if r[0] == "ep002"] == [
        r for r in before["media_assets"] if r[0] == "ep002"
    ]
    assert len(after["runs"]) == 3


def test_corrupt_database_is_moved_aside_and_rebuilt(outputs, settings):
    episode = write_episode(outputs)
    run(episode, RunRequest(), settings)
    before = rows_without_ids(outputs)
    for suffix in ("-wal", "-shm"):
        Path(f"{db_path(outputs)}{suffix}").unlink(missing_ok=True)
    db_path(outputs).write_bytes(b"this is not a database" * 100)
    rows = status(settings)  # `imagegen status` repairs it as well as a job would
    assert [r.episode_id for r in rows] == ["ep001"]
    assert rows_without_ids(outputs) == before
    kept = [p.name for p in (outputs / ".imagegen").iterdir() if ".corrupt-" in p.name]
    assert kept and kept[0].startswith("media.sqlite3.corrupt-")


def test_a_damaged_page_inside_the_database_is_repaired(outputs, settings):
    episode = write_episode(outputs)
    run(episode, RunRequest(), settings)
    before = rows_without_ids(outputs)
    conn = sqlite3.connect(db_path(outputs))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db_path(outputs).read_bytes())
    page = 4096
    # The header page stays (it still opens as a database); every table page is noise.
    data[page:] = os.urandom(len(data) - page)
    db_path(outputs).write_bytes(bytes(data))
    write_marker(episode / "images/ch02.png.stale", by="test", reason="redo")
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    after = rows_without_ids(outputs)
    assert len(after["runs"]) == 2 and after["prompt_versions"] == before["prompt_versions"]
    assert query(outputs, "PRAGMA integrity_check") == [("ok",)]


WRITER = """
import sys
from pathlib import Path
from handlers.episode.dirs import EpisodeDirs
from handlers.episode.paths import episode_paths
from handlers.outputs import media_sink
root = Path(sys.argv[1])
paths = [episode_paths(root, root / n) for n in sys.argv[2:]]
print("writing", flush=True)
while True:
    for p in paths:
        media_sink.record_job(root, p, None)
"""


def test_kill_during_writes_leaves_a_usable_database(outputs, settings):
    names = [f"ep{i:03d}" for i in range(1, 4)]
    for name in names:
        run(write_episode(outputs, name), RunRequest(), settings)
    before = rows_without_ids(outputs)
    for attempt in range(5):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(outputs), *names],
            cwd=REPO,
            stdout=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stdout.readline() == b"writing\n"
        time.sleep(0.2 + 0.15 * attempt)
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert query(outputs, "PRAGMA integrity_check") == [("ok",)]
        assert rows_without_ids(outputs) == before  # each rewrite wrote the same rows
    write_marker(outputs / "ep002/images/ch01.png.stale", by="test", reason="redo")
    assert run(outputs / "ep002", RunRequest(), settings).outcome == "ok"
    assert query(outputs, "SELECT count(*) FROM runs") == [(4,)]


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """main() points structlog at this test's captured stderr: undo it afterwards."""
    yield
    structlog.reset_defaults()


def test_status_command(outputs, settings, capsys, cli_logging):
    run(write_episode(outputs, "ep001"), RunRequest(), settings)
    run(write_episode(outputs, "ep002"), RunRequest(), settings)
    (outputs / "ep002/chapters.json").write_text("[]", encoding="utf-8")
    run(outputs / "ep002", RunRequest(), settings)
    capsys.readouterr()
    assert main(["status", "--outputs-dir", str(outputs)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:3] == ["EPISODE", "LAST", "JOB"]
    assert out[1].split()[:2] == ["ep001", "ok"] and out[1].split()[3:6] == ["5", "5", "0"]
    assert out[2].split()[:2] == ["ep002", "failed"] and "chapters.json" in out[2]
    assert main(["status", "--outputs-dir", str(outputs), str(outputs / "ep002")]) == 0
    detail = capsys.readouterr().out
    assert "last 2 jobs of ep002" in detail and "3 generated, 2 templates" in detail
    assert main(["db", "rebuild", "--outputs-dir", str(outputs)]) == 0
    # 2 x (5 images, 3 candidates, manifest, provenance); the failure left no file.
    assert "2 episodes, 20 assets, 2 runs" in capsys.readouterr().out
