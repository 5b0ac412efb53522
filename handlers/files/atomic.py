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


def _file_mode() -> int:
    # mkstemp makes 0600 files; give ours the mode the process umask asks for (the
    # unit's UMask= decides who downstream may read them). Read once: os.umask can
    # only be read by setting it, which is not thread-safe later on.
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


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
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def encode_json(obj: Any) -> bytes:
    """UTF-8 JSON, Turkish readable as written."""
    text = json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
    # A file name that is not UTF-8 reaches us as lone surrogates; "\\udcff" is also
    # the JSON escape for it, so backslashreplace keeps the file valid JSON.
    return text.encode("utf-8", "backslashreplace")


def write_json(path: Path, obj: Any) -> str:
    """Write `obj` as UTF-8 JSON (Turkish stays readable); return the bytes' sha256."""
    data = encode_json(obj)
    write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
