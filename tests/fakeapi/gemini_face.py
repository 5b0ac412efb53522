"""The Gemini API face (generativelanguage), as the google-genai SDK speaks it.

``POST /{v1,v1beta}/models/{model}:generateContent`` with the key in ``x-goog-api-key``
(or ``?key=``). Image models (a name with "image" in it) answer an ``inlineData`` PNG,
plus a text part when the request allows TEXT; other models answer text (the judge and
critic contracts work here too). Errors have Google's shape
``{"error": {"code", "message", "status", "details"}}``. A wrong key is a 400
INVALID_ARGUMENT with reason API_KEY_INVALID, a missing key a 403 PERMISSION_DENIED,
as the real API answers.

Output sizes follow ``imageConfig.aspectRatio`` (1024x1024 at 1:1, 1344x768 at 16:9, ...)
scaled by ``imageConfig.imageSize`` (1K, 2K, 4K).
"""

from __future__ import annotations

import base64
from typing import Any

from tests.fakeapi import images
from tests.fakeapi.wire import (
    Defects,
    Reply,
    RequestContext,
    VisionReply,
    generate,
    json_reply,
    new_id,
    reply_text,
)

DEFAULT_MODEL = "gemini-2.5-flash-image"
MODELS = (
    "gemini-2.5-flash-image",
    "gemini-3-pro-image-preview",
    "gemini-2.5-flash",
    "gemini-2.5-pro",
)
ASPECT_SIZES = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
IMAGE_SIZES = {"1K": 1, "2K": 2, "4K": 4}
# Output tokens of one image (gemini-2.5-flash-image bills 1290 per image up to 1024 px).
IMAGE_TOKENS = 1290
INPUT_IMAGE_TOKENS = 258

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES = {
    400: "Request contains an invalid argument.",
    401: "Request had invalid authentication credentials.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Resource has been exhausted (e.g. check quota).",
    500: (
        "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting"
    ),
    503: "The model is overloaded. Please try again later.",
    504: "Deadline expired before operation could complete.",
}
TROUBLESHOOTING = "https://developers.generativeai.google/guide/troubleshooting"


def is_image_model(model: str) -> bool:
    return "image" in model


def google_error(
    code: int, message: str | None = None, details: list[Any] | None = None
) -> dict[str, Any]:
    status = STATUS_NAMES.get(code, "INTERNAL" if code >= 500 else "FAILED_PRECONDITION")
    error: dict[str, Any] = {
        "code": code,
        "message": message or _MESSAGES.get(code, "Error."),
        "status": status,
    }
    if details:
        error["details"] = details
    return {"error": error}


def error_reply(code: int, message: str | None = None, kind: str = "error", **extra: Any) -> Reply:
    reply = json_reply(code, google_error(code, message, extra.get("details")))
    reply.kind = kind
    return reply


def auth_error(given: str | None) -> Reply:
    if not given:
        message = (
            "Method doesn't allow unregistered callers (callers without established identity). "
            "Please use API Key or other form of API consumer identity to call this API."
        )
        return error_reply(403, message, "bad_auth")
    message = "API key not valid. Please pass a valid API key."
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
            "metadata": {"service": "generativelanguage.googleapis.com"},
        },
        {
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            "locale": "en-US",
            "message": message,
        },
    ]
    return error_reply(400, message, "bad_auth", details=details)


def rate_limited(retry_after: float | None, quota: bool = False) -> Reply:
    """429 RESOURCE_EXHAUSTED with a RetryInfo detail (and Retry-After when scripted)."""
    delay = "13s" if retry_after is None else f"{retry_after:g}s"
    if quota:
        message = (
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, head to: https://ai.google.dev/gemini-api/docs/"
            "rate-limits."
        )
    else:
        message = (
            "Resource has been exhausted (e.g. check quota). Quota exceeded for metric: "
            "generativelanguage.googleapis.com/generate_content_requests, limit: 10 per "
            f"minute. Please retry in {delay}."
        )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel",
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
    ]
    return error_reply(429, message, "rate_limited", details=details)


def model_not_found(model: str, version: str = "v1beta") -> Reply:
    message = (
        f"models/{model} is not found for API version {version}, or is not supported for "
        "generateContent. Call ListModels to see the list of available models and their "
        "supported methods."
    )
    return error_reply(404, message, "model_not_found")


def validate(body: object) -> Reply | None:
    if not isinstance(body, dict):
        return error_reply(
            400, "Invalid JSON payload received. Unknown name or bad syntax.", "invalid_request"
        )
    contents = body.get("contents")
    if not contents:
        return error_reply(
            400, "* GenerateContentRequest.contents: contents is not specified\n", "invalid_request"
        )
    config = body.get("generationConfig") or {}
    image_config = config.get("imageConfig") if isinstance(config, dict) else None
    if isinstance(image_config, dict):
        aspect = image_config.get("aspectRatio")
        if aspect is not None and aspect not in ASPECT_SIZES:
            return error_reply(
                400,
                f"* GenerateContentRequest.generation_config.image_config.aspect_ratio: "
                f"unsupported aspect ratio '{aspect}'",
                "invalid_request",
            )
        size = image_config.get("imageSize")
        if size is not None and size not in IMAGE_SIZES:
            return error_reply(
                400,
                f"* GenerateContentRequest.generation_config.image_config.image_size: "
                f"unsupported image size '{size}'",
                "invalid_request",
            )
    return None


