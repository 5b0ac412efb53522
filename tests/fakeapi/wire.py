"""Wire shapes of the OpenAI and Anthropic APIs: success bodies, error bodies, validation.

Also the pieces every face shares (``Reply``, ``RequestContext``, ``ENDPOINTS``). Everything
here is a function of the request (and of the images the fake generates for it), so faults
in ``responses.py`` and the default success path build exactly the same bodies. The Gemini
and Replicate shapes live in ``gemini_face.py`` and ``replicate_face.py``; ``faces.py``
picks the right one for an endpoint.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakeapi import images
from tests.fakeapi.registry import GeneratedRecord
from tests.fakeapi.vision import Inputs

if TYPE_CHECKING:
    from tests.fakeapi.server import FakeAPI

# Endpoints rules can target. "replicate" creates predictions, "replicate_poll" is a
# GET of one; "edits" is POST /v1/images/edits; "gemini" is :generateContent.
ENDPOINTS = ("images", "edits", "chat", "messages", "gemini", "replicate", "replicate_poll")
# Endpoints that make images (and so take a scripted ``defect``).
IMAGE_ENDPOINTS = ("images", "edits", "gemini", "replicate", "replicate_poll")
# What the fake assumes when a request names no model (the real default, dall-e-2, is retired).
DEFAULT_IMAGE_MODEL = "gpt-image-1"

ReplyText = str | Callable[[dict[str, Any]], str] | None
# fn(body, images) -> answer text; images are the generated images the request showed
# (None for one the fake did not recognise).
VisionReply = Callable[[dict[str, Any], Sequence[GeneratedRecord | None]], str]
Defects = str | Sequence[str | None] | None


@dataclass(frozen=True)
class RequestContext:
    """What a response spec may look at to render its answer."""

    endpoint: str
    body: dict[str, Any]
    request_id: str
    base_url: str
    reply_text: ReplyText = None
    vision_reply: VisionReply | None = None
    inputs: Inputs = field(default_factory=Inputs)
    params: Mapping[str, str] = field(default_factory=dict)  # from the path, e.g. model
    fake: FakeAPI | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Reply:
    """One rendered answer. ``delay=None`` means "the configured latency of the endpoint"."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float | None = None
    reset: bool = False
    images: int = 0
    kind: str = "ok"
    generated: list[GeneratedRecord] = field(default_factory=list)
    # What the images are billed as when the request body does not say (Replicate polls).
    prompt: str | None = None
    model: str | None = None


def json_reply(status: int, payload: object, headers: dict[str, str] | None = None) -> Reply:
    merged = {"content-type": "application/json"}
    merged.update(headers or {})
    return Reply(status=status, body=json.dumps(payload).encode(), headers=merged)


def new_id(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(12)}"


# ---------------------------------------------------------------- errors


def openai_error(
    message: str, type_: str, param: str | None = None, code: str | None = None, **extra: Any
) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": type_, "param": param, "code": code}
    error.update(extra)
    return {"error": error}


def anthropic_error(type_: str, message: str, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": request_id}


_OPENAI_BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("invalid_request_error", "Incorrect API key provided."),
    403: ("invalid_request_error", "You are not allowed to access this resource."),
    404: ("invalid_request_error", "The requested resource was not found."),
    408: ("timeout", "Request timed out."),
    409: ("invalid_request_error", "Conflict."),
    422: ("invalid_request_error", "Unprocessable entity."),
    429: ("requests", "Rate limit reached. Please try again later."),
    500: (
        "server_error",
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", "Bad gateway."),
    503: ("server_error", "The server is overloaded or not ready yet."),
}

_ANTHROPIC_BY_STATUS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "Not found."),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def default_error_body(endpoint: str, status: int, request_id: str) -> dict[str, Any]:
    """A plausible error body for ``status`` in the shape of the endpoint's API."""
    if endpoint == "messages":
        fallback = ("api_error", "Internal server error") if status >= 500 else ("error", "Error")
        type_, message = _ANTHROPIC_BY_STATUS.get(status, fallback)
        return anthropic_error(type_, message, request_id)
    fallback = ("server_error", "Server error.") if status >= 500 else ("error", "Error.")
    type_, message = _OPENAI_BY_STATUS.get(status, fallback)
    return openai_error(message, type_)


def error_reply(endpoint: str, status: int, request_id: str, kind: str = "error") -> Reply:
    reply = json_reply(status, default_error_body(endpoint, status, request_id))
    reply.kind = kind
    return reply


