"""Vision requests to the fake (chat image_url parts, Anthropic image blocks): recorded,
validated and identified, and scripted judge / critic answers that depend on the images."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from PIL import Image

from tests.fakeapi import (
    CRITIC_KEYS,
    JUDGE_KEYS,
    CriticScript,
    FakeAPI,
    JudgeScript,
    Ok,
    malformed,
)

pytest_plugins = ["tests.fakeapi.pytest_plugin"]
CLAUDE = "claude-haiku-4-5"
JUDGE_PROMPT = "Score this image against its description: a lighthouse at dusk."


@pytest.fixture
def fake() -> Iterator[FakeAPI]:
    with FakeAPI() as server:
        yield server


def make_images(fake: FakeAPI, defects: list[str | None]) -> list[bytes]:
    """One generated image per defect, as bytes (the defect scripted by prompt)."""
    for defect in {d for d in defects if d}:
        fake.add_rule("images", [Ok(defect=defect)], match=f"[{defect}]", repeat=True)
    sdk = fake.openai_client(timeout=10)
    made = []
    for index, defect in enumerate(defects):
        result = sdk.images.generate(model="gpt-image-1", prompt=f"candidate {index} [{defect}]")
        assert result.data
        made.append(base64.b64decode(result.data[0].b64_json or ""))
    return made


def as_jpeg(data: bytes, width: int = 768) -> bytes:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image = image.resize((width, round(image.height * width / image.width)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def chat_judge(fake: FakeAPI, image: bytes, media: str = "image/jpeg") -> str:
    url = f"data:{media};base64,{base64.b64encode(image).decode()}"
    result = fake.openai_client(timeout=10).chat.completions.create(
        model="gpt-5-mini",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": JUDGE_PROMPT},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ],
    )
    return result.choices[0].message.content or ""


def claude_judge(fake: FakeAPI, image: bytes, media: str = "image/jpeg") -> str:
    message = fake.anthropic_client(timeout=10).messages.create(
        model=CLAUDE,
        max_tokens=300,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": media,
                            "data": base64.b64encode(image).decode(),
                        },
                    },
                    {"type": "text", "text": JUDGE_PROMPT},
                ],
            }
        ],
    )
    block = message.content[0]
    assert block.type == "text"
    return block.text


# ------------------------------------------------------------------ recorded and identified


def test_chat_image_parts_are_recorded_and_identified(fake: FakeAPI) -> None:
    good, blank = make_images(fake, [None, "blank"])
    chat_judge(fake, as_jpeg(good))
    record = fake.requests[-1]
    assert record.endpoint == "chat"
    assert record.text_parts == [JUDGE_PROMPT]
    (image,) = record.input_images
    assert image.media_type == "image/jpeg" and image.size == (768, 768)
    assert image.source == "data_url" and image.record == fake.generated[0]
    assert record.shown == [fake.generated[0]] and record.status == 200

    chat_judge(fake, as_jpeg(blank))
    assert fake.requests[-1].shown == [fake.generated[1]]


def test_anthropic_image_blocks_are_recorded_and_identified(fake: FakeAPI) -> None:
    (good,) = make_images(fake, [None])
    stranger = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 250, 3)).save(stranger, "PNG")
    message = fake.anthropic_client(timeout=10).messages.create(
        model=CLAUDE,
        max_tokens=100,
        system="You judge images.",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "first"},
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": base64.b64encode(good).decode(),
                        },
                    },
                    {
                        "type": "image",
                        "source": {
                            "type": "base64",
                            "media_type": "image/png",
                            "data": base64.b64encode(stranger.getvalue()).decode(),
                        },
                    },
                ],
            }
        ],
    )
    assert message.usage.input_tokens > 85  # images cost tokens
    record = fake.requests[-1]
    assert record.text_parts == ["You judge images.", "first"]
    assert [image.media_type for image in record.input_images] == ["image/png", "image/png"]
    assert record.shown == [fake.generated[0], None]
    assert record.input_images[1].size == (64, 64)


# ------------------------------------------------------------------ validation


def test_chat_refuses_bad_base64_and_undecodable_images(fake: FakeAPI) -> None:
    sdk = fake.openai_client(timeout=10)

    def send(url: str) -> None:
        sdk.chat.completions.create(
            model="gpt-5-mini",
            messages=[
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}
            ],
        )

    with pytest.raises(openai.BadRequestError) as bad_base64:
        send("data:image/png;base64,%%%not base64%%%")
    assert bad_base64.value.code == "invalid_image_url"
    with pytest.raises(openai.BadRequestError) as not_image:
        send("data:image/png;base64," + base64.b64encode(b"just some text").decode())
    assert not_image.value.code == "invalid_image_format"
    with pytest.raises(openai.BadRequestError) as remote:
        send("https://example.invalid/cat.png")
    assert remote.value.code == "invalid_image_url"
    assert fake.count("chat", status=400) == 3


def test_messages_refuses_bad_images_in_anthropic_shape(fake: FakeAPI) -> None:
    (png,) = make_images(fake, [None])
    with pytest.raises(anthropic.BadRequestError) as mismatch:
        claude_judge(fake, png, media="image/jpeg")
    assert mismatch.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert "appears to be a image/png image" in mismatch.value.message
    with pytest.raises(anthropic.BadRequestError) as junk:
        claude_judge(fake, b"\x89PNG\r\n\x1a\n truncated", media="image/png")
    assert "Could not process image" in junk.value.message
    with pytest.raises(anthropic.BadRequestError):
        claude_judge(fake, png, media="image/bmp")
    assert fake.count("messages", status=400) == 3


# ------------------------------------------------------------------ scripted judge


def test_judge_scores_the_blank_image_high_and_good_ones_low(fake: FakeAPI) -> None:
    good1, blank, good2 = make_images(fake, [None, "blank", None])
    fake.vision_reply = JudgeScript({"blank": 10}, default=3)

    answers = [json.loads(chat_judge(fake, as_jpeg(image))) for image in (good1, blank, good2)]
    assert [answer["scores"]["clarity"] for answer in answers] == [3, 10, 3]
    assert set(answers[1]["scores"]) == set(JUDGE_KEYS)
    assert isinstance(answers[0]["rationale"], str)

    claude = json.loads(claude_judge(fake, as_jpeg(blank)))
    assert claude["scores"] == {key: 10 for key in JUDGE_KEYS}


def test_judge_partial_scores_overrides_and_unknown_images(fake: FakeAPI) -> None:
    good, garbled = make_images(fake, [None, "garbled_text"])
    judge = JudgeScript({"garbled_text": {"text": 1, "artifacts": 4}}, default=8, unknown=5)
    judge.for_image(fake.generated[0], 9)
    judge.then({"composition": 2}, malformed("fenced"))
    fake.vision_reply = judge

    assert json.loads(chat_judge(fake, good))["scores"]["composition"] == 2  # queued override
    assert chat_judge(fake, good).startswith("```json\n")  # queued malformed
    assert json.loads(chat_judge(fake, good))["scores"]["clarity"] == 9  # per image
    scores = json.loads(chat_judge(fake, garbled))["scores"]
    assert scores == {
        "matches_description": 8,
        "clarity": 8,
        "composition": 8,
        "text": 1,
        "artifacts": 4,
    }
    other = io.BytesIO()
    Image.new("RGB", (50, 50), (9, 9, 9)).save(other, "PNG")
    assert json.loads(chat_judge(fake, other.getvalue(), "image/png"))["scores"]["clarity"] == 5
    assert len(judge.calls) == 5 and judge.calls[-1][0] == [None]


@pytest.mark.parametrize(
    "kind", ["not_json", "missing_keys", "fenced", "out_of_range", "truncated"]
)
def test_malformed_judge_answers_on_both_endpoints_with_images(fake: FakeAPI, kind: str) -> None:
    (image,) = make_images(fake, [None])
    fake.add_rule("chat", [Ok(text=malformed(kind))])
    fake.add_rule("messages", [Ok(text=malformed(kind))])
    for answer in (chat_judge(fake, as_jpeg(image)), claude_judge(fake, as_jpeg(image))):
        assert answer == malformed(kind)
        if kind == "out_of_range":
            values = json.loads(answer)["scores"].values()
            assert any(not 1 <= value <= 10 for value in values)
        elif kind == "missing_keys":
            assert set(json.loads(answer)["scores"]) != set(JUDGE_KEYS)
        elif kind != "fenced":
            with pytest.raises(json.JSONDecodeError):
                json.loads(answer)
    assert [record.shown for record in fake.requests[-2:]] == [[fake.generated[0]]] * 2


def test_rule_reply_function_sees_the_images(fake: FakeAPI) -> None:
    blank, good = make_images(fake, ["blank", None])
    seen: list[Any] = []

    def reply(body: dict[str, Any], images: Any) -> str:
        seen.append(list(images))
        return "blank" if images[0] and images[0].defect == "blank" else "fine"

    fake.add_rule("messages", [Ok(reply=reply)], repeat=True, match="lighthouse")
    assert claude_judge(fake, as_jpeg(blank)) == "blank"
    assert claude_judge(fake, as_jpeg(good)) == "fine"
    assert seen == [[fake.generated[0]], [fake.generated[1]]]


def test_judge_from_the_json_rule_form(fake: FakeAPI) -> None:
    (blank,) = make_images(fake, ["blank"])
    fake.add_rule_json(
        {
            "endpoint": "chat",
            "repeat": True,
            "responses": [{"kind": "judge", "by_defect": {"blank": 10}, "default": 2, "then": [4]}],
        }
    )
    assert json.loads(chat_judge(fake, blank))["scores"]["clarity"] == 4
    assert json.loads(chat_judge(fake, blank))["scores"]["clarity"] == 10
    fake.add_rule_json(
        {"endpoint": "messages", "responses": [{"kind": "malformed", "malformed": "not_json"}]}
    )
    assert claude_judge(fake, as_jpeg(blank)) == malformed("not_json")


# ------------------------------------------------------------------ scripted critic


def critic_call(fake: FakeAPI, title: str, endpoint: str = "messages") -> dict[str, Any]:
    text = f"Critique this image prompt for the chapter '{title}': a wide shot of ..."
    if endpoint == "chat":
        result = fake.openai_client(timeout=10).chat.completions.create(
            model="gpt-5-mini", messages=[{"role": "user", "content": text}]
        )
        return json.loads(result.choices[0].message.content or "")
    message = fake.anthropic_client(timeout=10).messages.create(
        model=CLAUDE, max_tokens=400, messages=[{"role": "user", "content": text}]
    )
    block = message.content[0]
    assert block.type == "text"
    return json.loads(block.text)


def test_critic_scores_rise_per_chapter(fake: FakeAPI) -> None:
    critic = CriticScript({"The harbour": [60, 75, 90], "The market": [{"specificity": 40}, 95]})
    fake.add_rule("messages", [Ok(reply=critic)], match="Critique", repeat=True)
    fake.add_rule("chat", [Ok(reply=critic)], match="Critique", repeat=True)

    harbour = [critic_call(fake, "The harbour")["scores"]["completeness"] for _ in range(4)]
    assert harbour == [60, 75, 90, 90]
    market = critic_call(fake, "The market", endpoint="chat")
    assert market["scores"]["specificity"] == 40 and market["scores"]["completeness"] == 80
    assert market["feedback"], "feedback while a score is under 90"
    final = critic_call(fake, "The market")
    assert set(final["scores"]) == set(CRITIC_KEYS) and final["feedback"] == []
    assert critic_call(fake, "Elsewhere")["scores"]["cinematography"] == 80
    assert critic.count("The harbour") == 4


def test_critic_from_the_json_rule_form(fake: FakeAPI) -> None:
    fake.add_rule_json(
        {
            "endpoint": "messages",
            "match": "Critique",
            "repeat": True,
            "responses": [{"kind": "critic", "sequences": {"Dawn": [50, 70]}, "default": 85}],
        }
    )
    assert [critic_call(fake, "Dawn")["scores"]["professionalism"] for _ in range(3)] == [
        50,
        70,
        70,
    ]
