"""The review half: the gallery of a 15-chapter episode with 3 candidates each, and
`imagegen status` over 50,000 episodes.

Baselines measured in the same run:
- gallery: decoding every image the page shows (what a gallery that made its
  thumbnails afresh would pay before writing a byte), and the page weight if it
  showed the full images instead of thumbnails;
- status: reading every episode's provenance record from the tree, the way a status
  without the database would have to.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from bench.common import FIGURES, record
from config import load_settings
from daemon.logging import configure_logging
from handlers.episode.dirs import EpisodeDirs
from handlers.episode.paths import episode_paths
from handlers.files.dirs import Dir
from handlers.imagegen import RunRequest, run, status
from handlers.outputs import gallery, media_db, media_sink
from handlers.outputs.entries import now_iso
from tests.support.episodes import episode_doc, write_doc

CHAPTERS = 15
CANDIDATES = 3
EPISODES = 50_000
REPO = Path(__file__).resolve().parent.parent
GALLERY_TARGET_S = 1.0
STATUS_TARGET_S = 1.0
TREE_PAGE_TARGET_S = 0.25


def main(short: bool = False) -> None:
    """Short form: 10,000 episodes for status (its figure then reported, not judged)."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        bench_gallery(Path(tmp))
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        bench_status(Path(tmp), 10_000 if short else EPISODES)


def bench_gallery(root: Path) -> bool:
    doc = episode_doc("bench-gallery", CHAPTERS)
    kinds = ("diagram", "b_roll", "screen_share")  # every chapter generated: 3 candidates
    for i, ch in enumerate(doc["chapters"]):
        ch["visual"]["type"] = kinds[i % 3]
    episode = write_doc(root, "bench-gallery", doc)
    settings = load_settings(
        overrides={"outputs_dir": root, "selection": {"candidates": CANDIDATES, "judge": "none"}}
    )
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok" and result.generated == CHAPTERS, result
    paths = episode_paths(root, episode)
    dirs = EpisodeDirs(paths)
    manifest = json.loads(paths.manifest.read_text(encoding="utf-8"))
    shown = [paths.images / e["file"] for e in manifest["chapters"]] + [
        paths.images / c["file"] for e in manifest["chapters"] for c in e["candidates"]
    ]
    assert len(shown) == CHAPTERS * (1 + CANDIDATES)

    warm = []
    for _ in range(5):
        t0 = time.perf_counter()
        assert gallery.write_episode_gallery(dirs) == []
        warm.append(time.perf_counter() - t0)
    cold = []
    for _ in range(3):
        shutil.rmtree(paths.thumbs)
        t0 = time.perf_counter()
        assert gallery.write_episode_gallery(dirs) == []
        cold.append(time.perf_counter() - t0)
    decode = []
    for _ in range(3):
        t0 = time.perf_counter()
        for p in shown:
            with Image.open(p) as img:
                img.load()
        decode.append(time.perf_counter() - t0)
    dirs.close()
    page = paths.gallery.stat().st_size
    made = len(list(paths.thumbs.iterdir()))
    thumbs_bytes = sum(p.stat().st_size for p in paths.thumbs.iterdir())
    full_bytes = sum(p.stat().st_size for p in shown)

    warm_s, cold_s, decode_s = (statistics.median(x) for x in (warm, cold, decode))
    print(f"\nreview gallery, {CHAPTERS} chapters x {CANDIDATES} candidates ({len(shown)} images)")
    record(
        "gallery at the end of a job (15 chapters x 3 candidates)",
        f"{warm_s * 1000:.0f} ms median of 5",
        f"< {GALLERY_TARGET_S:.0f} s",
        warm_s < GALLERY_TARGET_S,
        f"decoding the {len(shown)} images the page shows once: {decode_s * 1000:.0f} ms "
        f"({decode_s / warm_s:.0f}x the whole write; thumbnails are made as images are written)",
    )
    record(
        "gallery cold (every thumbnail from its PNG)",
        f"{cold_s * 1000:.0f} ms median of 3, {made} thumbnails",
        f"< {GALLERY_TARGET_S:.0f} s",
        cold_s < GALLERY_TARGET_S,
        f"the same decode: {decode_s * 1000:.0f} ms (a chapter image shows its chosen "
        "candidate's thumbnail: 45 pictures, not 60)",
    )
    record(
        "gallery page weight",
        f"{(page + thumbs_bytes) / 1024:.0f} KB ({page / 1024:.0f} KB HTML + thumbnails)",
        "none",
        None,
        f"the full images: {full_bytes / 1024 / 1024:.1f} MB "
        f"({full_bytes / (page + thumbs_bytes):.0f}x more)",
    )


