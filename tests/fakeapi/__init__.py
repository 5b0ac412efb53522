"""A loopback fake of the OpenAI (images, edits, chat), Anthropic (messages), Gemini
(generateContent) and Replicate (predictions) HTTP APIs, for the real SDKs.

Clients: ``fake.openai_client()``, ``fake.anthropic_client()``, ``fake.gemini_client()``
(keep a reference to it), ``fake.replicate_client()``, or the ``*_base_url`` properties
with ``fake.api_key`` / ``fake.gemini_api_key`` / ``fake.replicate_api_token``.

Rules: ``fake.add_rule(endpoint, [spec, ...], match=..., repeat=False)``. Endpoints:
"images", "edits", "chat", "messages", "gemini", "replicate" (creating a prediction),
"replicate_poll" (GET of one, matched against its creation body). ``match``: a substring
of the prompt / message text, or fn(json_body) -> bool. JSON form (``--script``,
``POST /_fake/rules``): ``{"endpoint", "match", "repeat", "responses": [{"kind": ...}]}``.

Images (``render.py``) are textured and differ per request, reproducibly; defects::

    fake.add_rule("images", [Ok(defect="blank")], match="chapter 3")
    fake.add_rule("images", [Ok(defect=["blank", None, "dark"])])      # per image of n=3
    {"endpoint": "gemini", "responses": [{"kind": "ok", "defect": "garbled_text"}]}

Registry: ``fake.generated`` (``GeneratedRecord``: id, prompt, model, defect, size, ahash,
text, file_path) and ``fake.identify(bytes) -> GeneratedRecord | None`` (survives resize,
16:9 centre crop, JPEG). Requests that send images record them::

    record = fake.requests[-1]
    record.input_images[0].record    # or None; also .size, .media_type, .where
    record.shown                     # [GeneratedRecord | None, ...]
    record.text_parts

Answers that see the images (chat, messages, Gemini text models)::

    fake.vision_reply = JudgeScript({"blank": 10}, default=3)           # fn(body, images)
    judge.then({"clarity": 2}, malformed("fenced")).for_image(record, 9)
    fake.add_rule("messages", [Ok(reply=CriticScript({"The harbour": [60, 75, 90]}))],
                  match="Critique", repeat=True)
    fake.add_rule("chat", [Ok(text=malformed("not_json"))])

DALL-E answers URLs unless ``response_format="b64_json"``; files are served at
``/_fake/files/{id}.{fmt}``. Replicate: ``prediction("failed", error=..., polls=3,
output="list", defect=..., wait_expires=True)``, ``fake.replicate_polls``,
``fake.replicate_data_urls``. Gemini: ``prompt_blocked("PROHIBITED_CONTENT")``,
``no_image("IMAGE_SAFETY")``. Generic faults (``rate_limited``, ``server_error``,
``bad_auth``, ``content_policy``, ``malformed_body``, ...) answer in the shape of the
endpoint's API. Counters (``images_paid``, ``paid_by_model``, ``count(endpoint=...)``,
``max_in_flight``, ``state()``) cover every endpoint.
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
