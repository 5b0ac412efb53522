"""The fake's Gemini face, with the official google-genai SDK as the client."""

from __future__ import annotations

import http.client
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import errors, types
from PIL import Image

from tests.fakeapi import (
    Fail,
    FakeAPI,
    JudgeScript,
    Ok,
    bad_auth,
    bad_base64,
    content_policy,
    malformed_body,
    no_image,
    overloaded,
    prompt_blocked,
    rate_limited,
    server_error,
)

pytest_plugins = ["tests.fakeapi.pytest_plugin"]
MODEL = "gemini-2.5-flash-image"


@pytest.fixture
def fake() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def image_config(aspect: str = "16:9", modalities: list[str] | None = None) -> Any:
    return types.GenerateContentConfig(
        response_modalities=modalities or ["TEXT", "IMAGE"],
        image_config=types.ImageConfig(aspect_ratio=aspect),
    )


def image_of(response: Any) -> bytes:
    for part in response.candidates[0].content.parts:
        if part.inline_data is not None:
            return bytes(part.inline_data.data)
    raise AssertionError("no image part")


def test_generate_content_answers_an_image_and_a_text_part(fake: FakeAPI) -> None:
    client = fake.gemini_client()
    response = client.models.generate_content(
        model=MODEL, contents=["A lighthouse at dusk"], config=image_config("16:9")
    )
    parts = response.candidates[0].content.parts
    assert parts[0].text and parts[1].inline_data.mime_type == "image/png"
    image = Image.open(io.BytesIO(image_of(response)))
    assert image.format == "PNG" and image.size == (1344, 768)
    assert response.candidates[0].finish_reason == types.FinishReason.STOP
    usage = response.usage_metadata
    assert usage.candidates_token_count >= 1290 and usage.prompt_token_count > 0

    record = fake.requests[-1]
    assert record.endpoint == "gemini" and record.path.startswith("/v1beta/models/")
    assert record.headers["x-goog-api-key"] == fake.gemini_api_key
    assert record.prompt == "A lighthouse at dusk" and record.model == MODEL
    assert fake.images_paid == 1 and fake.paid_by_model == {MODEL: 1}
    assert fake.generated[0].endpoint == "gemini" and fake.count(endpoint="gemini") == 1


def test_image_only_modality_sizes_and_the_v1_path(fake: FakeAPI) -> None:
    client = fake.gemini_client(api_version=None)  # this SDK's default version is v1
    response = client.models.generate_content(
        model="gemini-3-pro-image-preview",
        contents="A market",
        config=types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(aspect_ratio="2:3", image_size="2K"),
        ),
    )
    parts = response.candidates[0].content.parts
    assert len(parts) == 1 and parts[0].inline_data is not None
    assert Image.open(io.BytesIO(image_of(response))).size == (1664, 2496)
    assert fake.requests[-1].path.startswith("/v1/models/gemini-3-pro-image-preview")


def test_reference_images_are_recorded_and_identified(fake: FakeAPI) -> None:
    client = fake.gemini_client()
    first = image_of(client.models.generate_content(model=MODEL, contents="the original"))
    jpeg = io.BytesIO()
    Image.open(io.BytesIO(first)).convert("RGB").resize((512, 512)).save(jpeg, "JPEG")
    fake.add_rule("gemini", [Ok(defect="dark", text="Made it darker.")], match="darker")
    response = client.models.generate_content(
        model=MODEL,
        contents=[
            types.Part.from_bytes(data=jpeg.getvalue(), mime_type="image/jpeg"),
            "make it darker",
        ],
    )
    assert response.candidates[0].content.parts[0].text == "Made it darker."
    record = fake.requests[-1]
    assert record.text_parts == ["make it darker"]
    (reference,) = record.input_images
    assert reference.media_type == "image/jpeg" and reference.size == (512, 512)
    assert record.shown == [fake.generated[0]]
    assert fake.generated[1].defect == "dark"
    assert response.usage_metadata.prompt_token_count >= 258


