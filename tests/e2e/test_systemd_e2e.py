"""End to end: the SHIPPED systemd/imagegen.service under a real systemd 252.

systemd boots as PID 1 of its own PID/mount namespaces (tests/e2e/sandbox.py,
tests/e2e/boot.sh) with the unit installed as `make install` would (paths moved under
/var/lib/imagegen-e2e-*/) and test-only knobs in a drop-in. The service reaches a
FakeAPI of this process on 127.0.0.1 with the key handed over by LoadCredential=.

One sandbox serves the module; every test starts with the unit stopped, the outputs
tree empty, the configuration and drop-ins as installed, and the fake's counters at 0.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.e2e.sandbox import (
    LOCK,
    PREFIX,
    REPO,
    SERVICE_ID,
    UNIT,
    VAR_LIB,
    Sandbox,
    exclusive_lock,
    missing_prerequisite,
    prepare_venv,
    sweep_stale,
    wait_until,
)
from tests.fakeapi.server import FakeAPI
from tests.support.episodes import paid_episode_doc, paid_per_chapter

_MISSING = missing_prerequisite()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=f"e2e systemd tests: {_MISSING}")

DEMO = REPO / "examples" / "demo-ep001" / "chapters.json"
READY_STATUS = "0 queued, 0 running, 0 done, 0 failed"
SLOW_IMAGE_SECONDS = 3.0
CONCURRENCY = 2  # [image] concurrency in the sandbox's imagegen.toml
# The sandbox's own unit directory: a unit file anywhere else was pulled in from the host.
SANDBOX_UNITS = "/run/systemd/system/"


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def service_venv() -> Iterator[Path]:
    """The service's venv (built once; cached in the project's .cache/ across sessions
    when the service can read it there). The lock is held for the whole session: one
    e2e sandbox per host at a time. `work` lives as long as the session: it holds the
    venv when it cannot be cached."""
    with exclusive_lock(LOCK, timeout=900):
        sweep_stale()
        work = Path(tempfile.mkdtemp(prefix=PREFIX + "build-", dir=VAR_LIB))
        try:
            yield prepare_venv(work)
        finally:
            shutil.rmtree(work)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAPI]:
    with FakeAPI() as api:
        yield api


@pytest.fixture(scope="module")
def sandbox(service_venv: Path, fake: FakeAPI) -> Iterator[Sandbox]:
    box = Sandbox(service_venv, fake.openai_base_url, fake.api_key)
    try:
        box.install()
        box.boot()
        yield box
    finally:
        box.close()


def reset(sandbox: Sandbox, fake: FakeAPI) -> None:
    """The unit stopped, its configuration and drop-ins as installed, no episodes."""
    sandbox.hang_file.unlink(missing_ok=True)
    sandbox.systemctl("stop", UNIT, timeout=60)
    # Also resets the start rate limit (StartLimitBurst=5 in 300 s, and this module
    # starts the unit more often). Fails harmlessly when the unit is not loaded.
    sandbox.run(["systemctl", "reset-failed", UNIT], check=False)
    dropins = Path(f"/proc/{sandbox.pid}/root{SANDBOX_UNITS}{UNIT}.d")
    extra = [p for p in dropins.iterdir() if p.name != "e2e.conf"]
    for path in extra:
        path.unlink()
    if extra:
        sandbox.systemctl("daemon-reload")
    sandbox.write_config({})
    # Episodes, and what the daemon writes beside them (the root gallery).
    for entry in sandbox.outputs.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    fake.reset()
    fake.latency.clear()


@pytest.fixture
def box(sandbox: Sandbox, fake: FakeAPI) -> Iterator[Sandbox]:
    """The sandbox, reset before and after the test."""
    reset(sandbox, fake)
    yield sandbox
    reset(sandbox, fake)


# -- helpers ----------------------------------------------------------------------------


def demo_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DEMO.read_text(encoding="utf-8"))
    return doc


def drop_episode(outputs: Path, name: str, doc: dict[str, Any] | None = None) -> Path:
    """What the upstream pipeline does: a directory of the group imagegen (setgid,
    group-writable, as the unit's comments ask), then chapters.json by atomic rename."""
    episode = outputs / name
    episode.mkdir()
    os.chown(episode, -1, SERVICE_ID)
    os.chmod(episode, 0o2775)
    tmp = episode / ".chapters.json.part"
    if doc is None:
        tmp.write_bytes(DEMO.read_bytes())
    else:
        tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    os.chmod(tmp, 0o664)
    os.replace(tmp, episode / "chapters.json")
    return episode


def manifest_statuses(episode: Path) -> dict[str, str]:
    data = json.loads((episode / "images" / "manifest.json").read_text(encoding="utf-8"))
    return {c["chapter_id"]: c["status"] for c in data["chapters"]}


def read_statuses(episode: Path) -> dict[str, str]:
    """The manifest's statuses, or {} while there is none (it is replaced atomically)."""
    try:
        return manifest_statuses(episode)
    except FileNotFoundError:
        return {}


def invocation(box: Sandbox) -> str:
    return box.show("InvocationID")["InvocationID"]


def wait_job(box: Sandbox, episode: str, timeout: float = 30.0) -> dict[str, Any]:
    """The job_finished entry of `episode` in the unit's current invocation."""
    return box.wait_journal(
        lambda e: e.get("EVENT") == "job_finished",
        f"_SYSTEMD_INVOCATION_ID={invocation(box)}",
        f"EPISODE_ID={episode}",
        timeout=timeout,
    )


def usec(timestamp: str) -> int:
    """`systemctl show --timestamp=us+utc` time -> microseconds since the epoch."""
    parsed = datetime.strptime(timestamp, "%a %Y-%m-%d %H:%M:%S.%f UTC").replace(tzinfo=UTC)
    return round(parsed.timestamp() * 1_000_000)


def unit_result_entries(box: Sandbox, result: str) -> list[dict[str, Any]]:
    """systemd's own "Failed with result '...'" messages about the unit."""
    return [e for e in box.journal(f"UNIT_RESULT={result}") if e.get("_PID") == "1"]


# -- tests ------------------------------------------------------------------------------


def test_unit_pulls_in_nothing_from_the_host(box: Sandbox) -> None:
    """imagegen.service has default dependencies (Requires=sysinit.target) and
    Wants=network-online.target. In the sandbox they resolve to its own units only."""
    box.systemctl("start", UNIT)
    deps = box.show("Requires", "Wants", "After")
    assert "sysinit.target" in deps["Requires"].split()
    assert "network-online.target" in deps["Wants"].split()
    listed = box.systemctl("list-units", "--state=active", "--plain", "--no-legend").stdout
    active = [line.split()[0] for line in listed.splitlines()]
    for unit in active:
        if unit.endswith((".mount", ".slice", ".scope")):
            continue  # mounts mirror /proc/self/mountinfo; slices/scope are built in
        path = box.show("FragmentPath", unit=unit)["FragmentPath"]
        assert path.startswith(SANDBOX_UNITS), f"{unit} came from {path}"
    assert set(u for u in active if not u.endswith((".mount", ".slice", ".scope"))) == {
        "imagegen.service",
        "network-online.target",
        "sandbox.target",
        "sysinit.target",
        "systemd-journald.service",
        "systemd-journald.socket",
    }
    online = box.show("Wants", "Requires", "FragmentPath", unit="network-online.target")
    assert online["Wants"] == "" and online["Requires"] == "", online
    # systemd 252 parses the shipped unit (and our drop-in) without a complaint such as
    # "...imagegen.service:12: Unknown key name". Those of the boot went to a console
    # the sandbox does not have: reload to have them in the journal.
    box.systemctl("daemon-reload")
    complaints = [
        e["MESSAGE"]
        for e in box.journal("_PID=1", unit=None)
        if e.get("CONFIG_FILE", "").startswith(f"{SANDBOX_UNITS}{UNIT}")
    ]
    assert complaints == []


def test_start_returns_only_after_ready(box: Sandbox) -> None:
    started = time.monotonic()
    box.systemctl("start", UNIT, timeout=150)
    took = time.monotonic() - started
    # Read at once: `systemctl start` of a Type=notify unit returns when READY=1 came.
    props = box.show(
        "ActiveState",
        "SubState",
        "StatusText",
        "MainPID",
        "User",
        "InvocationID",
        "ExecMainStartTimestampMonotonic",
        "ActiveEnterTimestamp",
        "ActiveEnterTimestampMonotonic",
    )
    assert (props["ActiveState"], props["SubState"]) == ("active", "running"), props
    assert props["StatusText"] == READY_STATUS
    assert props["User"] == "imagegen"

    ready = box.wait_journal(
        lambda e: e.get("EVENT") == "daemon_ready",
        f"_SYSTEMD_INVOCATION_ID={props['InvocationID']}",
        timeout=10,
    )
    assert ready["_PID"] == props["MainPID"]
    assert ready["_UID"] == str(SERVICE_ID) and ready["_TRANSPORT"] == "journal"
    assert ready["SYSLOG_IDENTIFIER"] == "imagegen"
    # _SOURCE_REALTIME_TIMESTAMP is the kernel's time of arrival on journald's socket;
    # __MONOTONIC_TIMESTAMP is only when journald got round to it, which may be after
    # PID 1 handled READY=1. The unit's ActiveEnterTimestamp{,Monotonic} are one dual
    # timestamp: the offset between them maps the entry onto CLOCK_MONOTONIC.
    offset = usec(props["ActiveEnterTimestamp"]) - int(props["ActiveEnterTimestampMonotonic"])
    logged = int(ready["_SOURCE_REALTIME_TIMESTAMP"]) - offset
    assert int(props["ExecMainStartTimestampMonotonic"]) <= logged
    assert logged <= int(props["ActiveEnterTimestampMonotonic"]), (
        f"daemon_ready logged {logged - int(props['ActiveEnterTimestampMonotonic'])} µs "
        "after the unit became active"
    )
    print(f"systemctl start: {took:.2f} s")


def test_dropped_episode_gets_images(box: Sandbox) -> None:
    box.systemctl("start", UNIT)
    started = time.monotonic()
    episode = drop_episode(box.outputs, "ep-e2e")

    def all_chapters() -> dict[str, str] | None:
        statuses = read_statuses(episode)
        final = len(statuses) == 5 and set(statuses.values()) <= {"generated", "template"}
        return statuses if final else None

    statuses = wait_until(all_chapters, 20, "a manifest with all 5 chapters")
    took = time.monotonic() - started
    assert took < 10, f"images took {took:.1f} s"
    assert sorted(statuses.values()) == ["generated"] * 3 + ["template"] * 2, statuses
    images = episode / "images"
    pngs = sorted(images.glob("*.png"))
    assert [p.name for p in pngs] == [f"ch0{i}.png" for i in range(1, 6)]
    for png in pngs:
        with Image.open(png) as img:
            img.verify()
    # Written by the unit's static user; UMask=0007: group-writable, nothing for others.
    info = (images / "manifest.json").stat()
    assert (info.st_uid, info.st_gid) == (SERVICE_ID, SERVICE_ID)
    assert stat.S_IMODE(info.st_mode) & 0o007 == 0
    print(f"episode done {took:.2f} s after the drop")


def test_job_is_in_the_journal_with_its_fields(box: Sandbox) -> None:
    box.systemctl("start", UNIT)
    drop_episode(box.outputs, "ep-e2e")
    drop_episode(box.outputs, "ep-e2e-other")
    job = wait_job(box, "ep-e2e")
    assert job["STATUS"] == "ok"
    assert job["MESSAGE"].startswith("[OK] ep-e2e -> 3 generated, 2 templates"), job
    assert job["PRIORITY"] == "6" and job["_SYSTEMD_UNIT"] == UNIT
    wait_job(box, "ep-e2e-other")

    # `journalctl -u imagegen EPISODE_ID=ep-e2e`: only that episode's entries.
    current = f"_SYSTEMD_INVOCATION_ID={invocation(box)}"
    entries = box.journal("EPISODE_ID=ep-e2e", current)
    assert {e["EPISODE_ID"] for e in entries} == {"ep-e2e"}
    events = [e["EVENT"] for e in entries]
    assert events[0] == "job_started" and events[-1] == "job_finished", events
    plain = box.run(
        ["journalctl", "--no-pager", "-u", "imagegen", "EPISODE_ID=ep-e2e", "-o", "cat"]
    )
    assert "[OK] ep-e2e ->" in plain.stdout and "ep-e2e-other" not in plain.stdout


def test_reload_keeps_the_process_and_applies_settings(box: Sandbox) -> None:
    box.systemctl("start", UNIT)
    before = box.show("MainPID", "InvocationID", "NRestarts")
    box.write_config({("brand", "title_card_color"): "#0000FF"})
    box.systemctl("reload", UNIT)
    box.wait_journal(
        lambda e: e.get("EVENT") == "reloaded", f"_SYSTEMD_INVOCATION_ID={before['InvocationID']}"
    )
    after = box.show("MainPID", "InvocationID", "NRestarts", "ActiveState", "SubState")
    assert {k: after[k] for k in before} == before
    # RELOADING=1 ... READY=1: back to running once the daemon is done.
    wait_until(
        lambda: box.show("SubState")["SubState"] == "running", 10, "SubState=running after reload"
    )
    episode = drop_episode(box.outputs, "ep-reload")
    assert wait_job(box, "ep-reload")["STATUS"] == "ok"
    with Image.open(episode / "images" / "ch01.png") as img:  # ch01 is the title card
        assert img.convert("RGB").getpixel((5, 5)) == (0, 0, 255)


def test_stop_drains_calls_in_flight_and_restart_pays_nothing_twice(
    box: Sandbox, fake: FakeAPI
) -> None:
    fake.latency["images"] = SLOW_IMAGE_SECONDS
    box.systemctl("start", UNIT)
    episode = drop_episode(box.outputs, "ep-stop", paid_episode_doc("ep-stop", 5))
    # Stop right after both workers sent a call: the next call would come only when one
    # of them is answered, SLOW_IMAGE_SECONDS later.
    assert fake.wait_until(lambda f: f.in_flight["images"] == CONCURRENCY, timeout=20)
    stop_began = time.monotonic()
    box.systemctl("stop", UNIT, timeout=60)
    took = time.monotonic() - stop_began
    print(f"systemctl stop with {CONCURRENCY} calls in flight: {took:.2f} s")

    props = box.show(
        "ActiveState", "Result", "ExecMainCode", "ExecMainStatus", "TimeoutStopUSec", "InvocationID"
    )
    assert props["InvocationID"], "the unit was garbage-collected: its last run is unknown"
    assert props["TimeoutStopUSec"] == "30s"
    assert took < 30, f"stop took {took:.1f} s (TimeoutStopSec=30)"
    assert props["ActiveState"] == "inactive"
    assert (props["Result"], props["ExecMainCode"], props["ExecMainStatus"]) == (
        "success",
        "1",  # CLD_EXITED: a clean exit, not a signal
        "0",
    ), props
    late = [r for r in fake.requests if r.endpoint == "images" and r.received_at > stop_began]
    assert late == [], "a new paid call reached the API after the stop began"
    statuses = manifest_statuses(episode)
    generated = {c for c, s in statuses.items() if s == "generated"}
    assert len(generated) == CONCURRENCY, f"the calls in flight finish and are recorded: {statuses}"
    assert fake.images_paid == CONCURRENCY
    stopped_run = f"_SYSTEMD_INVOCATION_ID={props['InvocationID']}"
    events = [e.get("EVENT") for e in box.journal(stopped_run, "SYSLOG_IDENTIFIER=imagegen")]
    assert "daemon_stopping" in events and "daemon_stopped" in events, events
    assert "drain_timeout" not in events

    box.systemctl("start", UNIT)
    assert wait_job(box, "ep-stop", timeout=40)["STATUS"] == "ok"
    assert set(manifest_statuses(episode).values()) == {"generated"}
    assert fake.images_paid == 5
    assert paid_per_chapter(fake.paid_prompts, "ep-stop") == {f"ch0{i}": 1 for i in range(1, 6)}


def test_sigkill_restarts_and_finishes_without_paying_twice(box: Sandbox, fake: FakeAPI) -> None:
    fake.latency["images"] = SLOW_IMAGE_SECONDS
    box.systemctl("start", UNIT)
    before = box.show("MainPID", "NRestarts", "InvocationID")
    episode = drop_episode(box.outputs, "ep-kill", paid_episode_doc("ep-kill", 5))

    def mid_episode() -> set[str] | None:
        # Some chapters recorded as finished, and the next calls in flight.
        done = {c for c, s in read_statuses(episode).items() if s == "generated"}
        return done if done and fake.in_flight["images"] == CONCURRENCY else None

    finished = wait_until(mid_episode, 30, "a finished chapter and calls in flight")
    box.systemctl("kill", "--kill-whom=main", "--signal=SIGKILL", UNIT)

    def restarted() -> dict[str, str] | None:
        # NRestarts counts up when the restart is scheduled; MainPID comes with the fork
        # and SubState=running with READY=1.
        now = box.show("MainPID", "NRestarts", "InvocationID", "ActiveState", "SubState")
        done = now["NRestarts"] == str(int(before["NRestarts"]) + 1)
        return now if done and now["SubState"] == "running" else None

    after = wait_until(restarted, 20, "systemd to restart the killed daemon")
    assert after["MainPID"] not in ("0", before["MainPID"])
    assert after["InvocationID"] != before["InvocationID"]
    killed = unit_result_entries(box, "signal")
    assert any(e.get("INVOCATION_ID") == before["InvocationID"] for e in killed)

    assert wait_job(box, "ep-kill", timeout=40)["STATUS"] == "ok"
    assert set(manifest_statuses(episode).values()) == {"generated"}
    paid = paid_per_chapter(fake.paid_prompts, "ep-kill")
    assert set(paid) == {f"ch0{i}" for i in range(1, 6)}, paid
    assert all(paid[c] == 1 for c in finished), (finished, paid)
    # Only an image in flight at the kill may be paid again.
    repaid = [c for c, n in paid.items() if n > 1]
    assert len(repaid) <= CONCURRENCY and max(paid.values()) <= 2, paid
    print(f"finished before the kill: {sorted(finished)}; paid again: {sorted(repaid)}")


def test_watchdog_restarts_a_hung_daemon(box: Sandbox) -> None:
    box.write_unit_file(f"{UNIT}.d/watchdog.conf", "[Service]\nWatchdogSec=4\n")
    box.systemctl("daemon-reload")
    box.systemctl("start", UNIT)
    before = box.show("MainPID", "NRestarts", "InvocationID", "WatchdogUSec")
    assert before["WatchdogUSec"] == "4s"

    box.hang_file.touch()
    hung = box.wait_journal(
        lambda e: e.get("EVENT") == "test_hang",
        f"_SYSTEMD_INVOCATION_ID={before['InvocationID']}",
        timeout=10,
    )
    # The hung process never looks again; the restarted one must find no switch.
    box.hang_file.unlink()
    hung_at = int(hung["_SOURCE_REALTIME_TIMESTAMP"])

    def restarted() -> dict[str, str] | None:
        now = box.show("MainPID", "NRestarts", "ActiveState", "SubState", "StatusText")
        done = now["NRestarts"] == str(int(before["NRestarts"]) + 1)
        return now if done and now["SubState"] == "running" else None

    after = wait_until(restarted, 20, "the watchdog to kill and systemd to restart the daemon")
    assert after["MainPID"] != before["MainPID"]
    assert after["StatusText"] == READY_STATUS
    failed = [
        e
        for e in unit_result_entries(box, "watchdog")
        if e.get("INVOCATION_ID") == before["InvocationID"]
    ]
    assert failed, "no \"Failed with result 'watchdog'\" in the journal"
    # Before the kill, the daemon said where it was stuck, read safely under the GIL.
    stalled = box.wait_journal(
        lambda e: e.get("EVENT") == "main_loop_stalled",
        f"_SYSTEMD_INVOCATION_ID={before['InvocationID']}",
        timeout=10,
    )
    assert "in _maybe_hang" in stalled["MESSAGE"] and stalled["PRIORITY"] == "3"
    assert int(stalled["_SOURCE_REALTIME_TIMESTAMP"]) < int(failed[0]["_SOURCE_REALTIME_TIMESTAMP"])
    waited = (int(failed[0]["_SOURCE_REALTIME_TIMESTAMP"]) - hung_at) / 1e6
    assert waited < 4 + 2, f"the watchdog fired {waited:.1f} s after the hang"
    print(f"watchdog fired {waited:.2f} s after the hang began")

    # Healthy: it keeps pinging under the 4 s watchdog.
    time.sleep(5)
    steady = box.show("MainPID", "NRestarts", "ActiveState")
    assert steady == {
        "MainPID": after["MainPID"],
        "NRestarts": after["NRestarts"],
        "ActiveState": "active",
    }


def test_permission_faults_are_clear_errors_and_nothing_is_lost(
    box: Sandbox, fake: FakeAPI
) -> None:
    """As the unit's own unprivileged user (and the CLI run as that user): an unreadable
    chapters.json, an images/ folder it may not write, an unreadable marker. Each is a
    clear error naming the file and what to do; the daemon keeps serving; nothing that
    was produced is lost."""
    box.systemctl("start", UNIT)
    # 1. chapters.json readable by root only.
    unreadable = drop_episode(box.outputs, "ep-unreadable")
    os.chown(unreadable / "chapters.json", 0, 0)
    os.chmod(unreadable / "chapters.json", 0o600)
    job = wait_job(box, "ep-unreadable")
    assert job["STATUS"] == "failed", job
    assert "chapters.json: cannot open chapters.json: Permission denied" in job["MESSAGE"], job
    assert "readable by the service's group" in job["MESSAGE"], job

    # 2. A finished episode whose images/ the service may no longer write.
    done = drop_episode(box.outputs, "ep-readonly")
    assert wait_job(box, "ep-readonly")["STATUS"] == "ok"
    images = done / "images"
    before = {p.name: p.read_bytes() for p in images.iterdir() if p.is_file()}
    os.chown(images, 0, 0)
    os.chmod(images, 0o755)
    paid_calls = fake.count("images") + fake.count("chat") + fake.count("messages")
    marker = images / "ch02.png.stale"
    marker.write_text('{"invalidated_by": "test", "reason": "redo"}')
    job = box.wait_journal(
        lambda e: e.get("EVENT") == "job_finished" and e.get("STATUS") == "failed",
        f"_SYSTEMD_INVOCATION_ID={invocation(box)}",
        "EPISODE_ID=ep-readonly",
        timeout=30,
    )
    assert "Permission denied" in job["MESSAGE"] and "writable by its group" in job["MESSAGE"]
    after = {p.name: p.read_bytes() for p in images.iterdir() if p.is_file()}
    assert {k: v for k, v in after.items() if k != marker.name} == before  # nothing lost

    # The CLI, run as the service's user, says the same and exits 1.
    cli = box.run(
        [
            "setpriv",
            f"--reuid={SERVICE_ID}",
            f"--regid={SERVICE_ID}",
            "--clear-groups",
            str(box.venv / "bin" / "imagegen"),
            "run",
            "--config",
            str(box.config_path),
            str(done),
        ],
        check=False,
    )
    assert cli.returncode == 1, cli.stdout + cli.stderr
    assert "[FAIL] ep-readonly" in cli.stdout and "Permission denied" in cli.stdout
    # Neither paid for anything it could not keep: a run's first write to the spend
    # journal is a new file in images/, refused before its first paid call.
    assert fake.count("images") + fake.count("chat") + fake.count("messages") == paid_calls

    # 3. An unreadable marker still asks for its chapter (a note nobody may read is
    # still a request) and is removed once served.
    os.chown(images, SERVICE_ID, SERVICE_ID)
    os.chmod(images, 0o2775)
    marker.unlink()
    secret_marker = images / "ch03.png.stale"
    secret_marker.write_text("{}")
    os.chmod(secret_marker, 0o600)
    assert wait_job(box, "ep-readonly")["STATUS"] == "ok"
    wait_until(lambda: not secret_marker.exists() or None, 10, "the marker to be served")

    # The daemon kept serving throughout.
    drop_episode(box.outputs, "ep-after")
    assert wait_job(box, "ep-after")["STATUS"] == "ok"
    assert box.show("ActiveState")["ActiveState"] == "active"
