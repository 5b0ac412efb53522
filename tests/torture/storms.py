"""Event storms: one file rewritten 500 times, 1,000 episodes at once, a whole tree
moved in, and a real inotify queue overflow (the daemon is paused while more events
than the kernel queues arrive; no kernel setting is changed)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

from daemon.reconcile import needs_job
from tests.support.daemon_proc import DaemonProcess
from tests.support.episodes import episode_doc
from tests.torture.report import Row, corrupt_files
from tests.torture.report import keep as _keep


def _small_doc(name: str) -> dict[str, object]:
    doc = episode_doc(name, 1)
    doc["chapters"][0]["visual"]["type"] = "title_card"  # a template: cheap to make
    return doc


def _write(path: Path, doc: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".chapters.json.part")
    tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _runs_per_episode(daemon: DaemonProcess) -> Counter[str]:
    return Counter(
        e["episode_id"]
        for e in daemon.events()
        if e.get("event") == "job_finished" and e.get("status") in ("ok", "up_to_date")
    )


def _wait_current(episodes: list[Path], timeout: float) -> list[Path]:
    deadline = time.monotonic() + timeout
    left = list(episodes)
    while left and time.monotonic() < deadline:
        left = [e for e in left if needs_job(e) is not None]
        if left:
            time.sleep(0.2)
    return left


def run(full: bool, work: Path) -> Row:
    row = Row("event storms")
    many = 1000 if full else 150
    with _keep(work) as tmp:
        base = Path(tmp)
        outputs = base / "outputs"
        outputs.mkdir()
        log = base / "storms.log"
        daemon = DaemonProcess(
            outputs, log_path=log, settle=0.3, config="workers = 2\nrescan_seconds = 0.0\n"
        )
        daemon.start()
        try:
            # 1. one file rewritten 500 times
            row.runs += 1
            target = outputs / "storm-rewrite" / "chapters.json"
            for i in range(500):
                doc = _small_doc("storm-rewrite")
                doc["title"] = f"Başlık {i}"
                target.parent.mkdir(exist_ok=True)
                target.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            if _wait_current([target.parent], 30):
                row.fail("storm-rewrite did not end current")
            time.sleep(1.0)
            n = _runs_per_episode(daemon)["storm-rewrite"]
            if not 1 <= n <= 2:
                row.fail(f"500 rewrites gave {n} runs (allowed: 1 or 2)")

            # 2. many episodes dropped at once
            row.runs += 1
            dropped = []
            for i in range(many):
                name = f"storm-many-{i:04d}"
                _write(outputs / name / "chapters.json", _small_doc(name))
                dropped.append(outputs / name)
            left = _wait_current(dropped, 60 + many * 0.15)
            if left:
                row.fail(f"{len(left)} of {many} dropped episodes not current")

            # 3. a whole tree moved in
            row.runs += 1
            staging = base / "staging" / "season-2"
            moved = []
            for i in range(40):
                name = f"storm-moved-{i:02d}"
                _write(staging / name / "chapters.json", _small_doc(name))
                moved.append(outputs / "season-2" / name)
            os.rename(staging, outputs / "season-2")
            left = _wait_current(moved, 60)
            if left:
                row.fail(f"{len(left)} of 40 episodes of a moved-in tree not current")

            # 4. inotify queue overflow, for real: pause the daemon, flood the queue
            row.runs += 1
            assert daemon.proc is not None
            daemon.signal(signal.SIGSTOP)
            lost = []
            try:
                noise = outputs / "noise.bin"
                limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
                for _ in range(limit // 2 + 1000):  # two events per write: modify + close
                    noise.write_bytes(b"x")
                for i in range(20):
                    name = f"storm-overflow-{i:02d}"
                    _write(outputs / name / "chapters.json", _small_doc(name))
                    lost.append(outputs / name)
            finally:
                daemon.signal(signal.SIGCONT)
            try:
                daemon.wait_for(lambda e: e.get("event") == "inotify_overflow", timeout=20)
            except AssertionError:
                row.fail("the overflow was not noticed")
            left = _wait_current(lost, 60)
            if left:
                row.fail(f"{len(left)} of 20 episodes dropped during the overflow not current")

            counts = _runs_per_episode(daemon)
            for episode, n in counts.items():
                if n > 2:
                    row.fail(f"{episode}: {n} runs, more than one follow-up")
            if daemon.proc.poll() is not None:
                row.daemon_crashes += 1
        finally:
            daemon.stop()
        bad = corrupt_files(outputs)
        row.corrupt_files += len(bad)
        row.notes.extend(bad[:5])
    return row