def test_bad_reference_images_are_400_invalid_argument(fake: FakeAPI) -> None:
    client = fake.gemini_client()
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(
            model=MODEL, contents=[types.Part.from_bytes(data=b"junk", mime_type="image/png"), "x"]
        )
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    assert "Unable to process input image" in (caught.value.message or "")
    assert fake.images_paid == 0


def test_text_models_answer_text_and_can_judge(fake: FakeAPI) -> None:
    client = fake.gemini_client()
    blank = image_of(client.models.generate_content(model=MODEL, contents="x"))
    fake.add_rule("gemini", [Ok(defect="blank")], match="blank one")
    blank = image_of(client.models.generate_content(model=MODEL, contents="the blank one"))
    fake.vision_reply = JudgeScript({"blank": 10}, default=3)
    answer = client.models.generate_content(
        model="gemini-2.5-flash",
        contents=[types.Part.from_bytes(data=blank, mime_type="image/png"), "Score this image."],
    )
    assert json.loads(answer.text or "")["scores"]["clarity"] == 10
    assert fake.requests[-1].shown == [fake.generated[1]] and fake.requests[-1].images == 0


def test_rate_limit_has_retry_after_and_retry_info(fake: FakeAPI) -> None:
    client = fake.gemini_client()  # keep a reference: a collected Client closes
    fake.add_rule("gemini", [rate_limited(retry_after=7)])
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents="x")
    error = caught.value
    assert error.code == 429 and error.status == "RESOURCE_EXHAUSTED"
    assert error.response.headers["retry-after"] == "7"
    retry_info = [d for d in error.details["error"]["details"] if d["@type"].endswith("RetryInfo")]
    assert retry_info == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"}]


@pytest.mark.parametrize(
    ("spec", "code", "status"),
    [
        (server_error(500), 500, "INTERNAL"),
        (overloaded(), 503, "UNAVAILABLE"),
        (server_error(504), 504, "DEADLINE_EXCEEDED"),
    ],
)
def test_server_errors_in_google_shape(fake: FakeAPI, spec: Any, code: int, status: str) -> None:
    client = fake.gemini_client()  # keep a reference: a collected Client closes
    fake.add_rule("gemini", [spec])
    with pytest.raises(errors.ServerError) as caught:
        client.models.generate_content(model=MODEL, contents="x")
    assert caught.value.code == code and caught.value.status == status


def test_sdk_retries_when_asked(fake: FakeAPI) -> None:
    fake.add_rule("gemini", [server_error(503), rate_limited()])
    options = types.HttpOptions(
        base_url=fake.gemini_base_url,
        api_version="v1beta",
        retry_options=types.HttpRetryOptions(attempts=3, initial_delay=0.01, max_delay=0.02),
    )
    client = genai.Client(api_key=fake.gemini_api_key, http_options=options)
    assert image_of(client.models.generate_content(model=MODEL, contents="x"))
    assert [record.status for record in fake.requests] == [503, 429, 200]


def test_wrong_key_is_400_api_key_invalid_and_missing_key_403(fake: FakeAPI) -> None:
    client = fake.gemini_client()  # keep a reference: a collected Client closes
    options = types.HttpOptions(base_url=fake.gemini_base_url, api_version="v1beta")
    wrong = genai.Client(api_key="AIzaSy-wrong", http_options=options)
    with pytest.raises(errors.ClientError) as caught:
        wrong.models.generate_content(model=MODEL, contents="x")
    assert caught.value.code == 400 and caught.value.status == "INVALID_ARGUMENT"
    assert caught.value.details["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    with pytest.raises(errors.ClientError):
        list(wrong.models.list())

    connection = http.client.HTTPConnection(fake.host, fake.port, timeout=5)
    connection.request("POST", f"/v1beta/models/{MODEL}:generateContent", b'{"contents": []}')
    response = connection.getresponse()
    assert response.status == 403
    assert json.loads(response.read())["error"]["status"] == "PERMISSION_DENIED"
    fake.add_rule("gemini", [bad_auth()])
    with pytest.raises(errors.ClientError) as revoked:
        client.models.generate_content(model=MODEL, contents="x")
    assert revoked.value.code == 400
    assert fake.images_paid == 0


def test_missing_contents_and_bad_config_are_invalid_argument(fake: FakeAPI) -> None:
    client = fake.gemini_client()  # keep a reference: a collected Client closes
    connection = http.client.HTTPConnection(fake.host, fake.port, timeout=5)
    headers = {"x-goog-api-key": fake.gemini_api_key, "content-type": "application/json"}
    connection.request("POST", f"/v1beta/models/{MODEL}:generateContent", b"{}", headers)
    response = connection.getresponse()
    assert response.status == 400 and b"contents is not specified" in response.read()
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model=MODEL, contents="x", config=image_config("7:5"))
    assert caught.value.status == "INVALID_ARGUMENT"


