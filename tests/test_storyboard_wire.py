"""The storyboard on the wire: the real openai, google-genai and anthropic SDKs against
the loopback fake. The end frame is an edit of its start frame; the component sheet's
descriptions are in every frame prompt that shows them; the LLM planner's JSON is
validated; the dry run and the cap count the storyboard; a kill pays nothing twice."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from handlers.api.key_check import forget_verified_keys
from handlers.imagegen import RunRequest, needs_job, run
from handlers.run.context import pool_size
from tests.conftest import REPO
from tests.fakeapi import FakeAPI
from tests.fakeapi.wire import content_text, last_user_text
from tests.support.env import child_env
from tests.support.episodes import episode_doc, paid_episode_doc, write_doc
from tests.support.providers import provider_settings, requests_to


@pytest.fixture(autouse=True)
def _fresh_keys() -> None:
    forget_verified_keys()


def board_settings(
    outputs: Path, fake: FakeAPI, planner: str = "template", **image: Any
) -> Settings:
    settings = provider_settings(outputs, fake, **(image or {"provider": "openai"}))
    settings.storyboard.enabled = True
    settings.storyboard.planner = planner  # type: ignore[assignment]
    settings.anthropic.api_key = fake.api_key  # type: ignore[assignment]
    settings.anthropic.base_url = fake.anthropic_base_url
    return settings


def clips(episode: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((episode / "storyboard/storyboard.json").read_text(encoding="utf-8"))
    return {c["chapter_id"]: c for c in data["clips"]}


def board(episode: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((episode / "storyboard/storyboard.json").read_text())
    return data


def frame_requests(fake: FakeAPI) -> list[Any]:
    return [
        r
        for r in fake.requests
        if r.endpoint in ("images", "edits", "gemini") and "frame" in (r.prompt or "")
    ]


def test_the_end_frame_is_an_edit_of_its_start_frame(outputs, fake_api):
    episode = write_doc(outputs, "ep-edit", episode_doc("ep-edit", 5))
    settings = board_settings(outputs, fake_api)
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    found = clips(episode)
    generated = [c for c in found.values() if c["status"] == "generated"]
    assert {c["chapter_id"] for c in generated} == {"ch02", "ch03", "ch04"}
    edits = requests_to(fake_api, "edits")
    assert len(edits) == 3  # one per generated clip: its end frame, nothing else
    for clip in generated:
        start = fake_api.identify((episode / clip["start_frame_path"]).read_bytes())
        assert start is not None
        (edit,) = [e for e in edits if clip["end_prompt"].split(" Closing")[0] in (e.prompt or "")]
        assert [image.record.id for image in edit.input_images if image.record] == [start.id]
        assert edit.prompt == clip["prompts"]["end"]
        assert clip["end"]["references"] == [clip["start_frame_path"]]
        assert clip["end"]["usage"]["image"]["input_image_tokens"] > 0
        assert clip["cost_usd"] == pytest.approx(
            clip["start"]["cost_usd"] + clip["end"]["cost_usd"], abs=1e-6
        )
    # Templates' clips are drawn, not paid for.
    assert found["ch01"]["status"] == found["ch05"]["status"] == "template"
    assert found["ch01"]["cost_usd"] == 0
    prov = json.loads((episode / "provenance/imagegen_provenance.json").read_text())
    images = json.loads((episode / "images/manifest.json").read_text())
    assert prov["cost_usd"] == pytest.approx(
        sum(e["cost_usd"] for e in images["chapters"]) + board(episode)["cost_usd"], abs=1e-5
    )
    assert images["cumulative_cost_usd"] == pytest.approx(prov["cost_usd"], abs=1e-6)
    requests = len(fake_api.requests)
    assert run(episode, RunRequest(), settings).outcome == "up_to_date"
    assert len(fake_api.requests) == requests


def test_gemini_is_shown_the_start_frame_for_the_end_frame(outputs, fake_api):
    episode = write_doc(outputs, "ep-gem", episode_doc("ep-gem", 3))
    settings = board_settings(outputs, fake_api, provider="gemini")
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    clip = clips(episode)["ch02"]
    start = fake_api.identify((episode / clip["start_frame_path"]).read_bytes())
    (end,) = [r for r in frame_requests(fake_api) if clip["end_prompt"] in (r.prompt or "")]
    assert start is not None and end.endpoint == "gemini"
    assert [i.record.id for i in end.input_images if i.record] == [start.id]
    assert clip["end"]["provider"] == "gemini"


def planner_reply(body: dict[str, Any]) -> str:
    """The fake LLM planner: a sheet naming every chapter, and shots that name the
    chapter's components (and one id the sheet never had)."""
    system = content_text(body.get("system")) + "".join(  # Messages, or Chat's system turn
        content_text(m.get("content")) for m in body["messages"] if m.get("role") == "system"
    )
    user = last_user_text(body)
    if "recurring characters" in system:
        ids = re.findall(r"chapter_id (\S+):", user)
        return json.dumps(
            {
                "characters": [
                    {
                        "id": "host",
                        "name": "Ayşe, the host",
                        "description": "a woman with a red scarf and round tortoiseshell glasses",
                        "chapters": ids,
                    }
                ],
                "locations": [
                    {
                        "id": "bazaar",
                        "name": "The covered bazaar",
                        "description": "a covered bazaar with blue tiles and brass lamps",
                        "chapters": ids[:2],
                    }
                ],
                "props": [
                    {
                        "id": "coin",
                        "name": "The coin",
                        "description": "a bronze coin with a square hole",
                        "chapters": ids[1:],
                    }
                ],
            },
            ensure_ascii=False,
        )
    chapter = re.search(r"Chapter (\S+):", user)
    assert chapter is not None
    cid = chapter.group(1)
    named = re.findall(r"^- ([a-z0-9-]+) \(", user, re.MULTILINE)
    return (
        "Here is the plan:\n```json\n"
        + json.dumps(
            {
                "start_prompt": f"{cid} opening frame: the host stands at the edge of the scene",
                "end_prompt": f"{cid} closing frame: the host in the middle of the scene",
                "motion_description": "the host walks to the centre as the camera follows",
                "camera_movement": "truck right",
                "shot_size": "medium wide",
                "lens": "28mm",
                "components": [*named, "ghost"],
            }
        )
        + "\n```"
    )


