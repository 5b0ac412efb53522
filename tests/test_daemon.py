"""The real daemon as a subprocess, real inotify, real files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from handlers.outputs.markers import write_marker
from tests.conftest import demo_doc
from tests.support.daemon_proc import DaemonProcess
from tests.support.episodes import paid_episode_doc


@pytest.fixture
def daemon(outputs: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(outputs)
    yield d
    d.kill()


def drop(outputs: Path, name: str, doc: dict | None = None) -> Path:
    episode = outputs / name
    episode.mkdir(exist_ok=True)
    data = doc or demo_doc()
    data["episode_id"] = name
    tmp = episode / ".chapters.json.part"
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, episode / "chapters.json")
    return episode


def statuses(episode: Path) -> dict[str, str]:
    data = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))
    return {c["chapter_id"]: c["status"] for c in data["chapters"]}


def test_drop_produces_images(outputs, daemon):
    daemon.start()
    episode = outputs / "ep-drop"
    episode.mkdir()
    (episode / "chapters.json").write_text(json.dumps(demo_doc(), ensure_ascii=False))
    job = daemon.wait_jobs("ep-drop")[0]
    assert job["status"] == "ok"
    assert job["message"] == "[OK] ep-drop -> 3 generated, 2 templates, 0 reused, 0 failed, $0.00"
    assert len(statuses(episode)) == 5
    for png in (episode / "images").glob("*.png"):
        with Image.open(png) as img:
            img.verify()


def test_drop_by_atomic_rename(outputs, daemon):
    daemon.start()
    drop(outputs, "ep-rename")
    assert daemon.wait_jobs("ep-rename")[0]["status"] == "ok"
    time.sleep(1.0)
    assert len(daemon.jobs("ep-rename")) == 1, "our own writes must not trigger us"


def test_slow_writer_gives_one_run_and_no_error(outputs, daemon):
    daemon.start()
    episode = outputs / "ep-slow"
    episode.mkdir()
    raw = json.dumps(demo_doc(), ensure_ascii=False).encode()
    with (episode / "chapters.json").open("wb") as f:
        f.write(raw[: len(raw) // 2])
        f.flush()
        time.sleep(1.2)  # longer than the settle time: the half file must not be judged
        f.write(raw[len(raw) // 2 :])
    jobs = daemon.wait_jobs("ep-slow")
    time.sleep(1.0)
    jobs = daemon.jobs("ep-slow")
    assert [j["status"] for j in jobs] == ["ok"]


def test_500_rapid_rewrites_give_at_most_two_runs(outputs, daemon):
    daemon.start()
    episode = outputs / "ep-storm"
    episode.mkdir()
    doc = demo_doc()
    for i in range(500):
        doc["title"] = f"Başlık {i}"
        (episode / "chapters.json").write_text(json.dumps(doc, ensure_ascii=False))
    daemon.wait_jobs("ep-storm")
    time.sleep(1.5)
    jobs = daemon.jobs("ep-storm")
    assert 1 <= len(jobs) <= 2 and all(j["status"] == "ok" for j in jobs)
    # the last version won
    assert json.loads((episode / "images/manifest.json").read_text())["chapters_sha256"]


def test_markers_trigger_regeneration(outputs, daemon):
    daemon.start()
    episode = drop(outputs, "ep-markers")
    daemon.wait_jobs("ep-markers")
    before = (episode / "images/ch02.png").stat().st_mtime_ns
    ch04_before = (episode / "images/ch04.png").stat().st_mtime_ns
    write_marker(episode / "images/ch02.png.stale", by="test", reason="one")
    daemon.wait_jobs("ep-markers", count=2)
    assert (episode / "images/ch02.png").stat().st_mtime_ns != before
    assert (episode / "images/ch04.png").stat().st_mtime_ns == ch04_before
    assert not (episode / "images/ch02.png.stale").exists()
    write_marker(episode / "images/manifest.json.stale", by="test", reason="all")
    job = daemon.wait_jobs("ep-markers", count=3)[-1]
    assert job["message"].startswith("[OK] ep-markers -> 3 generated, 2 templates, 0 reused")
    assert not (episode / "images/manifest.json.stale").exists()


def test_stale_input_blocks_then_releases(outputs, daemon):
    daemon.start()
    episode = outputs / "ep-blocked"
    episode.mkdir()
    write_marker(episode / "chapters.json.stale", by="chapterize", reason="rewriting")
    drop(outputs, "ep-blocked")
    job = daemon.wait_jobs("ep-blocked")[0]
    assert job["status"] == "blocked"
    assert not (episode / "images").exists()
    (episode / "chapters.json.stale").unlink()
    job = daemon.wait_jobs("ep-blocked", count=2)[-1]
    assert job["status"] == "ok"


def test_files_present_before_start_are_processed(outputs, daemon):
    drop(outputs, "ep-early")
    done = drop(outputs, "ep-done")
    from config import load_settings
    from handlers.imagegen import RunRequest, run

    run(done, RunRequest(), load_settings(overrides={"outputs_dir": outputs}))
    daemon.start()
    assert daemon.wait_jobs("ep-early")[0]["status"] == "ok"
    ready = next(e for e in daemon.events() if e.get("event") == "daemon_ready")
    assert "1 episode(s) queued at startup" in ready["message"]
    time.sleep(0.8)
    assert daemon.jobs("ep-done") == [], "a current episode is not run at startup"


def test_directory_moved_in_with_file_inside(outputs, daemon, tmp_path):
    staging = tmp_path / "staging"
    nested = staging / "season1" / "ep-moved"
    nested.mkdir(parents=True)
    (nested / "chapters.json").write_text(json.dumps(demo_doc(), ensure_ascii=False))
    made = staging / "ep-made"
    daemon.start()
    os.rename(staging / "season1", outputs / "season1")  # a whole tree moved in
    assert daemon.wait_jobs("ep-moved")[0]["status"] == "ok"
    made.mkdir()
    (made / "chapters.json").write_text(json.dumps(demo_doc(), ensure_ascii=False))
    shutil.move(str(made), outputs / "ep-made")
    assert daemon.wait_jobs("ep-made")[0]["status"] == "ok"


def test_broken_episode_while_others_are_served(outputs, daemon):
    daemon.start()
    bad = outputs / "ep-bad"
    bad.mkdir()
    (bad / "chapters.json").write_text('{"schema_version": "2.0"}')
    drop(outputs, "ep-good")
    assert daemon.wait_jobs("ep-good")[0]["status"] == "ok"
    failed = daemon.wait_jobs("ep-bad", timeout=10)[0]
    assert failed["status"] == "failed"
    assert "ep-bad/chapters.json" in failed["message"] and "major version 2" in failed["message"]
    drop(outputs, "ep-good2")
    assert daemon.wait_jobs("ep-good2")[0]["status"] == "ok"
    time.sleep(1.0)
    assert len(daemon.jobs("ep-bad")) == 1, "a failure is not retried in a loop"
    assert daemon.proc is not None and daemon.proc.poll() is None


def test_retry_request_runs_at_once_and_a_failure_says_when_it_is_retried(outputs):
    import subprocess
    import sys

    from tests.conftest import REPO

    bad = outputs / "ep-retry"
    bad.mkdir()
    (bad / "chapters.json").write_text("{not json")  # queued at start-up, to settle
    d = DaemonProcess(outputs, settle=30.0)  # so long that only "at once" passes
    try:
        d.start()
        res = subprocess.run(
            [sys.executable, "-m", "daemon", "retry", "--outputs-dir", str(outputs), str(bad)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert res.returncode == 0 and "retry requested" in res.stdout
        job = d.wait_jobs("ep-retry", timeout=10)[0]
        assert job["status"] == "failed" and "invalid JSON" in job["message"]
        assert "next try at" in job["message"] and "imagegen retry" in job["message"]
        assert job["retry_at"]
        assert not (bad / "images/imagegen.retry").exists()
        time.sleep(0.5)
        assert len(d.jobs("ep-retry")) == 1, "the request is served once"
    finally:
        d.kill()


def test_retry_with_no_daemon_runs_the_episode_here(outputs):
    import subprocess
    import sys

    from tests.conftest import REPO

    episode = drop(outputs, "ep-alone")
    res = subprocess.run(
        [sys.executable, "-m", "daemon", "retry", "--outputs-dir", str(outputs), str(episode)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert "no imagegen daemon is serving" in res.stdout
    assert "[OK] ep-alone -> 3 generated, 2 templates" in res.stdout
    assert not (episode / "images/imagegen.retry").exists()


def test_a_finished_drop_starts_without_the_settle(outputs):
    d = DaemonProcess(outputs, settle=30.0)
    try:
        d.start()
        drop(outputs, "ep-quick")  # renamed into place: complete
        assert d.wait_jobs("ep-quick", timeout=10)[0]["status"] == "ok"
        episode = outputs / "ep-quick2"
        episode.mkdir()
        (episode / "chapters.json").write_text(json.dumps(demo_doc(), ensure_ascii=False))
        assert d.wait_jobs("ep-quick2", timeout=10)[0]["status"] == "ok"  # closed: complete
        time.sleep(0.5)
        assert len(d.jobs("ep-quick")) == 1 and len(d.jobs("ep-quick2")) == 1
    finally:
        d.kill()


def test_invalid_input_is_reported_at_once_and_partial_closes_give_one_job(outputs):
    d = DaemonProcess(outputs, settle=30.0)
    try:
        d.start()
        episode = outputs / "ep-chunks"
        episode.mkdir()
        raw = json.dumps(demo_doc(), ensure_ascii=False).encode()
        third = len(raw) // 3
        for chunk in (raw[:third], raw[third : 2 * third]):
            with (episode / "chapters.json").open("ab") as f:  # open, append, close
                f.write(chunk)
            time.sleep(0.3)
        reported = d.wait_for(lambda e: e.get("event") == "input_invalid", timeout=10)
        assert len(reported) == 1 and "invalid JSON" in reported[0]["message"]
        assert reported[0]["level"] == "error" and reported[0]["episode_id"] == "ep-chunks"
        assert d.jobs("ep-chunks") == [], "a partial file is never judged by a job"
        with (episode / "chapters.json").open("ab") as f:
            f.write(raw[2 * third :])
        jobs = d.wait_jobs("ep-chunks", timeout=10)
        time.sleep(0.5)
        assert [j["status"] for j in d.jobs("ep-chunks")] == ["ok"]
        manifest = json.loads((episode / "images/manifest.json").read_text())
        assert len(manifest["chapters"]) == 5 and jobs
    finally:
        d.kill()


def test_at_most_two_inotify_watches_per_episode(outputs, daemon):
    for i in range(5):
        drop(outputs, f"ep-w{i}")
    daemon.start()
    for i in range(5):
        daemon.wait_jobs(f"ep-w{i}")
    drop(outputs, "ep-late")
    daemon.wait_jobs("ep-late")
    assert daemon.proc is not None
    watches = inotify_watches(daemon.proc.pid)
    # 6 episodes with images/, provenance/, render/: their folders and images/, the root.
    assert watches == 2 * 6 + 1, watches


def inotify_watches(pid: int) -> int:
    total = 0
    for fd in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            info = Path(f"/proc/{pid}/fdinfo/{fd}").read_text()
        except OSError:
            continue
        total += sum(1 for line in info.splitlines() if line.startswith("inotify wd:"))
    return total


def test_sighup_reloads_configuration(outputs, daemon):
    daemon.start()
    daemon.config_path.write_text(
        daemon.config_path.read_text() + '[brand]\ntitle_card_color = "#0000FF"\n'
    )
    daemon.signal(signal.SIGHUP)
    daemon.wait_for(lambda e: e.get("event") == "reloaded")
    episode = drop(outputs, "ep-reload")
    daemon.wait_jobs("ep-reload")
    with Image.open(episode / "images/ch01.png") as img:
        assert img.convert("RGB").getpixel((5, 5)) == (0, 0, 255)
    # an invalid configuration keeps the running one
    daemon.config_path.write_text(daemon.config_path.read_text() + "[image]\nconcurrency = 0\n")
    daemon.signal(signal.SIGHUP)
    failed = daemon.wait_for(lambda e: e.get("event") == "reload_failed")[0]
    assert "image.concurrency" in failed["message"]
    drop(outputs, "ep-after")
    assert daemon.wait_jobs("ep-after")[0]["status"] == "ok"


def test_sd_notify_messages(outputs, tmp_path):
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(15)
    d = DaemonProcess(outputs, env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"})
    try:
        d.start(wait_ready=False)
        messages: list[str] = []

        def receive_until(pred) -> None:
            while not any(pred(m) for m in messages):
                messages.append(sock.recv(4096).decode())

        receive_until(lambda m: "READY=1" in m)
        ready = next(m for m in messages if "READY=1" in m)
        assert "STATUS=0 queued, 0 running, 0 done, 0 failed" in ready
        receive_until(lambda m: m == "WATCHDOG=1")
        drop(outputs, "ep-notify")
        receive_until(lambda m: "1 done" in m)
        d.signal(signal.SIGHUP)
        receive_until(lambda m: m.startswith("RELOADING=1"))
        reload_at = len(messages)
        assert "MONOTONIC_USEC=" in messages[-1]
        receive_until(lambda m: "READY=1" in m and messages.index(m) >= reload_at - 1)
        d.signal(signal.SIGTERM)
        receive_until(lambda m: "STOPPING=1" in m)
        assert d.proc is not None and d.proc.wait(10) == 0
    finally:
        d.kill()
        sock.close()


def test_sigterm_drains_and_restart_does_not_pay_again(outputs, tmp_path, fake_api):
    from handlers.api.key_check import forget_verified_keys

    forget_verified_keys()
    fake_api.latency["images"] = 1.5
    doc = paid_episode_doc("ep-drain", 5)
    env = {
        "OPENAI_API_KEY": fake_api.api_key,
        "IMAGEGEN_OPENAI__BASE_URL": fake_api.openai_base_url,
        "IMAGEGEN_IMAGE__CONCURRENCY": "2",
    }
    d = DaemonProcess(outputs, env=env, config="drain_grace_seconds = 10.0\n")
    d.start()
    episode = drop(outputs, "ep-drain", doc)
    assert fake_api.wait_until(lambda f: f.in_flight["images"] == 2, timeout=10)
    t0 = time.monotonic()
    d.signal(signal.SIGTERM)
    assert d.proc is not None and d.proc.wait(15) == 0
    assert time.monotonic() - t0 < 10
    assert fake_api.count("images") == 2, "no new paid call after SIGTERM"
    done = {c for c, s in statuses(episode).items() if s == "generated"}
    assert len(done) == 2, "the in-flight calls finished and were recorded"
    d2 = DaemonProcess(outputs, env=env, log_path=tmp_path / "second.log")
    try:
        d2.start()
        assert d2.wait_jobs("ep-drain", timeout=30)[0]["status"] == "ok"
    finally:
        d2.kill()
    assert all(n == 1 for n in fake_api.paid_prompts.values())
    assert fake_api.images_paid == 5


def test_fifo_and_symlinked_episodes_neither_hang_nor_hide(outputs, daemon, tmp_path):
    fifo_ep = outputs / "ep-fifo"
    fifo_ep.mkdir()
    os.mkfifo(fifo_ep / "chapters.json")
    outside = tmp_path / "outside-ep"
    outside.mkdir()
    (outside / "chapters.json").write_text(json.dumps(demo_doc(), ensure_ascii=False))
    daemon.start()
    (outputs / "ep-link").symlink_to(outside, target_is_directory=True)
    drop(outputs, "ep-after-fifo")
    assert daemon.wait_jobs("ep-after-fifo")[0]["status"] == "ok"
    fifo_job = daemon.wait_jobs("ep-fifo", timeout=15)[0]
    assert fifo_job["status"] == "failed" and "not a regular file" in fifo_job["message"]
    link_job = daemon.wait_jobs("ep-link", timeout=15)[0]
    assert link_job["status"] == "failed" and "not inside the outputs root" in link_job["message"]
    assert not (outside / "images").exists()
    assert daemon.stop(timeout=15) == 0


def test_a_daemon_killed_by_sigabrt_leaves_its_threads_stacks_in_the_log(outputs, tmp_path):
    """systemd's watchdog kills a hung daemon with SIGABRT: the log (the journal) must
    then say where every thread was, the hung main loop's frame included.

    The daemon is hung first, as the watchdog finds it: faulthandler reads the other
    threads' frames without the GIL, and a thread busy running Python at that instant
    (the warm-up importing modules just after READY) can crash the dump half-way
    (SIGSEGV; one CI run, and 1 in 6 here when signalled at READY). That is CPython's
    limit; a hung daemon's threads are still."""
    hang = tmp_path / "hang"
    daemon = DaemonProcess(outputs, env={"IMAGEGEN_TEST_HANG_FILE": str(hang)})
    try:
        daemon.start()
        daemon.wait_for(lambda e: e.get("event") == "warmed_up", timeout=30)
        hang.touch()
        daemon.wait_for(lambda e: e.get("event") == "test_hang")
        daemon.signal(signal.SIGABRT)
        assert daemon.proc is not None
        assert daemon.proc.wait(timeout=20) == -signal.SIGABRT
        log = daemon.tail(200)
        assert "Fatal Python error: Aborted" in log
        assert "Current thread 0x" in log and "Thread 0x" in log  # the main loop and others
        assert "in _maybe_hang" in log  # ... with the frame each one was stuck in
    finally:
        daemon.kill()


