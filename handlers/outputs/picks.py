"""`images/<chapter_id>.select`: a person's pick of one of a chapter's candidates,
written by `imagegen select`, the review page, or by hand:

    {"candidate": "c02", "selected_by": "ayse", "selected_at": "2026-11-29T10:00:00+00:00"}

(a file holding just `c02` works too). It is consumed once applied, and only if it
was not rewritten meanwhile, like a `.stale` marker."""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from datetime import UTC, datetime

from handlers.errors import ImagegenError
from handlers.files.dirs import Dir
from handlers.files.reading import parse_json
from handlers.outputs.markers import identity, remove_if_unchanged

MAX_PICK_BYTES = 4096
_CANDIDATE = re.compile(r"^c\d{2,4}$")


@dataclass(frozen=True)
class Pick:
    folder: Dir
    name: str
    identity: tuple[int, int, int]
    candidate: str | None  # None: the file does not name a candidate
    by: str | None = None
    at: str | None = None

    def describe(self) -> str:
        who = f" by {self.by}" if self.by else ""
        when = f" at {self.at}" if self.at else ""
        return f"{self.name} ({self.candidate or 'no candidate named'}{who}{when})"


def find_pick(folder: Dir | None, name: str, warnings: list[str]) -> Pick | None:
    if folder is None:
        return None
    st = folder.stat(name)
    if st is None:
        return None
    if not stat.S_ISREG(st.st_mode):
        warnings.append(f"{folder.path / name} is not a regular file; ignored as a pick")
        return None
    candidate, by, at = _read(folder, name)
    return Pick(folder, name, identity(st), candidate, by, at)


def pick_record(candidate: str, by: str) -> dict[str, str]:
    return {
        "candidate": candidate,
        "selected_by": by,
        "selected_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def consume_pick(pick: Pick) -> bool:
    """Delete the pick unless it changed since we read it (a newer pick stays)."""
    return remove_if_unchanged(pick.folder, pick.name, pick.identity)


def _read(folder: Dir, name: str) -> tuple[str | None, str | None, str | None]:
    try:
        raw = folder.read_bytes(name, max_bytes=MAX_PICK_BYTES, what="pick")
    except (ImagegenError, OSError):
        return None, None, None
    text = raw.decode("utf-8", "replace").strip()
    if _CANDIDATE.match(text):
        return text, None, None
    try:
        data = parse_json(text)
    except ValueError:
        return None, None, None
    if not isinstance(data, dict):
        return None, None, None
    candidate = data.get("candidate")
    by, at = data.get("selected_by"), data.get("selected_at")
    return (
        candidate if isinstance(candidate, str) and _CANDIDATE.match(candidate) else None,
        by if isinstance(by, str) else None,
        at if isinstance(at, str) else None,
    )
