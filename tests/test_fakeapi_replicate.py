"""The fake's Replicate face, with the official replicate client."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import replicate
from google import genai
from google.genai import types
from PIL import Image
from replicate.exceptions import ModelError, ReplicateError

from tests.fakeapi import (
    Fail,
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
)

pytest_plugins = ["tests.fakeapi.pytest_plugin"]
FLUX = "black-forest-labs/flux-schnell"
KONTEXT = "black-forest-labs/flux-kontext-pro"


@pytest.fixture
def fake() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


def test_run_with_prefer_wait_answers_the_finished_prediction(fake: FakeAPI) -> None:
    client = fake.replicate_client()
    output = client.run(FLUX, input={"prompt": "a lighthouse", "aspect_ratio": "16:9"})
    assert isinstance(output, list) and len(output) == 1
    image = Image.open(io.BytesIO(fetch(str(output[0]))))
    assert image.format == "WEBP" and image.size == (1344, 768)

    (create,) = fake.requests
    assert create.endpoint == "replicate" and create.status == 201
    assert create.headers["prefer"] == "wait"
    assert create.headers["authorization"] == f"Bearer {fake.replicate_api_token}"
    assert create.prompt == "a lighthouse" and create.model == FLUX
    assert fake.images_paid == 1 and fake.paid_by_model == {FLUX: 1}
    assert fake.generated[0].endpoint == "replicate" and fake.generated[0].format == "webp"


def test_polling_goes_starting_processing_succeeded(fake: FakeAPI) -> None:
    client = fake.replicate_client()
    fake.add_rule("replicate", [prediction(polls=3, defect="blurry")])
    created = client.models.predictions.create(
        model=KONTEXT, input={"prompt": "a market", "output_format": "png"}
    )
    assert created.status == "starting" and created.output is None
    seen = []
    while created.status not in ("succeeded", "failed", "canceled"):
        created.reload()
        seen.append(created.status)
    assert seen == ["processing", "processing", "processing", "succeeded"]
    assert isinstance(created.output, str)  # one URL for a model without num_outputs
    assert created.metrics and created.metrics["predict_time"] > 0
    assert fake.identify(fetch(created.output)) == fake.generated[0]
    assert fake.generated[0].defect == "blurry" and fake.generated[0].format == "png"
    # Paid once, by the poll that saw it succeed.
    assert [r.images for r in fake.requests] == [0, 0, 0, 0, 1]
    assert fake.count("replicate_poll") == 4 and fake.images_paid == 1
    assert fake.paid_prompts == {"a market": 1}


def test_version_predictions_and_default_polls(fake: FakeAPI) -> None:
    fake.replicate_polls = 0
    client = fake.replicate_client()
    version = "5599ed30703defd1d160a25a63321b4dec97101d98b4674bcc56e41f62f35637"
    created = client.predictions.create(version=version, input={"prompt": "x", "num_outputs": 2})
    created.wait()
    assert created.status == "succeeded" and len(created.output) == 2
    assert created.version == version and fake.images_paid == 2
    assert fake.count("replicate_poll") == 1


def test_failed_and_canceled_predictions(fake: FakeAPI) -> None:
    client = fake.replicate_client()
    fake.add_rule("replicate", [prediction("failed", error="CUDA out of memory")], match="oom")
    fake.add_rule("replicate", [content_policy()], match="nsfw")
    fake.add_rule("replicate", [prediction("canceled", polls=0)], match="gone")
    with pytest.raises(ModelError) as oom:
        client.run(FLUX, input={"prompt": "oom please"})
    assert oom.value.prediction.error == "CUDA out of memory"
    with pytest.raises(ModelError) as nsfw:
        client.run(FLUX, input={"prompt": "nsfw"})
    assert "NSFW" in str(nsfw.value.prediction.error)
    gone = client.predictions.create(model=FLUX, input={"prompt": "gone"})
    gone.wait()
    assert gone.status == "canceled" and gone.output is None
    assert fake.images_paid == 0 and fake.generated == []
    assert fake.state()["predictions"] == {"failed": 2, "canceled": 1}


def test_cancel_a_running_prediction(fake: FakeAPI) -> None:
    client = fake.replicate_client()
    fake.replicate_polls = 5
    created = client.predictions.create(model=FLUX, input={"prompt": "slow"})
    created.reload()
    assert created.status == "processing"
    created.cancel()
    created.reload()
    assert created.status == "canceled" and created.completed_at
    assert fake.count("replicate_cancel") == 1 and fake.images_paid == 0


def test_prefer_wait_that_expires_falls_back_to_polling(fake: FakeAPI) -> None:
    fake.add_rule("replicate", [prediction(polls=2, wait_expires=True)])
    output = fake.replicate_client().run(FLUX, input={"prompt": "slow model"})
    assert len(output) == 1
    assert [r.endpoint for r in fake.requests] == ["replicate"] + ["replicate_poll"] * 3


def test_data_url_outputs_become_file_outputs(fake: FakeAPI) -> None:
    fake.replicate_data_urls = True
    output = fake.replicate_client().run(FLUX, input={"prompt": "inline"})
    data = output[0].read()
    assert Image.open(io.BytesIO(data)).format == "WEBP"
    assert fake.identify(data) == fake.generated[0]


def test_reference_images_as_data_urls_uploads_and_links(fake: FakeAPI) -> None:
    client = fake.replicate_client()
    first = fetch(str(client.run(FLUX, input={"prompt": "the original"})[0]))
    png = io.BytesIO()
    Image.open(io.BytesIO(first)).save(png, "PNG")
    client.run(
        KONTEXT,
        input={"prompt": "as data url", "input_image": io.BytesIO(png.getvalue())},
        file_encoding_strategy="base64",
    )
    assert fake.requests[-1].shown == [fake.generated[0]]
    assert fake.requests[-1].input_images[0].source == "data_url"

    upload = io.BytesIO(png.getvalue())
    upload.name = "ref.png"
    client.run(KONTEXT, input={"prompt": "as upload", "input_image": upload})
    assert [r.endpoint for r in fake.requests[-2:]] == ["replicate_files", "replicate"]
    assert fake.requests[-1].shown == [fake.generated[0]]

    link = f"{fake.base_url}{fake.generated[1].file_path}"
    client.run(KONTEXT, input={"prompt": "as link", "input_image": link})
    assert fake.requests[-1].shown == [fake.generated[1]]
    assert fake.requests[-1].input_images[0].url == link


def test_http_errors_in_problem_details_shape(fake: FakeAPI) -> None:
    client = fake.replicate_client()
    fake.add_rule(
        "replicate",
        [rate_limited(retry_after=3), server_error(500), insufficient_quota(), Fail(503)],
    )
    with pytest.raises(ReplicateError) as limited:
        client.predictions.create(model=FLUX, input={"prompt": "x"})
    assert limited.value.status == 429 and limited.value.title == "Request was throttled"
    assert fake.requests[-1].status == 429
    with pytest.raises(ReplicateError) as broken:
        client.predictions.create(model=FLUX, input={"prompt": "x"})
    assert broken.value.status == 500
    with pytest.raises(ReplicateError) as unpaid:
        client.predictions.create(model=FLUX, input={"prompt": "x"})
    assert unpaid.value.status == 402 and "credit" in (unpaid.value.detail or "")
    with pytest.raises(ReplicateError) as unavailable:
        client.predictions.create(model=FLUX, input={"prompt": "x"})
    assert unavailable.value.status == 503
    assert fake.count("replicate") == 4  # the client does not retry POSTs


def test_the_client_retries_throttled_polls_after_retry_after(fake: FakeAPI) -> None:
    fake.add_rule("replicate_poll", [rate_limited(retry_after=0), server_error(503)])
    fake.add_rule("replicate_poll", [connection_reset()], match="never matches")
    created = fake.replicate_client().predictions.create(model=FLUX, input={"prompt": "x"})
    created.wait()
    assert created.status == "succeeded"
    polls = [r.status for r in fake.requests if r.endpoint == "replicate_poll"]
    assert polls == [429, 503, 200, 200]


def test_bad_token_is_401_and_account_checks_the_token(fake: FakeAPI) -> None:
    assert fake.replicate_client().accounts.current().username == "fake-user"
    wrong = replicate.Client(api_token="r8_wrong", base_url=fake.replicate_base_url)
    with pytest.raises(ReplicateError) as caught:
        wrong.accounts.current()
    assert caught.value.status == 401 and caught.value.title == "Unauthenticated"
    token = replicate.Client(
        base_url=fake.replicate_base_url,
        headers={"Authorization": f"Token {fake.replicate_api_token}"},
    )
    assert token.accounts.current().type == "user"
    fake.add_rule("replicate", [bad_auth()])
    with pytest.raises(ReplicateError) as revoked:
        fake.replicate_client().run(FLUX, input={"prompt": "x"})
    assert revoked.value.status == 401


def test_invalid_input_and_malformed_answers(fake: FakeAPI) -> None:
    client = fake.replicate_client()
    with pytest.raises(ReplicateError) as invalid:
        client.predictions.create(model=FLUX, input={"aspect_ratio": "1:1"})
    assert invalid.value.status == 422 and "prompt is required" in (invalid.value.detail or "")
    with pytest.raises(ReplicateError) as unknown:
        client.predictions.get("doesnotexist")
    assert unknown.value.status == 404
    fake.add_rule("replicate", [malformed_body()])
    with pytest.raises(ValueError):
        client.predictions.create(model=FLUX, input={"prompt": "x"})
    fake.add_rule("replicate", [Ok(defect="dark", latency=0.05)])
    output = client.run(FLUX, input={"prompt": "dark"})
    assert fake.identify(fetch(str(output[0]))).defect == "dark"  # type: ignore[union-attr]


def test_counters_and_state_cover_replicate(fake: FakeAPI) -> None:
    client = fake.replicate_client()
    client.run(FLUX, input={"prompt": "one", "num_outputs": 2})
    state = fake.state()
    assert state["requests"]["replicate"] == {"201": 1}
    assert state["images_paid"] == 2 and state["paid_by_model"] == {FLUX: 2}
    assert state["generated"]["by_endpoint"] == {"replicate": 2}
    assert fake.max_in_flight["replicate"] == 1


def test_standalone_mode_serves_gemini_and_replicate(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    state_file = tmp_path / "state.json"
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            [
                {
                    "endpoint": "gemini",
                    "match": "blank",
                    "responses": [{"kind": "ok", "defect": "blank"}],
                },
                {"endpoint": "replicate", "responses": [{"kind": "prediction", "polls": 2}]},
            ]
        )
    )
    command = [
        sys.executable,
        "-m",
        "tests.fakeapi",
        "--state-file",
        str(state_file),
        "--script",
        str(script),
        "--replicate-api-token",
        "r8_standalone",
        "--latency-replicate_poll",
        "0.01",
    ]
    process = subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().split()[1]
        options = types.HttpOptions(base_url=base_url, api_version="v1beta")
        gemini = genai.Client(api_key="AIzaSy-fake-gemini-key", http_options=options)
        gemini.models.generate_content(model="gemini-2.5-flash-image", contents="a blank wall")
        client = replicate.Client(api_token="r8_standalone", base_url=base_url)
        client.poll_interval = 0.01
        created = client.predictions.create(model=FLUX, input={"prompt": "p"})
        created.wait()
        assert created.status == "succeeded"

        state = json.loads(state_file.read_text())
        assert state["requests"]["gemini"] == {"200": 1}
        assert state["requests"]["replicate_poll"] == {"200": 3}
        assert state["images_paid"] == 2
        assert state["generated"]["by_defect"] == {"blank": 1, "None": 1}
        assert state["predictions"] == {"succeeded": 1}
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
