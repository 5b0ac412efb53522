"""The Gemini provider on the wire: the official google-genai SDK against the loopback
fake's Gemini face, through a whole run (manifest, money, retries, refusals)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from config import Settings
from handlers.api.key_check import forget_verified_keys
from handlers.imagegen import RunRequest, run
from tests.fakeapi import (
    FakeAPI,
    Ok,
    bad_auth,
    bad_base64,
    content_policy,
    insufficient_quota,
    malformed_body,
    no_image,
    prompt_blocked,
    rate_limited,
    server_error,
    timeout,
)
from tests.support.episodes import paid_episode_doc, write_doc
from tests.support.providers import GEMINI, entries, provider_settings, requests_to, trail


@pytest.fixture(autouse=True)
def _fresh_keys() -> None:
    forget_verified_keys()


def episode(outputs: Path, name: str, n: int = 2) -> Path:
    return write_doc(outputs, name, paid_episode_doc(name, n))


def gemini_settings(outputs: Path, fake: FakeAPI, **kw: Any) -> Settings:
    return provider_settings(outputs, fake, provider="gemini", **kw)


def test_success_records_model_tokens_and_cost(outputs, fake_api):
    ep = episode(outputs, "ep-g")
    result = run(ep, RunRequest(), gemini_settings(outputs, fake_api))
    assert result.outcome == "ok", result.message
    (call, *_) = requests_to(fake_api, "gemini")
    assert call.path == f"/v1beta/models/{GEMINI}:generateContent"
    assert call.headers["x-goog-api-key"] == fake_api.gemini_api_key
    body = call.json
    assert body["generationConfig"]["responseModalities"] == ["IMAGE"]
    assert body["generationConfig"]["imageConfig"] == {"aspectRatio": "16:9"}  # the frame's
    e = entries(ep)["ch01"]
    assert (e["provider"], e["model"], e["generation_method"]) == ("gemini", GEMINI, "gemini")
    assert (e["native_width"], e["native_height"]) == (1344, 768)
    assert (e["width"], e["height"]) == (1920, 1080)
    assert trail(e) == [("gemini", "ok")]
    usage = e["usage"]["image"]
    assert usage["output_tokens"] == 1290
    # Billed by tokens: $30 per million image tokens out, $0.30 in.
    expected = (usage["input_tokens"] * 0.30 + 1290 * 30.0) / 1e6
    assert e["image_cost_usd"] == pytest.approx(expected, abs=1e-6)
    assert result.cost_usd == pytest.approx(2 * expected, rel=0.01)
    assert fake_api.paid_by_model == {GEMINI: 2}
    assert fake_api.count("gemini_models") == 1  # the free key check, once


def test_quality_and_size_become_image_config(outputs, fake_api):
    ep = episode(outputs, "ep-gcfg", 1)
    prices = {"image:gemini-3-pro-image-preview:2K": 0.14}
    settings = provider_settings(
        outputs,
        fake_api,
        prices=prices,
        provider="gemini",
        model="gemini-3-pro-image-preview",
        size="1024x1536",
        quality="2K",
    )
    assert run(ep, RunRequest(), settings).ok
    config = requests_to(fake_api, "gemini")[0].json["generationConfig"]["imageConfig"]
    assert config == {"aspectRatio": "2:3", "imageSize": "2K"}
    e = entries(ep)["ch01"]
    assert (e["native_width"], e["native_height"]) == (1664, 2496)


def test_429_is_retried_after_retry_after(outputs, fake_api):
    ep = episode(outputs, "ep-g429", 1)
    fake_api.add_rule("gemini", [rate_limited(retry_after=0.3)])
    result = run(ep, RunRequest(), gemini_settings(outputs, fake_api))
    assert result.ok, result.message
    first, second = requests_to(fake_api, "gemini")
    assert (first.status, second.status) == (429, 200)
    assert second.received_at - first.answered_at >= 0.29
    assert entries(ep)["ch01"]["attempts"] == 2


def test_quota_429_is_not_retried(outputs, fake_api):
    ep = episode(outputs, "ep-gquota", 1)
    fake_api.add_rule("gemini", [insufficient_quota()], repeat=True)
    run(ep, RunRequest(), gemini_settings(outputs, fake_api))
    e = entries(ep)["ch01"]
    assert e["status"] == "failed" and "out of quota" in e["error"]
    assert len(requests_to(fake_api, "gemini")) == 1


def test_5xx_is_retried_then_the_chapter_fails(outputs, fake_api):
    ep = episode(outputs, "ep-g5xx")
    fake_api.add_rule("gemini", [server_error(503)], match="chapter ch01", repeat=True)
    result = run(ep, RunRequest(), gemini_settings(outputs, fake_api))
    e = entries(ep)
    assert e["ch01"]["status"] == "failed" and "HTTP 503 UNAVAILABLE" in e["ch01"]["error"]
    assert "gave up after 3 attempts" in e["ch01"]["error"]
    assert trail(e["ch01"]) == [("gemini", "failed")]
    assert len(requests_to(fake_api, "gemini", "chapter ch01")) == 3
    assert e["ch02"]["status"] == "generated" and result.failed == 1


def test_timeout_is_retried(outputs, fake_api):
    ep = episode(outputs, "ep-gtime", 1)
    fake_api.add_rule("gemini", [timeout(3.0)])
    settings = gemini_settings(outputs, fake_api)
    settings.gemini.timeout_seconds = 0.5
    result = run(ep, RunRequest(), settings)
    assert result.ok, result.message
    assert entries(ep)["ch01"]["attempts"] == 2


@pytest.mark.parametrize(
    ("refusal", "words"),
    [
        (prompt_blocked("PROHIBITED_CONTENT"), "prompt blocked: PROHIBITED_CONTENT"),
        (content_policy(), "finishReason IMAGE_SAFETY"),
        (no_image("SAFETY", "I can't draw that."), "finishReason SAFETY): I can't draw that."),
    ],
)
def test_safety_refusals_reject_the_chapter_without_retry(outputs, fake_api, refusal, words):
    ep = episode(outputs, "ep-gsafe")
    fake_api.add_rule("gemini", [refusal], match="chapter ch02", repeat=True)
    result = run(ep, RunRequest(), gemini_settings(outputs, fake_api))
    e = entries(ep)
    assert e["ch02"]["status"] == "rejected" and words in e["ch02"]["error"]
    assert trail(e["ch02"]) == [("gemini", "rejected")]
    assert len(requests_to(fake_api, "gemini", "chapter ch02")) == 1
    assert e["ch01"]["status"] == "generated" and result.failed == 1
    assert fake_api.images_paid == 1


def test_an_answer_without_an_image_is_asked_again(outputs, fake_api):
    ep = episode(outputs, "ep-gnoimg", 1)
    fake_api.add_rule("gemini", [no_image("NO_IMAGE", "Here is a description instead.")])
    result = run(ep, RunRequest(), gemini_settings(outputs, fake_api))
    assert result.ok, result.message
    assert entries(ep)["ch01"]["attempts"] == 2


@pytest.mark.parametrize("fault", [malformed_body, bad_base64])
def test_malformed_answers_are_retried_then_failed(outputs, fake_api, fault):
    ep = episode(outputs, "ep-gbad", 1)
    fake_api.add_rule("gemini", [fault()], repeat=True)
    run(ep, RunRequest(), gemini_settings(outputs, fake_api))
    e = entries(ep)["ch01"]
    assert e["status"] == "failed" and "gave up after 3 attempts" in e["error"]
    assert len(requests_to(fake_api, "gemini")) == 3


def test_a_wrong_key_costs_the_free_check_and_one_refused_call_then_stops(outputs, fake_api):
    ep = episode(outputs, "ep-gkey", 4)
    settings = gemini_settings(outputs, fake_api)
    settings.gemini.api_key = type(settings.gemini.api_key)("AIzaSy-wrong-key-123456")  # type: ignore[misc]
    result = run(ep, RunRequest(), settings)
    assert result.outcome == "failed"
    assert "GEMINI_API_KEY" in result.message and "API key not valid" in result.message
    # The free key check runs alongside the first call (handlers/api/key_check.py): that
    # call is refused too, and nothing else is asked.
    endpoints = [r.endpoint for r in fake_api.requests]
    assert endpoints.count("gemini_models") == 1 and endpoints.count("gemini") <= 1, endpoints
    assert all(r.status != 200 for r in fake_api.requests if r.endpoint == "gemini")
    assert fake_api.images_paid == 0
    assert "AIzaSy-wrong" not in result.message


def test_a_key_revoked_mid_run_stops_further_calls(outputs, fake_api):
    ep = episode(outputs, "ep-grevoked", 5)
    settings = gemini_settings(outputs, fake_api, concurrency=1)
    fake_api.add_rule("gemini", [bad_auth()], match="chapter ch02", repeat=True)
    result = run(ep, RunRequest(), settings)
    assert result.outcome == "failed" and "GEMINI_API_KEY" in result.message
    statuses = {c: e["status"] for c, e in entries(ep).items()}
    assert statuses.get("ch02") == "failed"
    assert trail(entries(ep)["ch02"]) == [("gemini", "auth_failed")]
    # Nothing is asked after the refusal (the calls already in flight at most).
    refused = next(r for r in fake_api.requests if r.status == 400)
    assert not [r for r in requests_to(fake_api, "gemini") if r.received_at > refused.answered_at]


def test_reference_images_are_sent_and_recorded(outputs, fake_api):
    doc = paid_episode_doc("ep-gref", 1)
    doc["chapters"][0]["visual"]["reference_image"] = "refs/look.png"
    ep = write_doc(outputs, "ep-gref", doc)
    (ep / "refs").mkdir()
    Image.new("RGB", (3000, 1500), (30, 90, 160)).save(ep / "refs/look.png")
    result = run(ep, RunRequest(), gemini_settings(outputs, fake_api))
    assert result.ok, result.message
    (call,) = requests_to(fake_api, "gemini")
    (reference,) = call.input_images
    assert reference.media_type == "image/png" and reference.size == (1536, 768)  # scaled
    e = entries(ep)["ch01"]
    assert e["references"] == ["refs/look.png"]
    assert e["candidates"][0]["references"] == ["refs/look.png"]
    assert e["usage"]["image"]["input_image_tokens"] > 0
    prompt = json.dumps(call.json)
    assert "ep-gref chapter ch01" in prompt


def test_no_key_leaks_anywhere(outputs, fake_api):
    ep = episode(outputs, "ep-gsecret")
    fake_api.add_rule("gemini", [content_policy()], match="chapter ch01", repeat=True)
    result = run(ep, RunRequest(), gemini_settings(outputs, fake_api))
    text = "\n".join(p.read_text(encoding="utf-8") for p in ep.rglob("*.json"))
    text += result.message + repr(result)
    for png in ep.rglob("*.png"):
        text += str(Image.open(io.BytesIO(png.read_bytes())).info)
    assert fake_api.gemini_api_key not in text


def test_a_second_run_asks_nothing(outputs, fake_api):
    ep = episode(outputs, "ep-gagain")
    settings = gemini_settings(outputs, fake_api)
    assert run(ep, RunRequest(), settings).ok
    n = len(fake_api.requests)
    again = run(ep, RunRequest(), settings)
    assert again.outcome == "up_to_date" and len(fake_api.requests) == n


def test_ok_answers_with_defects_are_checked_like_any_other(outputs, fake_api):
    ep = episode(outputs, "ep-gdefect", 1)
    fake_api.add_rule("gemini", [Ok(defect="blank")])
    settings = gemini_settings(outputs, fake_api, selection={"candidates": 2, "accept_score": 0})
    result = run(ep, RunRequest(), settings)
    assert result.ok, result.message
    e = entries(ep)["ch01"]
    assert [c["passed"] for c in e["candidates"]] == [False, True]
    assert e["selected"] == "c02"
