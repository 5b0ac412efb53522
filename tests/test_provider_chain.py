"""One fallback chain across providers, on the wire: the real openai, google-genai and
replicate SDKs against the loopback fake. Rejections, outages and refused keys move a
chapter down its chain; the manifest lists every link tried; money is held and paid
once, whichever provider serves; an offline stand-in is marked and retried."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import structlog
from PIL import Image

from config.settings import ImageModel
from handlers.api import key_check
from handlers.api.key_check import ensure_key_works, forget_verified_keys
from handlers.errors import AuthError, ProviderError
from handlers.imagegen import RunRequest, needs_job, run
from handlers.money.ledger import Ledger
from handlers.money.pricing import PriceTable
from handlers.outputs.png import read_png_meta
from handlers.providers.base import GeneratedImage, ImageRequest
from handlers.providers.chain import ImageStep, ProviderChain
from handlers.stop import NotStarted, StopSignal
from tests.conftest import REPO
from tests.fakeapi import FakeAPI, Ok, content_policy, server_error
from tests.support.env import child_env
from tests.support.episodes import episode_doc, paid_episode_doc, paid_per_chapter, write_doc
from tests.support.providers import FLUX, GEMINI, entries, provider_settings, requests_to, trail
from tests.support.waiting import until

GEMINI_LINK = {"provider": "gemini"}


@pytest.fixture(autouse=True)
def _fresh_keys() -> None:
    forget_verified_keys()


def openai_then_gemini(outputs: Path, fake: FakeAPI, **kw: Any) -> Any:
    return provider_settings(outputs, fake, provider="openai", fallback=[GEMINI_LINK], **kw)


def test_openai_rejects_gemini_serves_and_nothing_is_paid_twice(outputs, fake_api):
    ep = write_doc(outputs, "ep-chain", paid_episode_doc("ep-chain", 3))
    fake_api.add_rule("images", [content_policy()], match="chapter ch02", repeat=True)
    settings = openai_then_gemini(outputs, fake_api)
    result = run(ep, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    e = entries(ep)
    assert trail(e["ch02"]) == [("openai", "rejected"), ("gemini", "ok")]
    assert "safety system" in e["ch02"]["provider_attempts"][0]["error"]
    assert (e["ch02"]["provider"], e["ch02"]["model"]) == ("gemini", GEMINI)
    assert e["ch02"]["candidates"][0]["provider_attempts"] == e["ch02"]["provider_attempts"]
    # Its cost is Gemini's (tokens at Gemini's rates), nothing of OpenAI's.
    usage = e["ch02"]["usage"]["image"]
    gemini_cost = (usage["input_tokens"] * 0.30 + usage["output_tokens"] * 30.0) / 1e6
    assert e["ch02"]["image_cost_usd"] == pytest.approx(gemini_cost, abs=1e-6)
    assert trail(e["ch01"]) == [("openai", "ok")] and e["ch01"]["provider"] == "openai"
    assert len(requests_to(fake_api, "images", "chapter ch02")) == 1  # a refusal: once
    assert fake_api.paid_by_model == {"gpt-image-1.5": 2, GEMINI: 1}
    assert paid_per_chapter(fake_api.paid_prompts, "ep-chain") == {"ch01": 1, "ch02": 1, "ch03": 1}
    assert result.cost_usd == pytest.approx(sum(x["cost_usd"] for x in e.values()), abs=1e-6)
    requests = len(fake_api.requests)
    assert run(ep, RunRequest(), settings).outcome == "up_to_date"
    assert len(fake_api.requests) == requests


def test_every_paid_provider_rejecting_is_a_rejection_with_no_stand_in(outputs, fake_api):
    ep = write_doc(outputs, "ep-allno", paid_episode_doc("ep-allno", 1))
    fake_api.add_rule("images", [content_policy()], repeat=True)
    fake_api.add_rule("gemini", [content_policy()], repeat=True)
    settings = openai_then_gemini(outputs, fake_api, fallback_offline=True)
    run(ep, RunRequest(), settings)
    e = entries(ep)["ch01"]
    assert e["status"] == "rejected" and e["file"] is None
    assert trail(e) == [("openai", "rejected"), ("gemini", "rejected"), ("offline", "skipped")]
    assert needs_job(ep) is None  # rejected again if retried: not retried unasked


def test_both_down_draws_an_honest_stand_in_that_is_retried_later(outputs, fake_api):
    ep = write_doc(outputs, "ep-down", paid_episode_doc("ep-down", 2))
    fake_api.add_rule("images", [server_error(503)], repeat=True)
    fake_api.add_rule("gemini", [server_error(503)], repeat=True)
    settings = openai_then_gemini(
        outputs, fake_api, fallback_offline=True, selection={"candidates": 2}
    )
    result = run(ep, RunRequest(), settings)
    assert result.outcome == "failed" and "ch01 fallback" in result.message
    e = entries(ep)["ch01"]
    assert e["status"] == "fallback"
    assert (e["provider"], e["generation_method"], e["cost_usd"]) == ("offline", "offline", 0.0)
    assert trail(e) == [("openai", "failed"), ("gemini", "failed"), ("offline", "ok")]
    assert "HTTP 503" in e["error"] and "gemini" in e["error"]
    (stand_in,) = e["candidates"]  # one stand-in holds the place; no more are drawn
    assert stand_in["stand_in"] is True and "offline stand-in" in e["selection"]["why"]
    assert read_png_meta(ep / "images/ch01.png")["status"] == "fallback"
    assert fake_api.images_paid == 0
    # The daemon's pre-check sends it back for another try, like a failure.
    assert needs_job(ep) == "chapter ch01 has an offline stand-in"

    fake_api.reset()  # the providers are back
    again = run(ep, RunRequest(), settings)
    assert again.outcome == "ok", again.message
    for e in entries(ep).values():
        assert e["status"] == "generated" and e["provider"] == "openai"
        assert not any(c["stand_in"] for c in e["candidates"])
    assert paid_per_chapter(fake_api.paid_prompts, "ep-down") == {"ch01": 1, "ch02": 1}
    assert needs_job(ep) is None


def test_a_stand_in_left_by_a_killed_run_is_not_taken_for_an_image(outputs, fake_api):
    ep = write_doc(outputs, "ep-orphan", paid_episode_doc("ep-orphan", 1))
    fake_api.add_rule("images", [server_error(503)], repeat=True)
    fake_api.add_rule("gemini", [server_error(503)], repeat=True)
    settings = openai_then_gemini(outputs, fake_api, fallback_offline=True)
    run(ep, RunRequest(), settings)
    assert (ep / "images/candidates/ch01/c01.png").is_file()
    # A kill right after the stand-in was kept: no manifest, no provenance.
    (ep / "images/manifest.json").unlink()
    (ep / "provenance/imagegen_provenance.json").unlink()
    fake_api.reset()
    result = run(ep, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    e = entries(ep)["ch01"]
    assert (e["status"], e["provider"]) == ("generated", "openai")
    assert [c["id"] for c in e["candidates"]] == ["c02"] and fake_api.images_paid == 1


def test_no_stand_in_beside_a_chapters_paid_candidate(outputs, fake_api):
    ep = write_doc(outputs, "ep-half", paid_episode_doc("ep-half", 1))
    fake_api.add_rule("images", [Ok(), server_error(503)], repeat=True)
    fake_api.add_rule("gemini", [server_error(503)], repeat=True)
    settings = openai_then_gemini(
        outputs,
        fake_api,
        fallback_offline=True,
        selection={"candidates": 2, "accept_score": 0},
    )
    assert run(ep, RunRequest(), settings).ok
    e = entries(ep)["ch01"]
    assert e["status"] == "generated" and [c["id"] for c in e["candidates"]] == ["c01"]
    assert "stopped after 1 of 2" in e["selection"]["why"]


def test_a_refused_key_turns_the_provider_off_for_the_run(outputs, fake_api):
    ep = write_doc(outputs, "ep-401", paid_episode_doc("ep-401", 4))
    settings = openai_then_gemini(outputs, fake_api, concurrency=2)
    settings.openai.api_key = type(settings.openai.api_key)("sk-wrong-key-0123456789")  # type: ignore[misc]
    with structlog.testing.capture_logs() as logs:
        result = run(ep, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    # The free check (alongside the first image request, refused too) told: no other
    # OpenAI image request, Gemini serves every chapter.
    openai_asked = [r for r in fake_api.requests if r.endpoint in ("models", "images")]
    assert [r.endpoint for r in openai_asked].count("models") == 1
    assert len([r for r in openai_asked if r.endpoint == "images"]) <= 1
    assert all(r.status == 401 for r in openai_asked if r.endpoint == "images")
    for e in entries(ep).values():
        (openai_link, gemini_link) = e["provider_attempts"]
        assert openai_link["outcome"] in ("auth_failed", "skipped")
        assert "401" in openai_link["error"] and gemini_link["outcome"] == "ok"
    disabled = [x for x in logs if x["event"] == "image_provider_disabled"]
    assert len(disabled) == 1 and disabled[0]["log_level"] == "error"
    assert disabled[0]["provider"] == "openai"
    assert "sk-wrong-key" not in json.dumps(logs, default=str)


class _SlowToHalt(StopSignal):
    """Halts a moment after it is asked to: the window in which a chapter could see the
    provider off but the run not yet halted."""

    def __init__(self) -> None:
        super().__init__("ep-race")
        self.halting = threading.Event()

    def halt(self, reason: str) -> None:
        self.halting.set()
        time.sleep(0.3)
        super().halt(reason)


class _RefusesFirstChapter:
    name = "openai"

    def generate(self, request: ImageRequest) -> GeneratedImage:
        if request.chapter_id == "ch01":
            raise AuthError("HTTP 401: key refused")
        raise AssertionError(f"{request.chapter_id} was sent after the key was refused")


def _openai_only(provider: Any, stop: StopSignal) -> tuple[ProviderChain, Ledger]:
    """A run's chain with one OpenAI link served by `provider`, and its ledger."""
    ledger = Ledger(cap_usd=10.0, cumulative_usd=0.0, upstream_usd=lambda: 0.0)
    step = ImageStep(ImageModel(provider="openai"), provider)
    return ProviderChain([step], PriceTable.with_overrides({}), ledger, stop), ledger


