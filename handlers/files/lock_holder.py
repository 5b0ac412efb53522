"""Who holds an episode lock, for the "waiting for the lock held by ..." message.

The lock is flock(2) on the episode directory (lock.py), and the kernel already keeps
who holds it: /proc/locks lists every lock with the holder's pid and the locked
inode. Reading it writes nothing, cannot go stale (the entry vanishes with the lock,
even after SIGKILL) and needs no cooperation from the holder, unlike a pid file next
to the lock, which every run would have to write (a run with nothing to do must
write nothing) and a killed run would leave behind.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC_LOCKS = Path("/proc/locks")
_COMMAND_MAX = 120


def lock_holder(path: Path) -> str:
    """'pid 4242 (imagegen daemon -v)' for the process holding the flock on `path`,
    or a plain description when the kernel does not say (another PID namespace)."""
    pid = holder_pid(path)
    if pid is None:
        return "another process (not visible from here)"
    if pid == os.getpid():
        return f"pid {pid} (another job of this process)"
    command = _command(pid)
    return f"pid {pid} ({command})" if command else f"pid {pid}"


def holder_pid(path: Path, locks: Path = PROC_LOCKS) -> int | None:
    try:
        st = os.stat(path)
        lines = locks.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return None
    # The kernel prints the inode as MAJOR:MINOR:INODE with the device numbers in hex.
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:5652481 0 EOF"; waiters blocked on a
        # lock are listed as "1: -> FLOCK ..." and are not holders.
        fields = line.split()
        if len(fields) < 6 or fields[1] != "FLOCK" or fields[5] != inode:
            continue
        try:
            pid = int(fields[4])
        except ValueError:
            continue
        # 0 or -1: the holder lives in a PID namespace this process cannot see.
        return pid if pid > 0 else None
    return None


def _command(pid: int) -> str | None:
    """The holder's command when it is imagegen, else only its process name: the
    message goes to logs, and another program's arguments are none of our business."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    args = [a.decode("utf-8", "replace") for a in argv if a]
    for i, arg in enumerate(args):
        is_script = os.path.basename(arg) == "imagegen"
        is_module = arg == "-m" and i + 1 < len(args) and args[i + 1] == "daemon"
        if is_script or is_module:
            rest = args[i + (2 if is_module else 1) :]
            return _short(" ".join(["imagegen", *rest]))
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _short(text: str) -> str:
    return text if len(text) <= _COMMAND_MAX else text[: _COMMAND_MAX - 3] + "..."
