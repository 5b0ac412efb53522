"""The fake's images: textured and varied, scriptable defects, the registry that finds them
again, DALL-E URL answers and image edits, with the real openai SDK as the client."""

from __future__ import annotations

import base64
import io
import json
import statistics
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from PIL import Image, ImageFilter, ImageOps, ImageStat

from tests.fakeapi import DEFECTS, FakeAPI, GeneratedRecord, Ok, content_policy, prompt_colour
from tests.fakeapi import render as fake_render
from tests.fakeapi.registry import Registry, ahash

pytest_plugins = ["tests.fakeapi.pytest_plugin"]


@pytest.fixture
def fake() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def client(fake: FakeAPI) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=fake.api_key, base_url=fake.openai_base_url, max_retries=0, timeout=10
    )


def generate(fake: FakeAPI, prompt: str, **kwargs: Any) -> bytes:
    kwargs.setdefault("model", "gpt-image-1.5")
    kwargs.setdefault("size", "1536x1024")
    result = client(fake).images.generate(prompt=prompt, **kwargs)
    assert result.data
    return base64.b64decode(result.data[0].b64_json or "")


def grey(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("L")


def stddev(data: bytes) -> float:
    return ImageStat.Stat(grey(data)).stddev[0]


def edge_energy(data: bytes) -> float:
    """Mean absolute Laplacian of the grey image at half size (a common sharpness check)."""
    image = grey(data).reduce(2)
    laplacian = image.filter(ImageFilter.Kernel((3, 3), [0, 1, 0, 1, -4, 1, 0, 1, 0], 1, 128))
    return abs(ImageStat.Stat(laplacian).mean[0] - 128) + ImageStat.Stat(laplacian).stddev[0]


def client_copy(data: bytes) -> bytes:
    """What a video pipeline does to an image before showing it to a judge: cover 1920x1080
    (centre crop), JPEG quality 80, then 768 px wide."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image = ImageOps.fit(image, (1920, 1080), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    image = Image.open(io.BytesIO(buffer.getvalue())).resize((768, 432), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


# ------------------------------------------------------------------ texture and variety


def test_images_are_textured_and_differ_even_for_the_same_prompt(fake: FakeAPI) -> None:
    images = [generate(fake, "the harbour at night") for _ in range(3)]
    images.append(generate(fake, "a mountain village"))

    hashes = {ahash(Image.open(io.BytesIO(data))) for data in images}
    assert len(set(images)) == 4 and len(hashes) == 4
    for data in images:
        assert stddev(data) > 20, "not a flat fill"
        assert edge_energy(data) > 5, "has hard edges"
        assert Image.open(io.BytesIO(data)).convert("RGB").getpixel((3, 3)) == prompt_colour(
            fake.requests[images.index(data)].prompt or ""
        )
    records = fake.generated
    assert [record.id for record in records] == [1, 2, 3, 4]
    assert [record.defect for record in records] == [None] * 4
    assert records[0].size == (1536, 1024) and records[0].model == "gpt-image-1.5"


def test_a_run_is_reproducible_given_the_same_requests(fake: FakeAPI) -> None:
    first = [generate(fake, prompt) for prompt in ("a", "b", "a")]
    fake.reset()
    again = [generate(fake, prompt) for prompt in ("a", "b", "a")]
    assert first == again


def test_rendering_and_encoding_is_fast() -> None:
    # The figure in render.py's docstring (~17 ms); the bound leaves room for a busy machine.
    fake_render.render(fake_render.seed_for("warm", 0), 1536, 1024)
    times = []
    for index in range(5):
        started = time.perf_counter()
        drawn = fake_render.render(fake_render.seed_for("speed", index), 1536, 1024)
        fake_render.encode(drawn.image)
        times.append(time.perf_counter() - started)
    assert statistics.median(times) < 0.15


# ------------------------------------------------------------------ defects


def test_scripted_defects_are_drawn_and_recorded(fake: FakeAPI) -> None:
    for defect in DEFECTS:
        fake.add_rule("images", [Ok(defect=defect)], match=f"<{defect}>")
    clean = generate(fake, "clean")
    made = {defect: generate(fake, f"chapter <{defect}>") for defect in DEFECTS}

    assert stddev(made["blank"]) < 3 < stddev(clean)
    dark = ImageStat.Stat(grey(made["dark"]))
    assert dark.mean[0] < 40 and dark.extrema[0][0] == 0
    assert edge_energy(made["blurry"]) < edge_energy(clean) / 2
    # cropped: about half of the frame is one flat colour
    cropped = Image.open(io.BytesIO(made["cropped"])).convert("RGB")
    most = max(cropped.getcolors(1 << 20) or [(0, None)], key=lambda item: item[0])[0]
    assert most > 0.4 * cropped.width * cropped.height
    records = {record.defect: record for record in fake.generated}
    assert set(records) == {None, *DEFECTS}
    letters = records["garbled_text"].text
    assert letters and all(len(row.split()) == 3 for row in letters)


def test_defects_per_image_and_from_the_json_rule_form(fake: FakeAPI) -> None:
    fake.add_rule("images", [Ok(defect=["blank", None, "dark"])])
    result = client(fake).images.generate(model="gpt-image-1", prompt="three", n=3)
    assert result.data and len(result.data) == 3
    assert [record.defect for record in fake.generated] == ["blank", None, "dark"]

    fake.add_rule_json(
        {"endpoint": "images", "match": "json", "responses": [{"kind": "ok", "defect": "blurry"}]}
    )
    generate(fake, "from json")
    assert fake.generated[-1].defect == "blurry"
    with pytest.raises(ValueError, match="unknown defect"):
        Ok(defect="smudged")


def test_callable_match_picks_the_defective_request(fake: FakeAPI) -> None:
    fake.add_rule("images", [Ok(defect="blank")], match=lambda body: body.get("quality") == "low")
    generate(fake, "x", quality="high")
    generate(fake, "x", quality="low")
    assert [record.defect for record in fake.generated] == [None, "blank"]


# ------------------------------------------------------------------ registry


def test_identify_survives_crop_jpeg_and_downscale(fake: FakeAPI) -> None:
    sizes = ["1536x1024", "1024x1024", "1024x1536"]
    made = [generate(fake, f"chapter {i}", size=sizes[i % 3]) for i in range(9)]
    for index, data in enumerate(made):
        found = fake.identify(client_copy(data))
        assert found is not None and found.id == index + 1
    # An image the fake never made is not mistaken for one of its own.
    stranger = fake_render.render(fake_render.seed_for("never generated", 0), 1536, 1024)
    assert fake.identify(client_copy(fake_render.encode(stranger.image))) is None


@pytest.mark.parametrize("defect", ["cropped", "garbled_text", "dark", "blurry"])
def test_identify_defective_images(fake: FakeAPI, defect: str) -> None:
    fake.add_rule("images", [Ok(defect=defect)], repeat=True)
    made = [generate(fake, f"d{i}") for i in range(3)]
    assert [fake.identify(client_copy(data)).id for data in made] == [1, 2, 3]  # type: ignore[union-attr]


def test_blank_images_are_told_apart_only_by_colour() -> None:
    # Blank images have no structure to hash: a copy matches the blank of the nearest
    # colour, which is right unless two blanks share about the same colour.
    registry = Registry()
    made = [
        registry.generate(
            endpoint="images", prompt=f"b{i}", model="m", size=(1024, 1024), defect="blank"
        )
        for i in range(4)
    ]
    for record, data in made:
        found = registry.identify(client_copy(data))
        # These four seeds have clearly different colours, so each is found exactly.
        assert found is not None and found.defect == "blank" and found.id == record.id


def test_identify_control_endpoint_for_other_processes(fake: FakeAPI) -> None:
    data = generate(fake, "over the wire")
    request = urllib.request.Request(f"{fake.base_url}/_fake/identify", data=client_copy(data))
    with urllib.request.urlopen(request, timeout=5) as response:
        answer = json.loads(response.read())
    assert answer["record"]["id"] == 1 and answer["record"]["prompt"] == "over the wire"
    with urllib.request.urlopen(f"{fake.base_url}/_fake/generated", timeout=5) as response:
        assert [item["id"] for item in json.loads(response.read())] == [1]


# ------------------------------------------------------------------ DALL-E URLs


def test_dalle_answers_a_url_unless_b64_json_is_asked(fake: FakeAPI) -> None:
    sdk = client(fake)
    url_answer = sdk.images.generate(model="dall-e-3", prompt="a boat", size="1024x1792")
    assert url_answer.data and url_answer.data[0].url and url_answer.data[0].b64_json is None
    with urllib.request.urlopen(url_answer.data[0].url, timeout=5) as response:
        served = response.read()
        assert response.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(served)).size == (1024, 1792)
    assert fake.identify(served) == fake.generated[0]

    b64 = sdk.images.generate(
        model="dall-e-2", prompt="a boat", size="512x512", response_format="b64_json"
    )
    assert b64.data and b64.data[0].b64_json and b64.data[0].url is None
    gpt = sdk.images.generate(model="gpt-image-1", prompt="a boat")
    assert gpt.data and gpt.data[0].b64_json and gpt.data[0].url is None
    assert fake.images_paid == 3


def test_served_file_is_rendered_again_when_no_longer_cached(fake: FakeAPI) -> None:
    result = client(fake).images.generate(model="dall-e-3", prompt="kept")
    assert result.data and result.data[0].url
    with fake.registry._lock:
        fake.registry._files.clear()
    with urllib.request.urlopen(result.data[0].url, timeout=5) as response:
        assert fake.identify(response.read()) == fake.generated[0]


# ------------------------------------------------------------------ edits


def test_edit_with_one_reference_image(fake: FakeAPI) -> None:
    reference = generate(fake, "the original")
    fake.add_rule("edits", [Ok(defect="garbled_text")], match="add a sign")
    result = client(fake).images.edit(
        model="gpt-image-1.5",
        image=("ref.png", reference, "image/png"),
        prompt="add a sign",
        size="1536x1024",
        quality="low",
    )
    assert result.data and result.usage and result.usage.input_tokens_details
    assert result.usage.input_tokens_details.image_tokens > 0
    edited = base64.b64decode(result.data[0].b64_json or "")
    assert Image.open(io.BytesIO(edited)).size == (1536, 1024)

    record = fake.requests[-1]
    assert record.endpoint == "edits" and record.prompt == "add a sign"
    assert record.json["quality"] == "low"
    assert len(record.input_images) == 1
    assert record.input_images[0].where == "image" and record.shown == [fake.generated[0]]
    assert fake.generated[-1].defect == "garbled_text" and fake.generated[-1].endpoint == "edits"
    assert fake.paid_by_model == {"gpt-image-1.5": 2} and fake.count(endpoint="edits") == 1


def test_edit_with_a_list_of_images_jpeg_and_unknown(fake: FakeAPI) -> None:
    first, second = generate(fake, "one"), generate(fake, "two")
    other = io.BytesIO()
    Image.new("RGB", (300, 200), (200, 10, 10)).save(other, "PNG")
    result = client(fake).images.edit(
        model="gpt-image-1",
        image=[
            ("a.jpg", client_copy(second), "image/jpeg"),
            ("b.png", first, "image/png"),
            ("c.png", other.getvalue(), "image/png"),
        ],
        prompt="combine them",
        n=2,
    )
    assert result.data and len(result.data) == 2
    record = fake.requests[-1]
    assert [image.where for image in record.input_images] == ["image[]"] * 3
    assert [image.media_type for image in record.input_images] == [
        "image/jpeg",
        "image/png",
        "image/png",
    ]
    generated = fake.generated
    assert record.shown == [generated[1], generated[0], None]
    assert fake.images_paid == 4


def test_edit_refuses_what_the_real_api_refuses(fake: FakeAPI) -> None:
    sdk = client(fake)
    with pytest.raises(openai.BadRequestError) as not_an_image:
        sdk.images.edit(
            model="gpt-image-1", image=("x.png", b"not an image", "image/png"), prompt="x"
        )
    assert not_an_image.value.code == "invalid_image_file"
    with pytest.raises(openai.BadRequestError) as dalle3:
        sdk.images.edit(
            model="dall-e-3", image=("x.png", generate(fake, "p"), "image/png"), prompt="x"
        )
    assert dalle3.value.param == "model"
    fake.add_rule("edits", [content_policy()])
    with pytest.raises(openai.BadRequestError) as refused:
        sdk.images.edit(
            model="gpt-image-1", image=("x.png", generate(fake, "q"), "image/png"), prompt="x"
        )
    assert refused.value.code == "moderation_blocked"
    assert fake.count(endpoint="edits", status=400) == 3
    assert fake.paid_by_model == {"gpt-image-1.5": 2}


def test_registry_records_say_where_a_file_is_served(fake: FakeAPI) -> None:
    generate(fake, "served")
    record: GeneratedRecord = fake.generated[0]
    with urllib.request.urlopen(f"{fake.base_url}{record.file_path}", timeout=5) as response:
        assert Image.open(io.BytesIO(response.read())).size == record.size
    assert len(record.ahash) == 16 and record.summary()["prompt"] == "served"
