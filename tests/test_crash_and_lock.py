"""A run killed anywhere loses at most the image in flight; two runs never overlap."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image

from handlers.errors import LockBusy
from handlers.files.lock import episode_lock
from handlers.files.lock_holder import holder_pid
from handlers.imagegen import RunRequest, run
from tests.conftest import REPO
from tests.support import spend_run
from tests.support.episodes import episode_doc, paid_episode_doc, write_doc


def ok_entries(episode: Path) -> set[str]:
    path = episode / "images/manifest.json"
    if not path.exists():
        return set()
    data = json.loads(path.read_text(encoding="utf-8"))  # must always parse
    return {c["chapter_id"] for c in data["chapters"] if c["status"] in ("generated", "template")}


@pytest.mark.parametrize("seed", range(6))
def test_sigkill_at_a_random_moment_then_rerun_pays_nothing_twice(
    outputs, settings, counting, seed
):
    rng = random.Random(seed)
    episode = write_doc(outputs, "ep-kill", episode_doc("ep-kill", 16))
    (episode / "render").mkdir()
    (episode / "render/draft.mp4").write_bytes(b"draft")  # a render the new images outdate
    ledger = outputs.parent / "ledger.txt"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.killable_run",
            str(outputs),
            str(episode),
            str(ledger),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"started\n"
    time.sleep(rng.uniform(0.05, 0.9))  # the whole run takes about 1.5 s
    assert proc.poll() is None, "the run ended before the kill: the test would prove nothing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    finished_before = ok_entries(episode)
    paid_before = Counter(ledger.read_text().split()) if ledger.exists() else Counter()
    # Nothing half-written is visible: no temp files, every PNG there verifies.
    for png in (episode / "images").glob("*.png") if (episode / "images").exists() else []:
        with Image.open(png) as img:
            img.verify()

    provider, services = counting
    result = run(episode, RunRequest(), settings, services=services)
    # up_to_date when the kill came after the run's last write (interpreter teardown)
    assert result.outcome in ("ok", "up_to_date"), result.message
    assert len(ok_entries(episode)) == 16
    assert (episode / "provenance/imagegen_provenance.json").is_file()
    assert (episode / "render/draft.mp4.stale").is_file()
    for cid in finished_before:
        assert provider.calls[cid] == 0, f"{cid} was finished before the kill and paid again"
    assert all(n == 1 for n in paid_before.values())
    # Paid-for but unrecorded images are rescued from their PNG metadata when written.
    total_paid = paid_before + provider.calls
    assert all(n <= 2 for n in total_paid.values())
    assert not list(episode.rglob(".*.tmp"))
    for png in (episode / "images").glob("*.png"):
        with Image.open(png) as img:
            img.verify()
    for js in episode.rglob("*.json"):
        json.loads(js.read_text(encoding="utf-8"))


def test_second_run_waits_for_the_lock(episode, settings, counting):
    _, services = counting
    released = threading.Event()

    def hold() -> None:
        with episode_lock(episode):
            time.sleep(0.5)
            released.set()

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.1)
    result = run(episode, RunRequest(), settings, services=services)
    assert released.is_set(), "the run must not start before the holder released the lock"
    assert result.outcome == "ok"
    holder.join()


def test_no_wait_exits_with_a_clear_message(episode, settings, counting):
    _, services = counting
    with episode_lock(episode):
        result = run(episode, RunRequest(wait=False), settings, services=services)
    assert result.outcome == "busy"
    assert "another imagegen run is working on this episode" in result.message
    assert not (episode / "images").exists()


def test_lock_timeout(episode, settings, counting):
    _, services = counting
    settings.lock_timeout_seconds = 0.2
    with episode_lock(episode):
        result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "busy" and "lock_timeout_seconds" in result.message


def test_lock_is_exclusive_between_processes(episode, settings):
    code = (
        "import sys,time; from pathlib import Path; from handlers.files.lock import episode_lock\n"
        "with episode_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(30)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(episode)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with (
            pytest.raises(Exception, match="another imagegen run"),
            episode_lock(episode, wait=False),
        ):
            pass
        proc.kill()  # the kernel drops a dead holder's lock
        proc.wait()
        with episode_lock(episode, wait=True, timeout=2):
            pass
    finally:
        proc.kill()


def test_waiting_is_told_after_a_second_with_the_holder(episode, settings):
    code = (
        "import sys,time; from pathlib import Path; from handlers.files.lock import episode_lock\n"
        "with episode_lock(Path(sys.argv[1])):\n    print('locked', flush=True); time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(episode)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    told: list[tuple[float, str]] = []
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        started = time.monotonic()

        def waiting(holder: str) -> None:
            told.append((time.monotonic() - started, holder))
            proc.kill()  # the lock goes with its holder: the wait ends

        with episode_lock(episode, on_wait=waiting):
            pass
    finally:
        proc.kill()
        proc.wait()
    assert len(told) == 1
    after, holder = told[0]
    assert 0.9 <= after < 4, after  # after the quiet second, while the holder still holds
    assert holder.startswith(f"pid {proc.pid} (python")


def test_busy_message_names_the_holder_in_this_process(episode):
    with (
        episode_lock(episode),
        pytest.raises(LockBusy) as err,
        episode_lock(episode, wait=False),
    ):
        pass
    assert f"held by pid {os.getpid()} (another job of this process)" in str(err.value)


def test_lock_holder_from_proc_locks_lines(tmp_path):
    directory = tmp_path / "ep"
    directory.mkdir()
    st = os.stat(directory)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    locks = tmp_path / "locks"
    locks.write_text(
        f"1: FLOCK  ADVISORY  WRITE 77 {inode}1 0 EOF\n"  # another inode
        f"2: -> FLOCK  ADVISORY  WRITE 88 {inode} 0 EOF\n"  # a waiter, not the holder
        f"2: FLOCK  ADVISORY  WRITE 99 {inode} 0 EOF\n"
    )
    assert holder_pid(directory, locks) == 99
    locks.write_text(f"1: FLOCK  ADVISORY  WRITE 0 {inode} 0 EOF\n")  # another PID namespace
    assert holder_pid(directory, locks) is None


def test_temp_files_left_by_a_killed_writer_are_removed(episode, settings, counting):
    _, services = counting
    run(episode, RunRequest(), settings, services=services)
    left = [episode / "images/.ch02.png.x1y2z3.tmp", episode / "provenance/.p.abc.tmp"]
    for path in left:
        path.write_bytes(b"half an image")
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "up_to_date"
    assert not any(p.exists() for p in left)
    assert (episode / "images/ch02.png").exists()


def test_a_writer_killed_mid_write_leaves_no_file_behind(tmp_path):
    # The child stops between writing the data and naming the file (os.fchmod waits
    # on a pipe) and is SIGKILLed there: the folder must hold neither the target nor
    # a temp file, then or after.
    folder = tmp_path / "images"
    folder.mkdir()
    child = f"""
