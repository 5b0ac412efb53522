"""A loopback fake of the OpenAI (images, edits, chat), Anthropic (messages), Gemini
(generateContent) and Replicate (predictions) HTTP APIs, for the real SDKs.

Point the SDKs at it (``fake.openai_client()``, ``fake.anthropic_client()``,
``fake.gemini_client()``, ``fake.replicate_client()``, or the ``*_base_url`` properties)
and script answers with ``fake.add_rule(endpoint, [spec, ...], match=...)``. Endpoints:
"images", "edits", "chat", "messages", "gemini", "replicate" (prediction creation),
"replicate_poll" (GET of a prediction). ``match`` is a substring of the prompt / message
text, or fn(json_body) -> bool.

Images are textured and different per request (``render.py``); a rule can draw a defect
into them: ``Ok(defect="blank")`` (also "cropped", "garbled_text", "dark", "blurry").
Every image lands in ``fake.registry`` (``fake.generated``); ``fake.identify(bytes)``
finds which one a client's (resized, re-encoded, cropped) copy came from, and requests
that show images record them (``record.input_images``, ``record.shown``).

Scripted LLM answers that see the images: ``fake.vision_reply = fn(body, images)`` or
``Ok(reply=fn)``; ``JudgeScript`` and ``CriticScript`` implement imagegen's judge and
critic contracts, ``malformed(kind)`` their broken answers.

Replicate: ``prediction(status=..., polls=..., error=...)``; Gemini: ``prompt_blocked()``,
``no_image("IMAGE_SAFETY")``. Generic faults (``rate_limited``, ``server_error``,
``bad_auth``, ...) answer in the shape of the endpoint's API.
"""

from tests.fakeapi.images import prompt_colour
from tests.fakeapi.judging import (
    CRITIC_KEYS,
    JUDGE_KEYS,
    CriticScript,
    JudgeScript,
    critic_json,
    judge_json,
    malformed,
)
from tests.fakeapi.registry import GeneratedRecord, Registry
from tests.fakeapi.render import DEFECTS
from tests.fakeapi.responses import (
    Fail,
    NoImage,
    Ok,
    Prediction,
    PromptBlocked,
    Spec,
    bad_auth,
    bad_base64,
    connection_reset,
    content_policy,
    empty_body,
    empty_data,
    forbidden,
    insufficient_quota,
    malformed_body,
    model_not_found,
    no_image,
    overloaded,
    prediction,
    prompt_blocked,
    rate_limited,
    server_error,
    spec_from_json,
    timeout,
)
from tests.fakeapi.rules import Rule
from tests.fakeapi.server import FakeAPI, RequestRecord
from tests.fakeapi.vision import InputImage

__all__ = [
    "CRITIC_KEYS",
    "DEFECTS",
    "JUDGE_KEYS",
    "CriticScript",
    "Fail",
    "FakeAPI",
    "GeneratedRecord",
    "InputImage",
    "JudgeScript",
    "NoImage",
    "Ok",
    "Prediction",
    "PromptBlocked",
    "Registry",
    "RequestRecord",
    "Rule",
    "Spec",
    "bad_auth",
    "bad_base64",
    "connection_reset",
    "content_policy",
    "critic_json",
    "empty_body",
    "empty_data",
    "forbidden",
    "insufficient_quota",
    "judge_json",
    "malformed",
    "malformed_body",
    "model_not_found",
    "no_image",
    "overloaded",
    "prediction",
    "prompt_blocked",
    "prompt_colour",
    "rate_limited",
    "server_error",
    "spec_from_json",
    "timeout",
]
