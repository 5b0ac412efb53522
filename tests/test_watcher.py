"""Watcher fallbacks: inotify limits, polling mode, queue overflow."""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import queue
import time

import pytest

from daemon import watcher
from daemon.watcher import Overflow, RawEvent, start_observer
from tests.conftest import demo_doc
from tests.support.daemon_proc import DaemonProcess


def test_inotify_limit_falls_back_to_polling_and_says_which_sysctl(tmp_path, monkeypatch, capsys):
    from daemon.logging import configure_logging

    configure_logging("json", verbose=True)

    def refuse(*args, **kwargs):
        raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(watcher.Observer, "schedule", refuse)
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    observer = start_observer(tmp_path, events, polling=False, poll_interval=0.1)
    try:
        assert isinstance(observer, watcher.PollingObserver)
        (tmp_path / "ep").mkdir()
        (tmp_path / "ep" / "chapters.json").write_text("{}")
        deadline = time.monotonic() + 5
        seen = []
        while time.monotonic() < deadline and not any(
            isinstance(e, RawEvent) and e.src.endswith("chapters.json") for e in seen
        ):
            with contextlib.suppress(queue.Empty):
                seen.append(events.get(timeout=0.2))
        assert any(isinstance(e, RawEvent) and e.src.endswith("chapters.json") for e in seen)
    finally:
        observer.stop()
    err = capsys.readouterr().err
    assert "sysctl -w fs.inotify.max_user_watches" in err


def test_overflow_reported_by_watchdog_becomes_a_rescan_request(tmp_path):
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    observer = start_observer(tmp_path, events, polling=False, poll_interval=1)
    try:
        logging.getLogger("watchdog.observers.inotify_c").warning(
            "Inotify queue overflowed; filesystem events were lost"
        )
        assert isinstance(events.get(timeout=2), Overflow)
    finally:
        observer.stop()


@pytest.mark.parametrize("mode", ["polling"])
def test_daemon_in_polling_mode_serves_a_drop(outputs, mode):
    d = DaemonProcess(outputs, config="polling = true\npoll_interval_seconds = 0.3\n")
    try:
        d.start()
        episode = outputs / "ep-poll"
        episode.mkdir()
        (episode / "chapters.json").write_text(json.dumps(demo_doc(), ensure_ascii=False))
        assert d.wait_jobs("ep-poll")[0]["status"] == "ok"
    finally:
        d.kill()