def _ask(chapter: str) -> ImageRequest:
    return ImageRequest(chapter, chapter, "diagram", "a prompt", 1536, 1024)


def test_a_chapter_that_finds_the_key_refused_is_not_started_not_failed():
    # CI caught this: while the first chapter's 401 halted the run, another chapter
    # found the provider off before the halt and was recorded failed. Closing the last
    # link and halting are now one step.
    stop = _SlowToHalt()
    chain, ledger = _openai_only(_RefusesFirstChapter(), stop)
    quiet = structlog.get_logger("test")
    first_trail: list[Any] = []
    first_raised: list[Exception] = []

    def first_chapter() -> None:
        try:
            chain.generate(_ask("ch01"), quiet, first_trail)
        except Exception as e:
            first_raised.append(e)

    first = threading.Thread(target=first_chapter)
    first.start()
    assert stop.halting.wait(5)
    with pytest.raises(NotStarted):
        chain.generate(_ask("ch02"), quiet)
    first.join(5)
    assert [type(e) for e in first_raised] == [ProviderError]
    assert [a.outcome for a in first_trail] == ["auth_failed"]
    assert ledger.run_cost == 0.0


class _ProbedProvider:
    """Checks its key like the real providers (handlers.api.key_check), with a probe the
    test releases; its own request is refused too."""

    name = "openai"

    def __init__(self, key: str) -> None:
        self.key = key
        self.release = threading.Event()
        self.answer = threading.Event()  # the first request's answer, after the check's
        self.waiting = threading.Event()
        self.sent: list[str] = []

    def probe(self) -> None:
        self.release.wait(5)
        raise AuthError("openai: HTTP 401 (the key check)")

    def generate(self, request: ImageRequest) -> GeneratedImage:
        if request.chapter_id != "ch01":
            self.waiting.set()
        ensure_key_works("openai", "http://fake", self.key, self.probe)
        self.sent.append(request.chapter_id)
        self.answer.wait(5)
        raise AuthError("openai: HTTP 401 (the image request)")


