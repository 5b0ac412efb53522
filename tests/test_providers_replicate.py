"""The Replicate provider on the wire: the official replicate client against the
loopback fake's Replicate face, through a whole run. A prediction is created, then
polled through starting -> processing until it ends; polls never become a second
prediction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config import Settings
from handlers.api.key_check import forget_verified_keys
from handlers.imagegen import RunRequest, run
from tests.fakeapi import (
    FakeAPI,
    Ok,
    bad_auth,
    connection_reset,
    content_policy,
    insufficient_quota,
    malformed_body,
    prediction,
    rate_limited,
    server_error,
    timeout,
)
from tests.support.episodes import paid_episode_doc, write_doc
from tests.support.providers import FLUX, entries, provider_settings, requests_to, trail


@pytest.fixture(autouse=True)
def _fresh_keys() -> None:
    forget_verified_keys()


def episode(outputs: Path, name: str, n: int = 1) -> Path:
    return write_doc(outputs, name, paid_episode_doc(name, n))


def replicate_settings(outputs: Path, fake: FakeAPI, **kw: Any) -> Settings:
    return provider_settings(outputs, fake, provider="replicate", **kw)


def creations(fake: FakeAPI) -> list[Any]:
    return requests_to(fake, "replicate")


@pytest.mark.parametrize("data_urls", [False, True], ids=["http-links", "data-urls"])
def test_a_prediction_is_created_polled_and_paid_once(outputs, fake_api, data_urls):
    fake_api.replicate_polls = 3  # starting, then processing three times, then succeeded
    fake_api.replicate_data_urls = data_urls
    ep = episode(outputs, "ep-r", 2)
    result = run(ep, RunRequest(), replicate_settings(outputs, fake_api))
    assert result.outcome == "ok", result.message
    assert len(creations(fake_api)) == 2
    first = creations(fake_api)[0]
    assert first.path == f"/v1/models/{FLUX}/predictions" and "prefer" not in first.headers
    assert first.json["input"]["aspect_ratio"] == "16:9"  # the frame's
    for made in fake_api.predictions.all():
        assert made.status == "succeeded" and made.polled == 4
    e = entries(ep)["ch01"]
    assert (e["provider"], e["model"], e["generation_method"]) == ("replicate", FLUX, "replicate")
    assert (e["native_width"], e["native_height"]) == (1344, 768)
    assert e["image_cost_usd"] == pytest.approx(0.003)  # per image, from the table
    assert e["usage"]["image"]["predict_time_ms"] > 0
    assert trail(e) == [("replicate", "ok")]
    assert fake_api.paid_by_model == {FLUX: 2}
    assert fake_api.count("replicate_account") == 1  # the free token check, once
    assert fake_api.identify((ep / "images/ch01.png").read_bytes()) is not None


def test_a_version_with_width_height_and_inputs(outputs, fake_api):
    version = "stability-ai/sdxl:" + "7762fd07" * 8
    ep = episode(outputs, "ep-rsdxl")
    link = {
        "provider": "replicate",
        "model": version,
        "size": "1344x768",
        "input": {"num_inference_steps": 25, "negative_prompt": "text"},
    }
    settings = provider_settings(outputs, fake_api, provider="offline", chains={"diagram": [link]})
    assert run(ep, RunRequest(), settings).ok
    (create,) = creations(fake_api)
    assert create.path == "/v1/predictions" and create.json["version"] == version
    assert create.json["input"] == {
        "prompt": create.json["input"]["prompt"],
        "width": 1344,
        "height": 768,
        "num_inference_steps": 25,
        "negative_prompt": "text",
    }
    assert entries(ep)["ch01"]["image_cost_usd"] == pytest.approx(0.0046)  # the model's price


def test_429_on_create_waits_for_retry_after(outputs, fake_api):
    ep = episode(outputs, "ep-r429")
    fake_api.add_rule("replicate", [rate_limited(retry_after=0.3)])
    result = run(ep, RunRequest(), replicate_settings(outputs, fake_api))
    assert result.ok, result.message
    first, second = creations(fake_api)
    assert (first.status, second.status) == (429, 201)
    assert second.received_at - first.answered_at >= 0.29
    assert len(fake_api.predictions.all()) == 1 and entries(ep)["ch01"]["attempts"] == 2


def test_5xx_on_create_is_retried_then_fails_the_chapter(outputs, fake_api):
    ep = episode(outputs, "ep-r5xx", 2)
    fake_api.add_rule("replicate", [server_error(500)], match="chapter ch01", repeat=True)
    result = run(ep, RunRequest(), replicate_settings(outputs, fake_api))
    e = entries(ep)
    assert e["ch01"]["status"] == "failed" and "HTTP 500" in e["ch01"]["error"]
    assert len(requests_to(fake_api, "replicate", "chapter ch01")) == 3
    assert e["ch02"]["status"] == "generated" and result.failed == 1


def test_a_timed_out_create_is_retried(outputs, fake_api):
    ep = episode(outputs, "ep-rtime")
    fake_api.add_rule("replicate", [timeout(3.0)])
    settings = replicate_settings(outputs, fake_api)
    settings.replicate.timeout_seconds = 0.5
    result = run(ep, RunRequest(), settings)
    assert result.ok, result.message
    assert entries(ep)["ch01"]["attempts"] == 2


def test_failed_predictions_are_made_again_then_the_chapter_fails(outputs, fake_api):
    ep = episode(outputs, "ep-rfail")
    fake_api.add_rule("replicate", [prediction("failed", error="CUDA out of memory", polls=1)])
    fake_api.add_rule("replicate", [prediction("failed", error="CUDA out of memory")], repeat=True)
    run(ep, RunRequest(), replicate_settings(outputs, fake_api))
    e = entries(ep)["ch01"]
    assert e["status"] == "failed" and "CUDA out of memory" in e["error"]
    assert "gave up after 3 attempts" in e["error"]
    assert [p.status for p in fake_api.predictions.all()] == ["failed"] * 3
    assert fake_api.images_paid == 0


def test_a_failed_then_succeeding_prediction(outputs, fake_api):
    ep = episode(outputs, "ep-rflaky")
    fake_api.add_rule("replicate", [prediction("failed", error="worker died", polls=2)])
    assert run(ep, RunRequest(), replicate_settings(outputs, fake_api)).ok
    assert [p.status for p in fake_api.predictions.all()] == ["failed", "succeeded"]
    assert fake_api.images_paid == 1 and entries(ep)["ch01"]["attempts"] == 2


def test_the_nsfw_refusal_rejects_the_chapter(outputs, fake_api):
    ep = episode(outputs, "ep-rnsfw", 2)
    fake_api.add_rule("replicate", [content_policy()], match="chapter ch02", repeat=True)
    result = run(ep, RunRequest(), replicate_settings(outputs, fake_api))
    e = entries(ep)
    assert e["ch02"]["status"] == "rejected" and "NSFW" in e["ch02"]["error"]
    assert len(requests_to(fake_api, "replicate", "chapter ch02")) == 1
    assert result.failed == 1 and e["ch01"]["status"] == "generated"


def test_a_canceled_prediction_ends_the_link_without_a_new_one(outputs, fake_api):
    ep = episode(outputs, "ep-rcancel")
    fake_api.add_rule("replicate", [prediction("canceled", polls=2)])
    run(ep, RunRequest(), replicate_settings(outputs, fake_api))
    e = entries(ep)["ch01"]
    assert e["status"] == "failed" and "was canceled on Replicate" in e["error"]
    assert len(fake_api.predictions.all()) == 1


def test_a_prediction_past_its_deadline_is_canceled_not_made_again(outputs, fake_api):
    fake_api.replicate_polls = 10_000  # processing forever
    ep = episode(outputs, "ep-rslow")
    settings = replicate_settings(outputs, fake_api)
    settings.replicate.timeout_seconds = 0.4
    run(ep, RunRequest(), settings)
    e = entries(ep)["ch01"]
    assert e["status"] == "failed" and "replicate.timeout_seconds" in e["error"]
    (made,) = fake_api.predictions.all()
    assert made.status == "canceled" and fake_api.count("replicate_cancel") == 1


def test_failing_polls_are_asked_again_never_paid_twice(outputs, fake_api):
    fake_api.replicate_polls = 2
    fake_api.add_rule(
        "replicate_poll",
        [server_error(500), connection_reset(), malformed_body(), rate_limited(retry_after=0)],
    )
    ep = episode(outputs, "ep-rpolls")
    result = run(ep, RunRequest(), replicate_settings(outputs, fake_api))
    assert result.ok, result.message
    assert len(fake_api.predictions.all()) == 1 and fake_api.images_paid == 1
    assert entries(ep)["ch01"]["attempts"] == 1


def test_a_malformed_create_answer_is_retried(outputs, fake_api):
    ep = episode(outputs, "ep-rbody")
    fake_api.add_rule("replicate", [malformed_body()])
    assert run(ep, RunRequest(), replicate_settings(outputs, fake_api)).ok
    assert len(creations(fake_api)) == 2 and entries(ep)["ch01"]["attempts"] == 2


def test_out_of_credit_is_not_retried(outputs, fake_api):
    ep = episode(outputs, "ep-rcredit")
    fake_api.add_rule("replicate", [insufficient_quota()], repeat=True)
    run(ep, RunRequest(), replicate_settings(outputs, fake_api))
    assert "out of credit" in entries(ep)["ch01"]["error"]
    assert len(creations(fake_api)) == 1


def test_a_wrong_token_costs_the_free_check_and_one_refused_call_then_stops(outputs, fake_api):
    ep = episode(outputs, "ep-rtoken", 3)
    settings = replicate_settings(outputs, fake_api)
    settings.replicate.api_key = type(settings.replicate.api_key)("r8_wrongtoken123456")  # type: ignore[misc]
    result = run(ep, RunRequest(), settings)
    assert result.outcome == "failed" and "REPLICATE_API_TOKEN" in result.message
    # The free check runs alongside the first call: that call is refused too.
    endpoints = [r.endpoint for r in fake_api.requests]
    assert endpoints.count("replicate_account") == 1, endpoints
    assert endpoints.count("replicate") <= 1 and fake_api.images_paid == 0, endpoints
    assert "r8_wrongtoken" not in result.message


def test_a_token_revoked_mid_run_turns_replicate_off(outputs, fake_api):
    ep = episode(outputs, "ep-rrevoked", 4)
    settings = replicate_settings(outputs, fake_api, concurrency=1)
    fake_api.add_rule("replicate", [bad_auth()], match="chapter ch02", repeat=True)
    result = run(ep, RunRequest(), settings)
    assert result.outcome == "failed" and "401" in result.message
    assert trail(entries(ep)["ch02"]) == [("replicate", "auth_failed")]
    refused = next(r for r in fake_api.requests if r.status == 401)
    assert not [r for r in creations(fake_api) if r.received_at > refused.answered_at]


def test_references_are_not_sent_and_the_entry_says_so(outputs, fake_api):
    from PIL import Image

    doc = paid_episode_doc("ep-rref", 1)
    doc["chapters"][0]["visual"]["reference_image"] = "look.png"
    ep = write_doc(outputs, "ep-rref", doc)
    Image.new("RGB", (64, 64), "red").save(ep / "look.png")
    assert run(ep, RunRequest(), replicate_settings(outputs, fake_api)).ok
    e = entries(ep)["ch01"]
    assert e["references"] == []
    assert "reference image not sent" in e["candidates"][0]["note"]
    assert creations(fake_api)[0].input_images == []


def test_defective_outputs_are_checked(outputs, fake_api):
    ep = episode(outputs, "ep-rdefect")
    fake_api.add_rule("replicate", [Ok(defect="blank")])
    settings = replicate_settings(outputs, fake_api, selection={"candidates": 2, "accept_score": 0})
    assert run(ep, RunRequest(), settings).ok
    assert [c["passed"] for c in entries(ep)["ch01"]["candidates"]] == [False, True]