def test_the_sheet_s_descriptions_are_in_every_frame_prompt_that_shows_them(outputs, fake_api):
    fake_api.reply_text = planner_reply
    episode = write_doc(outputs, "ep-sheet", episode_doc("ep-sheet", 4))
    settings = board_settings(outputs, fake_api, planner="anthropic")
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    data = board(episode)
    sheet = data["components"]
    assert sheet["made"]["planner"] == "anthropic" and sheet["made"]["cost_usd"] > 0
    described = {
        c["id"]: c["description"]
        for kind in ("characters", "locations", "props")
        for c in sheet[kind]
    }
    found = clips(episode)
    assert found["ch02"]["components"] == ["host", "bazaar", "coin"]  # "ghost" is dropped
    assert found["ch04"]["components"] == ["host", "coin"]
    sent = frame_requests(fake_api)
    assert len(sent) == 6  # ch02, ch03, ch04 (generated): a start and an end frame each
    for request in sent:
        named = re.search(r"(ch\d\d) (opening|closing) frame", request.prompt or "")
        assert named is not None, request.prompt
        cid = named.group(1)
        for component in found[cid]["components"]:
            assert described[component] in (request.prompt or ""), (cid, component)
    # Templates' frames carry the same prompts in the storyboard (drawn, not sent).
    for clip in found.values():
        for prompt in clip["prompts"].values():
            assert all(described[c] in prompt for c in clip["components"])
        assert clip["plan"]["planner"] == "anthropic" and clip["plan"]["cost_usd"] > 0
    assert fake_api.count("messages") == 1 + 4  # the sheet, and one shot per clip
    prov = json.loads((episode / "provenance/imagegen_provenance.json").read_text())
    assert prov["tokens"]["storyboard_input"] > 0