def test_a_chapter_refused_by_the_key_check_before_sending_is_not_started():
    # ch01 goes alongside the key check; ch02 waits for its verdict inside the call and
    # is refused before sending anything: like ch03, which asks after the halt, it was
    # not started (no entry), not failed.
    provider = _ProbedProvider("sk-bad-for-this-test")
    stop = StopSignal("ep-probe")
    chain, _ = _openai_only(provider, stop)
    quiet = structlog.get_logger("test")
    outcomes: dict[str, str] = {}

    def chapter(cid: str) -> None:
        try:
            chain.generate(_ask(cid), quiet)
            outcomes[cid] = "served"
        except NotStarted:
            outcomes[cid] = "not started"
        except ProviderError:
            outcomes[cid] = "failed"

    first = threading.Thread(target=chapter, args=("ch01",))
    first.start()
    assert until(lambda: provider.sent == ["ch01"], timeout=5)
    second = threading.Thread(target=chapter, args=("ch02",))
    second.start()
    assert provider.waiting.wait(5)
    time.sleep(0.05)  # ch02 is inside the key check's wait
    provider.release.set()  # the check refuses the key while ch01's request is out
    second.join(5)
    provider.answer.set()
    first.join(5)
    chapter("ch03")
    assert outcomes == {"ch01": "failed", "ch02": "not started", "ch03": "not started"}
    assert provider.sent == ["ch01"] and stop.reason is not None