def output_size(body: dict[str, Any]) -> tuple[int, int]:
    config = body.get("generationConfig") or {}
    image_config = config.get("imageConfig") or {}
    width, height = ASPECT_SIZES.get(str(image_config.get("aspectRatio") or "1:1"), (1024, 1024))
    scale = IMAGE_SIZES.get(str(image_config.get("imageSize") or "1K"), 1)
    return width * scale, height * scale


def _modalities(body: dict[str, Any]) -> list[str]:
    config = body.get("generationConfig") or {}
    found = config.get("responseModalities") if isinstance(config, dict) else None
    return [str(item).upper() for item in found] if isinstance(found, list) else ["TEXT", "IMAGE"]


def _usage(ctx: RequestContext, text: str, images_out: int) -> dict[str, Any]:
    prompt = images.text_tokens("\n".join(ctx.inputs.texts))
    image_in = INPUT_IMAGE_TOKENS * len(ctx.inputs.images)
    text_out = images.text_tokens(text) if text else 0
    image_out = IMAGE_TOKENS * images_out
    usage: dict[str, Any] = {
        "promptTokenCount": prompt + image_in,
        "candidatesTokenCount": text_out + image_out,
        "totalTokenCount": prompt + image_in + text_out + image_out,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if image_in:
        usage["promptTokensDetails"].append({"modality": "IMAGE", "tokenCount": image_in})
    details = []
    if text_out:
        details.append({"modality": "TEXT", "tokenCount": text_out})
    if image_out:
        details.append({"modality": "IMAGE", "tokenCount": image_out})
    if details:
        usage["candidatesTokensDetails"] = details
    return usage


def model_of(ctx: RequestContext) -> str:
    return str(ctx.params.get("model") or DEFAULT_MODEL)


def _answer(
    ctx: RequestContext,
    candidates: list[dict[str, Any]] | None,
    usage: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    payload: dict[str, Any] = {}
    if candidates is not None:
        payload["candidates"] = candidates
    payload.update(extra)
    payload["usageMetadata"] = usage
    payload["modelVersion"] = model_of(ctx)
    payload["responseId"] = new_id("")[:22]
    return payload


def success(
    ctx: RequestContext,
    text: str | None = None,
    defects: Defects = None,
    reply: VisionReply | None = None,
) -> Reply:
    """A 200 generateContent answer: an image (image models) and/or a text part."""
    model = model_of(ctx)
    parts: list[dict[str, Any]] = []
    made = []
    if is_image_model(model) and "IMAGE" in _modalities(ctx.body):
        prompt = "\n".join(ctx.inputs.texts)
        width, height = output_size(ctx.body)
        if text is None and "TEXT" in _modalities(ctx.body):
            text = "Here is the image you asked for."
        if text:
            parts.append({"text": text})
        record, encoded = generate(
            ctx,
            prompt=prompt,
            model=model,
            size=(width, height),
            fmt="png",
            defects=defects,
            index=0,
        )
        made.append(record)
        parts.append(
            {
                "inlineData": {
                    "mimeType": "image/png",
                    "data": base64.b64encode(encoded).decode("ascii"),
                }
            }
        )
    else:
        text = reply_text(ctx, text, reply)
        parts.append({"text": text})
    candidate = {"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0}
    reply_ = json_reply(200, _answer(ctx, [candidate], _usage(ctx, text or "", len(made))))
    reply_.images = len(made)
    reply_.generated = made
    reply_.prompt = "\n".join(ctx.inputs.texts)
    reply_.model = model
    return reply_


def blocked(ctx: RequestContext, block_reason: str = "PROHIBITED_CONTENT") -> Reply:
    """The prompt was refused: ``promptFeedback.blockReason`` and no candidates."""
    feedback = {
        "blockReason": block_reason,
        "safetyRatings": [
            {"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
            {"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
            {"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "MEDIUM"},
        ],
    }
    reply = json_reply(200, _answer(ctx, None, _usage(ctx, "", 0), promptFeedback=feedback))
    return reply


def finished_without_image(
    ctx: RequestContext, finish_reason: str = "IMAGE_SAFETY", text: str | None = None
) -> Reply:
    """A candidate that stopped for ``finish_reason`` (IMAGE_SAFETY, SAFETY, ...) with no image."""
    candidate: dict[str, Any] = {"finishReason": finish_reason, "index": 0}
    if text:
        candidate["content"] = {"parts": [{"text": text}], "role": "model"}
    if finish_reason.endswith("SAFETY"):
        candidate["safetyRatings"] = [
            {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
        ]
    return json_reply(200, _answer(ctx, [candidate], _usage(ctx, text or "", 0)))


def model_info(model: str) -> dict[str, Any]:
    image = is_image_model(model)
    return {
        "name": f"models/{model}",
        "version": "001",
        "displayName": model.replace("-", " ").title(),
        "description": "Served by the imagegen fake API.",
        "inputTokenLimit": 32768 if image else 1048576,
        "outputTokenLimit": 32768 if image else 65536,
        "supportedGenerationMethods": ["generateContent", "countTokens"],
    }


def models_list() -> dict[str, Any]:
    return {"models": [model_info(model) for model in MODELS]}