def test_safety_blocks(fake: FakeAPI) -> None:
    fake.add_rule(
        "gemini",
        [
            prompt_blocked("PROHIBITED_CONTENT"),
            content_policy(),
            no_image("SAFETY", "I can't make that."),
        ],
    )
    client = fake.gemini_client()
    blocked = client.models.generate_content(model=MODEL, contents="x")
    assert not blocked.candidates
    assert blocked.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    image_safety = client.models.generate_content(model=MODEL, contents="x")
    assert image_safety.candidates[0].finish_reason == types.FinishReason.IMAGE_SAFETY
    assert image_safety.candidates[0].content is None
    safety = client.models.generate_content(model=MODEL, contents="x")
    assert safety.candidates[0].finish_reason == types.FinishReason.SAFETY
    assert [part.inline_data for part in safety.candidates[0].content.parts] == [None]
    assert fake.images_paid == 0 and fake.generated == []


def test_malformed_and_broken_answers(fake: FakeAPI) -> None:
    fake.add_rule(
        "gemini", [malformed_body(), bad_base64(), Fail(502, body="<html>bad gateway</html>")]
    )
    client = fake.gemini_client()
    with pytest.raises(Exception) as broken:
        client.models.generate_content(model=MODEL, contents="x")
    assert "json" in type(broken.value).__name__.lower() or "JSON" in str(broken.value)
    with pytest.raises(ValueError):  # pydantic cannot decode the inline data
        client.models.generate_content(model=MODEL, contents="x")
    with pytest.raises(errors.ServerError) as gateway:
        client.models.generate_content(model=MODEL, contents="x")
    assert gateway.value.code == 502


def test_models_list_is_a_free_key_check(fake: FakeAPI) -> None:
    client = fake.gemini_client()  # keep a reference: a collected Client closes
    names = [model.name for model in client.models.list()]
    assert f"models/{MODEL}" in names
    assert client.models.get(model=MODEL).name == f"models/{MODEL}"
    assert fake.images_paid == 0 and fake.count("gemini_models") == 2


def test_retired_models_answer_not_found(fake: FakeAPI) -> None:
    client = fake.gemini_client()  # keep a reference: a collected Client closes
    fake.retired_models = {"gemini-2.0-flash-exp-image-generation"}
    with pytest.raises(errors.ClientError) as caught:
        client.models.generate_content(model="gemini-2.0-flash-exp-image-generation", contents="x")
    assert caught.value.code == 404 and caught.value.status == "NOT_FOUND"


def test_concurrent_gemini_calls_are_counted(fake: FakeAPI) -> None:
    from concurrent.futures import ThreadPoolExecutor

    fake.latency["gemini"] = 0.3
    client = fake.gemini_client()
    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(
            pool.map(
                lambda i: client.models.generate_content(model=MODEL, contents=f"p{i}"), range(3)
            )
        )
    assert all(image_of(answer) for answer in answers)
    assert fake.max_in_flight["gemini"] == 3 and fake.in_flight["gemini"] == 0
    assert fake.images_paid == 3 and len(fake.generated) == 3
