"""Races: while the daemon works on episodes, their folders are renamed away or swapped
for symlinks pointing outside the root at random moments (images/, provenance/,
render/, images/candidates/ and the episode folder itself). Nothing may be written
outside the root, no job may crash, and the daemon must go on serving."""

from __future__ import annotations

import os
import random
import shutil
import time
from pathlib import Path

from tests.fakeapi import FakeAPI
from tests.support.daemon_proc import DaemonProcess
from tests.support.episodes import paid_episode_doc
from tests.torture.common import SECRET_KEY, daemon_env, drop
from tests.torture.report import Row
from tests.torture.report import keep as _keep

TARGETS = ("images", "provenance", "render", "images/candidates", ".")
MOVES = ("rename", "symlink")


def _outside_files(outside: Path) -> list[str]:
    return [str(p.relative_to(outside)) for p in outside.rglob("*")]


def _attack(episode: Path, target: str, move: str, outside: Path) -> bool:
    """Rename `target` away, or put a symlink to `outside` in its place. False when it
    was not there (yet) to attack."""
    folder = episode if target == "." else episode / target
    try:
        if not folder.is_dir() or folder.is_symlink():
            return False
        aside = folder.with_name(folder.name + f".aside{random.randrange(1 << 30)}")
        folder.rename(aside)
        if move == "symlink":
            folder.symlink_to(outside, target_is_directory=True)
    except OSError:
        return False
    return True


def run(full: bool, work: Path) -> Row:
    row = Row("races (swapped folders)")
    rounds = 40 if full else 10
    rng = random.Random(11)
    with _keep(work) as tmp, FakeAPI(api_key=SECRET_KEY) as fake:
        base = Path(tmp)
        outputs = base / "outputs"
        outputs.mkdir()
        outside = base / "outside"
        outside.mkdir()
        fake.latency["images"] = 0.05
        env = daemon_env(
            fake, IMAGEGEN_SELECTION__CANDIDATES="2", IMAGEGEN_PROMPT__WRITER="template"
        )
        daemon = DaemonProcess(outputs, env=env, log_path=base / "races.log", settle=0.1).start()
        try:
            for n in range(rounds):
                name = f"race{n:03d}"
                row.runs += 1
                episode = drop(outputs, name, paid_episode_doc(name, 4))
                target, move = rng.choice(TARGETS), rng.choice(MOVES)
                deadline = time.monotonic() + rng.uniform(0.05, 1.2)
                attacked = False
                while time.monotonic() < deadline and not attacked:
                    time.sleep(0.005)
                    if time.monotonic() >= deadline - 0.01:
                        attacked = _attack(episode, target, move, outside)
                time.sleep(0.3)
            # Let every job end, then a clean episode must still be served.
            drop(outputs, "after", paid_episode_doc("after", 2))
            jobs = daemon.wait_jobs("after", timeout=60)
            if not jobs or jobs[0].get("status") != "ok":
                row.fail(f"the daemon did not serve an episode after the races: {jobs}")
        finally:
            alive = daemon.proc is not None and daemon.proc.poll() is None
            events = daemon.events()
            daemon.kill()
        if not alive:
            row.daemon_crashes += 1
            row.notes.append(daemon.tail())
        crashed = [e for e in events if e.get("event") == "job_crashed"]
        for e in crashed:
            row.fail(f"job crashed: {e.get('episode_id')}: {e.get('exception', '')[:200]}")
        stray = _outside_files(outside)
        row.writes_outside_root += len(stray)
        if stray:
            row.notes.append(f"written outside the root: {stray[:5]}")
        statuses = sorted(
            {str(e.get("status")) for e in events if e.get("event") == "job_finished"}
        )
        row.notes.append(f"job outcomes seen: {', '.join(statuses)}")
        shutil.rmtree(outside, ignore_errors=True)
        os.makedirs(outside, exist_ok=True)
    return row
