"""A first run as an operator sees it: `imagegen run` as a whole process, 8 paid
chapters against the loopback fake at 1.0 s per image (real SDK, real HTTP, real PNG
decode, fit-to-frame and encode), at concurrency 3.

Baseline in the same run: the same process at concurrency 1 (sequential), the ideal
ceil(8/3) x 1.0 s = 3 s, and the floor any such process stands on: a Python that only
imports the OpenAI SDK and makes its client, ready to send (no file read, no image).

Then the same first run as the product runs it: a drop into a running daemon (READY and
warmed up), from the rename of chapters.json to the job's end: no process start, no
imports, the SDK client and its connections already made by the first drop before it."""

from __future__ import annotations

import json
import math
import os
import shutil
import statistics
import time
from pathlib import Path

from bench.common import (
    IMAGEGEN,
    PYTHON,
    WORK,
    ProcessRun,
    clean_env,
    log_time,
    peak_rss_mb,
    record,
    run_process,
    status_mb,
)
from tests.fakeapi import FakeAPI
from tests.support.daemon_proc import DaemonProcess
from tests.support.episodes import paid_episode_doc, write_doc

CHAPTERS = 8
LATENCY = 1.0
PEER_SEQUENTIAL_SECONDS = 11.07


def main(short: bool) -> None:
    print(f"\nfirst run, whole process: {CHAPTERS} paid chapters, {LATENCY:.1f} s per image call")
    reps = 1 if short else 3
    root = WORK / "concurrency"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    runs: dict[int, list[ProcessRun]] = {1: [], 3: []}
    floors: list[ProcessRun] = []
    try:
        with FakeAPI() as fake:
            fake.latency["images"] = LATENCY
            for rep in range(reps):
                for level in (1, 3):  # interleaved: the machine's load falls on both
                    name = f"bench-c{level}-{rep}"
                    episode = write_doc(root, name, paid_episode_doc(name, CHAPTERS))
                    env = clean_env(
                        {
                            "OPENAI_API_KEY": fake.api_key,
                            "IMAGEGEN_OPENAI__BASE_URL": fake.openai_base_url,
                            "IMAGEGEN_IMAGE__PROVIDER": "openai",
                            "IMAGEGEN_IMAGE__CONCURRENCY": str(level),
                            # The spine's figure: one image per chapter, no judge or
                            # critic (bench_candidates.py measures those).
                            "IMAGEGEN_SELECTION__CANDIDATES": "1",
                            "IMAGEGEN_SELECTION__JUDGE": "none",
                            "IMAGEGEN_REFINE__ENABLED": "false",
                        }
                    )
                    paid = fake.images_paid
                    res = run_process(
                        [IMAGEGEN, "run", "--outputs-dir", str(root), str(episode)], env
                    )
                    assert res.returncode == 0 and fake.images_paid - paid == CHAPTERS, res.stdout
                    runs[level].append(res)
                floors.append(run_process([PYTHON, "-c", SDK_READY], clean_env()))
            in_daemon = _daemon_jobs(fake, root, reps)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    c1 = statistics.median(r.seconds for r in runs[1])
    floor = statistics.median(r.seconds for r in floors)
    floor_rss = max(status_mb(r.stdout, "VmHWM") for r in floors)
    c3 = statistics.median(r.seconds for r in runs[3])
    ideal = math.ceil(CHAPTERS / 3) * LATENCY
    each = ", ".join(f"{r.seconds:.2f}" for r in runs[3])
    record(
        "first run, 8 chapters, 1 s per image, c=3 (whole process)",
        f"{c3:.2f} s median of {reps} ({each})",
        "<= 3.5 s (ideal 3.0 s)",
        c3 <= 3.5,
        f"sequential (c=1) in the same run {c1:.2f} s; ideal {ideal:.1f} s; the OpenAI SDK "
        f"alone, imported with its client ready to send, {floor:.2f} s: ideal + that floor "
        f"{ideal + floor:.2f} s, before any file is read or image decoded",
    )
    speedup = c1 / c3
    top = CHAPTERS / math.ceil(CHAPTERS / 3)
    record(
        "speed-up of c=3 over the sequential run",
        f"{speedup:.2f}x; against the peer's sequential stage (11.07 s, quoted in issue 17, "
        f"not re-measurable here) {PEER_SEQUENTIAL_SECONDS / c3:.2f}x",
        f">= {0.9 * top:.1f}x: 90% of the ceiling {top:.2f}x (8 calls take 3 rounds at c=3); "
        "the issue's 3x exceeds the ceiling against any sequential run of the same calls",
        speedup >= 0.9 * top,
        f"c=1 {c1:.2f} s, c=3 {c3:.2f} s; with only the SDK's floor as fixed cost the "
        f"speed-up would be {(CHAPTERS * LATENCY + floor) / (ideal + floor):.2f}x",
    )
    rss = max(r.max_rss_mb for r in runs[3])
    record(
        "peak RSS of that run",
        f"{rss:.0f} MB (max of {reps})",
        "<= 120 MB",
        rss <= 120,
        f"sequential run {max(r.max_rss_mb for r in runs[1]):.0f} MB; the SDK alone "
        f"{floor_rss:.0f} MB; the issue measured 178 MB",
    )
    took = [seconds for seconds, _ in in_daemon]
    hwm = in_daemon[-1][1]
    record(
        "the same first job dropped into a running daemon (rename -> job finished)",
        f"{statistics.median(took):.2f} s median of {len(took)} "
        f"({', '.join(f'{t:.2f}' for t in took)}); daemon peak RSS {hwm:.0f} MB",
        "<= 3.5 s (ideal 3.0 s)",
        statistics.median(took) <= 3.5,
        f"the whole-process run above {c3:.2f} s: the difference is the process's start, "
        "imports and first client",
    )


