"""Real providers proven on the wire: the official openai and anthropic SDKs talk HTTP
to the loopback fake (tests/fakeapi), which scripts latency and faults."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from config import Settings, load_settings
from handlers.api.key_check import forget_verified_keys
from handlers.imagegen import RunRequest, RunResult, run
from tests.conftest import demo_doc, write_episode
from tests.fakeapi import (
    FakeAPI,
    Ok,
    bad_auth,
    bad_base64,
    content_policy,
    empty_body,
    insufficient_quota,
    malformed_body,
    rate_limited,
    server_error,
    timeout,
)
from tests.support.env import child_env
from tests.support.episodes import paid_episode_doc, write_doc

KEY = "sk-test-fake-key"


@pytest.fixture(autouse=True)
def _fresh_key_cache() -> None:
    forget_verified_keys()


def wire_settings(
    outputs: Path, fake: FakeAPI, *, prices: dict[str, float] | None = None, **image: Any
) -> Settings:
    settings = load_settings(
        overrides={
            "outputs_dir": outputs,
            "prices": prices or {},
            "image": {"provider": "openai", **image},
            "prompt": {"writer": "template"},
            "openai": {"api_key": KEY, "base_url": fake.openai_base_url, "timeout_seconds": 5},
            "anthropic": {"api_key": KEY, "base_url": fake.anthropic_base_url},
            "retry": {"initial_backoff_seconds": 0.01, "max_backoff_seconds": 0.05},
        }
    )
    return settings


def entries(episode: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))
    return {c["chapter_id"]: c for c in data["chapters"]}


def only_diagrams(name: str, n: int, outputs: Path) -> Path:
    """n generated chapters, each with its own image_prompt naming it (for match rules)."""
    return write_doc(outputs, name, paid_episode_doc(name, n))


def image_requests(fake: FakeAPI, needle: str | None = None) -> list[Any]:
    return [
        r
        for r in fake.requests
        if r.endpoint == "images" and (needle is None or needle in (r.prompt or ""))
    ]


# -- success, per model family ---------------------------------------------------------


def test_gpt_image_default_model(outputs, fake_api):
    episode = write_episode(outputs)
    settings = wire_settings(outputs, fake_api)
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    assert (result.generated, result.templates) == (3, 2)
    assert fake_api.images_paid == 3
    body = image_requests(fake_api)[0].json
    assert body["model"] == "gpt-image-1.5" and body["size"] == "1536x1024"
    assert body["quality"] == "medium" and "response_format" not in body
    e = entries(episode)["ch03"]
    assert e["generation_method"] == "openai" and e["model"] == "gpt-image-1.5"
    assert (e["native_width"], e["native_height"]) == (1536, 1024)
    assert (e["width"], e["height"]) == (1920, 1080)
    with Image.open(episode / "images/ch03.png") as img:
        assert img.size == (1920, 1080)
    # Billed by tokens: 1568 image tokens out at $32/M plus the prompt's text tokens.
    usage = e["usage"]["image"]
    assert usage["output_tokens"] == 1568
    expected = (usage["input_tokens"] * 5 + usage["output_tokens"] * 32) / 1e6
    assert e["image_cost_usd"] == pytest.approx(expected)
    prov = json.loads((episode / "provenance/imagegen_provenance.json").read_text())
    assert prov["run"]["cost_usd"] == pytest.approx(
        sum(x["cost_usd"] for x in entries(episode).values()), abs=1e-6
    )
    assert prov["tokens"]["image_output"] == 3 * 1568
    assert result.cost_usd > 0


def test_dall_e_3_on_a_compatible_server(outputs, fake_api):
    episode = write_episode(outputs)
    settings = wire_settings(
        outputs, fake_api, model="dall-e-3", size="1792x1024", quality="hd", style="natural"
    )
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    body = image_requests(fake_api)[0].json
    assert body["response_format"] == "b64_json" and body["style"] == "natural"
    e = entries(episode)["ch02"]
    assert e["revised_prompt"]
    assert (e["native_width"], e["native_height"]) == (1792, 1024)
    assert e["image_cost_usd"] == pytest.approx(0.12)  # hd 1792x1024


@pytest.mark.parametrize(
    ("model", "size", "native"),
    [
        ("gpt-image-1", "1024x1024", (1024, 1024)),
        ("gpt-image-1-mini", "1024x1536", (1024, 1536)),
        ("gpt-image-2", "1920x1088", (1920, 1088)),
    ],
)
def test_other_gpt_image_models(outputs, fake_api, model, size, native):
    episode = write_episode(outputs)
    # gpt-image-2 is not in the price table: it runs only with its price set.
    prices = {f"image:{model}:medium:{size}": 0.08}
    settings = wire_settings(outputs, fake_api, prices=prices, model=model, size=size)
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    e = entries(episode)["ch04"]
    assert e["model"] == model and (e["native_width"], e["native_height"]) == native
    with Image.open(episode / "images/ch04.png") as img:
        assert img.size == (1920, 1080)


def test_retired_model_error_names_the_setting(outputs, fake_api):
    fake_api.retired_models = {"dall-e-3"}
    episode = write_episode(outputs)
    settings = wire_settings(outputs, fake_api, model="dall-e-3", size="1792x1024", quality="hd")
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "failed"
    assert "image.model" in result.message and "model_not_found" in result.message
    # the three workers' first calls were in flight together; nothing was sent after
    assert len(image_requests(fake_api)) <= settings.image.concurrency


# -- prompt writers ----------------------------------------------------------------------


def test_claude_writer(outputs, fake_api):
    fake_api.add_rule(
        "messages",
        [
            Ok(
                text="Here is the prompt:\n```\n"
                "A bustling ancient market, traders swapping goats.\n```"
            )
        ],
        repeat=True,
    )
    episode = write_episode(outputs)
    settings = wire_settings(outputs, fake_api)
    settings.prompt.writer = "anthropic"
    settings.prompt.model = "claude-haiku-4-5"
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    msgs = [r for r in fake_api.requests if r.endpoint == "messages"]
    assert len(msgs) == 2  # ch02 and ch04; ch03 carries its own image_prompt
    body = msgs[0].json
    assert body["model"] == "claude-haiku-4-5" and body["max_tokens"] == 400
    assert "You write prompts for an image-generation model" in body["system"]
    assert "Takas ve ortak değer" in json.dumps(body, ensure_ascii=False) or "Cüzdan" in json.dumps(
        body, ensure_ascii=False
    )
    e = entries(episode)["ch02"]
    assert (
        e["prompt"]
        == settings.prompt.style_prefix + "A bustling ancient market, traders swapping goats."
    )
    assert e["prompt_source"] == "writer:anthropic"
    assert e["usage"]["prompt"]["output_tokens"] > 0
    assert e["prompt_cost_usd"] > 0 and e["cost_usd"] == pytest.approx(
        e["prompt_cost_usd"] + e["image_cost_usd"]
    )
    # The image model received exactly the cleaned prompt.
    assert image_requests(fake_api, "bustling ancient market")


def test_openai_chat_writer(outputs, fake_api):
    fake_api.add_rule(
        "chat", [Ok(text='"A mobile wallet send screen, soft shadows."')], repeat=True
    )
    episode = write_episode(outputs)
    settings = wire_settings(outputs, fake_api)
    settings.prompt.writer = "openai"
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    chats = [r for r in fake_api.requests if r.endpoint == "chat"]
    assert len(chats) == 2
    assert chats[0].json["model"] == "gpt-4.1-mini" and chats[0].json["temperature"] == 0.7
    assert chats[0].json["messages"][0]["role"] == "system"
    assert entries(episode)["ch04"]["prompt"].endswith("A mobile wallet send screen, soft shadows.")


def test_auto_selection_uses_keys_when_present(outputs, fake_api, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("IMAGEGEN_OPENAI__BASE_URL", fake_api.openai_base_url)
    monkeypatch.setenv("IMAGEGEN_ANTHROPIC__BASE_URL", fake_api.anthropic_base_url)
    monkeypatch.setenv("IMAGEGEN_PROMPT__MODEL", "claude-haiku-4-5")
    settings = load_settings(overrides={"outputs_dir": outputs})
    episode = write_episode(outputs)
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    assert fake_api.count("messages") == 2 and fake_api.images_paid == 3
    assert entries(episode)["ch02"]["generation_method"] == "openai"


# -- retries -----------------------------------------------------------------------------


def test_429_twice_then_success_honours_retry_after(outputs, fake_api):
    episode = only_diagrams("ep-429", 3, outputs)
    fake_api.add_rule(
        "images",
        [rate_limited(retry_after_ms=300), rate_limited(retry_after=0.2)],
        match="chapter ch02",
    )
    settings = wire_settings(outputs, fake_api)
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    reqs = image_requests(fake_api, "chapter ch02")
    assert [r.status for r in reqs] == [429, 429, 200]
    assert reqs[1].received_at - reqs[0].answered_at >= 0.29
    assert reqs[2].received_at - reqs[1].answered_at >= 0.19
    assert all(r.retry_count == 0 for r in reqs), "the SDK's own retries must be off"
    assert entries(episode)["ch02"]["attempts"] == 3


def test_a_429_asking_to_wait_past_the_setting_is_not_waited_for(outputs, fake_api):
    episode = only_diagrams("ep-wait", 2, outputs)
    fake_api.add_rule("images", [rate_limited(retry_after=30)], match="chapter ch02")
    settings = wire_settings(outputs, fake_api)
    settings.retry.max_retry_after_seconds = 5.0
    result = run(episode, RunRequest(), settings)
    assert [r.status for r in image_requests(fake_api, "chapter ch02")] == [429]
    error = entries(episode)["ch02"]["error"]
    assert "asks to wait 30 s, more than retry.max_retry_after_seconds (5 s)" in error
    assert entries(episode)["ch01"]["status"] == "generated" and result.outcome == "failed"


def test_429_pauses_every_worker_of_that_provider(outputs, fake_api):
    episode = only_diagrams("ep-gate", 6, outputs)
    fake_api.latency["images"] = 0.2
    fake_api.add_rule("images", [rate_limited(retry_after=0.6)], match="chapter ch01")
    settings = wire_settings(outputs, fake_api)
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    limited = next(r for r in fake_api.requests if r.status == 429)
    # Requests sent while the 429 was still travelling back may arrive just after it;
    # once the client has seen it (well within 50 ms here), nobody asks for 0.6 s.
    start = limited.answered_at + 0.05
    quiet = [r for r in image_requests(fake_api) if start < r.received_at < start + 0.5]
    assert quiet == [], "a worker ignored the shared Retry-After"
    assert len(image_requests(fake_api)) == 7


def test_500_storm_fails_one_chapter_after_bounded_attempts(outputs, fake_api):
    episode = only_diagrams("ep-500", 4, outputs)
    fake_api.add_rule("images", [server_error(500)], match="chapter ch03", repeat=True)
    result = run(episode, RunRequest(), wire_settings(outputs, fake_api))
    assert result.outcome == "failed"
    assert len(image_requests(fake_api, "chapter ch03")) == 3  # retry.attempts
    e = entries(episode)
    assert e["ch03"]["status"] == "failed" and "HTTP 500" in e["ch03"]["error"]
    assert "gave up after 3 attempts" in e["ch03"]["error"]
    assert [e[c]["status"] for c in ("ch01", "ch02", "ch04")] == ["generated"] * 3
    assert "ch03 failed" in result.message


def test_timeout_is_retried(outputs, fake_api):
    episode = only_diagrams("ep-timeout", 2, outputs)
    fake_api.add_rule("images", [timeout(3.0)], match="chapter ch01")
    settings = wire_settings(outputs, fake_api)
    settings.openai.timeout_seconds = 0.4
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    assert entries(episode)["ch01"]["attempts"] == 2


def test_timeouts_all_the_way_fail_the_chapter(outputs, fake_api):
    episode = only_diagrams("ep-timeout2", 2, outputs)
    fake_api.add_rule("images", [timeout(3.0)], match="chapter ch02", repeat=True)
    settings = wire_settings(outputs, fake_api)
    settings.openai.timeout_seconds = 0.3
    result = run(episode, RunRequest(), settings)
    e = entries(episode)
    assert e["ch02"]["status"] == "failed" and "timed out" in e["ch02"]["error"]
    assert e["ch01"]["status"] == "generated"
    assert result.failed == 1


def test_content_policy_rejects_the_chapter_without_retry(outputs, fake_api):
    episode = only_diagrams("ep-policy", 4, outputs)
    fake_api.add_rule("images", [content_policy()], match="chapter ch02", repeat=True)
    result = run(episode, RunRequest(), wire_settings(outputs, fake_api))
    e = entries(episode)
    assert e["ch02"]["status"] == "rejected"
    assert "safety system" in e["ch02"]["error"]
    assert len(image_requests(fake_api, "chapter ch02")) == 1
    assert sum(1 for x in e.values() if x["status"] == "generated") == 3
    assert result.outcome == "failed" and result.failed == 1


def test_bad_key_costs_one_request_and_stops_the_episode(outputs, fake_api):
    episode = only_diagrams("ep-401", 6, outputs)
    settings = wire_settings(outputs, fake_api)
    settings.openai.api_key = type(settings.openai.api_key)("sk-wrong-key-0123456789")  # type: ignore[misc]
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "failed"
    assert "401" in result.message and "Check the API key" in result.message
    # The key check (free) runs alongside the first image request; the other workers
    # wait for its verdict, so no second image request is made.
    paths = sorted(r.path for r in fake_api.requests)
    assert paths == ["/v1/images/generations", "/v1/models"], paths
    assert fake_api.images_paid == 0
    assert "sk-wrong-key-0123456789" not in result.message
    assert (
        "sk-wrong" not in (episode / "images/manifest.json").read_text()
        if (episode / "images/manifest.json").exists()
        else True
    )


def test_key_revoked_mid_run_stops_further_calls(outputs, fake_api):
    episode = only_diagrams("ep-401b", 8, outputs)
    settings = wire_settings(outputs, fake_api)
    settings.image.concurrency = 1
    fake_api.add_rule("images", [bad_auth()], match="chapter ch03", repeat=True)
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "failed" and "401" in result.message
    assert len(image_requests(fake_api)) == 3  # ch01, ch02, then ch03's 401, nothing after
    statuses = {c: e["status"] for c, e in entries(episode).items()}
    assert statuses == {"ch01": "generated", "ch02": "generated", "ch03": "failed"}


@pytest.mark.parametrize("fault", [bad_base64, malformed_body, empty_body])
def test_malformed_answers_are_retried_then_failed(outputs, fake_api, fault):
    episode = only_diagrams("ep-bad", 2, outputs)
    fake_api.add_rule("images", [fault()], match="chapter ch01", repeat=True)
    result = run(episode, RunRequest(), wire_settings(outputs, fake_api))
    e = entries(episode)
    assert e["ch01"]["status"] == "failed"
    assert len(image_requests(fake_api, "chapter ch01")) == 3
    assert e["ch02"]["status"] == "generated"
    assert result.failed == 1


def test_insufficient_quota_is_not_retried(outputs, fake_api):
    episode = only_diagrams("ep-quota", 1, outputs)
    fake_api.add_rule("images", [insufficient_quota()], repeat=True)
    result = run(episode, RunRequest(), wire_settings(outputs, fake_api))
    assert result.failed == 1 and len(image_requests(fake_api)) == 1
    assert "out of credit" in entries(episode)["ch01"]["error"]


# -- fallback ----------------------------------------------------------------------------


def test_fallback_serves_when_the_primary_fails(outputs, fake_api):
    episode = only_diagrams("ep-fb", 3, outputs)
    fake_api.add_rule(
        "images",
        [server_error(503)],
        match=lambda b: b.get("model") == "gpt-image-1.5",
        repeat=True,
    )
    mini = {
        "provider": "openai",
        "model": "gpt-image-1-mini",
        "size": "1536x1024",
        "quality": "low",
    }
    settings = wire_settings(outputs, fake_api, fallback=[mini])
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    for e in entries(episode).values():
        assert e["model"] == "gpt-image-1-mini" and e["provider"] == "openai"
        assert e["image_cost_usd"] == pytest.approx(0.006)
    assert fake_api.paid_by_model == {"gpt-image-1-mini": 3}


def test_retired_primary_falls_back_and_is_not_asked_again(outputs, fake_api):
    fake_api.retired_models = {"dall-e-3"}
    episode = only_diagrams("ep-retired", 4, outputs)
    current = {"provider": "openai", "model": "gpt-image-1.5", "size": "1536x1024"}
    settings = wire_settings(
        outputs,
        fake_api,
        model="dall-e-3",
        size="1792x1024",
        quality="standard",
        concurrency=1,
        fallback=[current],
    )
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    assert fake_api.count("images", status=404) == 1
    assert fake_api.paid_by_model == {"gpt-image-1.5": 4}


# -- money ---------------------------------------------------------------------------------


def test_cost_cap_is_never_exceeded_under_concurrency(outputs, fake_api):
    episode = only_diagrams("ep-cap", 10, outputs)
    (episode / "provenance").mkdir()
    (episode / "provenance/tts_provenance.json").write_text(json.dumps({"cost_usd": 0.1}))
    fake_api.latency["images"] = 0.1
    settings = wire_settings(outputs, fake_api)
    settings.max_episode_cost_usd = 0.33  # 0.1 upstream + room for 4 images of ~$0.05
    result = run(episode, RunRequest(), settings)
    e = entries(episode)
    paid = fake_api.images_paid
    assert paid == 4
    spent = sum(x["cost_usd"] for x in e.values())
    assert 0.1 + spent <= 0.33
    assert sum(1 for x in e.values() if x["status"] == "skipped_cost_cap") == 6
    skipped = next(x for x in e.values() if x["status"] == "skipped_cost_cap")
    assert "max_episode_cost_usd 0.33" in skipped["error"]
    assert result.cost_usd == pytest.approx(spent)
    prov = json.loads((episode / "provenance/imagegen_provenance.json").read_text())
    assert prov["cost_usd"] == pytest.approx(spent)
    # The next run counts what was already spent: nothing more fits, nothing is paid.
    again = run(episode, RunRequest(), settings)
    assert fake_api.images_paid == 4 and again.failed == 6


def test_cost_reservations_hold_with_many_workers(outputs, fake_api):
    episode = only_diagrams("ep-cap6", 12, outputs)
    fake_api.latency["images"] = 0.05
    settings = wire_settings(outputs, fake_api, concurrency=6)
    settings.max_episode_cost_usd = 0.26
    run(episode, RunRequest(), settings)
    e = entries(episode)
    billed = sum(x["image_cost_usd"] for x in e.values())
    assert billed <= 0.26 and fake_api.images_paid == 5


def test_concurrency_is_bounded_on_the_wire(outputs, fake_api):
    episode = only_diagrams("ep-conc", 9, outputs)
    fake_api.latency["images"] = 0.2
    result = run(episode, RunRequest(), wire_settings(outputs, fake_api))
    assert result.outcome == "ok"
    assert fake_api.max_in_flight["images"] == 3


def test_a_round_answering_at_once_finds_a_chapter_waiting_for_every_slot(
    outputs, fake_api, monkeypatch
):
    # c=3, one candidate each: the first three images answer together, and writing an
    # image takes a full second here. Chapters 4-6 must already be waiting for the three
    # freed slots, not be started only once a chapter has written its image.
    from handlers.run import pipeline

    real_fit = pipeline.fit_to_frame
    fitted: list[float] = []

    def slow_fit(*args: Any) -> Any:
        time.sleep(1.0)
        fitted.append(time.monotonic())
        return real_fit(*args)

    monkeypatch.setattr(pipeline, "fit_to_frame", slow_fit)
    episode = only_diagrams("ep-refill", 6, outputs)
    fake_api.latency["images"] = 0.3
    settings = wire_settings(outputs, fake_api)
    settings.selection.candidates = 1
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok" and fake_api.images_paid == 6
    sent = sorted(r.received_at for r in image_requests(fake_api))
    assert max(sent) < min(fitted), "a slot waited for a chapter to write its image"


def test_no_secret_anywhere_in_outputs(outputs, fake_api):
    episode = write_episode(outputs)
    settings = wire_settings(outputs, fake_api)
    settings.prompt.writer = "anthropic"
    settings.prompt.model = "claude-haiku-4-5"
    fake_api.add_rule("images", [content_policy()], match="Cüzdan", repeat=True)
    result = run(episode, RunRequest(), settings)
    text = "\n".join(p.read_text(encoding="utf-8") for p in episode.rglob("*.json"))
    text += result.message + repr(result)
    assert KEY not in text


def test_rerun_after_success_makes_no_request(outputs, fake_api):
    episode = write_episode(outputs)
    settings = wire_settings(outputs, fake_api)
    run(episode, RunRequest(), settings)
    n = len(fake_api.requests)
    again = run(episode, RunRequest(), settings)
    assert again.outcome == "up_to_date" and len(fake_api.requests) == n


def result_line(r: RunResult) -> str:
    return f"{r.outcome} {r.message}"


def test_chapter_doc_visual_prompt_is_bounded(outputs, fake_api):
    doc = demo_doc()
    doc["chapters"][2]["visual"]["image_prompt"] = "ç" * 5000
    episode = write_episode(outputs, doc=doc)
    settings = wire_settings(
        outputs, fake_api, model="dall-e-3", size="1792x1024", quality="standard"
    )
    run(episode, RunRequest(), settings)
    assert all(len(r.prompt or "") <= 4000 for r in image_requests(fake_api))
    assert time.time()  # keep the import used


def _generated(episode: Path) -> set[str]:
    try:
        chapters = entries(episode)
    except (OSError, ValueError):
        return set()
    return {c for c, e in chapters.items() if e["status"] == "generated"}


def _wait_for(predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.mark.parametrize("kill_after", [0.0, 0.3, 0.6])
def test_sigkill_mid_episode_never_pays_twice_for_a_finished_chapter(outputs, fake_api, kill_after):
    import signal
    import subprocess
    import sys

    from tests.conftest import REPO

    fake_api.latency["images"] = 0.5  # 9 chapters, 3 at a time: about 1.5 s of calls
    episode = only_diagrams("ep-sigkill", 9, outputs)
    env = child_env()
    env.update(
        OPENAI_API_KEY=KEY,
        IMAGEGEN_CONFIG=str(REPO / "config/imagegen.default.toml"),
        IMAGEGEN_OPENAI__BASE_URL=fake_api.openai_base_url,
        IMAGEGEN_IMAGE__PROVIDER="openai",
    )
    cmd = [sys.executable, "-m", "daemon", "run", "--outputs-dir", str(outputs), str(episode)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert fake_api.wait_until(lambda f: f.count("images") >= 1, timeout=10)
    # The kill comes kill_after seconds after the first chapter is recorded (on a busy
    # machine that takes longer than any fixed delay would allow for).
    assert _wait_for(lambda: bool(_generated(episode)), timeout=20)
    time.sleep(kill_after)
    assert proc.poll() is None, "the run finished before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {
        c
        for c, e in (
            entries(episode) if (episode / "images/manifest.json").exists() else {}
        ).items()
        if e["status"] == "generated"
    }
    assert finished, "the kill should come after some chapters finished"
    rerun = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert len(entries(episode)) == 9
    by_chapter = {c: 0 for c in entries(episode)}
    for prompt, n in fake_api.paid_prompts.items():
        for cid in by_chapter:
            if prompt.endswith(f"chapter {cid}"):
                by_chapter[cid] += n
    for cid in finished:
        assert by_chapter[cid] == 1, f"{cid} had finished before the kill and was paid again"
    # only the images in flight at the kill (at most the concurrency) were paid twice
    assert sum(n - 1 for n in by_chapter.values()) <= 3
