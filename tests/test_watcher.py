"""Watcher fallbacks: inotify limits, polling mode, queue overflow."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import queue
import shutil
import time

import pytest

from daemon import inotify, watcher
from daemon.events import Overflow, RawEvent
from daemon.polling import PollingWatcher
from daemon.reconcile import walk
from daemon.watcher import start_watcher
from tests.conftest import demo_doc
from tests.support.daemon_proc import DaemonProcess


def _drain_until(events: queue.SimpleQueue[object], pred, timeout: float = 5) -> list[object]:
    deadline = time.monotonic() + timeout
    seen: list[object] = []
    while time.monotonic() < deadline and not any(pred(e) for e in seen):
        with contextlib.suppress(queue.Empty):
            seen.append(events.get(timeout=0.1))
    return seen


def test_inotify_limit_falls_back_to_polling_and_says_which_sysctl(tmp_path, monkeypatch, capsys):
    from daemon.logging import configure_logging

    configure_logging("json", verbose=True)

    def refuse(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(inotify.Inotify, "add_watch", refuse)
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    w = start_watcher(tmp_path, events, polling=False, poll_interval=0.1)
    try:
        w.watch_dir(tmp_path, 4)  # the first watch of the tree walk hits the limit
        assert w.is_alive()
        (tmp_path / "ep").mkdir()
        (tmp_path / "ep" / "chapters.json").write_text("{}")
        seen = _drain_until(
            events, lambda e: isinstance(e, RawEvent) and e.src.endswith("chapters.json")
        )
        assert any(isinstance(e, RawEvent) and e.src.endswith("chapters.json") for e in seen)
    finally:
        w.stop()
    err = capsys.readouterr().err
    assert "sysctl -w fs.inotify.max_user_watches" in err


def test_no_inotify_instance_left_falls_back_to_polling(tmp_path, monkeypatch, capsys):
    from daemon.logging import configure_logging

    configure_logging("json", verbose=True)

    def refuse(self):
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(inotify.Inotify, "__init__", refuse)
    w = start_watcher(tmp_path, queue.SimpleQueue(), polling=False, poll_interval=0.1)
    try:
        assert isinstance(w, PollingWatcher)
    finally:
        w.stop()
    assert "fs.inotify.max_user_instances" in capsys.readouterr().err


def test_queue_overflow_becomes_a_rescan_request(tmp_path):
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    w = watcher.InotifyWatcher(tmp_path, events, 1.0)
    try:
        w._handle(inotify.Event(-1, inotify.IN_Q_OVERFLOW, ""))
        assert isinstance(events.get(timeout=2), Overflow)
    finally:
        w.stop()


def test_watches_only_episode_folders_and_their_images(tmp_path):
    """At most two watches per episode, whatever else the tree holds; folders that
    appear later are watched as they appear, down to episode depth."""
    root = tmp_path / "outputs"
    for name in ("ep1", "season/ep2"):
        for sub in ("images/candidates/ch01", "provenance", "render", "storyboard/ch01"):
            (root / name / sub).mkdir(parents=True)
        (root / name / "chapters.json").write_text("{}")
    events: queue.SimpleQueue[object] = queue.SimpleQueue()
    w = watcher.InotifyWatcher(root, events, 1.0)
    try:
        assert sorted(str(p.relative_to(root)) for p in walk(root, 4, w)) == ["ep1", "season/ep2"]
        assert _watched(w, root) == {
            ".",
            "ep1",
            "ep1/images",
            "season",
            "season/ep2",
            "season/ep2/images",
        }
        # Appearing later: a new episode with its images/, a nested one, our own folders.
        (root / "ep3" / "images").mkdir(parents=True)
        (root / "ep3" / "chapters.json").write_text("{}")
        (root / "ep3" / "provenance").mkdir()
        (root / "season" / "ep4").mkdir()
        (root / "ep1" / "render" / "x").mkdir()
        want = {"ep3", "ep3/images", "season/ep4"}
        deadline = time.monotonic() + 5
        while not want <= _watched(w, root) and time.monotonic() < deadline:
            time.sleep(0.05)
        got = _watched(w, root)
        assert want <= got and not any("provenance" in p or "render" in p for p in got), got
        # A directory moved away stops being watched under its old name.
        os.rename(root / "season", tmp_path / "elsewhere")
        deadline = time.monotonic() + 5
        while (
            any(p.startswith("season") for p in _watched(w, root)) and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert not any(p.startswith("season") for p in _watched(w, root))
    finally:
        w.stop()


def _watched(w: watcher.InotifyWatcher, root) -> set[str]:
    with w._lock:
        return {os.path.relpath(p, root) for p in w._by_path}


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


def test_deleted_and_moved_folders_leave_no_watch_behind(tmp_path):
    root = tmp_path / "outputs"
    for i in range(30):
        (root / "season" / f"ep{i}" / "images").mkdir(parents=True)
        (root / "season" / f"ep{i}" / "chapters.json").write_text("{}")
        (root / f"ep{i}" / "images").mkdir(parents=True)
        (root / f"ep{i}" / "chapters.json").write_text("{}")
    w = watcher.InotifyWatcher(root, queue.SimpleQueue(), 1.0)
    try:
        assert len(list(walk(root, 4, w))) == 60
        assert w.watch_count == 2 + 60 * 2
        os.rename(root / "season", tmp_path / "away")  # moved out: 61 watches go
        for i in range(30):
            shutil.rmtree(root / f"ep{i}")  # deleted: the kernel drops 60
        deadline = time.monotonic() + 10
        while w.watch_count > 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _watched(w, root) == {"."} and w.watch_count == 1
        with w._lock:
            assert set(w._children) <= {str(tmp_path)}, w._children
    finally:
        w.stop()
