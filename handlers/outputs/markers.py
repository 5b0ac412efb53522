"""`.stale` markers: small JSON notes (invalidated_at, invalidated_by, reason) that ask
for regeneration. We delete one only after the work it asked for succeeded, and only
if nobody rewrote it meanwhile."""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handlers.files.atomic import write_json
from handlers.files.reading import parse_json

MAX_MARKER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Marker:
    path: Path
    identity: tuple[int, int, int]
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        who = self.info.get("invalidated_by") or "someone"
        reason = self.info.get("reason")
        when = self.info.get("invalidated_at")
        text = f"{self.path.name} (by {who}"
        text += f" at {when}" if when else ""
        text += f": {reason})" if reason else ")"
        return text


def find_marker(path: Path, warnings: list[str]) -> Marker | None:
    """The marker at `path`, if it is a regular file; anything else there is a warning."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISREG(st.st_mode):
        warnings.append(f"{path} is not a regular file; ignored as a .stale marker")
        return None
    return Marker(path=path, identity=identity(st), info=_read_info(path, st.st_size))


def consume(marker: Marker) -> bool:
    """Delete the marker unless it changed since we read it (a new request stays)."""
    return remove_if_unchanged(marker.path, marker.identity)


def remove_if_unchanged(path: Path, seen: tuple[int, int, int]) -> bool:
    """Delete a request file we acted on, unless it was rewritten since we read it."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return True
    if identity(st) != seen:
        return False
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return True


def write_marker(path: Path, *, by: str, reason: str) -> None:
    info = {
        "invalidated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "invalidated_by": by,
        "reason": reason,
    }
    write_json(path, info)


def identity(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _read_info(path: Path, size: int) -> dict[str, Any]:
    # Markers are notes for people; an unreadable or non-JSON one still counts.
    if size > MAX_MARKER_BYTES:
        return {}
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as f:
            data = parse_json(f.read(MAX_MARKER_BYTES))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
