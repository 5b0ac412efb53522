"""Candidates, the vision judge and the money, through the real openai SDK against the
loopback fake: scripted judge replies, scripted defects, the fake's call log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from config import Settings, load_settings
from handlers.api.key_check import forget_verified_keys
from handlers.imagegen import RunRequest, rescore, run
from tests.conftest import REPO, write_episode
from tests.fakeapi import FakeAPI, JudgeScript, Ok, malformed
from tests.support.env import child_env
from tests.support.episodes import paid_episode_doc, paid_per_chapter, write_doc

KEY = "sk-test-fake-key"


@pytest.fixture(autouse=True)
def _fresh_keys() -> None:
    forget_verified_keys()


def selection_settings(outputs: Path, fake: FakeAPI, **selection: Any) -> Settings:
    return load_settings(
        overrides={
            "outputs_dir": outputs,
            "image": {"provider": "openai"},
            "prompt": {"writer": "template"},
            "selection": {"candidates": 3, "judge": "openai", **selection},
            "openai": {"api_key": KEY, "base_url": fake.openai_base_url, "timeout_seconds": 5},
            "retry": {"initial_backoff_seconds": 0.01, "max_backoff_seconds": 0.05},
        }
    )


def entries(episode: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))
    return {c["chapter_id"]: c for c in data["chapters"]}


def judge_calls(fake: FakeAPI) -> list[Any]:
    return [r for r in fake.requests if r.endpoint == "chat" and r.input_images]


def test_three_judged_candidates_per_chapter(outputs, fake_api):
    fake_api.vision_reply = JudgeScript(default=6, rationale="A clear diagram, labels legible.")
    episode = write_episode(outputs)
    result = run(episode, RunRequest(), selection_settings(outputs, fake_api))
    assert result.outcome == "ok", result.message
    assert fake_api.count("images") == 9  # 3 generated chapters x 3 (60 never reaches 80)
    assert len(judge_calls(fake_api)) == 9
    for cid in ("ch02", "ch03", "ch04"):
        e = entries(episode)[cid]
        assert [c["id"] for c in e["candidates"]] == ["c01", "c02", "c03"]
        assert e["selection"]["method"] == "judge"
        for c in e["candidates"]:
            assert c["judge_model"] == "openai:gpt-4.1-mini"
            assert set(c["scores"]) == {
                "matches_description",
                "clarity",
                "composition",
                "text",
                "artifacts",
            }
            assert c["rationale"] == "A clear diagram, labels legible."
            assert c["judge_cost_usd"] > 0
        assert "judge 60/100 (A clear diagram, labels legible)" in e["selection"]["why"]
        assert e["cost_usd"] == pytest.approx(
            e["prompt_cost_usd"] + e["image_cost_usd"] + e["judge_cost_usd"], abs=1e-5
        )
    # The judge saw the very candidates: each shown image is one the fake made.
    assert all(r.shown[0] is not None for r in judge_calls(fake_api))
    text = "\n".join(judge_calls(fake_api)[0].text_parts)
    assert "Visual description:" in text
    raw = (episode / "images/manifest.json").read_text(encoding="utf-8")
    assert "Eski bir pazar yerinde takas yapan insanlar" in raw  # Turkish intact
    prov = json.loads((episode / "provenance/imagegen_provenance.json").read_text())
    assert prov["tokens"]["judge_input"] > 0 and prov["models"]["judge"] == "openai:gpt-4.1-mini"


def test_defective_candidates_are_never_chosen_even_when_judged_best(outputs, fake_api):
    doc = paid_episode_doc("ep-defects", 2)
    episode = write_doc(outputs, "ep-defects", doc)
    fake_api.add_rule("images", [Ok(defect="blank"), Ok(), Ok()], match="ep-defects chapter ch01")
    fake_api.add_rule(
        "images",
        [Ok(defect="garbled_text"), Ok(defect="cropped"), Ok()],
        match="ep-defects chapter ch02",
    )
    # The judge loves the defective ones and dislikes the good ones.
    judge = JudgeScript({"blank": 10, "garbled_text": 10, "cropped": 10}, default=4)
    fake_api.vision_reply = judge
    result = run(episode, RunRequest(), selection_settings(outputs, fake_api))
    assert result.outcome == "ok", result.message
    ch01, ch02 = entries(episode)["ch01"], entries(episode)["ch02"]
    assert ch01["selected"] != "c01" and not ch01["candidates"][0]["passed"]
    assert ch02["selected"] == "c03"
    failed = {
        c["id"]: [k["name"] for k in c["checks"] if not k["passed"]] for c in ch02["candidates"]
    }
    assert "text" in failed["c01"] and "framing" in failed["c02"] and failed["c03"] == []
    # A failed candidate is not even judged: that money is not spent.
    shown = [r.shown[0].defect for r in judge_calls(fake_api) if r.shown[0] is not None]
    assert "blank" not in shown and "garbled_text" not in shown


def test_accept_score_stops_generating_at_the_first_good_candidate(outputs, fake_api):
    episode = write_doc(outputs, "ep-accept", paid_episode_doc("ep-accept", 3))
    judge = JudgeScript(default=9)  # 90 >= accept_score 80
    fake_api.vision_reply = judge
    result = run(episode, RunRequest(), selection_settings(outputs, fake_api))
    assert result.ok
    assert paid_per_chapter(fake_api.paid_prompts, "ep-accept") == {
        "ch01": 1,
        "ch02": 1,
        "ch03": 1,
    }
    assert "reached accept_score 80" in entries(episode)["ch02"]["selection"]["why"]


def test_a_weak_first_candidate_pays_for_one_more_only(outputs, fake_api):
    episode = write_doc(outputs, "ep-weak", paid_episode_doc("ep-weak", 1))
    fake_api.vision_reply = JudgeScript(default=9).then(5)  # first 50, then 90
    run(episode, RunRequest(), selection_settings(outputs, fake_api))
    e = entries(episode)["ch01"]
    assert fake_api.count("images") == 2 and e["selected"] == "c02"
    assert [c["judge_score"] for c in e["candidates"]] == [50.0, 90.0]


def test_malformed_judge_replies_are_retried_once_then_checks_decide(outputs, fake_api):
    episode = write_doc(outputs, "ep-bad-judge", paid_episode_doc("ep-bad-judge", 1))
    fake_api.vision_reply = JudgeScript(default=7).then(
        malformed("not_json"),
        malformed("fenced"),  # c01: second try parses
        malformed("out_of_range"),
        malformed("truncated"),  # c02: both broken
        malformed("missing_keys"),
        malformed("empty"),  # c03: both broken
    )
    run(episode, RunRequest(), selection_settings(outputs, fake_api, accept_score=0))
    e = entries(episode)["ch01"]
    c01, c02, c03 = e["candidates"]
    assert c01["judge_score"] == 60.0 and len(judge_calls(fake_api)) == 6
    for c in (c02, c03):
        assert c["judge_score"] is None
        assert "judge gave no usable verdict, ranked by checks only" in c["note"]
    assert e["selected"] == "c01"  # the only one judged: a failed judge is no advantage
    assert "c02 100 unjudged" in e["selection"]["why"]


def test_rescore_makes_no_image_call_and_can_change_the_choice(outputs, fake_api):
    episode = write_doc(outputs, "ep-rescore", paid_episode_doc("ep-rescore", 1))
    fake_api.vision_reply = JudgeScript(default=5)
    settings = selection_settings(outputs, fake_api, accept_score=0)
    run(episode, RunRequest(), settings)
    images = fake_api.count("images")
    first = entries(episode)["ch01"]["selected"]
    other = next(c for c in entries(episode)["ch01"]["candidates"] if c["id"] != first)
    record = next(
        g
        for g in fake_api.generated
        if g.prompt.endswith("ep-rescore chapter ch01")
        and g.id == _generated_id(fake_api, episode, other["id"])
    )
    fake_api.vision_reply = JudgeScript(default=5).for_image(record, 10)
    result = rescore(episode, settings)
    assert result.ok and result.rescored == 1, result.message
    assert fake_api.count("images") == images  # zero image calls
    e = entries(episode)["ch01"]
    assert e["selected"] == other["id"] and e["selection"]["why"].startswith("re-ranked")
    assert e["judge_cost_usd"] > 0


def _generated_id(fake: FakeAPI, episode: Path, candidate: str) -> int:
    data = (episode / f"images/candidates/ch01/{candidate}.png").read_bytes()
    found = fake.identify(data)
    assert found is not None
    return found.id


def test_dry_run_shows_n_images_and_judging(outputs, fake_api):
    episode = write_doc(outputs, "ep-dry", paid_episode_doc("ep-dry", 2))
    result = run(episode, RunRequest(dry_run=True), selection_settings(outputs, fake_api))
    request = json.loads((episode / "images/imagegen_request.json").read_text())
    ch = request["chapters"][0]
    assert ch["candidates"] == 3 and ch["judge"] == "openai:gpt-4.1-mini"
    assert ch["estimated_cost_usd"] == pytest.approx(
        3 * (ch["image_price_usd"] + ch["judge_price_usd"]), abs=1e-5
    )
    assert result.estimated_cost_usd == pytest.approx(2 * ch["estimated_cost_usd"], abs=1e-5)
    assert fake_api.count() == 0


def test_the_cap_holds_with_candidates_under_concurrency(outputs, fake_api):
    fake_api.latency["images"] = 0.2
    fake_api.vision_reply = JudgeScript(default=5)  # never accepted: every chapter wants 3
    episode = write_doc(outputs, "ep-cap", paid_episode_doc("ep-cap", 6))
    settings = selection_settings(outputs, fake_api)
    settings.max_episode_cost_usd = 0.4  # about 7 images of 0.05 with their judging
    settings.image.concurrency = 4
    result = run(episode, RunRequest(), settings)
    billed = sum(e["cost_usd"] for e in entries(episode).values())
    assert billed <= 0.4 + 1e-9
    prov = json.loads((episode / "provenance/imagegen_provenance.json").read_text())
    assert prov["cost_usd"] <= 0.4 + 1e-9
    states = {e["status"] for e in entries(episode).values()}
    assert "skipped_cost_cap" in states or any(
        "max_episode_cost_usd" in (e["selection"] or {}).get("why", "")
        for e in entries(episode).values()
    )
    assert result.cost_usd <= 0.4 + 1e-9


@pytest.mark.parametrize("kill_after", [0.0, 0.4, 0.9])
def test_a_kill_while_candidates_are_made_and_judged_never_pays_twice(
    outputs, fake_api, kill_after
):
    fake_api.latency["images"] = 0.3
    fake_api.latency["chat"] = 0.3  # judging takes time too: kills land inside it
    fake_api.vision_reply = JudgeScript(default=5)
    episode = write_doc(outputs, "ep-kill", paid_episode_doc("ep-kill", 6))
    env = child_env()
    env.update(
        OPENAI_API_KEY=KEY,
        IMAGEGEN_CONFIG=str(REPO / "config/imagegen.default.toml"),
        IMAGEGEN_OPENAI__BASE_URL=fake_api.openai_base_url,
        IMAGEGEN_IMAGE__PROVIDER="openai",
        IMAGEGEN_PROMPT__WRITER="template",
        IMAGEGEN_SELECTION__CANDIDATES="3",
        IMAGEGEN_SELECTION__JUDGE="openai",
    )
    cmd = [sys.executable, "-m", "daemon", "run", "--outputs-dir", str(outputs), str(episode)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert fake_api.wait_until(lambda f: f.count("images") >= 4, timeout=20)
    time.sleep(kill_after)
    assert proc.poll() is None, "the run finished before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.5)  # requests the killed run had sent are answered (and billed) by now
    paid_before = fake_api.images_generated
    killed_run = {g.id for g in fake_api.generated}
    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    kept = set()
    for e in entries(episode).values():
        for c in e["candidates"]:
            record = fake_api.identify((episode / "images" / c["file"]).read_bytes())
            assert record is not None
            kept.add(record.id)
    made = {g.id for g in fake_api.generated}
    lost = made - kept
    # Lost: only images in the API's hands at the kill (3 slots) or just answered and
    # on their way to disk (keeping a file takes milliseconds, a call 0.3 s here: about
    # one per slot); never a kept one.
    assert len(lost) <= 3 + 3, (len(lost), paid_before)
    assert len(kept) == sum(len(e["candidates"]) for e in entries(episode).values())
    # Every image kept before the kill is used again by the rerun, not paid for again.
    recovered = [
        c
        for e in entries(episode).values()
        for c in e["candidates"]
        if "recovered" in (c["note"] or "")
    ]
    assert len(recovered) == len(killed_run - lost)
