"""`make bench`: every benchmark, figures and ratios against a baseline of the same run."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import bench_concurrency, bench_daemon, bench_offline, bench_review


def main() -> None:
    bench_offline.main()
    bench_concurrency.main()
    bench_daemon.main()
    bench_review.main()


if __name__ == "__main__":
    main()
