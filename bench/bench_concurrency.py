"""A first run as an operator sees it: `imagegen run` as a whole process, 8 paid
chapters against the loopback fake at 1.0 s per image (real SDK, real HTTP, real PNG
decode, fit-to-frame and encode), at concurrency 3.

Baseline in the same run: the same process at concurrency 1 (sequential), and the
ideal ceil(8/3) x 1.0 s = 3 s."""

from __future__ import annotations

import math
import shutil
import statistics

from bench.common import IMAGEGEN, WORK, ProcessRun, clean_env, record, run_process
from tests.fakeapi import FakeAPI
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
    finally:
        shutil.rmtree(root, ignore_errors=True)
    c1 = statistics.median(r.seconds for r in runs[1])
    c3 = statistics.median(r.seconds for r in runs[3])
    ideal = math.ceil(CHAPTERS / 3) * LATENCY
    each = ", ".join(f"{r.seconds:.2f}" for r in runs[3])
    record(
        "first run, 8 chapters, 1 s per image, c=3 (whole process)",
        f"{c3:.2f} s median of {reps} ({each})",
        "<= 3.5 s (ideal 3.0 s)",
        c3 <= 3.5,
        f"sequential (c=1) in the same run {c1:.2f} s; ideal {ideal:.1f} s",
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
        f"c=1 {c1:.2f} s, c=3 {c3:.2f} s",
    )
    rss = max(r.max_rss_mb for r in runs[3])
    record(
        "peak RSS of that run",
        f"{rss:.0f} MB (max of {reps})",
        "<= 120 MB",
        rss <= 120,
        f"sequential run {max(r.max_rss_mb for r in runs[1]):.0f} MB; the issue measured 178 MB",
    )
