"""The few inotify(7) calls the watcher needs, through libc.

watchdog's inotify observer watches every directory of a recursive tree (4+ per
episode: the 50,000-episode tree would need 200,000 watches, past the default limit)
and each non-recursive schedule costs a thread and an inotify instance. The watcher
needs one instance, and to choose its directories itself."""

from __future__ import annotations

import ctypes
import errno
import os
import struct
from dataclasses import dataclass

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_DONT_FOLLOW = 0x02000000
IN_ISDIR = 0x40000000
IN_CLOEXEC = 0o2000000
IN_NONBLOCK = 0o4000

_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len of the name that follows

_libc = ctypes.CDLL(None, use_errno=True)
_init1 = _libc.inotify_init1
_init1.argtypes = [ctypes.c_int]
_add_watch = _libc.inotify_add_watch
_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_rm_watch = _libc.inotify_rm_watch
_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]


@dataclass(frozen=True)
class Event:
    wd: int
    mask: int
    name: str


class Inotify:
    def __init__(self) -> None:
        fd = _init1(IN_CLOEXEC | IN_NONBLOCK)
        if fd < 0:
            raise _os_error()
        self.fd: int = fd

    def add_watch(self, path: str, mask: int) -> int:
        wd = _add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise _os_error(path)
        return int(wd)

    def rm_watch(self, wd: int) -> None:
        _rm_watch(self.fd, wd)  # EINVAL when the kernel already dropped it: fine

    def read(self) -> list[Event]:
        """The events queued now; [] when there are none (the descriptor never blocks)."""
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        events = []
        offset = 0
        while offset < len(data):
            wd, mask, _cookie, size = _HEADER.unpack_from(data, offset)
            offset += _HEADER.size
            name = data[offset : offset + size].rstrip(b"\0")
            offset += size
            events.append(Event(wd, mask, os.fsdecode(name)))
        return events

    def close(self) -> None:
        os.close(self.fd)


def _os_error(path: str | None = None) -> OSError:
    code = ctypes.get_errno() or errno.EIO
    return OSError(code, os.strerror(code), path)
