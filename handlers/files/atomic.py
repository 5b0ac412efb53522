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


def write_bytes(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Temp file in the same directory, fsync, os.replace, fsync the directory.
    `durable=False` skips both fsyncs, for files made again from others when lost
    (thumbnails, the gallery): still never half-written, ten times faster."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # A leading dot and the .tmp suffix: the watcher's whitelist never matches these.
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if durable:
        fsync_dir(path.parent)


def write_json(path: Path, obj: Any) -> str:
    """Write `obj` as UTF-8 JSON (Turkish stays readable); return the bytes' sha256."""
    text = json.dumps(obj, ensure_ascii=False, indent=2) + "\n"
    # A file name that is not UTF-8 reaches us as lone surrogates; "\\udcff" is also
    # the JSON escape for it, so backslashreplace keeps the file valid JSON.
    data = text.encode("utf-8", "backslashreplace")
    write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sweep_temp_files(directory: Path) -> list[str]:
    """Remove the temp files a killed writer left in `directory`. Called under the
    episode lock, so no live writer of ours can own one. Returns the names removed."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(directory))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        if (
            entry.name.startswith(".")
            and entry.name.endswith(TMP_SUFFIX)
            and entry.is_file(follow_symlinks=False)
        ):
            try:
                os.unlink(entry.path)
                removed.append(entry.name)
            except FileNotFoundError:
                pass
    return removed
