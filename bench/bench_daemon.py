"""The daemon, measured as a subprocess on real files with real inotify:

1. event-to-job-start latency over 200 drops, against a 1-second polling loop
   watching the same drops in the same run (the baseline);
2. idle CPU over 60 s and RSS with 5,000 episodes watched;
3. startup reconcile of 5,000 up-to-date episodes of 8 chapters, to READY.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from config import load_settings
from daemon.logging import configure_logging
from handlers.imagegen import RunRequest, run
from tests.support.daemon_proc import DaemonProcess
from tests.support.episodes import episode_doc, write_doc

DROPS = 200
SETTLE = 1.0
EPISODES = 5000
IDLE_SECONDS = 60


def main() -> None:
    configure_logging("console", verbose=False)
    print("\ndaemon (subprocess, inotify, default settle 1.0 s)")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        latency(Path(tmp))
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        big_tree(Path(tmp))


def latency(base: Path) -> None:
    outputs = base / "outputs"
    outputs.mkdir()
    daemon = DaemonProcess(outputs, settle=SETTLE, config="workers = 2\n")
    doc = episode_doc("x", 1)  # one title card: the job itself is short
    doc["chapters"][0]["visual"]["type"] = "title_card"
    seen: dict[str, float] = {}
    stop = threading.Event()

    def poller() -> None:
        # The baseline: what a 1-second polling loop would notice, and when.
        while not stop.is_set():
            now = time.time()
            for entry in os.scandir(outputs):
                fresh = entry.name not in seen
                if fresh and os.path.exists(os.path.join(entry.path, "chapters.json")):
                    seen[entry.name] = now
            stop.wait(1.0)

    daemon.start()
    thread = threading.Thread(target=poller, daemon=True)
    thread.start()
    dropped: dict[str, float] = {}
    try:
        for i in range(DROPS):
            name = f"drop-{i:03d}"
            doc["episode_id"] = name
            ep = outputs / name
            ep.mkdir()
            tmp = ep / ".chapters.json.tmp"
            tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            dropped[name] = time.time()
            os.replace(tmp, ep / "chapters.json")
            time.sleep(0.1)
        daemon.wait_for(lambda e: e.get("event") == "job_started", timeout=60, count=DROPS)
    finally:
        stop.set()
        daemon.stop()
    started = {
        e["episode_id"]: _ts(e["timestamp"])
        for e in daemon.events()
        if e.get("event") == "job_started"
    }
    ours = sorted((started[n] - t) * 1000 for n, t in dropped.items())
    base_ms = sorted((seen[n] - t) * 1000 for n, t in dropped.items() if n in seen)
    target = SETTLE * 1000 + 150
    p99 = _pct(ours, 99)
    print(
        f"  event-to-job-start over {DROPS} drops: p50 {_pct(ours, 50):.0f} ms, p99 {p99:.0f} ms"
        f" (target p99 < settle + 150 = {target:.0f} ms) -> {_verdict(p99 < target)}"
    )
    print(
        f"    of which settle (quiet time, by design): {SETTLE * 1000:.0f} ms; "
        f"detection + scheduling p99 {p99 - SETTLE * 1000:.0f} ms"
    )
    detect = max(1.0, p99 - SETTLE * 1000)
    print(
        f"    baseline, 1 s polling loop, detection alone (no settle): p50 "
        f"{_pct(base_ms, 50):.0f} ms, p99 {_pct(base_ms, 99):.0f} ms; ours detects in "
        f"{detect:.0f} ms at p99, {_pct(base_ms, 99) / detect:.0f}x sooner"
    )


def big_tree(base: Path) -> None:
    outputs = base / "outputs"
    outputs.mkdir()
    template = write_doc(base / "seed", "seed", episode_doc("seed", 8))
    settings = load_settings(overrides={"outputs_dir": base / "seed"})
    assert run(template, RunRequest(), settings).outcome == "ok"
    t0 = time.perf_counter()
    for i in range(EPISODES):
        _clone(template, outputs / f"ep{i:05d}")
    print(
        f"  built {EPISODES} up-to-date episodes of 8 chapters in "
        f"{time.perf_counter() - t0:.1f} s (hard-linked images)"
    )

    daemon = DaemonProcess(outputs, settle=SETTLE, config="rescan_seconds = 0.0\n")
    t0 = time.perf_counter()
    daemon.start(wait_ready=True)
    ready_s = time.perf_counter() - t0
    ready = next(e for e in daemon.events() if e.get("event") == "daemon_ready")
    assert ready["message"].endswith("0 episode(s) queued at startup"), ready
    print(
        f"  startup reconcile of {EPISODES} up-to-date episodes to READY: {ready_s:.2f} s "
        f"(target < 10 s) -> {_verdict(ready_s < 10)} (interpreter start included)"
    )
    assert daemon.proc is not None
    pid = daemon.proc.pid
    time.sleep(2)
    cpu0, wall0 = _cpu_seconds(pid), time.monotonic()
    time.sleep(IDLE_SECONDS)
    cpu = (_cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0) * 100
    rss = _rss_mb(pid)
    print(
        f"  idle over {IDLE_SECONDS} s with {EPISODES} episodes watched: CPU {cpu:.2f}% of one "
        f"core (target < 1%) -> {_verdict(cpu < 1)}; RSS {rss:.0f} MB "
        f"(target < 120 MB) -> {_verdict(rss < 120)}"
    )
    daemon.stop()


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _clone(src: Path, dst: Path) -> None:
    for folder in ("images", "provenance", "render"):
        (dst / folder).mkdir(parents=True)
    shutil.copyfile(src / "chapters.json", dst / "chapters.json")
    for path in src.rglob("*"):
        if path.is_file() and path.name != "chapters.json":
            target = dst / path.relative_to(src)
            if path.suffix == ".png":
                os.link(path, target)
            else:
                shutil.copyfile(path, target)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _ts(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _pct(values: list[float], p: int) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if p < 100 else values[-1]


if __name__ == "__main__":
    main()
