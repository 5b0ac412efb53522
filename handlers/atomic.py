"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

TMP_SUFFIX = ".tmp"


def write_bytes(path: Path, data: bytes) -> None:
    """Temp file in the same directory, fsync, os.replace, fsync the directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A leading dot and the .tmp suffix: the watcher's whitelist never matches these.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_json(path: Path, obj: Any) -> str:
    """Write `obj` as UTF-8 JSON (Turkish stays readable); return the bytes' sha256."""
    data = (json.dumps(obj, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
    write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