import os, sys
from pathlib import Path
from handlers.files.dirs import Dir

def stuck(fd, mode):
    sys.stdout.write("writing\\n"); sys.stdout.flush()
    sys.stdin.readline()  # never answered

os.fchmod = stuck
Dir.open(Path({str(folder)!r})).write_bytes("ch01.png", b"x" * 100000)
"""
    proc = subprocess.Popen(
        [sys.executable, "-c", child],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "writing\n"
        during = sorted(os.listdir(folder))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    assert during == []
    assert os.listdir(folder) == []


def test_a_write_names_a_new_file_at_once_and_replaces_an_old_one_whole(tmp_path):
    from handlers.files.dirs import Dir

    with Dir.open(tmp_path) as folder:
        folder.write_bytes("ch01.png", b"first")
        first = os.stat(tmp_path / "ch01.png").st_ino
        folder.write_bytes("ch01.png", b"second, longer")
    assert (tmp_path / "ch01.png").read_bytes() == b"second, longer"
    assert os.stat(tmp_path / "ch01.png").st_ino != first  # a new file renamed over it
    assert os.listdir(tmp_path) == ["ch01.png"]


@pytest.mark.parametrize("moment", ["after-manifest", "before-keep"])
def test_a_killed_run_counts_every_billed_image_once(outputs, moment):
    """After a kill and a rerun, imagegen's count of its spend (what the cap is held
    against) is what was billed: an image kept and counted before the kill is not
    counted again when the rerun recovers it (after-manifest), and one paid after the
    last manifest was written is not forgotten (before-keep)."""
    episode = write_doc(outputs, "ep-spend", paid_episode_doc("ep-spend", 2))
    bill = outputs.parent / "bill.txt"
    cmd = ["-m", "tests.support.spend_run", str(outputs), str(episode), str(bill), moment]
    killed = subprocess.run([sys.executable, *cmd], cwd=REPO, capture_output=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    billed_before = bill.read_text().split()
    assert sorted(billed_before) == ["ch01", "ch02"]
    # The moment was the one meant: the manifest the kill left records ch01 alone
    # (after-manifest: with ch02's kept image counted in it).
    left = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))
    assert [c["chapter_id"] for c in left["chapters"]] == ["ch01"]
    if moment == "after-manifest":
        assert left["cumulative_cost_usd"] == pytest.approx(2 * spend_run.PRICE, abs=1e-9)
        assert list((episode / "images/candidates/ch02").glob("*.png"))

    settings, services = spend_run.setup(outputs, bill)
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "ok", result.message
    billed = bill.read_text().split()
    # after-manifest: ch02's kept image is recovered, not paid again; before-keep: it
    # was lost with the process and is paid again.
    assert len(billed) == (2 if moment == "after-manifest" else 3)
    manifest = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))
    assert {c["chapter_id"]: c["status"] for c in manifest["chapters"]} == {
        "ch01": "generated",
        "ch02": "generated",
    }
    provenance = json.loads(
        (episode / "provenance/imagegen_provenance.json").read_text(encoding="utf-8")
    )
    expected = len(billed) * spend_run.PRICE
    assert manifest["cumulative_cost_usd"] == pytest.approx(expected, abs=1e-9)
    assert provenance["cost_usd"] == pytest.approx(expected, abs=1e-9)
