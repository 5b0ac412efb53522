"""API faults: every chapter gets a random schedule of faults before success; the
daemon must stay within the attempt bound, end each chapter in the status the
schedule implies, and record exactly what the fake billed."""

from __future__ import annotations

import random
import time
from pathlib import Path

from handlers.money.pricing import PriceTable
from tests.fakeapi import (
    FakeAPI,
    bad_auth,
    bad_base64,
    connection_reset,
    content_policy,
    empty_body,
    malformed_body,
    rate_limited,
    server_error,
    timeout,
)
from tests.fakeapi.images import output_tokens, text_tokens
from tests.support.daemon_proc import DaemonProcess
from tests.support.episodes import paid_episode_doc
from tests.torture.common import SECRET_KEY, daemon_env, drop, manifest_entries
from tests.torture.report import Row, corrupt_files
from tests.torture.report import keep as _keep

ATTEMPTS = 3
CHAPTERS = 4
RETRYABLE = {
    "429 retry-after": lambda: rate_limited(retry_after_ms=30),
    "429 bare": lambda: rate_limited(),
    "500": lambda: server_error(500),
    "503": lambda: server_error(503),
    "timeout": lambda: timeout(1.0),
    "reset": connection_reset,
    "malformed": malformed_body,
    "empty": empty_body,
    "bad base64": bad_base64,
}
FINAL = {"content policy": content_policy, "401": bad_auth}


def expected(schedule: list[str]) -> tuple[str, int]:
    """(status, requests) the schedule must lead to with ATTEMPTS attempts."""
    for attempt in range(ATTEMPTS):
        fault = schedule[attempt] if attempt < len(schedule) else None
        if fault is None:
            return "generated", attempt + 1
        if fault == "content policy":
            return "rejected", attempt + 1
        if fault == "401":
            return "failed", attempt + 1
    return "failed", ATTEMPTS


def run(full: bool, work: Path) -> Row:
    row = Row("API faults")
    episodes = 30 if full else 4
    rng = random.Random(7)
    prices = PriceTable.with_overrides({})
    with FakeAPI(api_key=SECRET_KEY) as fake, _keep(work) as tmp:
        base = Path(tmp)
        outputs = base / "outputs"
        outputs.mkdir()
        fake.latency["images"] = 0.02
        log = base / "faults.log"
        env = daemon_env(
            fake,
            IMAGEGEN_OPENAI__TIMEOUT_SECONDS="0.4",
            # One image per chapter: the requests counted are the retries of one call.
            # With best-of-N a fault-free chapter whose first image scores under
            # accept_score rightly pays for a second (the full form met three).
            IMAGEGEN_SELECTION__CANDIDATES="1",
            IMAGEGEN_SELECTION__JUDGE="none",
        )
        daemon = DaemonProcess(
            outputs,
            env=env,
            log_path=log,
            settle=0.1,
            config="workers = 2\nfailure_backoff_seconds = 3600.0\n",
        )
        daemon.start()
        plans: dict[str, dict[str, list[str]]] = {}
        try:
            for i in range(episodes):
                name = f"faults-{i:03d}"
                schedules = {}
                for c in range(CHAPTERS):
                    n = rng.choice((0, 0, 1, 2, 3, 3))
                    schedule = [rng.choice(list(RETRYABLE)) for _ in range(n)]
                    if rng.random() < 0.12:
                        schedule.insert(rng.randrange(len(schedule) + 1), "content policy")
                    if rng.random() < 0.05:
                        schedule.insert(rng.randrange(len(schedule) + 1), "401")
                    schedules[f"ch{c + 1:02d}"] = schedule
                    specs = [{**RETRYABLE, **FINAL}[f]() for f in schedule]
                    if specs:
                        fake.add_rule("images", specs, match=f"{name} chapter ch{c + 1:02d}")
                plans[name] = schedules
                drop(outputs, name, paid_episode_doc(name, CHAPTERS))
            for name in plans:
                try:
                    daemon.wait_jobs(name, timeout=60)
                except AssertionError as e:
                    row.fail(f"{name}: no job finished ({str(e)[-200:]})")
            time.sleep(0.5)
            if daemon.proc is not None and daemon.proc.poll() is not None:
                row.daemon_crashes += 1
        finally:
            daemon.stop()
        for name, schedules in plans.items():
            row.runs += 1
            _check_episode(row, fake, prices, outputs / name, name, schedules)
    return row


def _check_episode(
    row: Row,
    fake: FakeAPI,
    prices: PriceTable,
    episode: Path,
    name: str,
    schedules: dict[str, list[str]],
) -> None:
    entries = manifest_entries(episode)
    halted = any(
        "401" in s[:ATTEMPTS] and expected(s)[0] == "failed" and s.index("401") < ATTEMPTS
        for s in schedules.values()
    )
    for cid, schedule in schedules.items():
        status, requests = expected(schedule)
        sent = [
            r
            for r in fake.requests
            if r.endpoint == "images" and (r.prompt or "").endswith(f"{name} chapter {cid}")
        ]
        if len(sent) > ATTEMPTS:
            row.fail(f"{name}/{cid}: {len(sent)} requests, over the bound {ATTEMPTS}")
        entry = entries.get(cid)
        if halted and entry is None:
            continue  # not started: the episode stopped at a 401, as it must
        got = entry["status"] if entry else None
        if got != status:
            row.fail(f"{name}/{cid}: schedule {schedule} -> {got}, expected {status}")
        elif not halted and len(sent) != requests:
            row.fail(f"{name}/{cid}: {len(sent)} requests, expected {requests} for {schedule}")
    recorded = sum(e.get("image_cost_usd", 0.0) for e in entries.values())
    billed = 0.0
    for r in fake.requests:
        if r.endpoint == "images" and r.delivered and r.images and name in (r.prompt or ""):
            body = r.json
            tokens_in = text_tokens(body["prompt"])
            tokens_out = output_tokens(body.get("quality", "medium"), body.get("size", "1536x1024"))
            billed += (
                prices.image_from_usage(
                    body["model"], {"input_tokens": tokens_in, "output_tokens": tokens_out}
                )
                or 0.0
            )
    if abs(recorded - billed) > 1e-6:
        row.fail(f"{name}: recorded ${recorded:.6f} but the fake billed ${billed:.6f}")
    bad = corrupt_files(episode)
    row.corrupt_files += len(bad)
    row.notes.extend(bad[:3])
