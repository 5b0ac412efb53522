"""Directories opened once and used through their handles: every file of an episode is
read, written, renamed and removed relative to an open directory (`dir_fd=`), never by
a path resolved again later. A symlink or a swapped folder cannot move a write between
a check and its use, and a folder deleted or moved away during a run is noticed
(`where()`) before the next write or paid call, instead of being silently recreated.

    root = Dir.open(outputs_root)             # the one path resolved, once
    episode = root.descend(Path("ep001"))      # each step O_NOFOLLOW
    images = episode.make_dir("images")        # created on first need, never followed
    images.write_bytes("ch01.png", data)       # temp file, fsync, rename, fsync: atomic
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from pathlib import Path, PurePath
from typing import Any

from handlers.errors import ConfinementError, ImagegenError
from handlers.files.atomic import FILE_MODE, TMP_SUFFIX, encode_json
from handlers.files.reading import parse_json, read_at
from handlers.hashing import sha256_bytes

_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_OPEN_TEMP = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_APPEND = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OPEN_UNNAMED = os.O_WRONLY | getattr(os, "O_TMPFILE", 0) | os.O_CLOEXEC
# Naming an unnamed file goes through /proc (linkat with AT_EMPTY_PATH needs a
# capability we do not have).
_TMPFILE_WORKS = hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")


class Gone(ImagegenError):
    """A directory of the run was deleted, moved or replaced while the run held it."""


class Dir:
    """One open directory. `path` is for messages only: nothing is opened by it."""

    def __init__(self, fd: int, path: Path, parent: Dir | None = None, name: str = "") -> None:
        self.fd = fd
        self.path = path
        self.parent = parent
        self.name = name
        st = os.fstat(fd)
        self._identity = (st.st_dev, st.st_ino)
        self._children: list[Dir] = []
        self._listing = threading.Lock()

    # -- opening --------------------------------------------------------------------------

    @classmethod
    def open(cls, root: Path) -> Dir:
        """The outputs root: the one directory opened by its (already resolved) path."""
        return cls(os.open(root, _OPEN_DIR), root)

    def find_dir(self, name: str) -> Dir | None:
        """A subdirectory when one is there; None when absent, a file or a symlink
        (never followed), or a name that is not a plain one. For readers that show
        what there is."""
        try:
            st = self.stat(name)
            if st is None or not stat.S_ISDIR(st.st_mode):
                return None
            return self.open_dir(name)
        except ConfinementError:
            return None  # replaced by a symlink since the stat

    def open_dir(self, name: str) -> Dir:
        """A subdirectory, refusing a symlink in its place."""
        _check_name(name)
        try:
            fd = os.open(name, _OPEN_DIR | os.O_NOFOLLOW, dir_fd=self.fd)
        except OSError as e:
            if e.errno in (errno.ELOOP, errno.ENOTDIR):
                st = self.stat(name)
                if st is not None and stat.S_ISLNK(st.st_mode):
                    raise ConfinementError(
                        f"{self.path / name} is a symlink; imagegen does not write through "
                        "symlinks (remove it: imagegen makes the folder itself)"
                    ) from None
                raise ConfinementError(f"{self.path / name} is not a directory") from None
            with self._named(name):
                raise
        child = Dir(fd, self.path / name, self, name)
        self._children.append(child)
        return child

    def make_dir(self, name: str) -> Dir:
        """A subdirectory, created when missing (never through a symlink)."""
        self.check()
        with contextlib.suppress(FileExistsError), self._named(name):
            os.mkdir(name, 0o777, dir_fd=self.fd)
        return self.open_dir(name)

    def descend(self, relative: PurePath) -> Dir:
        """A directory below this one, each step opened without following a symlink."""
        current = self
        for part in relative.parts:
            current = current.open_dir(part)
        return current

    def close(self) -> None:
        for child in self._children:
            child.close()
        self._children.clear()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Dir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- still there? ---------------------------------------------------------------------

    def where(self) -> str | None:
        """None while this directory and every parent up to the root still sit where
        the run found them; else what happened, for the log."""
        node: Dir | None = self
        while node is not None and node.parent is not None:
            if os.fstat(node.fd).st_nlink == 0:
                return f"{node.path} was deleted"
            try:
                st = os.stat(node.name, dir_fd=node.parent.fd, follow_symlinks=False)
            except FileNotFoundError:
                return f"{node.path} was moved away or deleted"
            if (st.st_dev, st.st_ino) != node._identity:
                return f"{node.path} was replaced (now another folder or a symlink)"
            node = node.parent
        return None

    def check(self) -> None:
        """Raise Gone when this directory is no longer where the run found it."""
        problem = self.where()
        if problem is not None:
            raise Gone(f"{problem} during the run; nothing more is written or paid for")

    # -- files ----------------------------------------------------------------------------

    def write_bytes(self, name: str, data: bytes, *, durable: bool = True) -> None:
        """Temp file beside the target, fsync, rename over it, fsync the folder: a reader
        sees the old file or the new one, never half of one. The temp file is written
        unnamed and named only when whole, so a SIGKILL mid-write leaves nothing behind
        (where O_TMPFILE is missing, `sweep_temp_files` cleans up). `durable=False` skips the
        fsyncs, for files made again from others when lost (thumbnails, galleries)."""
        _check_name(name)
        self.check()
        existing = self.stat(name)
        if existing is not None and stat.S_ISLNK(existing.st_mode):
            raise ConfinementError(
                f"{self.path / name} is a symlink; imagegen does not write through symlinks"
            )
        # A leading dot and the .tmp suffix: the watcher's whitelist never matches these.
        temp = f".{name}.{secrets.token_hex(4)}{TMP_SUFFIX}"
        fd, named = self._open_temp(name, temp)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fchmod(f.fileno(), FILE_MODE)
                if durable:
                    os.fsync(f.fileno())
                if not named:
                    # The file gets a name only now, when whole: a kill while writing
                    # leaves nothing behind for the next run to sweep. A new file takes
                    # its own name at once; one that replaces another goes through the
                    # temp name, as link cannot replace.
                    with self._named(name):
                        named = self._link(f.fileno(), name, temp)
            if named:
                with self._named(name):
                    os.replace(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp, dir_fd=self.fd)
            raise
        if durable:
            os.fsync(self.fd)

    def _link(self, fd: int, name: str, temp: str) -> bool:
        """Name the unnamed file `fd`: `name` itself when free (False: done), else
        `temp` (True: still to be renamed over `name`)."""
        source = f"/proc/self/fd/{fd}"
        try:
            os.link(source, name, dst_dir_fd=self.fd, follow_symlinks=True)
            return False
        except FileExistsError:
            os.link(source, temp, dst_dir_fd=self.fd, follow_symlinks=True)
            return True

    def _open_temp(self, name: str, temp: str) -> tuple[int, bool]:
        """An unnamed file in this folder (O_TMPFILE) where the kernel and file system
        offer one, else the named temp file; the flag says which."""
        if _TMPFILE_WORKS:
            try:
                return os.open(".", _OPEN_UNNAMED, 0o600, dir_fd=self.fd), False
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                    with self._named(name):
                        raise
        with self._named(name):
            return os.open(temp, _OPEN_TEMP, 0o600, dir_fd=self.fd), True

    def write_json(self, name: str, obj: Any) -> str:
        """Write `obj` as UTF-8 JSON; return the sha256 of the bytes written."""
        data = encode_json(obj)
        self.write_bytes(name, data)
        return sha256_bytes(data)

    def append_bytes(self, name: str, data: bytes, *, durable: bool) -> None:
        """Append `data` to an existing regular file (O_APPEND), whole or not at all,
        never through a symlink and never blocking on a FIFO. For a journal with one
        writer at a time, where a rename per line would be a waste."""
        _check_name(name)
        self.check()
        with self._named(name):
            fd = os.open(name, _OPEN_APPEND, dir_fd=self.fd)
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode):
                    raise ConfinementError(f"{self.path / name} is not a regular file")
                try:
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                except OSError:
                    # Cut back to where it was: part of a line (disk full) would glue
                    # itself to the next one appended.
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, st.st_size)
                    raise
                if durable:
                    os.fdatasync(fd)
            finally:
                os.close(fd)

    def read_bytes(self, name: str, *, max_bytes: int, what: str) -> bytes:
        """A small regular file: never through a symlink, never blocking on a FIFO, never
        past `max_bytes`. InputError says what is wrong with it."""
        _check_name(name)
        return read_at(self.fd, name, max_bytes=max_bytes, what=what, where=self.path / name)

    def read_json(self, name: str, *, max_bytes: int, what: str) -> Any:
        """A small JSON file: InputError (missing, not regular, too big) or ValueError."""
        return parse_json(self.read_bytes(name, max_bytes=max_bytes, what=what))

    def stat(self, name: str) -> os.stat_result | None:
        """lstat of an entry, or None when there is none."""
        _check_name(name)
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def remove(self, name: str) -> bool:
        """Unlink an entry (a file or a symlink, never what it points to); False when
        there was none."""
        _check_name(name)
        self.check()
        try:
            with self._named(name):
                os.unlink(name, dir_fd=self.fd)
        except FileNotFoundError:
            return False
        return True

    def remove_dir(self, name: str) -> bool:
        """Remove an empty subdirectory; False when it is not there or not empty."""
        _check_name(name)
        self.check()
        try:
            os.rmdir(name, dir_fd=self.fd)
        except OSError:
            return False
        return True

    def names(self) -> list[str]:
        # listdir on a descriptor reads through a stream that shares the descriptor's
        # offset: two threads listing one folder at once each saw part of it (a ledger
        # once missed another stage's cost that way). One listing at a time.
        with self._listing:
            return os.listdir(self.fd)

    @contextlib.contextmanager
    def _named(self, name: str) -> Iterator[None]:
        """OSErrors of a call by handle name the whole path, for the operator. One that
        came because the folder went away after `check()` (a link or rename into a
        deleted folder fails with ENOENT) is Gone, as a check a moment later would say."""
        try:
            yield
        except OSError as e:
            problem = self._where_quietly()
            if problem is not None:
                raise Gone(f"{problem} during the run; nothing more is written or paid for") from e
            source = str(e.filename or "")
            if not source.startswith("/") or source == name or source.startswith("/proc/"):
                e.filename = str(self.path / name)
            raise

    def _where_quietly(self) -> str | None:
        try:
            return self.where()
        except OSError:
            return None  # the original error says more than this one


def _check_name(name: str) -> None:
    # Names come from layout.py and validated chapter ids; this is the last line of
    # defence, should one ever carry a path.
    if not name or "/" in name or name in (".", ".."):
        raise ConfinementError(f"{name!r} is not a plain file name")


def sweep_temp_files(folder: Dir) -> list[str]:
    """Remove the temp files a killed writer left in `folder`. Called under the episode
    lock, so no live writer of ours can own one. Returns the names removed."""
    removed: list[str] = []
    for name in folder.names():
        st = folder.stat(name)
        if (
            name.startswith(".")
            and name.endswith(TMP_SUFFIX)
            and st is not None
            and stat.S_ISREG(st.st_mode)
            and folder.remove(name)
        ):
            removed.append(name)
    return removed
