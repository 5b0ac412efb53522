"""The loopback API fake, exercised with the real openai and anthropic SDK clients."""

from __future__ import annotations

import base64
import binascii
import http.client
import io
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from PIL import Image

from tests.fakeapi import (
    Fail,
    FakeAPI,
    Ok,
    bad_base64,
    connection_reset,
    content_policy,
    empty_body,
    insufficient_quota,
    malformed_body,
    model_not_found,
    overloaded,
    prompt_colour,
    rate_limited,
    server_error,
    timeout,
)

# Also registered from tests/conftest.py; naming it here keeps this file runnable alone.
pytest_plugins = ["tests.fakeapi.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]
CLAUDE = "claude-haiku-4-5"


@pytest.fixture
def fake() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def openai_client(fake: FakeAPI, **kwargs: Any) -> openai.OpenAI:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 10.0)
    kwargs.setdefault("api_key", fake.api_key)
    return openai.OpenAI(base_url=fake.openai_base_url, **kwargs)


def anthropic_client(fake: FakeAPI, **kwargs: Any) -> anthropic.Anthropic:
    kwargs.setdefault("max_retries", 0)
    kwargs.setdefault("timeout", 10.0)
    kwargs.setdefault("api_key", fake.api_key)
    return anthropic.Anthropic(base_url=fake.anthropic_base_url, **kwargs)


def decode_image(b64: str | None) -> Image.Image:
    assert b64 is not None
    return Image.open(io.BytesIO(base64.b64decode(b64)))


def raw_post(fake: FakeAPI, path: str, body: object, headers: dict[str, str]) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(fake.host, fake.port, timeout=5)
    try:
        payload = json.dumps(body).encode()
        connection.request("POST", path, payload, {"content-type": "application/json", **headers})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


# ------------------------------------------------------------------ successes


def test_gpt_image_success_is_a_real_png_of_the_requested_size(fake: FakeAPI) -> None:
    client = openai_client(fake)
    result = client.images.generate(
        model="gpt-image-1.5", prompt="a lighthouse at dusk", size="1536x1024", quality="low"
    )

    assert result.data is not None and len(result.data) == 1
    image = decode_image(result.data[0].b64_json)
    assert image.format == "PNG"
    assert image.size == (1536, 1024)
    assert image.convert("RGB").getpixel((10, 10)) == prompt_colour("a lighthouse at dusk")
    assert result.data[0].revised_prompt is None
    assert result.usage is not None and result.usage.output_tokens == 400
    assert result.size == "1536x1024" and result.quality == "low"
    assert fake.images_paid == 1
    assert fake.paid_prompts == {"a lighthouse at dusk": 1}
    assert fake.paid_by_model == {"gpt-image-1.5": 1}


def test_dalle3_success_has_revised_prompt_and_no_usage(fake: FakeAPI) -> None:
    client = openai_client(fake)
    # Without response_format DALL-E answers a URL, like the real API.
    result = client.images.generate(
        model="dall-e-3", prompt="a red fox", size="1792x1024", response_format="b64_json"
    )

    assert result.data is not None
    assert result.data[0].revised_prompt
    assert decode_image(result.data[0].b64_json).size == (1792, 1024)
    assert result.usage is None


def test_dalle_url_answers_point_at_served_images(fake: FakeAPI) -> None:
    result = openai_client(fake).images.generate(
        model="dall-e-3", prompt="a boat", size="1024x1792", response_format="url"
    )
    assert result.data and result.data[0].url and result.data[0].b64_json is None
    with urllib.request.urlopen(result.data[0].url, timeout=5) as response:
        image = Image.open(io.BytesIO(response.read()))
    assert image.size == (1024, 1792)
    assert image.convert("RGB").getpixel((0, 0)) == prompt_colour("a boat")


def test_different_prompts_give_different_images(fake: FakeAPI) -> None:
    client = openai_client(fake)
    first = client.images.generate(model="gpt-image-1", prompt="one", size="1024x1024")
    second = client.images.generate(model="gpt-image-1", prompt="two", size="1024x1024")
    assert first.data and second.data
    assert first.data[0].b64_json != second.data[0].b64_json


