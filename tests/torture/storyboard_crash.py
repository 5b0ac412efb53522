"""Crash mid-storyboard: SIGKILL the daemon (storyboard on) at a random moment while it
makes an episode's frames (a frame in the API's hands, its candidate being written,
storyboard.json being rewritten), restart it, and count: every clip ends with both
frames, no frame finished before the kill is paid for again or changed after, no file is
corrupt (no temp file is left once the daemon is done), and the end frames are still
edits of their start frames."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path
from typing import Any

from daemon.reconcile import needs_job
from tests.fakeapi import FakeAPI
from tests.support.daemon_proc import DaemonProcess
from tests.support.episodes import paid_episode_doc
from tests.torture.common import SECRET_KEY, daemon_env, drop
from tests.torture.report import Row, corrupt_files
from tests.torture.report import keep as _keep

CHAPTERS = 4
MOMENTS = {"start": "Opening frame", "end": "Closing frame"}


def run(full: bool, work: Path) -> Row:
    row = Row("storyboard crash (SIGKILL)")
    runs = 20 if full else 3
    rng = random.Random(20261129)
    with FakeAPI(api_key=SECRET_KEY) as fake, _keep(work) as tmp:
        base = Path(tmp)
        outputs = base / "outputs"
        outputs.mkdir()
        for i in range(runs):
            row.runs += 1
            latency = rng.uniform(0.05, 0.4)
            fake.latency["images"] = fake.latency["edits"] = latency
            name = f"board-{i:03d}"
            env = daemon_env(
                fake,
                IMAGEGEN_IMAGE__CONCURRENCY=str(rng.choice((1, 2, 3))),
                IMAGEGEN_STORYBOARD__ENABLED="true",
                IMAGEGEN_STORYBOARD__PLANNER="template",
                IMAGEGEN_SELECTION__CANDIDATES="1",
                IMAGEGEN_SELECTION__JUDGE="none",
            )
            daemon = DaemonProcess(outputs, env=env, log_path=base / f"{name}.log", settle=0.1)
            try:
                daemon.start()
                episode = drop(outputs, name, _doc(name))
                fake.wait_until(lambda f, n=name: _frames_asked(f, n) > 0, timeout=20)
                time.sleep(rng.uniform(0.0, 1.0))
                if daemon.proc is not None and daemon.proc.poll() is not None:
                    row.daemon_crashes += 1
                daemon.kill()
            finally:
                daemon.kill()
            fake.wait_until(lambda f: not any(f.in_flight.values()), timeout=10)
            finished = _finished_frames(episode)
            # Right after the kill a temp file is fair (a write was cut short: the next
            # job sweeps it); a file that does not parse or verify never is.
            bad = [b for b in corrupt_files(episode) if not b.startswith("temp file left")]
            row.corrupt_files += len(bad)
            row.notes.extend(bad[:3])
            restart = DaemonProcess(
                outputs, env=env, log_path=base / f"{name}.restart.log", settle=0.1
            )
            try:
                restart.start()
                deadline = time.monotonic() + 40
                while needs_job(episode) is not None and time.monotonic() < deadline:
                    time.sleep(0.1)
                if restart.proc is not None and restart.proc.poll() is not None:
                    row.daemon_crashes += 1
            finally:
                restart.stop()
            _count(row, fake, name, episode, finished)
            bad = corrupt_files(episode)
            row.corrupt_files += len(bad)
            row.notes.extend(bad[:3])
    return row


def _doc(name: str) -> dict[str, Any]:
    """Diagram chapters whose descriptions name the episode: every frame prompt (the
    template planner's shot of that description) can be counted per episode and clip."""
    doc = paid_episode_doc(name, CHAPTERS)
    for ch in doc["chapters"]:
        ch["visual"]["description"] = f"{name} diagram {ch['chapter_id']}"
    return doc


def _frames_asked(fake: FakeAPI, name: str) -> int:
    return sum(1 for r in fake.requests if f"{name} diagram" in (r.prompt or ""))


def _board(episode: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((episode / "storyboard/storyboard.json").read_text())
    except (OSError, ValueError):
        return {}
    return data


def _finished_frames(episode: Path) -> dict[tuple[str, str], str]:
    """(chapter_id, moment) -> sha256 of every frame storyboard.json called done."""
    done = {}
    for clip in _board(episode).get("clips", []):
        for moment in MOMENTS:
            frame = clip.get(moment)
            if frame and frame.get("status") == "generated":
                done[(clip["chapter_id"], moment)] = frame["sha256"]
    return done


def _count(
    row: Row, fake: FakeAPI, name: str, episode: Path, finished: dict[tuple[str, str], str]
) -> None:
    board = _board(episode)
    clips = board.get("clips", [])
    if board.get("state") != "complete" or len(clips) != CHAPTERS:
        row.fail(f"{name}: storyboard did not end complete ({board.get('state')})")
    for clip in clips:
        if clip.get("status") != "generated":
            row.fail(f"{name}/{clip.get('chapter_id')}: clip {clip.get('status')}")
            continue
        start = fake.identify((episode / clip["start_frame_path"]).read_bytes())
        edits = [
            r
            for r in fake.requests
            if r.endpoint == "edits" and clip["end_prompt"] in (r.prompt or "")
        ]
        shown = {i.record.id for r in edits for i in r.input_images if i.record}
        if start is None or start.id not in shown:
            row.fail(f"{name}/{clip['chapter_id']}: the end frame was not made from its start")
    paid: dict[tuple[str, str], int] = {}
    for prompt, n in fake.paid_prompts.items():
        for moment, words in MOMENTS.items():
            for number in range(1, CHAPTERS + 1):
                cid = f"ch{number:02d}"
                if f"{name} diagram {cid}. {words}" in prompt:
                    paid[(cid, moment)] = paid.get((cid, moment), 0) + n
    now = _finished_frames(episode)
    for frame, sha in finished.items():
        row.paid_duplicates += max(0, paid.get(frame, 0) - 1)
        if now.get(frame) != sha:
            row.data_lost += 1
            row.notes.append(f"{name}/{frame}: finished before the kill, changed after")
