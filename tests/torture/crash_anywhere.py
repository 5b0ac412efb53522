"""Crash anywhere: SIGKILL the daemon at a random moment of a multi-chapter paid job
(before a call, mid-call, mid-write), restart it, and count."""

from __future__ import annotations

import random
import time
from pathlib import Path

from daemon.reconcile import needs_job
from tests.fakeapi import FakeAPI
from tests.support.daemon_proc import DaemonProcess
from tests.support.episodes import paid_episode_doc, paid_per_chapter
from tests.torture.common import (
    SECRET_KEY,
    daemon_env,
    drop,
    manifest_entries,
)
from tests.torture.report import Row, corrupt_files, unnamed_files_work
from tests.torture.report import keep as _keep

CHAPTERS = 6


def run(full: bool, work: Path) -> Row:
    row = Row("crash anywhere (SIGKILL)")
    runs = 50 if full else 4
    rng = random.Random(20261121)
    with FakeAPI(api_key=SECRET_KEY) as fake, _keep(work) as tmp:
        base = Path(tmp)
        outputs = base / "outputs"
        outputs.mkdir()
        for i in range(runs):
            row.runs += 1
            fake.latency["images"] = rng.uniform(0.05, 0.4)
            name = f"crash-{i:03d}"
            log = base / f"{name}.log"
            env = daemon_env(fake, IMAGEGEN_IMAGE__CONCURRENCY=str(rng.choice((1, 2, 3))))
            daemon = DaemonProcess(outputs, env=env, log_path=log, settle=0.1)
            try:
                daemon.start()
                episode = drop(outputs, name, paid_episode_doc(name, CHAPTERS))
                fake.wait_until(
                    lambda f, n=name: any(n in (r.prompt or "") for r in f.requests), timeout=10
                )
                time.sleep(rng.uniform(0.0, 1.2))
                if daemon.proc is not None and daemon.proc.poll() is not None:
                    row.daemon_crashes += 1
                daemon.kill()
            finally:
                daemon.kill()
            finished = {
                c: e for c, e in manifest_entries(episode).items() if e["status"] == "generated"
            }
            bad = corrupt_files(episode)
            if not unnamed_files_work(outputs):
                # Without O_TMPFILE a write cut short leaves its named temp file (the next
                # job sweeps it: checked below); a file that does not parse never is fair.
                bad = [b for b in bad if not b.startswith("temp file left")]
            row.corrupt_files += len(bad)
            row.notes.extend(bad[:3])
            restart_log = base / f"{name}.restart.log"
            restart = DaemonProcess(outputs, env=env, log_path=restart_log, settle=0.1)
            try:
                restart.start()
                deadline = time.monotonic() + 30
                # Current by the daemon's own definition: manifest, images, provenance.
                while needs_job(episode) is not None and time.monotonic() < deadline:
                    time.sleep(0.1)
                if restart.proc is not None and restart.proc.poll() is not None:
                    row.daemon_crashes += 1
            finally:
                restart.stop()
            final = manifest_entries(episode)
            if len(final) != CHAPTERS or any(e["status"] != "generated" for e in final.values()):
                states = {c: e["status"] for c, e in final.items()}
                row.fail(f"{name}: did not end complete: {states}")
            paid = paid_per_chapter(fake.paid_prompts, name)
            for cid, entry in finished.items():
                row.paid_duplicates += max(0, paid.get(cid, 0) - 1)
                now = final.get(cid)
                if now is None or now.get("sha256") != entry.get("sha256"):
                    row.data_lost += 1
                    row.notes.append(f"{name}/{cid}: finished before the kill, changed after")
            bad = corrupt_files(episode)
            row.corrupt_files += len(bad)
            row.notes.extend(bad[:3])
    return row
