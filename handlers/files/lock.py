"""One exclusive lock per episode, so two runs never work on one episode at once.

The lock is flock(2) on the episode directory itself: nothing is written to take it,
it works between threads of one process (each holder opens its own descriptor) and
between processes, and the kernel drops it when a holder dies, even by SIGKILL.
Who holds it is read from the kernel too (lock_holder.py).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from handlers.errors import LockBusy
from handlers.files.lock_holder import lock_holder

# A run that waits longer than this says so (and who it waits for); shorter waits,
# the everyday brush with the daemon finishing a job, stay quiet.
WAIT_NOTICE_SECONDS = 1.0
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


@contextmanager
def episode_lock(
    episode_dir: Path,
    *,
    wait: bool = True,
    timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
    held: int | None = None,
) -> Iterator[None]:
    """Hold the episode's lock. `on_wait(holder)` is called once after
    WAIT_NOTICE_SECONDS of waiting, with who holds it ('pid 4242 (imagegen daemon)')."""
    # The run's own handle of the folder when it has one: the lock is then on the very
    # folder the run works in, whatever the path points at by now.
    fd = os.dup(held) if held is not None else os.open(episode_dir, _OPEN_DIR)
    try:
        _acquire(fd, episode_dir, wait=wait, timeout=timeout, on_wait=on_wait)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _acquire(
    fd: int,
    episode_dir: Path,
    *,
    wait: bool,
    timeout: float | None,
    on_wait: Callable[[str], None] | None,
) -> None:
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if not wait:
            raise LockBusy(
                f"{episode_dir}: another imagegen run is working on this episode; the lock "
                f"is held by {lock_holder(episode_dir)}; try again later or drop --no-wait"
            )
        if deadline is not None and time.monotonic() >= deadline:
            raise LockBusy(
                f"{episode_dir}: still locked after {timeout:g} s by "
                f"{lock_holder(episode_dir)} (setting lock_timeout_seconds)"
            )
        if not told and on_wait is not None and time.monotonic() - started >= WAIT_NOTICE_SECONDS:
            on_wait(lock_holder(episode_dir))
            told = True
        time.sleep(0.05)