def test_a_fixed_key_is_not_refused_by_its_expired_failure():
    # A key refused more than a minute ago and fixed since: the new check accepts it,
    # and a call that waited for that check must not be handed the old refusal.
    forget_verified_keys()
    key = "sk-fixed-since"
    fingerprint = key_check.key_fingerprint("openai", "http://fake", key)
    stale = time.monotonic() - key_check.FAILURE_TTL_SECONDS - 1
    key_check._failed[fingerprint] = (stale, "openai: HTTP 401 (an hour ago)")
    release = threading.Event()

    def probe() -> None:
        release.wait(5)  # accepted, after a moment

    ensure_key_works("openai", "http://fake", key, probe)  # goes alongside the check
    waited: list[str] = []

    def second_call() -> None:
        try:
            ensure_key_works("openai", "http://fake", key, probe)
            waited.append("sent")
        except AuthError as e:
            waited.append(f"refused: {e}")

    thread = threading.Thread(target=second_call)
    thread.start()
    time.sleep(0.1)
    release.set()
    thread.join(5)
    assert waited == ["sent"]
    assert fingerprint not in key_check._failed
    forget_verified_keys()


def test_a_run_halted_by_a_refused_key_then_shut_down_failed_it_was_not_interrupted():
    cancel = threading.Event()
    halted = StopSignal("ep-a", cancel=cancel)
    halted.halt("openai: HTTP 401: key refused")
    cancel.set()
    assert halted.stopping() and not halted.cancelled
    assert halted.reason == "openai: HTTP 401: key refused"

    shut = StopSignal("ep-b", cancel=cancel)
    assert shut.stopping() and shut.cancelled  # shutdown came first
    shut.halt("openai: HTTP 401: key refused")
    assert shut.cancelled and shut.reason == "imagegen is shutting down"