def bench_status(root: Path, episodes: int) -> None:
    outputs = root / "outputs"
    outputs.mkdir()
    t0 = time.perf_counter()
    names = _fill(outputs, episodes)
    fill_s = time.perf_counter() - t0
    settings = load_settings(overrides={"outputs_dir": outputs})

    in_process = []
    for _ in range(3):
        t0 = time.perf_counter()
        rows = status(settings)
        in_process.append(time.perf_counter() - t0)
        assert len(rows) == episodes
    command = []
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEGEN_")}
    for _ in range(3):
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-m", "daemon", "status", "--outputs-dir", str(outputs)],
            cwd=REPO,
            env=env,
            capture_output=True,
            check=True,
        ).stdout
        command.append(time.perf_counter() - t0)
        assert out.count(b"\n") == episodes + 1
    tree = []
    for _ in range(5):
        t0 = time.perf_counter()
        latest, total = media_sink.recent_episodes(outputs, gallery.TREE_PAGE_EPISODES)
        with Dir.open(outputs) as top:
            gallery.write_tree_gallery(top, latest, total)
        tree.append(time.perf_counter() - t0)
    naive = []
    for _ in range(2):
        t0 = time.perf_counter()
        seen = 0
        for name in os.listdir(outputs):
            if name.startswith("."):
                continue
            provenance = outputs / name / "provenance/imagegen_provenance.json"
            try:
                data = json.loads(provenance.read_bytes())
            except (OSError, ValueError):
                continue
            seen += data["history"][-1]["outcome"] == "ok"
        naive.append(time.perf_counter() - t0)
        assert seen == len(names)

    cmd_s, proc_s, tree_s, naive_s = (
        statistics.median(x) for x in (command, in_process, tree, naive)
    )
    judged = episodes == EPISODES
    print(f"\nimagegen status, {episodes:,} episodes (tree and database made in {fill_s:.0f} s)")
    record(
        f"imagegen status, {episodes:,} episodes (the command)",
        f"{cmd_s * 1000:.0f} ms median of 3 (the query {proc_s * 1000:.0f} ms)",
        f"< {STATUS_TARGET_S:.0f} s at {EPISODES:,}",
        cmd_s < STATUS_TARGET_S if judged else None,
        f"reading every episode's provenance record: {naive_s * 1000:.0f} ms (warm cache; "
        f"the query is {naive_s / proc_s:.0f}x faster)",
    )
    record(
        f"tree page after each job ({gallery.TREE_PAGE_EPISODES} latest of {episodes:,})",
        f"{tree_s * 1000:.0f} ms median of 5",
        f"< {TREE_PAGE_TARGET_S * 1000:.0f} ms",
        tree_s < TREE_PAGE_TARGET_S,
        f"the status query over all {episodes:,}: {proc_s * 1000:.0f} ms",
    )


def _fill(outputs: Path, episodes: int) -> list[str]:
    """`episodes` episodes: each a provenance record on disk (for the baseline) and its
    rows in the database as the sink writes them (episode, 3 runs, 7 assets)."""
    names = [f"ep{i:05d}" for i in range(episodes)]
    history = [
        {"job_id": "", "trigger": "daemon: chapters.json created", "outcome": "ok",
         "generated": 3, "templates": 2, "reused": 0, "failed": 0, "picked": 0,
         "rescored": 0, "cost_usd": 0.25, "error": None,
         "started_at": now_iso(), "finished_at": now_iso()}
    ]  # fmt: skip
    for name in names:
        directory = outputs / name / "provenance"
        directory.mkdir(parents=True)
        (outputs / name / "chapters.json").write_bytes(b"{}")
        (directory / "imagegen_provenance.json").write_text(
            json.dumps({"episode_id": name, "history": history * 3}), encoding="utf-8"
        )
    with media_db.connect(outputs) as (conn, _), media_db.transaction(conn):
        for i, name in enumerate(names):
            for j in range(3):
                conn.execute(
                    "INSERT INTO runs (job_id, episode_id, trigger, started_at, finished_at, "
                    "status, generated, templates, cost_usd, source) "
                    "VALUES (?, ?, 'daemon', ?, ?, 'ok', 3, 2, 0.25, 'provenance')",
                    (f"{name}-{j}", name, now_iso(), now_iso()),
                )
            run_id = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            conn.executemany(
                "INSERT INTO media_assets (episode_id, asset_type, chapter_id, file_path, "
                "mime_type, size_bytes, metadata, created_at) "
                "VALUES (?, 'image', ?, ?, 'image/png', 1000000, '{}', ?)",
                [(name, f"ch{c}", f"{name}/images/ch{c}.png", now_iso()) for c in range(7)],
            )
            conn.execute(
                "INSERT INTO episodes (episode_id, title, chapters, images, "
                "cumulative_cost_usd, updated_at, last_run_id) VALUES (?, ?, 7, 7, ?, ?, ?)",
                (name, f"Bölüm {i}", 0.25 * 3, now_iso(), run_id),
            )
        conn.execute("INSERT OR REPLACE INTO meta VALUES ('rebuild_state', 'done')")
    assert sqlite3.connect(media_db.state_dir(outputs) / "media.sqlite3").execute(
        "SELECT count(*) FROM episodes"
    ).fetchone() == (episodes,)
    return names


if __name__ == "__main__":
    configure_logging("console", verbose=False)
    main("--short" in sys.argv)
    sys.exit(1 if any(f.ok is False for f in FIGURES) else 0)
