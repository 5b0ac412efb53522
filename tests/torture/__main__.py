"""`make torture`: every scenario against the real daemon, then the table.

python -m tests.torture [--short] [--json FILE]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from daemon.logging import configure_logging
from tests.torture import (
    api_faults,
    crash_anywhere,
    disk_full,
    hostile_input,
    races,
    secrets_scan,
    storms,
)
from tests.torture.report import Row, table, write_json


def run_all(full: bool) -> list[Row]:
    work = Path(tempfile.mkdtemp(prefix="imagegen-torture-", dir="/var/tmp"))
    rows: list[Row] = []
    try:
        for name, scenario in (
            ("crash anywhere", lambda: crash_anywhere.run(full, work)),
            ("API faults", lambda: api_faults.run(full, work)),
            ("hostile input", lambda: hostile_input.run(full)),
            ("event storms", lambda: storms.run(full, work)),
            ("disk full", lambda: disk_full.run(full, work)),
            ("races", lambda: races.run(full, work)),
        ):
            t0 = time.monotonic()
            print(f"-- {name} ...", file=sys.stderr, flush=True)
            row = scenario()
            print(f"   {time.monotonic() - t0:.0f} s", file=sys.stderr, flush=True)
            rows.append(row)
        rows.append(secrets_scan.run(work))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.torture")
    parser.add_argument("--short", action="store_true", help="the short form make test runs")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    args = parser.parse_args()
    configure_logging("console", verbose=False)
    rows = run_all(full=not args.short)
    print(table(rows))
    if args.json:
        write_json(rows, args.json)
    return 0 if all(r.clean for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