def mask_key(key: str) -> str:
    return key[:5] + "****" + (key[-4:] if len(key) > 12 else "")


def auth_error(endpoint: str, given: str | None, request_id: str) -> Reply:
    """401 in the API's own shape, for a missing or wrong key."""
    if endpoint == "messages":
        message = "x-api-key header is required" if not given else "invalid x-api-key"
        reply = json_reply(401, anthropic_error("authentication_error", message, request_id))
    elif not given:
        message = (
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
        )
        reply = json_reply(401, openai_error(message, "invalid_request_error"))
    else:
        message = (
            f"Incorrect API key provided: {mask_key(given)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys."
        )
        reply = json_reply(
            401, openai_error(message, "invalid_request_error", code="invalid_api_key")
        )
    reply.kind = "bad_auth"
    return reply


# ---------------------------------------------------------------- request text


def content_text(content: object) -> str:
    """Text of a message ``content``: a string or a list of ``{"type": "text"}`` blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            str(block.get("text", ""))
            for block in content
            if isinstance(block, dict) and block.get("type") in ("text", "input_text")
        ]
        return "\n".join(parts)
    return ""


def request_text(endpoint: str, body: dict[str, Any]) -> str:
    """What a string ``match`` is searched in: the prompt, or all message text joined."""
    if endpoint in ("images", "edits"):
        return str(body.get("prompt", ""))
    if endpoint == "gemini":
        return gemini_text(body)
    if endpoint in ("replicate", "replicate_poll"):
        given = body.get("input")
        return str(given.get("prompt", "")) if isinstance(given, dict) else ""
    parts = [content_text(body.get("system"))] if endpoint == "messages" else []
    for message in body.get("messages") or []:
        if isinstance(message, dict):
            parts.append(content_text(message.get("content")))
    return "\n".join(part for part in parts if part)


def gemini_text(body: dict[str, Any]) -> str:
    """All text parts of a Gemini request (system instruction first)."""
    found: list[str] = []
    system = body.get("systemInstruction") or body.get("system_instruction")
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    for content in [system, *(contents if isinstance(contents, list) else [])]:
        if isinstance(content, dict):
            for part in content.get("parts") or []:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    found.append(part["text"])
    return "\n".join(found)


def request_prompt(endpoint: str, body: Any) -> str | None:
    """The image prompt of a request (None when it has none)."""
    if not isinstance(body, dict):
        return None
    if endpoint == "gemini":
        return gemini_text(body) or None
    if endpoint in ("replicate", "replicate_poll"):
        text = request_text(endpoint, body)
        return text or None
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else None


def last_user_text(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_text(message.get("content"))
    return ""


def default_reply_text(body: dict[str, Any]) -> str:
    """A plausible image prompt built from the last user message."""
    words = " ".join(last_user_text(body).split())
    snippet = words[:200].rstrip(" ,.;:") or "a quiet empty room"
    return f"A clean illustration of {snippet}, soft even lighting, simple composition, no text."


def reply_text(ctx: RequestContext, text: str | None, reply: VisionReply | None = None) -> str:
    """The answer: a rule's text, a rule's reply function, the fake's vision_reply, the
    fake's reply_text, else a plausible image prompt."""
    if text is not None:
        return text
    if reply is not None:
        return reply(ctx.body, ctx.inputs.records)
    if ctx.vision_reply is not None:
        return ctx.vision_reply(ctx.body, ctx.inputs.records)
    if callable(ctx.reply_text):
        return ctx.reply_text(ctx.body)
    if ctx.reply_text is not None:
        return ctx.reply_text
    if ctx.endpoint == "gemini":
        return default_reply_text(
            {"messages": [{"role": "user", "content": gemini_text(ctx.body)}]}
        )
    return default_reply_text(ctx.body)


# ---------------------------------------------------------------- validation


def validate(endpoint: str, body: object, request_id: str, strict_images: bool) -> Reply | None:
    """The real API's 400 for a malformed request, or None when the request is acceptable."""
    if endpoint == "messages":
        return _validate_messages(body, request_id)
    if not isinstance(body, dict):
        message = (
            "We could not parse the JSON body of your request. (HINT: This likely means you "
            "aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)"
        )
        return _invalid(openai_error(message, "invalid_request_error"))
    if endpoint == "chat":
        for name in ("model", "messages"):
            if not body.get(name):
                return _missing(name)
        return None
    if endpoint == "edits" and str(body.get("model") or "") == "dall-e-3":
        message = (
            "Invalid value: 'dall-e-3'. Supported values are: 'dall-e-2', 'gpt-image-1', "
            "'gpt-image-1-mini', 'gpt-image-1.5' and 'gpt-image-2'."
        )
        return _invalid(openai_error(message, "invalid_request_error", "model", "invalid_value"))
    return _validate_images(body, strict_images)


