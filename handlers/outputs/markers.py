"""`.stale` markers: small JSON notes (invalidated_at, invalidated_by, reason) that ask
for regeneration. We delete one only after the work it asked for succeeded, and only
if nobody rewrote it meanwhile."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handlers.errors import ImagegenError
from handlers.files.atomic import write_json
from handlers.files.dirs import Dir

MAX_MARKER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Marker:
    folder: Dir
    name: str
    identity: tuple[int, int, int]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.folder.path / self.name

    def describe(self) -> str:
        who = self.info.get("invalidated_by") or "someone"
        reason = self.info.get("reason")
        when = self.info.get("invalidated_at")
        text = f"{self.name} (by {who}"
        text += f" at {when}" if when else ""
        text += f": {reason})" if reason else ")"
        return text


def find_marker(folder: Dir | None, name: str, warnings: list[str]) -> Marker | None:
    """The marker `name` in `folder`, if it is a regular file; anything else there is a
    warning."""
    if folder is None:
        return None
    st = folder.stat(name)
    if st is None:
        return None
    if not stat.S_ISREG(st.st_mode):
        warnings.append(f"{folder.path / name} is not a regular file; ignored as a .stale marker")
        return None
    return Marker(folder, name, identity(st), _read_info(folder, name, st.st_size))


def consume(marker: Marker) -> bool:
    """Delete the marker unless it changed since we read it (a new request stays)."""
    return remove_if_unchanged(marker.folder, marker.name, marker.identity)


def remove_if_unchanged(folder: Dir, name: str, seen: tuple[int, int, int]) -> bool:
    """Delete a request file we acted on, unless it was rewritten since we read it."""
    st = folder.stat(name)
    if st is None:
        return True
    if identity(st) != seen:
        return False
    folder.remove(name)
    return True


def marker_info(by: str, reason: str) -> dict[str, str]:
    return {
        "invalidated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "invalidated_by": by,
        "reason": reason,
    }


def write_marker(path: Path, *, by: str, reason: str) -> None:
    """A marker at a path, as a person or another stage writes one (and our tests)."""
    write_json(path, marker_info(by, reason))


def identity(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _read_info(folder: Dir, name: str, size: int) -> dict[str, Any]:
    # Markers are notes for people; an unreadable or non-JSON one still counts.
    if size > MAX_MARKER_BYTES:
        return {}
    try:
        data = folder.read_json(name, max_bytes=MAX_MARKER_BYTES, what="marker")
    except (ImagegenError, OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