def test_the_openai_planner_asks_in_json_mode(outputs, fake_api):
    fake_api.reply_text = planner_reply
    episode = write_doc(outputs, "ep-json", episode_doc("ep-json", 2))
    settings = board_settings(outputs, fake_api, planner="openai")
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    asked = [r.json for r in fake_api.requests if r.endpoint == "chat"]
    assert len(asked) == 1 + 2  # the sheet, and one shot per clip
    assert all(body["response_format"] == {"type": "json_object"} for body in asked)
    assert board(episode)["components"]["made"]["planner"] == "openai"


def test_a_malformed_plan_is_asked_again_once_then_the_clip_fails(outputs, fake_api):
    answers: dict[str, int] = {}

    def reply(body: dict[str, Any]) -> str:
        user = last_user_text(body)
        key = "sheet" if "chapter_id" in user else user.split(":")[0]
        answers[key] = answers.get(key, 0) + 1
        if key == "sheet" and answers[key] == 1:
            return "I would rather describe it in words."
        if "Chapter ch03" in user:
            return json.dumps({"start_prompt": "x", "camera_movement": "zoom wildly"})
        return planner_reply(body)

    fake_api.reply_text = reply
    episode = write_doc(outputs, "ep-bad-plan", episode_doc("ep-bad-plan", 4))
    result = run(episode, RunRequest(), board_settings(outputs, fake_api, planner="anthropic"))
    assert result.outcome == "failed"
    assert answers["sheet"] == 2 and answers["Chapter ch03"] == 2
    found = clips(episode)
    assert found["ch03"]["status"] == "failed" and found["ch03"]["start"] is None
    assert "gave no usable shot plan of ch03" in found["ch03"]["error"]
    assert {found[c]["status"] for c in ("ch01", "ch02", "ch04")} <= {"generated", "template"}
    assert "clip 3 (ch03) failed" in result.message
    assert needs_job(episode) == "storyboard clip ch03 failed"  # the daemon tries again


def test_the_dry_run_shows_the_storyboard_s_cost_and_pays_nothing(outputs, fake_api):
    episode = write_doc(outputs, "ep-dry", paid_episode_doc("ep-dry", 3))
    settings = board_settings(outputs, fake_api, planner="anthropic")
    settings.selection.candidates = 2
    result = run(episode, RunRequest(dry_run=True), settings)
    assert result.outcome == "dry_run" and fake_api.count() == 0
    request = json.loads((episode / "images/imagegen_request.json").read_text())
    story = request["storyboard"]
    assert story["planner"] == "anthropic:claude-sonnet-4-6" and story["component_sheet"] == "make"
    assert [c["action"] for c in story["clips"]] == ["make"] * 3
    chapters = sum(c.get("estimated_cost_usd", 0) for c in request["chapters"])
    assert story["estimated_cost_usd"] > 2 * 3 * 2 * 0.05  # 2 frames x 2 candidates x 3 clips
    assert request["estimated_cost_usd"] == pytest.approx(
        chapters + story["estimated_cost_usd"], abs=1e-5
    )
    assert result.estimated_cost_usd == pytest.approx(request["estimated_cost_usd"], abs=1e-5)
    assert not (episode / "storyboard").exists()


def test_the_cap_covers_the_storyboard(outputs, fake_api):
    episode = write_doc(outputs, "ep-cap", paid_episode_doc("ep-cap", 4))
    settings = board_settings(outputs, fake_api)
    settings.max_episode_cost_usd = 0.5  # the 4 chapter images and a few frames
    result = run(episode, RunRequest(), settings)
    prov = json.loads((episode / "provenance/imagegen_provenance.json").read_text())
    assert prov["cost_usd"] <= 0.5 + 1e-9 and result.cost_usd <= 0.5 + 1e-9
    statuses = {c["status"] for c in clips(episode).values()}
    assert "skipped_cost_cap" in statuses and "generated" in statuses
    capped = next(c for c in clips(episode).values() if c["status"] == "skipped_cost_cap")
    assert "max_episode_cost_usd" in capped["error"]
    assert board(episode)["cumulative_cost_usd"] <= 0.5 + 1e-9


