"""Writes that cannot be redirected: an episode deleted during its job stops it (no file
reappears, nothing more is paid for); a folder swapped for a symlink mid-run cannot
move a write outside the outputs root. Real files, the real SDK against the fake, the
CLI and the daemon as subprocesses."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path, PurePath

import pytest

from handlers.episode import layout
from handlers.episode.dirs import EpisodeDirs
from handlers.episode.paths import episode_paths
from handlers.files.dirs import Dir, Gone
from handlers.imagegen import RunRequest, run
from handlers.run.services import build_services
from tests.conftest import REPO, CountingProvider
from tests.support.daemon_proc import DaemonProcess
from tests.support.env import child_env
from tests.support.episodes import paid_episode_doc, write_doc

KEY = "sk-test-fake-key"


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")} if root.exists() else set()


def wait_for(predicate, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def cli_env(fake) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = child_env()
    env.update(
        OPENAI_API_KEY=KEY,
        IMAGEGEN_CONFIG=str(REPO / "config/imagegen.default.toml"),
        IMAGEGEN_OPENAI__BASE_URL=fake.openai_base_url,
        IMAGEGEN_IMAGE__PROVIDER="openai",
        IMAGEGEN_PROMPT__WRITER="template",
    )
    return env


def remove_busy(folder: Path) -> None:
    """As `rm -rf` on a folder a job is writing in: a file written meanwhile (a
    candidate, its thumbnail) can make a folder non-empty again; remove until gone."""
    for _ in range(20):
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            return
    raise AssertionError(f"{folder} could not be removed")


def test_cli_run_stops_when_its_episode_is_deleted(outputs, fake_api):
    fake_api.latency["images"] = 0.3
    episode = write_doc(outputs, "big", paid_episode_doc("big", 40))
    cmd = [sys.executable, "-m", "daemon", "run", "--outputs-dir", str(outputs), str(episode)]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=cli_env(fake_api), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert wait_for(lambda: (episode / "images/manifest.json").exists())
    remove_busy(episode)
    asked = fake_api.count("images")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, out + err
    assert b"[GONE] big" in out and b"was deleted" in out, out + err
    assert b"episode_removed" in err
    time.sleep(0.3)
    assert not episode.exists(), files_under(episode)  # nothing recreated it
    # Calls in flight at the deletion (at most the concurrency) were the last ones.
    assert fake_api.count("images") <= asked + 3


def test_daemon_job_stops_when_its_episode_is_deleted(outputs, tmp_path, fake_api):
    fake_api.latency["images"] = 0.3
    env = {
        "OPENAI_API_KEY": fake_api.api_key,
        "IMAGEGEN_OPENAI__BASE_URL": fake_api.openai_base_url,
        "IMAGEGEN_IMAGE__PROVIDER": "openai",
        "IMAGEGEN_PROMPT__WRITER": "template",
    }
    daemon = DaemonProcess(outputs, env=env, log_path=tmp_path / "daemon.log").start()
    try:
        write_doc(outputs, "big", paid_episode_doc("big", 40))
        episode = outputs / "big"
        assert wait_for(lambda: (episode / "images/manifest.json").exists())
        remove_busy(episode)
        asked = fake_api.count("images")
        job = daemon.wait_jobs("big", timeout=30)[0]
        assert job["status"] == "removed", job
        removed = [e for e in daemon.events() if e.get("event") == "episode_removed"]
        assert removed and removed[0]["level"] == "warning" and removed[0]["abandoned"]
        time.sleep(1.5)  # a settle period: the daemon must not come back for it
        assert not episode.exists()
        assert fake_api.count("images") <= asked + 3
        assert daemon.proc is not None and daemon.proc.poll() is None
    finally:
        daemon.kill()


def _swap(folder: Path, outside: Path) -> None:
    """What a hostile writer does: move the folder aside, put a symlink in its place."""
    folder.rename(folder.with_name(folder.name + ".old"))
    folder.symlink_to(outside, target_is_directory=True)


@pytest.mark.parametrize("which", ["images", "provenance", "render", "candidates"])
def test_swapping_a_folder_for_a_symlink_never_moves_a_write_outside(
    outputs, tmp_path, settings, which
):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    settings.selection.candidates = 2
    settings.selection.ocr = False  # text is not what this is about; 80 runs stay quick
    rng = random.Random(which)
    for attempt in range(20):
        name = f"ep{attempt:02d}"
        episode = write_doc(outputs, name, paid_episode_doc(name, 4))
        provider = CountingProvider(hook=lambda _req: time.sleep(0.01))
        services = build_services(settings)
        services.chain[0] = type(services.chain[0])(services.chain[0].spec, provider)
        target = {
            "images": episode / "images",
            "provenance": episode / "provenance",
            "render": episode / "render",
            "candidates": episode / "images/candidates",
        }[which]

        def attack(target: Path = target) -> None:
            deadline = time.monotonic() + 5
            delay = rng.uniform(0.0, 0.3)
            time.sleep(delay)
            while time.monotonic() < deadline:
                try:
                    if target.is_dir() and not target.is_symlink():
                        _swap(target, outside)
                        return
                except OSError:
                    pass
                time.sleep(0.002)

        thread = threading.Thread(target=attack)
        thread.start()
        result = run(episode, RunRequest(), settings, services=services)
        thread.join()
        assert list(outside.iterdir()) == [], (attempt, result.message)
        assert result.outcome in ("ok", "failed", "removed"), result.message


def test_cli_and_daemon_refuse_a_swapped_images_folder(outputs, tmp_path, fake_api):
    fake_api.latency["images"] = 0.2
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    episode = write_doc(outputs, "swap", paid_episode_doc("swap", 12))
    cmd = [sys.executable, "-m", "daemon", "run", "--outputs-dir", str(outputs), str(episode)]
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=cli_env(fake_api), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert wait_for(lambda: (episode / "images/manifest.json").exists())
    _swap(episode / "images", outside)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and b"[GONE] swap" in out, out + err
    assert list(outside.iterdir()) == []
    # The next run (the daemon's) refuses the symlink by name and writes nothing there.
    env = {
        "OPENAI_API_KEY": fake_api.api_key,
        "IMAGEGEN_OPENAI__BASE_URL": fake_api.openai_base_url,
        "IMAGEGEN_IMAGE__PROVIDER": "openai",
    }
    daemon = DaemonProcess(outputs, env=env, log_path=tmp_path / "daemon.log").start()
    try:
        job = daemon.wait_jobs("swap", timeout=30)[0]
        assert job["status"] == "failed" and "symlink" in job["message"], job
        assert list(outside.iterdir()) == []
    finally:
        daemon.kill()
    assert os.path.islink(episode / "images")


def test_a_folder_we_remove_mid_check_is_not_taken_for_a_deleted_episode(episode: Path):
    """One chapter drops its prompt trace folder (forget, then remove) while another
    chapter's worker is checking the folders it took a list of: not a removal."""
    with EpisodeDirs(episode_paths(episode.parent, episode)) as dirs:
        trace = dirs.prompt_trace("ch04", create=True)
        assert trace is not None
        checked = trace.where

        def removed_by_us_meanwhile() -> str | None:
            dirs.forget(layout.IMAGES_DIR, layout.PROMPTS_DIR, "ch04")
            parent = dirs.prompt_traces()
            assert parent is not None
            parent.remove_dir("ch04")
            return checked()

        trace.where = removed_by_us_meanwhile  # type: ignore[method-assign]
        assert dirs.gone() is None

        other = dirs.prompt_trace("ch02", create=True)
        assert other is not None
        (episode / "images/prompts/ch02").rmdir()  # somebody else's doing
        problem = dirs.gone()
        assert problem is not None and "ch02" in problem and "deleted" in problem