def _invalid(payload: dict[str, Any]) -> Reply:
    reply = json_reply(400, payload)
    reply.kind = "invalid_request"
    return reply


def _missing(name: str) -> Reply:
    message = f"Missing required parameter: '{name}'."
    return _invalid(
        openai_error(message, "invalid_request_error", name, "missing_required_parameter")
    )


def _validate_images(body: dict[str, Any], strict: bool) -> Reply | None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return _missing("prompt")
    model = str(body.get("model") or DEFAULT_IMAGE_MODEL)
    limit = 32000 if images.is_gpt_image(model) else 4000 if model == "dall-e-3" else 1000
    if images.is_dalle(model) and len(prompt) > limit:
        message = (
            f"Invalid 'prompt': string too long. Expected a string with maximum length {limit}, "
            f"but got a string with length {len(prompt)} instead."
        )
        return _invalid(
            openai_error(message, "invalid_request_error", "prompt", "string_above_max_length")
        )
    n = body.get("n", 1)
    max_n = 1 if model == "dall-e-3" else 10
    if not isinstance(n, int) or not 1 <= n <= max_n:
        message = f"Invalid 'n': expected an integer between 1 and {max_n}, got {n!r}."
        return _invalid(openai_error(message, "invalid_request_error", "n", "invalid_value"))
    size = body.get("size")
    if size is not None:
        problem = images.size_error(model, str(size)) if strict else None
        parsed = images.parse_size(str(size))
        if problem is None and (parsed is None or not 16 <= min(parsed) <= max(parsed) <= 4096):
            # Even when not strict, refuse sizes that would make the fake allocate gigabytes.
            problem = f"Invalid value: '{size}'. Expected a size like '1024x1024'."
        if problem is not None:
            return _invalid(openai_error(problem, "invalid_request_error", "size", "invalid_value"))
    quality = body.get("quality")
    if strict and quality is not None:
        problem = images.quality_error(model, str(quality))
        if problem is not None:
            return _invalid(
                openai_error(problem, "invalid_request_error", "quality", "invalid_value")
            )
    return None


def _validate_messages(body: object, request_id: str) -> Reply | None:
    if not isinstance(body, dict):
        payload = anthropic_error(
            "invalid_request_error", "There was an issue with the JSON body.", request_id
        )
        return _invalid(payload)
    for name in ("model", "max_tokens", "messages"):
        if name not in body:
            return _invalid(
                anthropic_error("invalid_request_error", f"{name}: Field required", request_id)
            )
    return None


# ---------------------------------------------------------------- success bodies


def image_size(body: dict[str, Any]) -> str:
    model = str(body.get("model") or DEFAULT_IMAGE_MODEL)
    size = str(body.get("size") or ("auto" if images.is_gpt_image(model) else "1024x1024"))
    return "1024x1024" if size == "auto" else size


def defect_for(defects: Defects, index: int) -> str | None:
    """The defect of image ``index``: one name for all, or one per image (None: clean)."""
    if defects is None or isinstance(defects, str):
        return defects
    return defects[index] if index < len(defects) else None


def generate(
    ctx: RequestContext,
    *,
    prompt: str,
    model: str,
    size: tuple[int, int],
    fmt: str,
    defects: Defects,
    index: int,
    swatch: bool = True,
) -> tuple[GeneratedRecord, bytes]:
    """Render, register and encode one image for this request."""
    if ctx.fake is None:
        raise RuntimeError("rendering an image needs the FakeAPI in the request context")
    return ctx.fake.registry.generate(
        endpoint=ctx.endpoint,
        prompt=prompt,
        model=model,
        size=size,
        fmt=fmt,
        defect=defect_for(defects, index),
        swatch=images.prompt_colour(prompt, index) if swatch else None,
        request_id=ctx.request_id,
    )