@pytest.mark.parametrize("kill_after", [0.0, 0.4, 0.9])
def test_a_kill_mid_storyboard_never_pays_twice(outputs, fake_api, kill_after):
    fake_api.latency["images"] = 0.3
    fake_api.latency["edits"] = 0.3
    episode = write_doc(outputs, "ep-kill", paid_episode_doc("ep-kill", 6))
    env = child_env()
    env.update(
        OPENAI_API_KEY=fake_api.api_key,
        IMAGEGEN_CONFIG=str(REPO / "config/imagegen.default.toml"),
        IMAGEGEN_OPENAI__BASE_URL=fake_api.openai_base_url,
        IMAGEGEN_IMAGE__PROVIDER="openai",
        IMAGEGEN_PROMPT__WRITER="template",
        IMAGEGEN_STORYBOARD__PLANNER="template",
        IMAGEGEN_SELECTION__CANDIDATES="2",
    )
    cmd = [
        sys.executable,
        "-m",
        "daemon",
        "run",
        "--storyboard",
        "--outputs-dir",
        str(outputs),
        str(episode),
    ]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert fake_api.wait_until(lambda f: len(frame_requests(f)) >= 3, timeout=30)
    time.sleep(kill_after)
    assert proc.poll() is None, "the run finished before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # Requests in flight at the kill are answered (and paid) all the same.
    assert fake_api.wait_until(lambda f: not any(f.in_flight.values()), timeout=10)
    paid_before = fake_api.images_generated
    recorded_before = _recorded(episode, fake_api)  # what the killed run had recorded
    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    data = board(episode)
    assert data["state"] == "complete" and len(data["clips"]) == 6
    assert {c["status"] for c in data["clips"]} == {"generated"}
    kept = _kept(episode)
    ids = {_identify(fake_api, episode, c) for c in kept}
    assert len(ids) == len(kept)  # every kept image a different paid one
    made = {g.id for g in fake_api.generated}
    lost = made - ids
    # Lost: only images in the API's hands or on their way to disk at the kill, one per
    # thread that makes them (clips run in a pool as chapters do: context.pool_size).
    assert len(lost) <= pool_size(3), (len(lost), paid_before)
    # Every image paid before the kill is either recorded already, or lost in flight, or
    # found again and used by the rerun: none is paid for a second time.
    recovered = [c for c in kept if "recovered" in (c["note"] or "")]
    assert len(recovered) + len(recorded_before) == paid_before - len(lost)
    assert recorded_before <= ids
    assert needs_job(episode) is None


def _kept(episode: Path) -> list[dict[str, Any]]:
    """Every candidate the records name: the chapters' and the frames'; their files as
    paths from the episode folder."""
    found: list[dict[str, Any]] = []
    manifest = json.loads((episode / "images/manifest.json").read_text())
    for entry in manifest["chapters"]:
        found += [{**c, "file": f"images/{c['file']}"} for c in entry["candidates"]]
    story = episode / "storyboard/storyboard.json"
    if story.exists():
        for clip in json.loads(story.read_text())["clips"]:
            for frame in (clip["start"], clip["end"]):
                found += frame["candidates"] if frame else []
    return found


def _identify(fake: FakeAPI, episode: Path, candidate: dict[str, Any]) -> int:
    record = fake.identify((episode / candidate["file"]).read_bytes())
    assert record is not None, candidate["file"]
    return record.id


def _recorded(episode: Path, fake: FakeAPI) -> set[int]:
    if not (episode / "images/manifest.json").exists():
        return set()
    return {_identify(fake, episode, c) for c in _kept(episode)}
