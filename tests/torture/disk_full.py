"""Disk full: outputs on a size-limited tmpfs, mounted in a private mount namespace
(`unshare --mount`, so the host sees nothing). The episode needs more room than there
is: the job must fail with a clear error, leave no partial or corrupt file, and
complete once space returns."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.support.daemon_proc import REPO, DaemonProcess
from tests.support.episodes import episode_doc
from tests.torture.report import Row, corrupt_files
from tests.torture.report import keep as _keep

CHAPTERS = 40
SIZES_KB = (300, 700, 1200)


def run(full: bool, work: Path) -> Row:
    row = Row("disk full (tmpfs)")
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        row.notes.append("skipped: needs root and unshare to mount a private tmpfs")
        return row
    sizes = SIZES_KB if full else SIZES_KB[1:2]
    for size in sizes:
        row.runs += 1
        with _keep(work) as tmp:
            res = subprocess.run(
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    sys.executable,
                    "-m",
                    "tests.torture.disk_full",
                    tmp,
                    str(size),
                ],
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=180,
            )
            try:
                report = json.loads(res.stdout.strip().splitlines()[-1])
            except (ValueError, IndexError):
                row.fail(f"{size} KB: inner run failed: {res.stdout[-300:]} {res.stderr[-500:]}")
                continue
        for note in report["failures"]:
            row.fail(f"{size} KB: {note}")
        row.corrupt_files += report["corrupt"]
        row.daemon_crashes += report["crashes"]
        row.notes.extend(report["corrupt_notes"][:3])
    return row


def _inner(tmp: Path, size_kb: int) -> dict[str, object]:
    """Runs inside the private mount namespace."""
    outputs = tmp / "outputs"
    outputs.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(outputs)], check=True
    )
    failures: list[str] = []
    daemon = DaemonProcess(
        outputs,
        log_path=tmp / "daemon.log",
        settle=0.2,
        config="failure_backoff_seconds = 3600.0\n",
    )
    crashes = 0
    try:
        daemon.start()
        episode = outputs / "full-ep"
        episode.mkdir()
        doc = episode_doc("full-ep", CHAPTERS)
        (episode / "chapters.json").write_text(json.dumps(doc, ensure_ascii=False))
        job = daemon.wait_jobs("full-ep", timeout=60)[0]
        if job["status"] != "failed" or "No space left on device" not in job["message"]:
            failures.append(f"first job: {job['status']}: {job['message'][:200]}")
        corrupt = corrupt_files(outputs)
        subprocess.run(["mount", "-o", "remount,size=64m", str(outputs)], check=True)
        retry = subprocess.run(
            [sys.executable, "-m", "daemon", "retry", "--outputs-dir", str(outputs), str(episode)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if retry.returncode != 0:
            failures.append(f"retry request failed: {retry.stdout} {retry.stderr[-200:]}")
        done = daemon.wait_jobs("full-ep", count=2, timeout=60)[-1]
        if done["status"] != "ok":
            failures.append(f"after space returned: {done['status']}: {done['message'][:200]}")
        manifest = json.loads((episode / "images/manifest.json").read_text())
        ok = [c for c in manifest["chapters"] if c["status"] in ("generated", "template")]
        if len(ok) != CHAPTERS:
            failures.append(f"after space returned: {len(ok)} of {CHAPTERS} chapters done")
        corrupt += corrupt_files(outputs)
        time.sleep(0.2)
        if daemon.proc is not None and daemon.proc.poll() is not None:
            crashes += 1
    except AssertionError as e:
        failures.append(str(e)[-300:])
        corrupt = corrupt_files(outputs)
    finally:
        daemon.stop()
    return {
        "failures": failures,
        "corrupt": len(corrupt),
        "corrupt_notes": corrupt[:5],
        "crashes": crashes,
    }


if __name__ == "__main__":
    print(json.dumps(_inner(Path(sys.argv[1]), int(sys.argv[2]))))