def test_a_stalled_main_loop_is_logged_with_every_threads_stack(outputs, tmp_path):
    """Before systemd's watchdog kills a hung daemon, the log says where each thread is,
    read safely (faulthandler's dump at the kill can crash on a busy thread); and says
    so again when the loop turns after all."""
    hang = tmp_path / "hang"
    env = {"IMAGEGEN_TEST_HANG_FILE": str(hang), "WATCHDOG_USEC": "4000000"}  # 4 s
    daemon = DaemonProcess(outputs, env=env)
    try:
        daemon.start()
        daemon.wait_for(lambda e: e.get("event") == "warmed_up", timeout=30)
        assert not [e for e in daemon.events() if e.get("event") == "main_loop_stalled"]
        hang.touch()
        (stalled,) = daemon.wait_for(lambda e: e.get("event") == "main_loop_stalled")
        assert stalled["level"] == "error" and stalled["seconds"] >= 1.4  # 0.35 x 4 s
        stacks = stalled["message"]
        assert "Thread MainThread (most recent call last):" in stacks
        assert "in _maybe_hang" in stacks and "time.sleep(3600)" in stacks
        assert "Thread imagegen-" in stacks  # the others too, by name
    finally:
        daemon.kill()


def test_a_storm_of_signals_neither_deadlocks_nor_kills_the_daemon(outputs, daemon):
    """A signal can arrive while the handler of the one before still runs (make forwards
    Ctrl-C's SIGTERM to a daemon that got it too; a script may send SIGHUP in a loop). A
    handler that takes a lock then waits on itself forever: one CI run hung that way."""
    daemon.start()
    assert daemon.proc is not None
    for _ in range(3000):
        os.kill(daemon.proc.pid, signal.SIGHUP)
    daemon.wait_for(lambda e: e.get("event") == "reloaded")
    drop(outputs, "ep-after-storm")
    assert daemon.wait_jobs("ep-after-storm")[0]["status"] == "ok"
    for _ in range(200):
        os.kill(daemon.proc.pid, signal.SIGTERM)
        if daemon.proc.poll() is not None:
            break
    assert daemon.stop(timeout=15) == 0