def test_each_visual_type_has_its_own_chain(outputs, fake_api):
    ep = write_doc(outputs, "ep-types", episode_doc("ep-types", 5))
    chains = {
        "b_roll": [{"provider": "replicate"}, {"provider": "openai"}],
        "diagram": [{"provider": "openai"}, GEMINI_LINK],
    }
    settings = provider_settings(outputs, fake_api, provider="gemini", chains=chains)
    result = run(ep, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    e = entries(ep)
    assert (e["ch02"]["visual_type"], e["ch02"]["provider"]) == ("b_roll", "replicate")
    assert e["ch02"]["model"] == FLUX
    assert (e["ch03"]["visual_type"], e["ch03"]["provider"]) == ("diagram", "openai")
    assert (e["ch04"]["visual_type"], e["ch04"]["provider"]) == ("screen_share", "gemini")
    assert e["ch01"]["status"] == e["ch05"]["status"] == "template"
    prov = json.loads((ep / "provenance/imagegen_provenance.json").read_text())
    assert prov["models"]["image_chain"] == [f"gemini:{GEMINI}"]
    assert prov["models"]["image_chains"]["b_roll"] == [f"replicate:{FLUX}", "openai:gpt-image-1.5"]


def test_the_cap_holds_across_providers_under_concurrency(outputs, fake_api):
    ep = write_doc(outputs, "ep-capx", paid_episode_doc("ep-capx", 10))
    fake_api.latency["images"] = fake_api.latency["gemini"] = 0.15

    def odd(body: dict[str, Any]) -> bool:
        return int(str(body.get("prompt", ""))[-2:]) % 2 == 1

    fake_api.add_rule("images", [content_policy()], match=odd, repeat=True)
    settings = openai_then_gemini(outputs, fake_api, concurrency=4)
    settings.max_episode_cost_usd = 0.25
    result = run(ep, RunRequest(), settings)
    e = entries(ep)
    spent = sum(x["cost_usd"] for x in e.values())
    assert spent <= 0.25 + 1e-9 and result.cost_usd <= 0.25 + 1e-9
    paid = fake_api.paid_by_model
    assert paid["gpt-image-1.5"] >= 1 and paid[GEMINI] >= 1  # both served
    # What the fake billed, at the most either model charges for one image here.
    assert paid["gpt-image-1.5"] * 0.0504 + paid[GEMINI] * 0.0388 <= 0.25
    capped = [x for x in e.values() if x["status"] == "skipped_cost_cap"]
    assert capped and all("max_episode_cost_usd 0.25" in x["error"] for x in capped)
    prov = json.loads((ep / "provenance/imagegen_provenance.json").read_text())
    assert prov["cost_usd"] == pytest.approx(spent, abs=1e-6)


def test_references_go_to_openai_images_edit(outputs, fake_api):
    doc = paid_episode_doc("ep-edit", 2)
    doc["chapters"][0]["visual"]["reference_image"] = "frames/start.png"
    ep = write_doc(outputs, "ep-edit", doc)
    (ep / "frames").mkdir()
    Image.new("RGB", (1920, 1080), (200, 120, 40)).save(ep / "frames/start.png")
    result = run(ep, RunRequest(), provider_settings(outputs, fake_api, provider="openai"))
    assert result.ok, result.message
    (edit,) = requests_to(fake_api, "edits")
    assert "chapter ch01" in (edit.prompt or "") and edit.input_images[0].size == (1536, 864)
    (plain,) = requests_to(fake_api, "images")
    assert (plain.prompt or "").endswith("chapter ch02")
    e = entries(ep)
    assert e["ch01"]["references"] == ["frames/start.png"] and e["ch02"]["references"] == []
    usage = e["ch01"]["usage"]["image"]
    assert usage["input_image_tokens"] > 0
    # Reference tokens at gpt-image-1.5's image input rate ($8/M), the rest at text rates.
    expected = (
        (usage["input_tokens"] - usage["input_image_tokens"]) * 5
        + usage["input_image_tokens"] * 8
        + usage["output_tokens"] * 32
    ) / 1e6
    assert e["ch01"]["image_cost_usd"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("reference", "words"),
    [
        ("../../outside.png", "outside the outputs root"),
        ("missing.png", "no such file"),
        ("chapters.json", "not an image imagegen can read"),
        ("linked/outside.png", "is a symlink or goes through one"),
        ("link.png", "is a symlink or goes through one"),
    ],
)
def test_a_bad_reference_fails_its_chapter_before_anything_is_paid(
    outputs, fake_api, reference, words
):
    (outputs.parent / "outside.png").write_bytes(b"not even an image")
    doc = paid_episode_doc("ep-badref", 2)
    doc["chapters"][1]["visual"]["reference_image"] = reference
    ep = write_doc(outputs, "ep-badref", doc)
    (ep / "linked").symlink_to(outputs.parent, target_is_directory=True)
    (ep / "link.png").symlink_to(outputs.parent / "outside.png")
    result = run(ep, RunRequest(), provider_settings(outputs, fake_api, provider="openai"))
    e = entries(ep)["ch02"]
    assert e["status"] == "failed" and words in e["error"]
    assert "chapter ch02: visual.reference_image" in e["error"]
    assert requests_to(fake_api, "images", "chapter ch02") == [] and result.failed == 1


def test_dry_run_shows_each_chapters_chain_and_price(outputs, fake_api):
    ep = write_doc(outputs, "ep-drychain", episode_doc("ep-drychain", 4))
    chains = {"b_roll": [{"provider": "replicate"}, GEMINI_LINK]}
    settings = provider_settings(outputs, fake_api, provider="openai", chains=chains)
    result = run(ep, RunRequest(dry_run=True), settings)
    request = json.loads((ep / "images/imagegen_request.json").read_text())
    by_id = {c["chapter_id"]: c for c in request["chapters"]}
    assert by_id["ch02"]["chain"] == [f"replicate:{FLUX}", f"gemini:{GEMINI}"]
    assert by_id["ch02"]["image_price_usd"] == pytest.approx(0.003)
    assert by_id["ch03"]["chain"] == ["openai:gpt-image-1.5"]
    assert result.estimated_cost_usd > 0 and fake_api.count() == 0


def _generated(episode: Path) -> set[str]:
    try:
        return {c for c, e in entries(episode).items() if e["status"] == "generated"}
    except (OSError, ValueError):
        return set()


@pytest.mark.parametrize("kill_after", [0.0, 0.3])
def test_a_kill_mid_call_never_pays_twice_across_providers(outputs, fake_api, kill_after):
    """OpenAI rejects every prompt, Gemini serves them slowly; SIGKILL while Gemini
    calls are in flight; the rerun pays only for what was not finished."""
    fake_api.latency["gemini"] = 0.4
    fake_api.add_rule("images", [content_policy()], repeat=True)
    ep = write_doc(outputs, "ep-killx", paid_episode_doc("ep-killx", 9))
    env = child_env()
    env.update(
        OPENAI_API_KEY=fake_api.api_key,
        GEMINI_API_KEY=fake_api.gemini_api_key,
        IMAGEGEN_CONFIG=str(REPO / "config/imagegen.default.toml"),
        IMAGEGEN_OPENAI__BASE_URL=fake_api.openai_base_url,
        IMAGEGEN_GEMINI__BASE_URL=fake_api.gemini_base_url,
        IMAGEGEN_IMAGE__PROVIDER="openai",
        IMAGEGEN_IMAGE__FALLBACK=json.dumps([GEMINI_LINK]),
        IMAGEGEN_PROMPT__WRITER="template",
    )
    cmd = [sys.executable, "-m", "daemon", "run", "--outputs-dir", str(outputs), str(ep)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not _generated(ep) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _generated(ep), "no chapter finished"
    time.sleep(kill_after)
    assert proc.poll() is None, "the run finished before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = _generated(ep)
    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    e = entries(ep)
    assert len(e) == 9 and all(x["provider"] == "gemini" for x in e.values())
    trails = {c: trail(x) for c, x in e.items()}
    expected = ([("openai", "rejected"), ("gemini", "ok")], [])
    odd = {c: e[c]["provider_attempts"] for c, t in trails.items() if t not in expected}
    assert not odd, json.dumps(odd)
    paid = paid_per_chapter(fake_api.paid_prompts, "ep-killx")
    assert set(paid) == set(e)
    for cid in finished:
        assert paid[cid] == 1, f"{cid} was finished before the kill and paid again"
    # Paid twice at most: the images in Gemini's hands at the kill (image.concurrency).
    assert sum(n - 1 for n in paid.values()) <= 3
    assert fake_api.paid_by_model.get("gpt-image-1.5") is None
