"""The main loop's stall monitor: it speaks once when the loop stops turning, with
every thread's stack, and once when it turns again; never while it turns."""

from __future__ import annotations

import threading
import time
from typing import Any

import structlog

from daemon.stall import UNWATCHED_THRESHOLD, StallMonitor, threshold_for
from tests.support.waiting import until


def test_a_stall_is_told_once_with_the_stacks_and_its_end_once() -> None:
    parked = threading.Event()
    other = threading.Thread(target=parked.wait, name="imagegen-parked", daemon=True)
    other.start()
    with structlog.testing.capture_logs() as logs:
        monitor = StallMonitor(threshold=1.0)
        monitor.start()
        beating_until = time.monotonic() + 1.5
        while time.monotonic() < beating_until:  # turning: 20 beats a second
            monitor.beat()
            time.sleep(0.05)
        assert logs == []

        def events(name: str) -> list[dict[str, Any]]:
            return [e for e in logs if e["event"] == name]

        assert until(lambda: bool(events("main_loop_stalled")))
        time.sleep(0.6)  # still stalled: nothing more is said
        (stalled,) = events("main_loop_stalled")
        assert stalled["log_level"] == "error" and stalled["seconds"] >= 1.0
        assert "Thread imagegen-parked (most recent call last):" in stalled["message"]
        assert (
            "in test_a_stall_is_told_once_with_the_stacks_and_its_end_once" in (stalled["message"])
        )
        monitor.beat()
        assert until(lambda: bool(events("main_loop_resumed")))
        monitor.stop()
    parked.set()
    assert len(events("main_loop_stalled")) == 1 and len(events("main_loop_resumed")) == 1


def test_a_stall_is_told_before_the_watchdog_can_fire() -> None:
    """The watchdog fires WatchdogSec after the last ping; the last ping may be half of
    WatchdogSec older than the loop's last turn. Told = threshold + one look."""
    for watchdog_sec in (4.0, 30.0, 180.0):
        threshold = threshold_for(watchdog_sec / 2)  # pings go every half of it
        told_by = threshold + min(1.0, threshold / 5)
        assert told_by < watchdog_sec / 2, watchdog_sec
        assert threshold > 5 * 0.2  # five loop ticks (LOOP_TICK 0.2 s) of slack at least
    assert threshold_for(None) == UNWATCHED_THRESHOLD
