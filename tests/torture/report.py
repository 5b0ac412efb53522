"""One row of figures per scenario, and the table they make."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image

COLUMNS = (
    ("scenario", 30),
    ("runs", 6),
    ("failures", 9),
    ("paid dup", 9),
    ("corrupt", 8),
    ("lost", 5),
    ("outside", 8),
    ("crashes", 8),
)


@dataclass
class Row:
    scenario: str
    runs: int = 0
    failures: int = 0  # runs that did not end as they must (incomplete, wrong status, ...)
    paid_duplicates: int = 0  # images paid again for a chapter already finished
    corrupt_files: int = 0  # JSON that does not parse, PNG that does not verify, temp left
    data_lost: int = 0  # a finished image or entry that disappeared
    writes_outside_root: int = 0
    daemon_crashes: int = 0  # the daemon died by itself (not killed by the scenario)
    notes: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.failures
            or self.paid_duplicates
            or self.corrupt_files
            or self.data_lost
            or self.writes_outside_root
            or self.daemon_crashes
        )

    def fail(self, note: str) -> None:
        self.failures += 1
        if len(self.notes) < 20:
            self.notes.append(note)


@contextmanager
def keep(work: Path) -> Iterator[str]:
    """A scenario's own directory under `work`, left in place for the secrets scan
    (the runner removes `work` at the end)."""
    yield tempfile.mkdtemp(dir=work)


def table(rows: Iterable[Row]) -> str:
    rows = list(rows)
    head = " | ".join(name.ljust(width) for name, width in COLUMNS)
    lines = [head, "-" * len(head)]
    for r in rows:
        values = (
            r.scenario,
            r.runs,
            r.failures,
            r.paid_duplicates,
            r.corrupt_files,
            r.data_lost,
            r.writes_outside_root,
            r.daemon_crashes,
        )
        lines.append(" | ".join(str(v).ljust(w) for v, (_, w) in zip(values, COLUMNS, strict=True)))
    for r in rows:
        for note in r.notes:
            lines.append(f"  {r.scenario}: {note}")
    return "\n".join(lines)


def write_json(rows: Iterable[Row], path: Path) -> None:
    path.write_text(json.dumps([asdict(r) for r in rows], indent=2, ensure_ascii=False))


def unnamed_files_work(folder: Path) -> bool:
    """Whether this file system gives unnamed files (O_TMPFILE): then a killed writer
    leaves no temp file at all (handlers/files/dirs.py)."""
    try:
        os.close(os.open(folder, os.O_WRONLY | os.O_TMPFILE, 0o600))
    except (OSError, AttributeError):
        return False
    return True


def corrupt_files(tree: Path) -> list[str]:
    """Every JSON must parse, every PNG verify, and no temp file may be left behind."""
    bad = []
    for path in tree.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        if path.name.endswith(".tmp") and path.name.startswith("."):
            bad.append(f"temp file left: {path}")
        elif (path.suffix == ".json" and path.name != "chapters.json") or path.name.endswith(
            ".stale"
        ):
            try:
                json.loads(path.read_bytes())
            except ValueError:
                if path.suffix == ".json":
                    bad.append(f"JSON does not parse: {path}")
        elif path.suffix == ".png":
            try:
                with Image.open(path) as img:
                    img.verify()
            except Exception as e:  # any decoder error is corruption
                bad.append(f"PNG does not verify: {path} ({type(e).__name__})")
    return bad


def files_outside(root: Path, before: set[Path], watch: Iterable[Path]) -> list[str]:
    """Files that appeared under `watch` (dirs next to the root) since `before`."""
    out = []
    for base in watch:
        for path in base.rglob("*"):
            if path not in before and not path.is_relative_to(root):
                out.append(str(path))
    return out