def image_success(ctx: RequestContext, text: str | None = None, defects: Defects = None) -> Reply:
    """A 200 images (or edits) answer with ``n`` real images of the requested size.

    DALL-E models answer URLs unless the request asks for ``b64_json`` (like the real API);
    GPT image models always answer base64.
    """
    body = ctx.body
    prompt = str(body["prompt"])
    model = str(body.get("model") or DEFAULT_IMAGE_MODEL)
    size = image_size(body)
    width, height = images.parse_size(size) or (1024, 1024)
    n = int(body.get("n") or 1)
    gpt = images.is_gpt_image(model)
    fmt = str(body.get("output_format") or "png") if gpt else "png"
    if fmt not in ("png", "jpeg", "webp"):
        fmt = "png"
    quality = images.resolved_quality(model, body.get("quality"))
    wants_url = images.is_dalle(model) and body.get("response_format") != "b64_json"

    data: list[dict[str, Any]] = []
    made: list[GeneratedRecord] = []
    for index in range(n):
        record, encoded = generate(
            ctx,
            prompt=prompt,
            model=model,
            size=(width, height),
            fmt=fmt,
            defects=defects,
            index=index,
        )
        made.append(record)
        item: dict[str, Any] = {}
        if wants_url:
            item["url"] = f"{ctx.base_url}{record.file_path}"
        else:
            item["b64_json"] = base64.b64encode(encoded).decode("ascii")
        if model == "dall-e-3":
            item["revised_prompt"] = (
                text if text is not None else f"{prompt} Rendered as a detailed digital painting."
            )
        data.append(item)

    payload: dict[str, Any] = {
        "created": int(time.time()),
        "data": data,
        "size": size,
        "quality": quality,
        "output_format": fmt,
    }
    if gpt:
        text_in = images.text_tokens(prompt)
        image_in = sum(
            images.input_image_tokens(*image.size) for image in ctx.inputs.images if image.size
        )
        out = images.output_tokens(quality, size) * n
        payload["background"] = "opaque"
        payload["usage"] = {
            "input_tokens": text_in + image_in,
            "input_tokens_details": {"image_tokens": image_in, "text_tokens": text_in},
            "output_tokens": out,
            "output_tokens_details": {"image_tokens": out, "text_tokens": 0},
            "total_tokens": text_in + image_in + out,
        }
    reply = json_reply(200, payload)
    reply.images = n
    reply.generated = made
    return reply


def chat_success(
    ctx: RequestContext, text: str | None = None, reply: VisionReply | None = None
) -> Reply:
    answer = reply_text(ctx, text, reply)
    prompt_tokens = images.text_tokens(request_text("chat", ctx.body)) + sum(
        images.input_image_tokens(*image.size) for image in ctx.inputs.images if image.size
    )
    completion_tokens = images.text_tokens(answer)
    payload = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(ctx.body.get("model")),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": None,
    }
    return json_reply(200, payload)


def message_success(
    ctx: RequestContext,
    text: str | None = None,
    stop_reason: str = "end_turn",
    reply: VisionReply | None = None,
) -> Reply:
    answer = reply_text(ctx, text, reply)
    payload = {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": answer}],
        "model": str(ctx.body.get("model")),
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": images.text_tokens(request_text("messages", ctx.body))
            + sum(
                images.input_image_tokens(*image.size) for image in ctx.inputs.images if image.size
            ),
            "output_tokens": images.text_tokens(answer),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }
    return json_reply(200, payload)


def success(
    ctx: RequestContext,
    text: str | None = None,
    defects: Defects = None,
    reply: VisionReply | None = None,
) -> Reply:
    """The OpenAI / Anthropic success answers (``faces.success`` covers every endpoint)."""
    if ctx.endpoint in ("images", "edits"):
        return image_success(ctx, text, defects)
    if ctx.endpoint == "chat":
        return chat_success(ctx, text, reply)
    return message_success(ctx, text, reply=reply)


MODELS = ("gpt-image-1", "gpt-image-1.5", "gpt-image-1-mini", "gpt-image-2", "claude-haiku-4-5")


def models_list() -> dict[str, object]:
    """GET /v1/models in a shape both SDKs parse (OpenAI's list and Anthropic's page)."""
    data = [
        {
            "id": m,
            "object": "model",
            "type": "model",
            "created": 1_700_000_000,
            "created_at": "2025-10-01T00:00:00Z",
            "owned_by": "fake",
            "display_name": m,
        }
        for m in MODELS
    ]
    return {
        "object": "list",
        "data": data,
        "has_more": False,
        "first_id": MODELS[0],
        "last_id": MODELS[-1],
    }
