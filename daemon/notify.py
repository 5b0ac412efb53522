"""sd_notify(3) for a Type=notify service: READY, STATUS, WATCHDOG, STOPPING, RELOADING.

Every function is a no-op returning False when the service was not started by
systemd (no $NOTIFY_SOCKET), so the daemon runs unchanged in a terminal or a test.
"""

from __future__ import annotations

import os
import socket
import time

# We speak the protocol with the standard library instead of systemd.daemon.notify:
# the C binding raises OSError (FileNotFoundError, ConnectionRefusedError, ...) when
# the socket is gone, where we want a plain False, and a ten-line stdlib version makes
# the abstract-socket ("@name") handling visible and testable against a socket a test
# binds itself, without libsystemd in the loop.

# A send blocks only if PID 1 stops draining its queue; a watchdog ping must not hang
# a worker thread forever because of that.
_SEND_TIMEOUT_S = 1.0


def notify(*lines: str) -> bool:
    """Send `lines` (e.g. "READY=1", "STATUS=...") to $NOTIFY_SOCKET as one datagram.

    Returns True if the datagram was sent; False if there is no socket or the send
    failed. Never raises: the daemon must not die because the notify socket went away.
    """
    address = os.environ.get("NOTIFY_SOCKET")
    if not address or not lines:
        return False
    if address.startswith("@"):
        # Linux abstract namespace: systemd writes it with a leading "@".
        address = "\0" + address[1:]
    payload = "\n".join(lines).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(_SEND_TIMEOUT_S)
            sock.sendto(payload, address)
    except (OSError, ValueError):
        # ValueError: an address with an embedded NUL or one too long for sun_path.
        return False
    return True


def _one_line(text: str) -> str:
    # The protocol is newline-separated: a newline inside STATUS would start a bogus
    # assignment.
    return " ".join(text.splitlines())


def ready(status: str) -> bool:
    """Startup (or a reload) finished; systemd considers the unit active from here."""
    return notify("READY=1", f"STATUS={_one_line(status)}")


def status(text: str) -> bool:
    """Free-form status line shown by `systemctl status imagegen`."""
    return notify(f"STATUS={_one_line(text)}")


def stopping(status: str) -> bool:
    """Shutdown (draining) has begun."""
    return notify("STOPPING=1", f"STATUS={_one_line(status)}")


def reloading() -> bool:
    """A reload (SIGHUP) has begun; send ready() when it is done.

    systemd >= 253 (Type=notify-reload) wants MONOTONIC_USEC in the same datagram to
    match the reload to this message; older versions ignore the extra field.
    """
    usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    return notify("RELOADING=1", f"MONOTONIC_USEC={usec}")


def watchdog_ping() -> bool:
    """Tell systemd we are alive (WatchdogSec=)."""
    return notify("WATCHDOG=1")


def watchdog_interval() -> float | None:
    """Seconds between watchdog pings, or None when no watchdog is asked of us.

    Half of $WATCHDOG_USEC, as sd_watchdog_enabled(3) recommends, so one late ping is
    not fatal. $WATCHDOG_PID, when set, names the process the watchdog is meant for;
    a child that inherited the environment must not ping.
    """
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    pid_text = os.environ.get("WATCHDOG_PID")
    if pid_text:
        try:
            if int(pid_text) != os.getpid():
                return None
        except ValueError:
            return None
    return usec / 2 / 1_000_000
