"""8 chapters against the loopback fake at 1.0 s per image, concurrency 1, 3 and 6.

Baseline: concurrency 1 of the same run, and the ideal ceil(n/c) x latency.
Real SDK, real HTTP, real PNG decode, fit-to-frame and encode on our side."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

from config import load_settings
from daemon.logging import configure_logging
from handlers.api.key_check import forget_verified_keys
from handlers.imagegen import RunRequest, run
from tests.fakeapi import FakeAPI
from tests.support.episodes import paid_episode_doc, write_doc

CHAPTERS = 8
LATENCY = 1.0
LEVELS = (1, 3, 6)


def main() -> None:
    configure_logging("console", verbose=False)
    print(f"\n{CHAPTERS} chapters, fake image latency {LATENCY:.1f} s (openai SDK over HTTP)")
    times: dict[int, float] = {}
    with FakeAPI() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.latency["images"] = LATENCY
        root = Path(tmp)
        for level in LEVELS:
            forget_verified_keys()
            name = f"bench-c{level}"
            episode = write_doc(root, name, paid_episode_doc(name, CHAPTERS))
            settings = load_settings(
                overrides={
                    "outputs_dir": root,
                    "image": {"provider": "openai", "concurrency": level},
                    "openai": {"api_key": fake.api_key, "base_url": fake.openai_base_url},
                }
            )
            paid_before = fake.images_paid
            t0 = time.perf_counter()
            result = run(episode, RunRequest(), settings)
            times[level] = time.perf_counter() - t0
            assert result.outcome == "ok" and fake.images_paid - paid_before == CHAPTERS, result
    for level in LEVELS:
        ideal = math.ceil(CHAPTERS / level) * LATENCY
        overhead = times[level] / ideal - 1
        print(
            f"  concurrency {level}: {times[level]:.2f} s, ideal {ideal:.1f} s, "
            f"overhead {overhead * 100:.1f}% (target < 10%) -> {_verdict(overhead < 0.10)}"
            + (f", {times[1] / times[level]:.2f}x faster than concurrency 1" if level > 1 else "")
        )
    speedup = times[1] / times[3]
    print(f"  speed-up at 3 vs 1: {speedup:.2f}x (target >= 2.5x) -> {_verdict(speedup >= 2.5)}")


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


if __name__ == "__main__":
    main()
