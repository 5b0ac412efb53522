"""Whether a daemon serves a tree: each one holds a shared flock(2) on
`<outputs_dir>/.imagegen/daemon.lock` while it runs (several daemons may share a tree),
so anyone may ask by trying for an exclusive one. The kernel drops the lock with its
holder, even on SIGKILL, so a crashed daemon never looks alive."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from handlers.episode import layout


def lock_path(root: Path) -> Path:
    return root / layout.STATE_DIR / layout.DAEMON_LOCK


def announce(root: Path) -> int | None:
    """Hold the tree's daemon lock (shared) for the life of the process; None when it
    cannot be made (a read-only tree): `imagegen retry` then cannot tell."""
    path = lock_path(root)
    try:
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o664)
    except OSError:
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)  # only an asker's brief exclusive try can hold it up
    return fd


def daemon_serving(root: Path) -> bool | None:
    """True when a daemon holds the tree's lock, False when none does, None when this
    process may not look."""
    try:
        fd = os.open(lock_path(root), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False  # no daemon ever served this tree
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)  # closing drops an exclusive lock we may have got
    return False
