"""Secrets: after every other scenario, the key the daemons were given must appear in
no log, manifest, provenance, request or state file they left."""

from __future__ import annotations

from pathlib import Path

from tests.torture.common import SECRET_KEY
from tests.torture.report import Row

# The key whole, and its distinctive middle: a partly masked echo counts as a leak too.
NEEDLES = (SECRET_KEY.encode(), b"0123456789SECRET")


def run(work: Path) -> Row:
    row = Row("secrets in outputs and logs")
    for path in work.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        row.runs += 1
        data = path.read_bytes()
        if any(needle in data for needle in NEEDLES):
            row.fail(f"key found in {path.relative_to(work)}")
    return row