@pytest.mark.parametrize("window", ["after the check", "before the file is named"])
def test_a_folder_deleted_inside_a_write_stops_the_run_as_gone(tmp_path, monkeypatch, window):
    """The folder passes its check and is deleted before the new file gets its name in
    it (creating or linking into a deleted folder fails with ENOENT): Gone, which stops
    the run as a removal, not a filesystem error that fails it (CI hit the second)."""
    episode = tmp_path / "ep"
    (episode / "images").mkdir(parents=True)
    deleted: list[str] = []

    def delete() -> None:
        shutil.rmtree(episode)
        deleted.append(window)

    if window == "after the check":
        real_check = Dir.check

        def check_then_delete(self: Dir) -> None:
            real_check(self)
            delete()

        monkeypatch.setattr(Dir, "check", check_then_delete)
    else:
        real_link = Dir._link

        def delete_then_link(self: Dir, fd: int, name: str, temp: str) -> bool:
            delete()
            return real_link(self, fd, name, temp)

        monkeypatch.setattr(Dir, "_link", delete_then_link)
    with Dir.open(tmp_path) as root:
        images = root.descend(PurePath("ep/images"))
        try:
            images.write_bytes("ch01.png", b"an image")
        except Gone as e:
            assert "ep/images was deleted during the run" in str(e)
        else:
            assert not deleted, "the write into a deleted folder did not fail"
            pytest.skip("no O_TMPFILE on this file system: a new file is never linked")
    assert deleted and not episode.exists()
