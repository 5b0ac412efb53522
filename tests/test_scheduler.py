"""The scheduler on its own, on a clock of our choosing: when a job starts, and how
many, for finished files, writes in progress, storms, retries and failures."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from config.settings import DaemonSettings
from daemon.scheduler import QUICK_START_GRACE_SECONDS, Scheduler
from daemon.triggers import Trigger
from tests.conftest import demo_doc

GRACE = QUICK_START_GRACE_SECONDS
SETTLE = 1.0
SETTLE_MAX = 10.0


class Harness:
    def __init__(self, episode: Path) -> None:
        self.episode = episode
        self.started: list[str] = []
        self.reported: list[tuple[str, float]] = []
        self.s = Scheduler(
            DaemonSettings(settle_seconds=SETTLE, settle_max_seconds=SETTLE_MAX),
            lambda path, reason: self.started.append(reason),
            check_input=self.check,
            report_invalid=lambda path, why, wait: self.reported.append((why, wait)),
        )

    def check(self, episode: Path) -> str | None:
        try:
            json.loads((episode / "chapters.json").read_text())
        except (OSError, ValueError) as e:
            return f"invalid: {e}"
        return None

    def event(self, now: float, kind: str = "input", ready: str | None = "complete") -> None:
        self.s.add(Trigger(self.episode, kind, f"{kind} {ready}", ready), now)  # type: ignore[arg-type]

    def tick(self, now: float) -> int:
        """Run the clock to `now`; how many jobs have started so far."""
        self.s.tick(now)
        return len(self.started)

    def finish(self, now: float, outcome: str = "ok") -> None:
        self.s.job_started()
        self.s.finished(self.episode, outcome, now)


@pytest.fixture
def h(tmp_path: Path) -> Harness:
    episode = tmp_path / "ep"
    episode.mkdir()
    return Harness(episode)


def write(h: Harness, text: str) -> None:
    (h.episode / "chapters.json").write_text(text)


def test_a_finished_valid_file_starts_without_the_settle(h):
    write(h, json.dumps(demo_doc()))
    h.event(100.0)
    assert h.tick(100.0) == 0  # the grace: one more event would mean a writer still going
    assert h.tick(100.0 + GRACE) == 1
    assert h.reported == []


def test_a_write_in_progress_settles(h):
    write(h, json.dumps(demo_doc()))
    h.event(100.0, ready=None)  # e.g. IN_MODIFY
    assert h.tick(100.0 + SETTLE / 2) == 0
    assert h.tick(100.0 + SETTLE) == 1


def test_a_finished_invalid_file_is_reported_at_once_and_its_job_waits(h):
    write(h, '{"schema_version": "1.0", "chapters": [')  # a writer closing a partial file
    h.event(100.0)
    assert len(h.reported) == 1 and h.reported[0][0].startswith("invalid")
    assert h.reported[0][1] == pytest.approx(SETTLE_MAX)
    h.event(100.2)  # its next partial close is not reported again
    assert len(h.reported) == 1
    assert h.tick(100.2 + SETTLE) == 0, "a file that does not parse waits for the limit"
    # The writer finishes: the valid file starts its job at once.
    write(h, json.dumps(demo_doc()))
    h.event(101.5)
    assert h.tick(101.5 + GRACE) == 1


def test_an_invalid_file_that_stays_invalid_runs_at_the_settle_limit(h):
    write(h, "{not json")
    h.event(100.0)
    assert h.tick(100.0 + SETTLE_MAX - 0.01) == 0
    assert h.tick(100.0 + SETTLE_MAX) == 1  # and the job reports the final error


def test_a_file_rewritten_after_it_was_read_settles(h):
    write(h, json.dumps(demo_doc()))
    h.event(100.0)
    doc = demo_doc()
    doc["title"] = "a longer title than before, written again at once"
    write(h, json.dumps(doc))  # its events not yet seen: the file itself tells
    assert h.tick(100.0 + GRACE) == 0
    assert h.tick(100.0 + SETTLE) == 1


def test_a_storm_gives_one_job_and_at_most_one_follow_up(h):
    write(h, json.dumps(demo_doc()))
    h.event(100.0)
    assert h.tick(100.0 + GRACE) == 1
    now = 100.01
    for _ in range(500):  # while the job runs
        h.event(now, ready=None)
        h.event(now)
        now += 0.001
    h.finish(now)
    for _ in range(50):  # the storm goes on after the job: the follow-up settles
        h.event(now)
        now += 0.001
        assert h.tick(now) == 1
    assert h.tick(now + SETTLE) == 2
    h.finish(now + SETTLE + 0.1)
    assert h.tick(now + 100) == 2


def test_a_retry_request_runs_at_once_even_on_invalid_input(h):
    write(h, "{not json")
    h.event(100.0)
    h.event(100.1, kind="retry")
    assert h.tick(100.1 + GRACE) == 1


def test_a_failed_job_waits_its_backoff_and_says_how_long(h):
    write(h, "{}")
    h.event(100.0, kind="marker")
    assert h.tick(100.0 + GRACE) == 1
    h.finish(101.0, "failed")
    wait = h.s.retry_in(h.episode, 101.0)
    assert wait == pytest.approx(DaemonSettings().failure_backoff_seconds)
    assert h.tick(101.0 + wait - 0.01) == 1
    assert h.tick(101.0 + wait) == 2


def test_a_rescan_does_not_cut_a_backoff_short_but_new_input_does(h):
    write(h, "{}")
    h.event(100.0, kind="marker")
    h.tick(100.0 + GRACE)
    h.finish(101.0, "failed")
    h.s.add(Trigger(h.episode, "scan", "rescan"), 102.0)
    assert h.tick(103.0) == 1
    write(h, json.dumps(demo_doc()))
    os.utime(h.episode / "chapters.json")
    h.event(104.0)
    assert h.tick(104.0 + GRACE) == 2
