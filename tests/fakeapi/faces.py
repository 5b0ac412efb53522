"""Which API face answers an endpoint: error shapes, auth, validation, inputs, successes.

Endpoints: OpenAI ("images", "edits", "chat", "models"), Anthropic ("messages"), Gemini
("gemini", "gemini_models") and Replicate ("replicate", "replicate_poll",
"replicate_cancel", "replicate_account", "replicate_files"). Response specs and the server
call these functions so every fault comes out in the shape of the API it imitates.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.fakeapi import gemini_face, replicate_face, vision, wire
from tests.fakeapi.registry import Registry
from tests.fakeapi.vision import InputError, Inputs
from tests.fakeapi.wire import Defects, Reply, RequestContext, VisionReply, json_reply


def family(endpoint: str) -> str:
    """ "openai", "anthropic", "gemini" or "replicate"."""
    if endpoint == "messages":
        return "anthropic"
    if endpoint.startswith("gemini"):
        return "gemini"
    if endpoint.startswith("replicate"):
        return "replicate"
    return "openai"


def error_body(endpoint: str, status: int, request_id: str) -> dict[str, Any]:
    """A plausible error body for ``status`` in the shape of the endpoint's API."""
    face = family(endpoint)
    if face == "gemini":
        return gemini_face.google_error(status)
    if face == "replicate":
        return replicate_face.problem(status)
    return wire.default_error_body(endpoint, status, request_id)


def error_reply(endpoint: str, status: int, request_id: str, kind: str = "error") -> Reply:
    reply = json_reply(status, error_body(endpoint, status, request_id))
    reply.kind = kind
    return reply


def auth_error(endpoint: str, given: str | None, request_id: str) -> Reply:
    face = family(endpoint)
    if face == "gemini":
        return gemini_face.auth_error(given)
    if face == "replicate":
        return replicate_face.auth_error(given)
    return wire.auth_error(endpoint, given, request_id)


def api_key(endpoint: str, headers: dict[str, str], query: dict[str, str]) -> str | None:
    """The key the request authenticates with, the way its API reads it."""
    face = family(endpoint)
    if face == "gemini":
        return headers.get("x-goog-api-key") or query.get("key") or None
    authorization = headers.get("authorization", "")
    if face == "replicate":
        scheme, _, token = authorization.partition(" ")
        return token.strip() or None if scheme.lower() in ("bearer", "token") else None
    # anthropic 2.x sends its api_key as "Authorization: Bearer"; raw HTTP callers and older
    # SDKs send x-api-key. The messages endpoint takes either, x-api-key first.
    if endpoint in ("messages", "models") and headers.get("x-api-key"):
        return headers["x-api-key"]
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


def validate(endpoint: str, body: object, request_id: str, strict_images: bool) -> Reply | None:
    face = family(endpoint)
    if face == "gemini":
        return gemini_face.validate(body)
    if face == "replicate":
        return replicate_face.validate(endpoint, body)
    return wire.validate(endpoint, body, request_id, strict_images)


Parser = Callable[[dict[str, Any], Registry, str, vision.Resolver], Inputs]
_PARSERS: dict[str, Parser] = {
    "chat": vision.chat_inputs,
    "messages": vision.messages_inputs,
    "gemini": vision.gemini_inputs,
    "replicate": vision.replicate_inputs,
}


def inputs(
    endpoint: str,
    body: dict[str, Any],
    files: list[tuple[str, str | None, str | None, bytes]],
    registry: Registry,
    base_url: str,
    resolver: vision.Resolver,
) -> Inputs:
    """The images and text parts a request sent (raises InputError for a bad image)."""
    if endpoint == "edits":
        found = Inputs(vision.multipart_images(files, registry), [str(body.get("prompt", ""))])
        if not found.images:
            raise InputError(
                "Missing required parameter: 'image'.", "image", "missing_required_parameter"
            )
        return found
    parser = _PARSERS.get(endpoint)
    return parser(body, registry, base_url, resolver) if parser else Inputs()


def input_error(endpoint: str, error: InputError, request_id: str) -> Reply:
    """The real API's 400 for an image it cannot use."""
    face = family(endpoint)
    if face == "gemini":
        reply = gemini_face.error_reply(400, error.message, "invalid_image")
    elif face == "replicate":
        reply = replicate_face.error_reply(422, error.message, "invalid_image")
    elif face == "anthropic":
        payload = wire.anthropic_error("invalid_request_error", error.message, request_id)
        reply = json_reply(400, payload)
    else:
        param = "image" if endpoint == "edits" else None
        payload = wire.openai_error(error.message, "invalid_request_error", param, error.code)
        reply = json_reply(400, payload)
    reply.kind = "invalid_image"
    return reply


def success(
    ctx: RequestContext,
    text: str | None = None,
    defects: Defects = None,
    reply: VisionReply | None = None,
    outcome: replicate_face.Outcome | None = None,
    kind: str = "ok",
) -> Reply:
    """The normal answer of any endpoint."""
    if ctx.endpoint == "gemini":
        answer = gemini_face.success(ctx, text, defects, reply)
    elif ctx.endpoint == "replicate":
        answer = replicate_face.create(
            ctx, outcome or replicate_face.Outcome(defects=defects), kind
        )
    elif ctx.endpoint == "replicate_poll":
        prediction = ctx.fake.predictions.get(ctx.params["id"]) if ctx.fake else None
        if prediction is None:
            answer = replicate_face.error_reply(404, kind="not_found")
        else:
            answer = replicate_face.poll(ctx, prediction, kind)
    else:
        answer = wire.success(ctx, text, defects, reply)
    answer.kind = kind
    return answer
