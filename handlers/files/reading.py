"""Reading files we do not trust (upstream's input, markers, other stages' records):
never follow a final symlink, never block on a FIFO, never read past a size limit,
and turn every kind of bad JSON, giant numbers and deep nesting included, into a
ValueError the caller can report."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from handlers.errors import ConfinementError, InputError

_OPEN_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

# Python refuses to turn integers of over 4300 digits into text (a guard against slow
# conversions) and would fail later, far from the cause; no field needs 30 digits.
MAX_INT_DIGITS = 30


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"a number with {digits} digits (at most {MAX_INT_DIGITS} are accepted)")
    return int(text)


def parse_json(text: str | bytes) -> Any:
    """json.loads for untrusted text: ValueError for anything unusable."""
    try:
        return json.loads(text, parse_int=_parse_int)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def read_json(path: Path, *, max_bytes: int, what: str) -> Any:
    """A small JSON file; InputError (not there, not a regular file, too big) or
    ValueError (not JSON)."""
    return parse_json(read_regular_file(path, max_bytes=max_bytes, what=what))


def read_regular_file(path: Path, *, max_bytes: int, what: str) -> bytes:
    """Read a small regular file without following a final symlink or blocking on a FIFO."""
    return read_at(None, path, max_bytes=max_bytes, what=what, where=path)


def read_at(
    dir_fd: int | None, name: str | Path, *, max_bytes: int, what: str, where: Path
) -> bytes:
    """The bounded, no-symlink, no-FIFO read of `name` (relative to `dir_fd` when given);
    `where` names the file in messages."""
    try:
        fd = os.open(name, _OPEN_READ, dir_fd=dir_fd)
    except FileNotFoundError:
        raise InputError(f"{where}: {what} does not exist") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise ConfinementError(
                f"{where}: {what} is a symlink; imagegen reads only regular files"
            ) from None
        hint = ""
        if e.errno in (errno.EACCES, errno.EPERM):
            hint = (
                "; the service's user cannot read it: it must be readable by the service's "
                "group (upstream: umask 002, or chmod g+r; see README, Operate)"
            )
        raise InputError(f"{where}: cannot open {what}: {e.strerror}{hint}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"{where}: {what} is not a regular file")
        if st.st_size > max_bytes:
            raise InputError(
                f"{where}: {what} is {st.st_size} bytes, over the limit of {max_bytes} "
                "(setting max_input_bytes)"
            )
        chunks = []
        remaining = max_bytes + 1
        while remaining > 0:
            chunk = os.read(fd, min(remaining, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            remaining -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise InputError(f"{where}: {what} grew past {max_bytes} bytes while being read")
        return data
    finally:
        os.close(fd)
