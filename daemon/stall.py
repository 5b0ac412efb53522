"""Say where the daemon is stuck before systemd's watchdog kills it.

The main loop beats on every turn (at least every LOOP_TICK). A small thread looks at
the beat; once the loop has not turned for `threshold` seconds, it logs
`main_loop_stalled` at error with every thread's stack, and `main_loop_resumed` if the
loop turns again.

faulthandler still dumps the stacks at the watchdog's SIGABRT, but it reads the other
threads' frames without the GIL, and a thread busy in Python at that instant can crash
the dump half-way. This thread holds the GIL while it reads, so the frames are still.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback

import structlog

log = structlog.get_logger("imagegen")

# Without a watchdog nobody kills a stuck loop; a minute is surely stuck.
UNWATCHED_THRESHOLD = 60.0


def threshold_for(watchdog_ping_every: float | None) -> float:
    """Seconds without a turn that count as stalled, or UNWATCHED_THRESHOLD when there is
    no watchdog. The watchdog fires WatchdogSec after the last ping, and the last ping
    can be up to half of WatchdogSec older than the last turn: the stall must be told
    (threshold plus one look, a fifth of it) within that half. 0.35 x WatchdogSec: told
    by 0.42 x; 10.5 s for the unit's WatchdogSec=30."""
    if watchdog_ping_every is None:
        return UNWATCHED_THRESHOLD
    return max(0.5, 0.7 * watchdog_ping_every)  # pings go every half of WatchdogSec


class StallMonitor:
    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self._last = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="imagegen-stall", daemon=True)

    def start(self) -> None:
        self._last = time.monotonic()
        self._thread.start()

    def beat(self) -> None:
        # A plain assignment: the loop must never wait on anything to beat.
        self._last = time.monotonic()

    def stop(self) -> None:
        self._stop.set()

    def _watch(self) -> None:
        stalled_since: float | None = None
        while not self._stop.wait(min(1.0, self.threshold / 5)):
            last = self._last
            idle = time.monotonic() - last
            if stalled_since is None and idle >= self.threshold:
                stalled_since = last
                # The stacks in the message itself: journalctl shows only MESSAGE.
                log.error(
                    "main_loop_stalled",
                    seconds=round(idle, 1),
                    message=(
                        f"the main loop has not turned for {idle:.1f} s; where each "
                        f"thread is:\n{_stacks()}"
                    ),
                )
            elif stalled_since is not None and last > stalled_since:
                log.warning(
                    "main_loop_resumed",
                    seconds=round(last - stalled_since, 1),
                    message=f"the main loop turned again after {last - stalled_since:.1f} s",
                )
                stalled_since = None


def _stacks() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    me = threading.get_ident()
    parts = []
    for ident, frame in sys._current_frames().items():
        if ident == me:
            continue
        stack = "".join(traceback.format_stack(frame))
        parts.append(f"Thread {names.get(ident, ident)} (most recent call last):\n{stack}")
    return "\n".join(parts)
