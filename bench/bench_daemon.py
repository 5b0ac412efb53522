"""The daemon as a subprocess on real files with real inotify, default settle (1.0 s):

1. atomic-rename drop -> job start, against `inotifywait` watching the same drops in
   the same run (the floor: when the kernel tells anyone);
2. a slow writer (3 chunks, 0.4 s apart) -> one job, for the final content, against
   the settle alone (what waiting for quiet costs).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

from bench.common import WORK, load_average, log_time, pct, record
from tests.support.daemon_proc import DaemonProcess
from tests.support.episodes import episode_doc

SETTLE = 1.0


def main(short: bool) -> None:
    print(f"\ndaemon (subprocess, inotify, settle {SETTLE:.1f} s); {load_average()}")
    base = WORK / "daemon"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    try:
        latency(base, drops=100 if short else 200)
        slow_writer(base, repeats=3 if short else 5)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _doc(name: str) -> dict[str, object]:
    doc = episode_doc(name, 1)  # one title card: the job itself is short
    doc["chapters"][0]["visual"]["type"] = "title_card"
    return doc


class _Inotifywait:
    """`inotifywait -m -r` on the tree: when each rename into place reached user space."""

    def __init__(self, root: Path) -> None:
        self.seen: dict[str, float] = {}
        self.proc = subprocess.Popen(
            ["inotifywait", "-m", "-r", "-q", "-e", "moved_to", "--format", "%w%f", str(root)],
            stdout=subprocess.PIPE,
            text=True,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        time.sleep(0.5)  # its watches are set up

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.seen.setdefault(line.strip(), time.time())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


def latency(base: Path, drops: int) -> None:
    outputs = base / "outputs"
    outputs.mkdir()
    names = [f"drop-{i:03d}" for i in range(drops)]
    for name in names:
        (outputs / name).mkdir()  # the folders exist: the drop is the rename alone
    daemon = DaemonProcess(outputs, settle=SETTLE, config="workers = 2\nrescan_seconds = 0.0\n")
    floor = _Inotifywait(outputs) if shutil.which("inotifywait") else None
    dropped: dict[str, float] = {}
    fresh: dict[str, float] = {}
    try:
        daemon.start()
        # A daemon that has been up a second or more: the figure is the drop's, not the
        # start-up's (a drop in the warm-up waits for it: reported below).
        (warm,) = daemon.wait_for(lambda e: e.get("event") == "warmed_up", timeout=30)
        for name in names:
            ep = outputs / name
            tmp = ep / ".chapters.json.part"
            tmp.write_text(json.dumps(_doc(name), ensure_ascii=False), encoding="utf-8")
            dropped[name] = time.time()
            os.replace(tmp, ep / "chapters.json")
            time.sleep(0.1)
        for i in range(drops // 4):  # a new folder each: mkdir, write aside, rename
            name = f"fresh-{i:03d}"
            ep = outputs / name
            ep.mkdir()
            tmp = ep / ".chapters.json.part"
            tmp.write_text(json.dumps(_doc(name), ensure_ascii=False), encoding="utf-8")
            fresh[name] = time.time()
            os.replace(tmp, ep / "chapters.json")
            time.sleep(0.1)
        total = len(dropped) + len(fresh)
        daemon.wait_for(lambda e: e.get("event") == "job_started", timeout=60, count=total)
        time.sleep(0.5)
    finally:
        if floor is not None:
            floor.stop()
        daemon.stop()
    started: dict[str, list[float]] = {}
    for e in daemon.events():
        if e.get("event") == "job_started":
            started.setdefault(e["episode_id"], []).append(log_time(e["timestamp"]))
    assert all(len(v) == 1 for v in started.values()), "one job per drop"
    ours = [(started[n][0] - t) * 1000 for n, t in dropped.items()]
    new = [(started[n][0] - t) * 1000 for n, t in fresh.items()]
    if floor is not None:
        kernel = [
            (floor.seen[str(outputs / n / "chapters.json")] - t) * 1000
            for n, t in dropped.items()
            if str(outputs / n / "chapters.json") in floor.seen
        ]
        baseline = (
            f"inotifywait on the same drops: p50 {pct(kernel, 50):.2f} ms, p99 "
            f"{pct(kernel, 99):.2f} ms ({len(kernel)} of {drops} seen)"
        )
    else:
        baseline = "inotifywait not installed (apt-get install inotify-tools): no floor"
    p50, p99 = pct(ours, 50), pct(ours, 99)
    record(
        f"atomic-rename drop -> job start ({drops} drops, 0.1 s apart)",
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(ours):.1f} ms",
        "p50 < 20 ms, p99 < 50 ms",
        p50 < 20 and p99 < 50,
        baseline + f"; before this change: the settle, {SETTLE * 1000:.0f} ms",
    )
    record(
        "warm-up after READY (the run machinery, the OCR engine, the word lists)",
        f"{warm['duration_ms']} ms",
        "(reported only: a drop in it waits for the rest of it)",
        None,
        "before: the same cost in the first job",
    )
    record(
        f"the same into a folder made just before ({len(new)} drops)",
        f"p50 {pct(new, 50):.1f} ms, p99 {pct(new, 99):.1f} ms",
        "(not in the issue: reported only)",
        None,
        "found by looking into the new folder, then read like a finished file",
    )


def slow_writer(base: Path, repeats: int) -> None:
    outputs = base / "slow"
    outputs.mkdir()
    daemon = DaemonProcess(outputs, settle=SETTLE, config="rescan_seconds = 0.0\n")
    ends: dict[str, float] = {}
    finals: dict[str, str] = {}
    try:
        daemon.start()
        for i in range(repeats):
            for style in ("one-open", "reopened"):
                name = f"slow-{style}-{i}"
                ep = outputs / name
                ep.mkdir()
                raw = json.dumps(_doc(name), ensure_ascii=False).encode()
                chunks = [raw[: len(raw) // 3], raw[len(raw) // 3 : 2 * len(raw) // 3]]
                chunks.append(raw[2 * len(raw) // 3 :])
                ends[name] = _write_slowly(ep / "chapters.json", chunks, reopen=style == "reopened")
                finals[name] = hashlib.sha256(raw).hexdigest()
        daemon.wait_for(lambda e: e.get("event") == "job_finished", timeout=60, count=len(ends))
        time.sleep(SETTLE + 0.5)  # a second job, if any, would show by now
    finally:
        daemon.stop()
    started: dict[str, list[float]] = {}
    for e in daemon.events():
        if e.get("event") == "job_started":
            started.setdefault(e["episode_id"], []).append(log_time(e["timestamp"]))
    assert all(len(started[n]) == 1 for n in ends), started
    for name, sha in finals.items():
        manifest = json.loads((outputs / name / "images/manifest.json").read_text())
        assert manifest["chapters_sha256"] == sha, f"{name}: a job for a partial file"
    waits = {n: (started[n][0] - t) * 1000 for n, t in ends.items()}
    worst = max(waits.values())
    by_style = {
        style: max(v for n, v in waits.items() if style in n) for style in ("one-open", "reopened")
    }
    target = SETTLE * 1000 + 150
    record(
        f"slow writer (3 chunks 0.4 s apart) -> one job for the final content ({len(ends)} runs)",
        f"worst {worst:.0f} ms after the last chunk (one open: {by_style['one-open']:.0f} ms; "
        f"reopened per chunk: {by_style['reopened']:.0f} ms); one job each, final content",
        f"<= settle + 150 = {target:.0f} ms",
        worst <= target,
        f"the settle alone: {SETTLE * 1000:.0f} ms after the last chunk",
    )


def _write_slowly(path: Path, chunks: list[bytes], *, reopen: bool) -> float:
    """Write the chunks 0.4 s apart; the time of the last write."""
    last = 0.0
    with contextlib.ExitStack() as stack:
        f = None if reopen else stack.enter_context(path.open("wb"))
        for i, chunk in enumerate(chunks):
            if i:
                time.sleep(0.4)
            if reopen:
                with path.open("ab") as g:
                    g.write(chunk)
                    last = time.time()
            else:
                assert f is not None
                f.write(chunk)
                f.flush()
                last = time.time()
    return last