def test_unsupported_size_for_the_model_is_a_400(fake: FakeAPI) -> None:
    client = openai_client(fake)
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="gpt-image-1", prompt="wide", size="1792x1024")
    assert caught.value.param == "size"
    assert caught.value.code == "invalid_value"
    assert fake.images_paid == 0


def test_chat_completion_default_text_derives_from_last_user_message(fake: FakeAPI) -> None:
    client = openai_client(fake)
    result = client.chat.completions.create(
        model="gpt-5-mini",
        messages=[
            {"role": "system", "content": "You write image prompts."},
            {"role": "user", "content": "Chapter: the harbour at night"},
        ],
    )

    text = result.choices[0].message.content or ""
    assert text.startswith("A clean illustration of")
    assert "harbour at night" in text
    assert result.usage is not None
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0


def test_ok_text_overrides_the_answer(fake: FakeAPI) -> None:
    fake.add_rule("chat", [Ok(text="exactly this")])
    fake.add_rule("messages", [Ok(text="and this")])
    chat = openai_client(fake).chat.completions.create(
        model="gpt-5-mini", messages=[{"role": "user", "content": "hi"}]
    )
    message = anthropic_client(fake).messages.create(
        model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert chat.choices[0].message.content == "exactly this"
    assert message.content[0].type == "text" and message.content[0].text == "and this"


def test_anthropic_message_success(fake: FakeAPI) -> None:
    client = anthropic_client(fake)
    message = client.messages.create(
        model=CLAUDE,
        max_tokens=200,
        messages=[{"role": "user", "content": "Write a prompt about a mountain village"}],
    )

    assert message.type == "message" and message.role == "assistant"
    assert message.stop_reason == "end_turn"
    block = message.content[0]
    assert block.type == "text" and "mountain village" in block.text
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    # anthropic 2.x sends its api_key as a bearer token, not x-api-key.
    assert fake.requests[0].headers["authorization"] == f"Bearer {fake.api_key}"


def test_messages_accepts_x_api_key_from_raw_callers(fake: FakeAPI) -> None:
    body = {"model": CLAUDE, "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]}
    version = {"anthropic-version": "2023-06-01"}
    status, payload = raw_post(fake, "/v1/messages", body, {"x-api-key": fake.api_key, **version})
    assert status == 200 and payload["type"] == "message"

    status, payload = raw_post(fake, "/v1/messages", body, {"x-api-key": "sk-nope", **version})
    assert status == 401
    assert payload["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}


def test_unknown_path_is_a_json_404(fake: FakeAPI) -> None:
    status, payload = raw_post(fake, "/v1/nowhere", {}, {"authorization": "Bearer x"})
    assert status == 404
    assert payload["error"]["message"] == "Invalid URL (POST /v1/nowhere)"


# ------------------------------------------------------------------ errors


def test_wrong_key_openai_is_authentication_error(fake: FakeAPI) -> None:
    client = openai_client(fake, api_key="sk-test-wrong-key")
    with pytest.raises(openai.AuthenticationError) as caught:
        client.images.generate(model="gpt-image-1", prompt="x")
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert "sk-te****" in caught.value.message
    assert fake.count("images", status=401) == 1
    assert fake.images_paid == 0


def test_wrong_key_anthropic_is_authentication_error(fake: FakeAPI) -> None:
    client = anthropic_client(fake, api_key="sk-ant-wrong")
    with pytest.raises(anthropic.AuthenticationError) as caught:
        client.messages.create(
            model=CLAUDE, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 401
    # Unlike openai, anthropic keeps the whole body, envelope included.
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["error"] == {
        "type": "authentication_error",
        "message": "invalid x-api-key",
    }


@pytest.mark.parametrize(
    ("model", "code", "error_type"),
    [
        ("dall-e-3", "content_policy_violation", "invalid_request_error"),
        ("gpt-image-1.5", "moderation_blocked", "image_generation_user_error"),
    ],
)
def test_content_policy_shape_follows_the_model(
    fake: FakeAPI, model: str, code: str, error_type: str
) -> None:
    fake.add_rule("images", [content_policy()])
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client(fake).images.generate(model=model, prompt="something forbidden")
    assert caught.value.code == code
    assert caught.value.type == error_type
    assert fake.images_paid == 0


def test_rate_limit_headers_reach_the_sdk_error(fake: FakeAPI) -> None:
    fake.add_rule("images", [rate_limited(retry_after=2, retry_after_ms=1500)])
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client(fake).images.generate(model="gpt-image-1", prompt="x")
    headers = caught.value.response.headers
    assert headers["retry-after-ms"] == "1500"
    assert headers["retry-after"] == "2"
    assert headers["x-ratelimit-remaining-requests"] == "0"
    assert caught.value.request_id == headers["x-request-id"]
    assert caught.value.code == "rate_limit_exceeded"


def test_plain_text_rate_limit_keeps_the_text_as_body(fake: FakeAPI) -> None:
    fake.add_rule("images", [rate_limited(plain_text=True)])
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client(fake).images.generate(model="gpt-image-1", prompt="x")
    assert caught.value.body == "429 Too Many Requests"
    assert caught.value.code is None


def test_sdk_retries_send_their_retry_count(fake: FakeAPI) -> None:
    fake.add_rule(
        "images", [rate_limited(retry_after_ms=1), Fail(502, headers={"retry-after-ms": "1"})]
    )
    result = openai_client(fake, max_retries=2).images.generate(model="gpt-image-1", prompt="x")

    assert result.data
    assert [record.retry_count for record in fake.requests] == [0, 1, 2]
    assert [record.status for record in fake.requests] == [429, 502, 200]
    assert fake.images_paid == 1


def test_insufficient_quota_is_not_retried_by_the_sdk(fake: FakeAPI) -> None:
    fake.add_rule("images", [insufficient_quota()], repeat=True)
    with pytest.raises(openai.RateLimitError) as caught:
        openai_client(fake, max_retries=2).images.generate(model="gpt-image-1", prompt="x")
    assert caught.value.code == "insufficient_quota"
    assert caught.value.response.headers["x-should-retry"] == "false"
    assert fake.count("images") == 1


def test_model_not_found_names_the_model(fake: FakeAPI) -> None:
    fake.add_rule("images", [model_not_found()])
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client(fake).images.generate(model="dall-e-3", prompt="x")
    assert caught.value.code == "model_not_found"
    assert "`dall-e-3`" in caught.value.message


def test_retired_models_answer_model_not_found(fake: FakeAPI) -> None:
    fake.retired_models = {"dall-e-3"}
    client = openai_client(fake)
    with pytest.raises(openai.NotFoundError):
        client.images.generate(model="dall-e-3", prompt="x")
    assert client.images.generate(model="gpt-image-1", prompt="x").data


def test_anthropic_overloaded_is_529(fake: FakeAPI) -> None:
    fake.add_rule("messages", [overloaded()])
    with pytest.raises(anthropic.InternalServerError) as caught:
        anthropic_client(fake).messages.create(
            model=CLAUDE, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 529


def test_anthropic_content_policy_is_a_refusal(fake: FakeAPI) -> None:
    fake.add_rule("messages", [content_policy()])
    message = anthropic_client(fake).messages.create(
        model=CLAUDE, max_tokens=10, messages=[{"role": "user", "content": "x"}]
    )
    assert message.stop_reason == "refusal"
    assert message.content == []


def test_malformed_and_empty_bodies_raise_plain_json_errors(fake: FakeAPI) -> None:
    # Neither SDK wraps a broken 200 body: json.JSONDecodeError escapes as it is.
    fake.add_rule("images", [malformed_body(), empty_body()])
    fake.add_rule("messages", [malformed_body()])
    client = openai_client(fake)
    with pytest.raises(json.JSONDecodeError):
        client.images.generate(model="gpt-image-1", prompt="x")
    with pytest.raises(json.JSONDecodeError):
        client.images.generate(model="gpt-image-1", prompt="x")
    with pytest.raises(json.JSONDecodeError):
        anthropic_client(fake).messages.create(
            model=CLAUDE, max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert fake.images_paid == 0


def test_bad_base64_passes_the_sdk_and_fails_on_decode(fake: FakeAPI) -> None:
    fake.add_rule("images", [bad_base64()])
    result = openai_client(fake).images.generate(model="gpt-image-1", prompt="x")
    assert result.data
    with pytest.raises(binascii.Error):
        base64.b64decode(result.data[0].b64_json or "", validate=True)
    assert fake.images_paid == 0


def test_connection_reset_is_a_connection_error_and_the_client_recovers(fake: FakeAPI) -> None:
    fake.add_rule("images", [connection_reset()])
    client = openai_client(fake)
    with pytest.raises(openai.APIConnectionError) as caught:
        client.images.generate(model="gpt-image-1", prompt="x")
    assert not isinstance(caught.value, openai.APITimeoutError)
    assert client.images.generate(model="gpt-image-1", prompt="x").data
    assert [record.status for record in fake.requests] == [None, 200]


# ------------------------------------------------------------------ rules and concurrency


def test_fail_sends_a_custom_body_and_headers(fake: FakeAPI) -> None:
    fake.add_rule("chat", [Fail(409, body={"error": {"message": "busy", "code": "locked"}})])
    fake.add_rule("chat", [Fail(502, body="<html>bad gateway</html>", headers={"X-Trace": "1"})])
    client = openai_client(fake)
    messages: list[Any] = [{"role": "user", "content": "x"}]
    with pytest.raises(openai.ConflictError) as conflict:
        client.chat.completions.create(model="gpt-5-mini", messages=messages)
    assert conflict.value.code == "locked"
    with pytest.raises(openai.InternalServerError) as gateway:
        client.chat.completions.create(model="gpt-5-mini", messages=messages)
    assert gateway.value.body == "<html>bad gateway</html>"
    assert gateway.value.response.headers["x-trace"] == "1"


def test_rule_consumes_responses_then_falls_through(fake: FakeAPI) -> None:
    rule = fake.add_rule("images", [server_error(500), server_error(503)])
    client = openai_client(fake)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.images.generate(model="gpt-image-1", prompt="x")
    assert client.images.generate(model="gpt-image-1", prompt="x").data
    assert rule.finished and rule.hits == 2
    assert [record.status for record in fake.requests] == [500, 503, 200]


def test_match_targets_only_the_matching_prompt_among_concurrent_requests(fake: FakeAPI) -> None:
    fake.latency["images"] = 0.05
    fake.add_rule("images", [server_error()], match="storm", repeat=True)
    client = openai_client(fake)
    prompts = ["calm sea", "a storm at sea", "green hills", "city lights", "old storm cellar"]

    def generate(prompt: str) -> str:
        try:
            client.images.generate(model="gpt-image-1", prompt=prompt)
        except openai.InternalServerError:
            return "failed"
        return "ok"

    with ThreadPoolExecutor(max_workers=5) as pool:
        outcomes = dict(zip(prompts, pool.map(generate, prompts), strict=True))

    assert outcomes == {
        "calm sea": "ok",
        "a storm at sea": "failed",
        "green hills": "ok",
        "city lights": "ok",
        "old storm cellar": "failed",
    }
    assert fake.paid_prompts == {"calm sea": 1, "green hills": 1, "city lights": 1}


def test_callable_match_sees_the_json_body(fake: FakeAPI) -> None:
    fake.add_rule("images", [content_policy()], match=lambda body: body.get("model") == "dall-e-3")
    client = openai_client(fake)
    assert client.images.generate(model="gpt-image-1", prompt="x").data
    with pytest.raises(openai.BadRequestError):
        client.images.generate(model="dall-e-3", prompt="x")


def test_timeout_leaves_the_server_responsive(fake: FakeAPI) -> None:
    # The server sleeps 3 s on the slow one, the client gives up after 0.5 s: wide
    # margins, so a loaded machine cannot blur which side stopped waiting.
    fake.add_rule("images", [timeout(3.0)], match="slow")
    client = openai_client(fake, timeout=0.5)

    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client.images.generate(model="gpt-image-1", prompt="slow one")
    assert time.monotonic() - started < 2.5

    # The slow handler is still asleep; others are served meanwhile.
    assert fake.in_flight["images"] == 1
    patient = openai_client(fake, timeout=30)  # making the image may be slow on a busy machine
    assert patient.images.generate(model="gpt-image-1", prompt="quick one").data
    assert fake.in_flight["images"] == 1, "the quick one was served while the slow slept"

    assert fake.wait_until(lambda f: f.count("images") == 2, timeout=10)
    slow = next(record for record in fake.requests if record.prompt == "slow one")
    assert slow.kind == "timeout" and not slow.delivered
    # Not delivered, so not paid, though the real API would have billed it.
    assert fake.images_paid == 1 and fake.images_generated == 2


def test_stop_does_not_wait_for_sleeping_handlers() -> None:
    fake = FakeAPI().start()
    fake.add_rule("images", [timeout(60)])
    client = openai_client(fake, timeout=30)
    errors: list[Exception] = []

    def call() -> None:
        try:
            client.images.generate(model="gpt-image-1", prompt="x")
        except Exception as error:
            errors.append(error)

    worker = threading.Thread(target=call)
    worker.start()
    assert fake.wait_until(lambda f: f.in_flight["images"] == 1)
    started = time.monotonic()
    fake.stop()
    worker.join(timeout=5)
    assert time.monotonic() - started < 2
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], openai.APIConnectionError)


def test_max_in_flight_counts_concurrent_requests(fake: FakeAPI) -> None:
    fake.latency["images"] = 1.0  # long enough that all four overlap on a busy machine
    client = openai_client(fake)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(
                lambda i: client.images.generate(model="gpt-image-1", prompt=f"p{i}"), range(4)
            )
        )

    assert len(results) == 4
    assert fake.max_in_flight["images"] == 4
    assert fake.in_flight["images"] == 0
    assert fake.images_paid == 4


def test_reset_clears_rules_and_counters(fake: FakeAPI) -> None:
    fake.add_rule("images", [server_error()], repeat=True)
    client = openai_client(fake)
    with pytest.raises(openai.InternalServerError):
        client.images.generate(model="gpt-image-1", prompt="x")
    fake.reset()
    assert fake.count() == 0 and fake.rules == []
    assert client.images.generate(model="gpt-image-1", prompt="x").data
    assert fake.images_paid == 1


def test_plugin_fixture_yields_a_started_fake(fake_api: FakeAPI) -> None:
    assert openai_client(fake_api).images.generate(model="gpt-image-1", prompt="x").data
    assert fake_api.images_paid == 1


# ------------------------------------------------------------------ standalone mode


def test_standalone_mode_serves_writes_state_and_stops_on_sigterm(tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {
                    "endpoint": "images",
                    "match": "fail me",
                    "responses": [{"kind": "server_error", "status": 502}],
                }
            ]
        )
    )
    command = [
        sys.executable,
        "-m",
        "tests.fakeapi",
        "--port",
        "0",
        "--latency-images",
        "0.01",
        "--state-file",
        str(state_file),
        "--script",
        str(script),
    ]
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        base_url = line.split()[1]
        client = openai.OpenAI(
            api_key="sk-test-fake-key", base_url=f"{base_url}/v1", max_retries=0, timeout=10
        )
        with pytest.raises(openai.InternalServerError):
            client.images.generate(model="gpt-image-1", prompt="fail me")
        assert client.images.generate(model="gpt-image-1", prompt="paint me").data

        state = json.loads(state_file.read_text())
        assert state["requests"]["images"] == {"200": 1, "502": 1}
        assert state["images_paid"] == 1
        assert state["paid_prompts"] == {"paint me": 1}

        host_port = base_url.removeprefix("http://")
        connection = http.client.HTTPConnection(host_port, timeout=5)
        connection.request("GET", "/_fake/state")
        assert json.loads(connection.getresponse().read()) == state
        rule = {"endpoint": "images", "responses": [{"kind": "rate_limited", "retry_after_ms": 5}]}
        connection.request("POST", "/_fake/rules", json.dumps(rule))
        assert connection.getresponse().read() == b'{"added": 1}'
        connection.close()
        with pytest.raises(openai.RateLimitError):
            client.images.generate(model="gpt-image-1", prompt="limited")

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