# The floor: the SDK imported and its client made, with the images API's module loaded
# (attribute access is what loads it), as a run does before its first request. It
# prints its own peak RSS: wait4's figure for a process smaller than the benchmark
# itself is the benchmark's (the child's count starts from the parent's pages at
# fork, and the floor is smaller than this process; imagegen's runs are far larger).
SDK_READY = (
    "import openai; openai.OpenAI(api_key='sk-floor', base_url='http://127.0.0.1:9/v1').images; "
    "print(open('/proc/self/status').read())"
)


DAEMON_CONFIG = """
[image]
provider = "openai"
concurrency = 3
[selection]
candidates = 1
judge = "none"
[refine]
enabled = false
"""


def _daemon_jobs(fake: FakeAPI, root: Path, reps: int) -> list[tuple[float, float]]:
    """(seconds from the rename to job_finished, the daemon's peak RSS so far) per drop;
    each drop a new 8-chapter episode, one at a time."""
    outputs = root / "daemon-outputs"
    outputs.mkdir()
    daemon = DaemonProcess(
        outputs,
        settle=1.0,
        config=DAEMON_CONFIG,
        env={"OPENAI_API_KEY": fake.api_key, "IMAGEGEN_OPENAI__BASE_URL": fake.openai_base_url},
        log_path=root / "daemon.log",
    )
    out: list[tuple[float, float]] = []
    try:
        daemon.start()
        daemon.wait_for(lambda e: e.get("event") == "warmed_up", timeout=30)
        for rep in range(reps):
            name = f"daemon-{rep}"
            episode = outputs / name
            episode.mkdir()
            aside = episode / ".chapters.json.part"
            doc = paid_episode_doc(name, CHAPTERS)
            aside.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
            paid = fake.images_paid
            dropped = time.time()
            os.replace(aside, episode / "chapters.json")
            (job,) = daemon.wait_jobs(name, timeout=60)
            assert job["status"] == "ok" and fake.images_paid - paid == CHAPTERS, job
            assert daemon.proc is not None
            out.append((log_time(job["timestamp"]) - dropped, peak_rss_mb(daemon.proc.pid)))
    finally:
        daemon.stop()
    return out
