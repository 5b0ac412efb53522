"""Prompt refinement against the loopback fake: written chapters, Claude writer and
critic at 0.40 s a call, 3 rounds each (scripted scores 50, 60, 70: never the
threshold), one gpt-image candidate at 0.40 s.

Baselines, measured in the same run: one Claude call to the fake as the SDK sees it
(the fake answers about 45 ms after its configured latency, at any latency), and the
same episodes with refinement off. Targets:
- one chapter: refinement adds at most 1.1 x (rounds x 2 calls x one call's time);
- 3 chapters at concurrency 3 refine in parallel: they add at most 1.1 x one chapter's
  ideal, where concurrency 1 (one API slot) adds about three times as much."""

from __future__ import annotations

import copy
import json
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.common import record
from config import load_settings
from daemon.logging import configure_logging
from handlers.api.key_check import forget_verified_keys
from handlers.imagegen import RunRequest, run
from tests.fakeapi import CriticScript, FakeAPI, Ok
from tests.fakeapi.wire import request_text
from tests.support.episodes import DEMO, write_doc

LATENCY = 0.40
ROUNDS = 3
TITLES = ("The harbour", "The market", "The workshop")
CRITIQUE = "Critique this image prompt"
REVISION = "The current prompt"


def main(short: bool = False) -> None:
    configure_logging("console", verbose=False)
    with FakeAPI() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.latency.update(messages=LATENCY, images=LATENCY)
        call = _call_latency(fake)
        ideal = ROUNDS * 2 * call
        print(
            f"\nprompt refinement: {ROUNDS} rounds a chapter, writer + critic through the "
            f"Claude SDK; fake latency {LATENCY:.2f} s, one call measured {call:.3f} s "
            f"(baseline): ideal {ROUNDS} x 2 x {call:.3f} = {ideal:.2f} s a chapter"
        )
        root = Path(tmp)
        added: dict[tuple[int, int], float] = {}
        loop: dict[tuple[int, int], float] = {}
        for chapters, level in ((1, 3), (3, 3), (3, 1)):
            base = _timed(fake, root, chapters, level, refine=False)
            refined = _timed(fake, root, chapters, level, refine=True)
            added[chapters, level] = refined[0] - base[0]
            loop[chapters, level] = refined[1]
            print(
                f"  {chapters} chapter(s), concurrency {level}: no refinement {base[0]:.2f} s, "
                f"with it {refined[0]:.2f} s: +{added[chapters, level]:.2f} s; the longest "
                f"loop (its trace, start to end) {refined[1]:.2f} s"
            )
    # A chapter's cost is the larger of what the run gained and what its loop took.
    one = max(added[1, 3], loop[1, 3]) / ideal
    record(
        "prompt refinement, one chapter (3 rounds of writer + critic)",
        f"+{max(added[1, 3], loop[1, 3]):.2f} s = {one:.2f}x the ideal",
        "<= 1.1x rounds x 2 calls x one call",
        one <= 1.1,
        f"one call measured {call:.3f} s: ideal {ideal:.2f} s; no refinement in the same run",
    )
    parallel = max(added[3, 3], loop[3, 3]) / ideal
    serial = added[3, 1] / added[3, 3]
    record(
        "prompt refinement, 3 chapters at concurrency 3",
        f"+{max(added[3, 3], loop[3, 3]):.2f} s = {parallel:.2f}x one chapter's ideal; "
        f"one API slot adds {serial:.2f}x as much",
        "<= 1.1x (in parallel), and >= 2.5x at concurrency 1",
        parallel <= 1.1 and serial >= 2.5,
        f"concurrency 1 in the same run: +{added[3, 1]:.2f} s",
    )


def _call_latency(fake: FakeAPI) -> float:
    """What one Claude call to the fake takes as the SDK sees it: the median of 5."""
    client = fake.anthropic_client()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        client.messages.create(
            model="claude-haiku-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
        times.append(time.perf_counter() - t0)
    fake.reset()
    return statistics.median(times)


def _timed(
    fake: FakeAPI, root: Path, chapters: int, level: int, refine: bool
) -> tuple[float, float]:
    """(wall time of the run, the longest chapter's loop from its trace)."""
    forget_verified_keys()
    fake.reset()
    _script(fake)
    name = f"{'refine' if refine else 'base'}-{chapters}-c{level}"
    episode = write_doc(root, name, _doc(name, TITLES[:chapters]))
    settings = load_settings(
        overrides={
            "outputs_dir": root,
            "image": {"provider": "openai", "concurrency": level},
            "prompt": {"writer": "anthropic", "model": "claude-haiku-4-5"},
            "selection": {"candidates": 1, "judge": "none"},
            "refine": {"enabled": refine, "critic": "anthropic", "max_rounds": ROUNDS},
            "anthropic": {"api_key": fake.api_key, "base_url": fake.anthropic_base_url},
            "openai": {"api_key": fake.api_key, "base_url": fake.openai_base_url},
        }
    )
    t0 = time.perf_counter()
    result = run(episode, RunRequest(), settings)
    elapsed = time.perf_counter() - t0
    assert result.outcome == "ok" and result.generated == chapters, result
    loops = [0.0]
    for trace in sorted((episode / "images/prompts").glob("*/trace.json")) if refine else []:
        data: dict[str, Any] = json.loads(trace.read_text(encoding="utf-8"))
        assert data["stop_reason"] == "max_rounds" and len(data["rounds"]) == ROUNDS, data
        loops.append(_seconds(data["finished_at"]) - _seconds(data["started_at"]))
    return elapsed, max(loops)


def _script(fake: FakeAPI) -> None:
    fake.add_rule(
        "messages",
        [Ok(reply=CriticScript({title: [50, 60, 70] for title in TITLES}))],
        match=CRITIQUE,
        repeat=True,
    )
    for title in TITLES:
        versions = [Ok(text=f"{title}, version {n}, eye-level wide shot.") for n in (1, 2, 3)]
        fake.add_rule(
            "messages",
            versions,
            match=lambda body, t=title: (
                t in (text := request_text("messages", body)) and REVISION in text
            ),
            repeat=True,
        )
    fake.add_rule("messages", [Ok(text="A harbour.")], repeat=True)  # first prompts


def _doc(name: str, titles: tuple[str, ...]) -> dict[str, Any]:
    doc = copy.deepcopy(DEMO)
    doc["episode_id"] = name
    base = doc["chapters"][1]  # b_roll, no image_prompt: the writer writes it
    doc["chapters"] = [
        {**copy.deepcopy(base), "chapter_id": f"ch{i + 1:02d}", "order": i + 1, "title": t}
        for i, t in enumerate(titles)
    ]
    doc["total_chapters"] = len(titles)
    doc["estimated_duration_seconds"] = sum(
        c["narration"]["estimated_duration_seconds"] for c in doc["chapters"]
    )
    return doc


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()
