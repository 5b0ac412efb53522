"""`make bench` (full) and `make bench-short`: every figure against a baseline measured
in the same run, then a summary. Exits 1 when any figure misses its target.

The machine may be shared: medians are reported with their spread, and the load
average is printed with each group."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import (
    bench_candidates,
    bench_cli,
    bench_concurrency,
    bench_daemon,
    bench_offline,
    bench_refine,
    bench_review,
    bench_scale,
)
from bench.common import FIGURES, WORK, compile_bytecode, load_average
from daemon.logging import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__)
    parser.add_argument(
        "--short",
        action="store_true",
        help="~2 min: 10,000 episodes instead of 50,000, fewer repetitions",
    )
    args = parser.parse_args(argv)
    configure_logging("console", verbose=False)
    started = time.monotonic()
    print(f"imagegen benchmarks ({'short' if args.short else 'full'} form); {load_average()}")
    print(compile_bytecode())
    try:
        for bench in (
            bench_daemon,
            bench_cli,
            bench_concurrency,
            bench_candidates,
            bench_refine,
            bench_offline,
            bench_scale,
            bench_review,
        ):
            bench.main(args.short)
    finally:
        shutil.rmtree(WORK, ignore_errors=True)  # each removes its trees; this the rest
    missed = [f for f in FIGURES if f.ok is False]
    print(f"\nsummary ({time.monotonic() - started:.0f} s; {load_average()})")
    width = max(len(f.name) for f in FIGURES)
    for f in FIGURES:
        verdict = {True: "PASS", False: "FAIL", None: "  - "}[f.ok]
        print(f"  {verdict}  {f.name:<{width}}  {f.value}")
    judged = sum(1 for f in FIGURES if f.ok is not None)
    print(f"{judged - len(missed)} of {judged} figures met their target")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
