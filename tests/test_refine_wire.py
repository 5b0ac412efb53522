"""Writer + critic refinement through the real anthropic and openai SDKs against the
loopback fake: scripted critic scores, malformed replies, the cap, the failed-checks
round, and reruns; each proved by the fake's call log and the trace files."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config import Settings, load_settings
from handlers.api.key_check import forget_verified_keys
from handlers.imagegen import RunRequest, run
from handlers.outputs.current import needs_job
from tests.conftest import DEMO, write_episode
from tests.fakeapi import CriticScript, FakeAPI, Ok, critic_json, malformed
from tests.fakeapi.wire import request_text
from tests.support.episodes import write_doc

KEY = "sk-test-fake-key"
CRITIQUE = "Critique this image prompt"
REVISION = "The current prompt"


@pytest.fixture(autouse=True)
def _fresh_keys() -> None:
    forget_verified_keys()


def refine_settings(
    outputs: Path, fake: FakeAPI, *, prices: dict[str, float] | None = None, **refine: Any
) -> Settings:
    """Claude writes, Claude critiques, gpt-image paints one unjudged candidate."""
    return load_settings(
        overrides={
            "outputs_dir": outputs,
            "image": {"provider": "openai"},
            "prompt": {"writer": "anthropic", "model": "claude-haiku-4-5"},
            "selection": {"candidates": 1, "judge": "none"},
            "refine": {"enabled": True, "critic": "anthropic", **refine},
            "anthropic": {"api_key": KEY, "base_url": fake.anthropic_base_url},
            "openai": {"api_key": KEY, "base_url": fake.openai_base_url, "timeout_seconds": 5},
            "retry": {"initial_backoff_seconds": 0.01, "max_backoff_seconds": 0.05},
            "prices": prices or {},
        }
    )


def written_doc(name: str, titles: list[str]) -> dict[str, Any]:
    """b_roll chapters with no image_prompt of their own: the writer writes them all."""
    doc = copy.deepcopy(DEMO)
    doc["episode_id"] = name
    base = doc["chapters"][1]
    doc["chapters"] = []
    for i, title in enumerate(titles):
        ch = copy.deepcopy(base)
        ch.update(chapter_id=f"ch{i + 1:02d}", order=i + 1, title=title)
        doc["chapters"].append(ch)
    doc["total_chapters"] = len(titles)
    return doc


def asks(kind: str, title: str | None = None) -> Callable[[dict[str, Any]], bool]:
    """A fake-API matcher for one kind of Claude call ("write", "revise", "critique")."""

    def match(body: dict[str, Any]) -> bool:
        text = request_text("messages", body)
        if title is not None and title not in text:
            return False
        if kind == "critique":
            return CRITIQUE in text
        if kind == "revise":
            return REVISION in text and CRITIQUE not in text
        return REVISION not in text and CRITIQUE not in text

    return match


def calls(fake: FakeAPI, kind: str, title: str | None = None) -> list[Any]:
    match = asks(kind, title)
    return [r for r in fake.requests if r.endpoint == "messages" and match(r.json)]


def script_writer(fake: FakeAPI, title: str, versions: list[str]) -> None:
    """A weak first prompt (the rules score it under skip_above), then one new version
    per revision."""
    fake.add_rule("messages", [Ok(text="A harbour.")], match=asks("write", title), repeat=True)
    fake.add_rule(
        "messages", [Ok(text=v) for v in versions], match=asks("revise", title), repeat=True
    )


def trace_dir(episode: Path, chapter_id: str = "ch01") -> Path:
    return episode / "images/prompts" / chapter_id


def trace_of(episode: Path, chapter_id: str = "ch01") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (trace_dir(episode, chapter_id) / "trace.json").read_text(encoding="utf-8")
    )
    return data


def files(episode: Path, chapter_id: str = "ch01") -> list[str]:
    return sorted(p.name for p in trace_dir(episode, chapter_id).iterdir())


def entry(episode: Path, chapter_id: str = "ch01") -> dict[str, Any]:
    data = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))
    found: dict[str, Any] = next(c for c in data["chapters"] if c["chapter_id"] == chapter_id)
    return found


VERSIONS = [
    "A stone harbour at dawn, two fishing boats moored, eye-level wide shot.",
    "A stone harbour at dawn, two fishing boats moored on the right, soft daylight.",
    "A stone harbour at dawn, three fishing boats, negative space on the left third.",
]


def test_rising_scores_stop_at_the_threshold(outputs, fake_api):
    episode = write_doc(outputs, "ep-rise", written_doc("ep-rise", ["The harbour"]))
    script_writer(fake_api, "The harbour", VERSIONS)
    critic = CriticScript({"The harbour": [60, 90, 95]})
    fake_api.add_rule("messages", [Ok(reply=critic)], match=CRITIQUE, repeat=True)
    settings = refine_settings(outputs, fake_api)
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    # Round 1 scored 60, round 2 scored 90 >= 85: no third round.
    assert len(calls(fake_api, "write")) == 1
    assert len(calls(fake_api, "revise")) == 2 and len(calls(fake_api, "critique")) == 2
    assert critic.count("The harbour") == 2
    assert files(episode) == [
        "00_original.txt",
        "01_writer_r1.txt",
        "02_critic_r1.json",
        "03_writer_r2.txt",
        "04_critic_r2.json",
        "final.txt",
        "trace.json",
    ]
    trace = trace_of(episode)
    assert trace["stop_reason"] == "threshold"
    assert [r["critic"]["overall"] for r in trace["rounds"]] == [60, 90]
    assert trace["rounds"][1]["critic"]["scores"]["cinematography"] == 90
    assert trace["rounds"][0]["critic"]["feedback"]  # under 90: the script gives fixes
    assert trace["critic"] == "anthropic:claude-haiku-4-5"
    assert trace["writer"] == "anthropic:claude-haiku-4-5"
    for r in trace["rounds"]:
        assert r["writer"]["usage"]["output_tokens"] > 0 and r["writer"]["cost_usd"] > 0
        assert (
            r["critic"]["cost_usd"] > 0 and r["critic"]["started_at"] <= r["critic"]["finished_at"]
        )
    # The critic's fixes went to the writer of the next round.
    revise_2 = request_text("messages", calls(fake_api, "revise")[1].json)
    assert "Name the camera angle and the lens." in revise_2 and VERSIONS[0] in revise_2
    final = (trace_dir(episode) / "final.txt").read_text(encoding="utf-8").strip()
    assert final == settings.prompt.style_prefix + VERSIONS[1]
    # The image was made from the final prompt, and the money is in the entry.
    assert [r.prompt for r in fake_api.requests if r.endpoint == "images"] == [final]
    e = entry(episode)
    assert e["prompt"] == final and e["prompt_trace"] == "prompts/ch01/trace.json"
    assert e["prompt_refinement"]["stop_reason"] == "threshold"
    assert e["prompt_refinement"]["cost_usd"] == pytest.approx(trace["cost_usd"])
    assert e["usage"]["refine_writer"]["output_tokens"] > 0
    assert e["usage"]["critic"]["input_tokens"] > 0
    assert e["prompt_cost_usd"] > trace["cost_usd"] > 0
    assert e["cost_usd"] == pytest.approx(e["prompt_cost_usd"] + e["image_cost_usd"], abs=1e-6)
    prov = json.loads((episode / "provenance/imagegen_provenance.json").read_text())
    assert prov["tokens"]["refine_writer_output"] > 0 and prov["tokens"]["critic_input"] > 0
    assert prov["models"]["critic"] == "anthropic:claude-haiku-4-5"
    # A rerun with nothing changed makes no call at all.
    before = len(fake_api.requests)
    again = run(episode, RunRequest(), settings)
    assert again.outcome == "up_to_date" and len(fake_api.requests) == before


def test_a_plateau_stops_on_convergence(outputs, fake_api):
    episode = write_doc(outputs, "ep-flat", written_doc("ep-flat", ["The harbour"]))
    script_writer(fake_api, "The harbour", VERSIONS)
    critic = CriticScript({"The harbour": [70, 70, 70]})
    fake_api.add_rule("messages", [Ok(reply=critic)], match=CRITIQUE, repeat=True)
    settings = refine_settings(outputs, fake_api, max_rounds=3)
    assert run(episode, RunRequest(), settings).outcome == "ok"
    # Round 2 was no better than round 1: no round 3 although max_rounds allows it.
    assert len(calls(fake_api, "revise")) == 2 and len(calls(fake_api, "critique")) == 2
    trace = trace_of(episode)
    assert trace["stop_reason"] == "converged"
    assert trace["final"] == {
        "file": "final.txt",
        "round": 1,
        "score": 70.0,
        "scored_by": trace["critic"],
    }
    final = (trace_dir(episode) / "final.txt").read_text(encoding="utf-8").strip()
    assert final.endswith(VERSIONS[0])  # the best version, not merely the last one
    assert "04_critic_r2.json" in files(episode) and "05_writer_r3.txt" not in files(episode)


def test_max_rounds_stops_a_loop_still_improving(outputs, fake_api):
    episode = write_doc(outputs, "ep-cap-rounds", written_doc("ep-cap-rounds", ["The harbour"]))
    script_writer(fake_api, "The harbour", VERSIONS)
    critic = CriticScript({"The harbour": [50, 60, 70, 80]})
    fake_api.add_rule("messages", [Ok(reply=critic)], match=CRITIQUE, repeat=True)
    assert (
        run(episode, RunRequest(), refine_settings(outputs, fake_api, max_rounds=3)).outcome == "ok"
    )
    assert len(calls(fake_api, "critique")) == 3
    trace = trace_of(episode)
    assert trace["stop_reason"] == "max_rounds" and trace["final"]["round"] == 3


def test_malformed_critic_replies_are_retried_once_then_the_loop_stops(outputs, fake_api):
    doc = written_doc("ep-bad", ["The harbour", "The market"])
    episode = write_doc(outputs, "ep-bad", doc)
    script_writer(fake_api, "The harbour", VERSIONS)
    script_writer(fake_api, "The market", ["A busy market, eye-level wide shot, soft daylight."])
    # The harbour: malformed twice -> the loop stops with the best prompt so far.
    fake_api.add_rule(
        "messages",
        [
            Ok(text=malformed("not_json", contract="critic")),
            Ok(text=malformed("truncated", contract="critic")),
        ],
        match=asks("critique", "The harbour"),
    )
    # The market: malformed once -> asked again, and the second reply counts.
    fake_api.add_rule(
        "messages",
        [Ok(text=malformed("out_of_range", contract="critic")), Ok(reply=CriticScript(default=92))],
        match=asks("critique", "The market"),
    )
    settings = refine_settings(outputs, fake_api)
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    assert len(calls(fake_api, "critique", "The harbour")) == 2
    assert len(calls(fake_api, "revise", "The harbour")) == 1
    harbour = trace_of(episode, "ch01")
    assert harbour["stop_reason"] == "critic_malformed"
    assert "malformed 2 times" in harbour["stop_detail"]
    critic_file = json.loads((trace_dir(episode, "ch01") / "02_critic_r1.json").read_text())
    assert critic_file["attempts"] == 2 and len(critic_file["malformed"]) == 2
    assert critic_file["replies"][0].startswith("I think this image is quite good")
    # No critic score came: the original (rule-scored) prompt is the best so far.
    original = (trace_dir(episode, "ch01") / "00_original.txt").read_text(encoding="utf-8")
    assert (trace_dir(episode, "ch01") / "final.txt").read_text(encoding="utf-8") == original
    assert entry(episode, "ch01")["prompt"] == original.strip()
    market = trace_of(episode, "ch02")
    assert len(calls(fake_api, "critique", "The market")) == 2
    assert market["stop_reason"] == "threshold"
    assert market["rounds"][0]["critic"]["attempts"] == 2
    assert market["rounds"][0]["critic"]["overall"] == 92


def test_the_cost_cap_stops_the_loop_and_leaves_room_for_the_image(outputs, fake_api):
    episode = write_doc(outputs, "ep-cap", written_doc("ep-cap", ["The harbour"]))
    script_writer(fake_api, "The harbour", VERSIONS)
    fake_api.add_rule("messages", [Ok(reply=CriticScript(default=60))], match=CRITIQUE, repeat=True)
    # Output tokens at $1000 a million: a writer call is held at $0.40 (400 tokens),
    # a critic call at $0.30; a gpt-image-1.5 image at about $0.05. $0.49 fits the first
    # write, round 1 and the image, but not round 2's writer as well.
    prices = {
        "text:claude-haiku-4-5:input_per_mtok": 0.0,
        "text:claude-haiku-4-5:output_per_mtok": 1000.0,
    }
    settings = refine_settings(outputs, fake_api, prices=prices)
    settings.max_episode_cost_usd = 0.49
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    assert len(calls(fake_api, "revise")) == 1 and len(calls(fake_api, "critique")) == 1
    trace = trace_of(episode)
    assert trace["stop_reason"] == "cost_cap"
    assert "max_episode_cost_usd 0.49" in trace["stop_detail"]
    assert "03_writer_r2.txt" not in files(episode)
    e = entry(episode)
    assert e["status"] == "generated" and fake_api.images_paid == 1
    assert e["prompt"].endswith(VERSIONS[0])  # round 1's version, scored by the critic
    assert result.cost_usd <= 0.49


def test_all_candidates_failing_get_one_more_round_and_one_more_set(outputs, fake_api):
    doc = written_doc("ep-fail", ["The harbour", "The market"])
    episode = write_doc(outputs, "ep-fail", doc)
    script_writer(fake_api, "The harbour", ["A stone harbour at dawn.", "A harbour, crisp."])
    script_writer(fake_api, "The market", ["A busy market.", "A market, crisp."])
    fake_api.add_rule("messages", [Ok(reply=CriticScript(default=90))], match=CRITIQUE, repeat=True)
    # The harbour: its first two images are blank, the next ones good.
    fake_api.add_rule("images", [Ok(defect="blank")] * 2 + [Ok()], match="harbour", repeat=True)
    # The market: every image is blank; one more round and set, then failed_checks.
    fake_api.add_rule("images", [Ok(defect="blank")], match="market", repeat=True)
    settings = refine_settings(outputs, fake_api)
    settings.selection.candidates = 2
    result = run(episode, RunRequest(), settings)
    harbour = entry(episode, "ch01")
    assert harbour["status"] == "generated"
    # c03 passed and its checks' score beat accept_score: the set stopped there.
    assert [c["id"] for c in harbour["candidates"]] == ["c01", "c02", "c03"]
    assert [c["passed"] for c in harbour["candidates"]] == [False, False, True]
    assert harbour["selected"] == "c03"
    assert harbour["image_cost_usd"] == pytest.approx(
        sum(c["cost_usd"] for c in harbour["candidates"])
    )
    assert harbour["usage"]["image"]["output_tokens"] > 0
    trace = trace_of(episode, "ch01")
    assert trace["stop_reason"] == "threshold"
    after = trace["after_failed_checks"]
    assert after["new_prompt"] is True and any("not_blank" in f for f in after["findings"])
    assert files(episode, "ch01") == [
        "00_original.txt",
        "01_writer_r1.txt",
        "02_critic_r1.json",
        "03_findings_r2.json",
        "04_writer_r2.txt",
        "05_critic_r2.json",
        "final.txt",
        "trace.json",
    ]
    # The checks' findings were the writer's fixes; the new set used the new prompt.
    revise_2 = request_text("messages", calls(fake_api, "revise", "The harbour")[1].json)
    assert "failed not_blank" in revise_2 and "c01 and c02" in revise_2
    final = (trace_dir(episode, "ch01") / "final.txt").read_text(encoding="utf-8").strip()
    assert final.endswith("A harbour, crisp.") and harbour["prompt"] == final
    prompts = [
        r.prompt
        for r in fake_api.requests
        if r.endpoint == "images" and "harbour" in (r.prompt or "")
    ]
    assert prompts[2:] == [final]
    # Bounded: the market had its one more round and set, and no more.
    market = entry(episode, "ch02")
    assert market["status"] == "failed_checks" and len(market["candidates"]) == 4
    assert len(calls(fake_api, "revise", "The market")) == 2
    assert result.outcome == "failed" and "ch02 failed_checks" in result.message


def test_a_threshold_change_applies_at_the_next_job_only(outputs, fake_api):
    episode = write_episode(outputs, "ep-next")  # the demo: 2 written, 1 own prompt
    fake_api.add_rule("messages", [Ok(text="A harbour.")], match=asks("write"), repeat=True)
    fake_api.add_rule("messages", [Ok(reply=CriticScript(default=88))], match=CRITIQUE, repeat=True)
    first = run(episode, RunRequest(), refine_settings(outputs, fake_api))
    assert first.outcome == "ok" and first.generated == 3
    critiques = len(calls(fake_api, "critique"))
    assert critiques == 2
    # A stricter threshold is a settings change: the daemon's scan does not push it to a
    # current episode (that would pay for its images again) ...
    stricter = refine_settings(outputs, fake_api, threshold=95)
    assert needs_job(episode) is None
    before = len(fake_api.requests)
    # ... its next job (new input, a marker, `imagegen run`) regenerates the refined
    # chapters, and only those: ch03's own prompt and the templates do not depend on it.
    result = run(episode, RunRequest(), stricter)
    assert result.outcome == "ok", result.message
    assert result.generated == 2 and result.reused == 3
    assert len(calls(fake_api, "critique")) > critiques
    assert fake_api.images_paid == 3 + 2
    assert len(fake_api.requests) > before
    assert trace_of(episode, "ch02")["settings"]["threshold"] == 95


def test_with_an_openai_key_only_the_critic_is_openai_chat(outputs, fake_api):
    episode = write_doc(outputs, "ep-oa", written_doc("ep-oa", ["The harbour"]))
    fake_api.add_rule(
        "chat",
        [Ok(text="A harbour.")],
        match=lambda b: (
            CRITIQUE not in request_text("chat", b) and REVISION not in request_text("chat", b)
        ),
        repeat=True,
    )
    fake_api.add_rule("chat", [Ok(text=VERSIONS[0])], match=REVISION, repeat=True)
    fake_api.add_rule("chat", [Ok(reply=CriticScript(default=91))], match=CRITIQUE, repeat=True)
    settings = load_settings(
        overrides={
            "outputs_dir": outputs,
            "selection": {"candidates": 1, "judge": "none"},
            "refine": {"enabled": True},
            "openai": {"api_key": KEY, "base_url": fake_api.openai_base_url, "timeout_seconds": 5},
        }
    )
    assert run(episode, RunRequest(), settings).outcome == "ok"
    critic = [
        r
        for r in fake_api.requests
        if r.endpoint == "chat" and CRITIQUE in request_text("chat", r.json)
    ]
    assert len(critic) == 1 and critic[0].json["model"] == "gpt-4.1-mini"
    assert critic[0].json["temperature"] == 0.0
    assert trace_of(episode)["critic"] == "openai:gpt-4.1-mini"


def test_a_trace_finished_before_a_kill_is_not_paid_for_again(outputs, fake_api):
    episode = write_doc(outputs, "ep-kill", written_doc("ep-kill", ["The harbour"]))
    script_writer(fake_api, "The harbour", VERSIONS)
    critic = CriticScript({"The harbour": [60, 90]})
    fake_api.add_rule("messages", [Ok(reply=critic)], match=CRITIQUE, repeat=True)
    settings = refine_settings(outputs, fake_api)
    assert run(episode, RunRequest(), settings).outcome == "ok"
    final = (trace_dir(episode) / "final.txt").read_text(encoding="utf-8").strip()
    trace_cost = trace_of(episode)["cost_usd"]
    # As if the run was killed after the loop, before its first image was kept.
    for path in ("images/manifest.json", "images/ch01.png", "images/candidates/ch01/c01.png"):
        (episode / path).unlink()
    before = len(calls(fake_api, "write") + calls(fake_api, "revise") + calls(fake_api, "critique"))
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    after = len(calls(fake_api, "write") + calls(fake_api, "revise") + calls(fake_api, "critique"))
    assert after == before  # no writer, no critic call: the finished trace is used
    assert [r.prompt for r in fake_api.requests if r.endpoint == "images"][-1] == final
    e = entry(episode)
    assert e["prompt"] == final and e["prompt_trace"] == "prompts/ch01/trace.json"
    assert "recovered" in e["prompt_refinement"]["note"]
    assert e["prompt_cost_usd"] == pytest.approx(trace_cost)
    # A redo asked for on purpose refines anew.
    (episode / "images/ch01.png.stale").write_text(
        '{"invalidated_at": "2026-01-01T00:00:00Z", "invalidated_by": "a person", "reason": "x"}',
        encoding="utf-8",
    )
    assert run(episode, RunRequest(), settings).outcome == "ok"
    assert len(calls(fake_api, "critique")) > 2


def test_shutdown_between_rounds_starts_no_further_call(outputs, fake_api):
    episode = write_doc(outputs, "ep-stop", written_doc("ep-stop", ["The harbour"]))
    script_writer(fake_api, "The harbour", VERSIONS)
    cancel = threading.Event()

    def critic_then_sigterm(body: Any, images: Any = ()) -> str:
        cancel.set()  # SIGTERM arrives while the critic answers round 1
        return critic_json(60, ["Name the lens."])

    fake_api.add_rule("messages", [Ok(reply=critic_then_sigterm)], match=CRITIQUE, repeat=True)
    result = run(episode, RunRequest(cancel=cancel), refine_settings(outputs, fake_api))
    assert result.outcome == "interrupted", result.message
    assert len(calls(fake_api, "revise")) == 1 and len(calls(fake_api, "critique")) == 1
    assert fake_api.count("images") == 0
    trace = trace_of(episode)
    assert trace["stop_reason"] == "stopping" and len(trace["rounds"]) == 1
