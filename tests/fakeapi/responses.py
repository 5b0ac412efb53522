"""Response specs: what the fake answers to one request that a rule matched.

Specs are small frozen dataclasses built before the request exists, so each renders
its wire shape lazily from the request (endpoint and model pick the error shape; Gemini
and Replicate endpoints answer in their own shapes through ``faces.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from tests.fakeapi import faces, gemini_face, images, judging, render, replicate_face, wire
from tests.fakeapi.wire import ENDPOINTS, Defects, Reply, RequestContext, VisionReply, json_reply

# Endpoints whose answers are HTTP-level only (a prediction poll has no content to refuse).
_NOT_POLL = tuple(endpoint for endpoint in ENDPOINTS if endpoint != "replicate_poll")


class Spec:
    """Base of all response specs."""

    kind: ClassVar[str] = "spec"
    # Endpoints the spec makes sense for; ``add_rule`` refuses the others.
    endpoints: ClassVar[tuple[str, ...]] = ENDPOINTS

    def render(self, ctx: RequestContext) -> Reply:
        raise NotImplementedError


def _model(ctx: RequestContext) -> str:
    if ctx.endpoint == "gemini":
        return gemini_face.model_of(ctx)
    if ctx.params.get("owner") and ctx.params.get("name"):
        return f"{ctx.params['owner']}/{ctx.params['name']}"
    default = wire.DEFAULT_IMAGE_MODEL if ctx.endpoint in ("images", "edits") else "unknown-model"
    return str(ctx.body.get("model") or default)


def _check_defects(defects: Defects) -> None:
    names = [defects] if isinstance(defects, str) else list(defects or [])
    for name in names:
        if name is not None and name not in render.DEFECTS:
            raise ValueError(f"unknown defect {name!r}; known: {', '.join(render.DEFECTS)}")


def _tagged(reply: Reply, kind: str, delay: float | None = None) -> Reply:
    reply.kind = kind
    if delay:
        reply.delay = delay
    return reply


@dataclass(frozen=True)
class Ok(Spec):
    """A normal success. ``latency`` > 0 replaces the configured latency; ``text`` replaces
    the chat/message answer (dall-e-3's revised_prompt, Gemini's text part); ``reply`` is
    fn(body, images) -> text for chat/messages/Gemini text answers (images: the generated
    images the request showed, None where not recognised); ``defect`` draws a defect
    ("blank", "cropped", "garbled_text", "dark", "blurry") into the generated images, one
    name for all or a list with one per image (None for a clean one)."""

    kind: ClassVar[str] = "ok"
    latency: float = 0.0
    text: str | None = None
    defect: Defects = None
    reply: VisionReply | None = None

    def __post_init__(self) -> None:
        _check_defects(self.defect)
        if isinstance(self.defect, list):
            object.__setattr__(self, "defect", tuple(self.defect))

    def render(self, ctx: RequestContext) -> Reply:
        reply = faces.success(ctx, self.text, self.defect, self.reply, kind=self.kind)
        return _tagged(reply, self.kind, self.latency)


@dataclass(frozen=True)
class Fail(Spec):
    """Any status. ``body=None`` gives a default error body in the endpoint's shape; a
    dict/list is sent as JSON, a str as text/plain, bytes as they are."""

    kind: ClassVar[str] = "fail"
    status: int
    body: object = None
    headers: Mapping[str, str] | None = None
    latency: float = 0.0

    def render(self, ctx: RequestContext) -> Reply:
        if self.body is None:
            reply = json_reply(
                self.status, faces.error_body(ctx.endpoint, self.status, ctx.request_id)
            )
        elif isinstance(self.body, bytes | str):
            raw = self.body.encode() if isinstance(self.body, str) else self.body
            content_type = (
                "text/plain" if isinstance(self.body, str) else "application/octet-stream"
            )
            reply = Reply(status=self.status, body=raw, headers={"content-type": content_type})
        else:
            reply = json_reply(self.status, self.body)
        reply.headers.update({key.lower(): value for key, value in (self.headers or {}).items()})
        return _tagged(reply, self.kind, self.latency)


@dataclass(frozen=True)
class RateLimited(Spec):
    kind: ClassVar[str] = "rate_limited"
    retry_after: float | None = None
    retry_after_ms: int | None = None
    plain_text: bool = False

    def render(self, ctx: RequestContext) -> Reply:
        headers = self._headers(ctx)
        if self.plain_text:
            # What a proxy in front of the API sends: no JSON at all.
            reply = Reply(
                status=429,
                body=b"429 Too Many Requests\n",
                headers={"content-type": "text/plain; charset=utf-8", **headers},
            )
            return _tagged(reply, self.kind)
        if faces.family(ctx.endpoint) == "gemini":
            reply = gemini_face.rate_limited(self.retry_after)
            reply.headers.update(headers)
            return _tagged(reply, self.kind)
        if faces.family(ctx.endpoint) == "replicate":
            reply = replicate_face.error_reply(429)
            reply.headers.update(headers)
            return _tagged(reply, self.kind)
        if ctx.endpoint == "messages":
            message = (
                "This request would exceed the rate limit for your organization of 50 requests "
                "per minute. Please reduce the prompt length or the maximum tokens requested, "
                "or try again later."
            )
            payload = wire.anthropic_error("rate_limit_error", message, ctx.request_id)
        else:
            if ctx.endpoint in ("images", "edits"):
                message = (
                    f"Rate limit exceeded for images per minute in organization org-fake. "
                    f"Limit: 5/1min. Current: 6/1min. ({_model(ctx)})"
                )
            else:
                message = (
                    f"Rate limit reached for {_model(ctx)} in organization org-fake on requests "
                    "per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 120ms."
                )
            payload = wire.openai_error(message, "requests", None, "rate_limit_exceeded")
        return _tagged(json_reply(429, payload, headers), self.kind)

    def _headers(self, ctx: RequestContext) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.retry_after is not None:
            headers["retry-after"] = _number(self.retry_after)
        if self.retry_after_ms is not None:
            headers["retry-after-ms"] = str(self.retry_after_ms)
        if faces.family(ctx.endpoint) in ("gemini", "replicate"):
            return headers
        if ctx.endpoint == "messages":
            reset = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 60))
            headers.update(
                {
                    "anthropic-ratelimit-requests-limit": "50",
                    "anthropic-ratelimit-requests-remaining": "0",
                    "anthropic-ratelimit-requests-reset": reset,
                }
            )
        else:
            headers.update(
                {
                    "x-ratelimit-limit-requests": "5",
                    "x-ratelimit-remaining-requests": "0",
                    "x-ratelimit-reset-requests": "12s",
                    "x-ratelimit-limit-tokens": "100000",
                    "x-ratelimit-remaining-tokens": "99000",
                    "x-ratelimit-reset-tokens": "600ms",
                }
            )
        return headers


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True)
class ServerError(Spec):
    kind: ClassVar[str] = "server_error"
    status: int = 500

    def render(self, ctx: RequestContext) -> Reply:
        return faces.error_reply(ctx.endpoint, self.status, ctx.request_id, self.kind)


@dataclass(frozen=True)
class Overloaded(Spec):
    """Anthropic's 529; OpenAI, Gemini and Replicate answer their own overload, a 503."""

    kind: ClassVar[str] = "overloaded"

    def render(self, ctx: RequestContext) -> Reply:
        if faces.family(ctx.endpoint) in ("gemini", "replicate"):
            return faces.error_reply(ctx.endpoint, 503, ctx.request_id, self.kind)
        if ctx.endpoint == "messages":
            payload = wire.anthropic_error("overloaded_error", "Overloaded", ctx.request_id)
            return _tagged(json_reply(529, payload), self.kind)
        message = "The engine is currently overloaded, please try again later."
        return _tagged(json_reply(503, wire.openai_error(message, "server_error")), self.kind)


@dataclass(frozen=True)
class Timeout(Spec):
    """Sleep ``seconds`` and then answer a normal 200: the client should time out first."""

    kind: ClassVar[str] = "timeout"
    seconds: float = 30.0

    def render(self, ctx: RequestContext) -> Reply:
        reply = faces.success(ctx)
        reply.delay = self.seconds
        reply.kind = self.kind
        return reply


@dataclass(frozen=True)
class ConnectionReset(Spec):
    """Close the socket (with a TCP reset) instead of answering."""

    kind: ClassVar[str] = "connection_reset"

    def render(self, ctx: RequestContext) -> Reply:
        return Reply(status=0, reset=True, kind=self.kind)


@dataclass(frozen=True)
class ContentPolicy(Spec):
    """The safety-system refusal: shape chosen by endpoint and, for images, by model.
    Gemini: a candidate stopped for IMAGE_SAFETY with no image; Replicate: the prediction
    fails with the NSFW error."""

    kind: ClassVar[str] = "content_policy"
    endpoints: ClassVar[tuple[str, ...]] = _NOT_POLL

    def render(self, ctx: RequestContext) -> Reply:
        model = _model(ctx)
        if ctx.endpoint == "gemini":
            return _tagged(gemini_face.finished_without_image(ctx, "IMAGE_SAFETY"), self.kind)
        if ctx.endpoint == "replicate":
            outcome = replicate_face.Outcome(status="failed", error=replicate_face.NSFW_ERROR)
            return faces.success(ctx, outcome=outcome, kind=self.kind)
        if ctx.endpoint == "messages":
            # Claude refuses with a 200 and stop_reason "refusal", not with an HTTP error.
            reply = wire.message_success(ctx, "", stop_reason="refusal")
            payload = json.loads(reply.body)
            payload["content"] = []
            return _tagged(json_reply(200, payload), self.kind)
        if ctx.endpoint == "chat":
            message = (
                "Invalid prompt: your prompt was flagged as potentially violating our usage "
                "policy. Please try again with a different prompt."
            )
            payload = wire.openai_error(message, "invalid_request_error", None, "invalid_prompt")
        elif images.is_dalle(model):
            message = (
                "Your request was rejected as a result of our safety system. Your prompt may "
                "contain text that is not allowed by our safety system."
            )
            payload = wire.openai_error(
                message, "invalid_request_error", None, "content_policy_violation"
            )
        else:
            message = (
                "Your request was rejected by the safety system. If you believe this is an "
                "error, contact us at help.openai.com and include the request ID "
                f"{ctx.request_id}."
            )
            payload = wire.openai_error(
                message,
                "image_generation_user_error",
                None,
                "moderation_blocked",
                moderation_details={"moderation_stage": "input", "categories": ["violence"]},
            )
        return _tagged(json_reply(400, payload), self.kind)


@dataclass(frozen=True)
class BadAuth(Spec):
    kind: ClassVar[str] = "bad_auth"

    def render(self, ctx: RequestContext) -> Reply:
        revoked = "AIzaSy-revoked-key-0000" if ctx.endpoint == "gemini" else "sk-revoked-key-0000"
        return faces.auth_error(ctx.endpoint, revoked, ctx.request_id)


@dataclass(frozen=True)
class Forbidden(Spec):
    kind: ClassVar[str] = "forbidden"

    def render(self, ctx: RequestContext) -> Reply:
        if ctx.endpoint == "messages":
            return wire.error_reply(ctx.endpoint, 403, ctx.request_id, self.kind)
        if ctx.endpoint == "gemini":
            message = "Permission denied: Consumer 'api_key:fake' has been suspended."
            return gemini_face.error_reply(403, message, self.kind)
        if faces.family(ctx.endpoint) == "replicate":
            return replicate_face.error_reply(403, kind=self.kind)
        message = (
            f"Your organization must be verified to use the model `{_model(ctx)}`. Please go to: "
            "https://platform.openai.com/settings/organization/general and click on Verify "
            "Organization. If you just verified, it can take up to 15 minutes for access to "
            "propagate."
        )
        payload = wire.openai_error(message, "invalid_request_error")
        return _tagged(json_reply(403, payload), self.kind)


@dataclass(frozen=True)
class ModelNotFound(Spec):
    """The answer for a retired or unknown model, naming the requested model."""

    kind: ClassVar[str] = "model_not_found"
    endpoints: ClassVar[tuple[str, ...]] = _NOT_POLL

    def render(self, ctx: RequestContext) -> Reply:
        model = _model(ctx)
        if ctx.endpoint == "gemini":
            return gemini_face.model_not_found(model, ctx.params.get("version", "v1beta"))
        if ctx.endpoint == "replicate":
            return replicate_face.error_reply(404, kind=self.kind)
        if ctx.endpoint == "messages":
            payload = wire.anthropic_error("not_found_error", f"model: {model}", ctx.request_id)
            return _tagged(json_reply(404, payload), self.kind)
        message = (
            f"The model `{model}` has been deprecated, learn more here: "
            "https://platform.openai.com/docs/deprecations"
        )
        payload = wire.openai_error(message, "invalid_request_error", None, "model_not_found")
        return _tagged(json_reply(404, payload), self.kind)


@dataclass(frozen=True)
class InsufficientQuota(Spec):
    """Out of money: must not be retried (``x-should-retry: false``)."""

    kind: ClassVar[str] = "insufficient_quota"

    def render(self, ctx: RequestContext) -> Reply:
        headers = {"x-should-retry": "false"}
        if ctx.endpoint == "gemini":
            return _tagged(gemini_face.rate_limited(None, quota=True), self.kind)
        if faces.family(ctx.endpoint) == "replicate":
            return replicate_face.error_reply(402, kind=self.kind)
        if ctx.endpoint == "messages":
            # Anthropic reports an empty balance as a 400, not a 429.
            message = (
                "Your credit balance is too low to access the Anthropic API. Please go to "
                "Plans & Billing to upgrade or purchase credits."
            )
            payload = wire.anthropic_error("invalid_request_error", message, ctx.request_id)
            return _tagged(json_reply(400, payload, headers), self.kind)
        message = (
            "You exceeded your current quota, please check your plan and billing details. For "
            "more information on this error, read the docs: "
            "https://platform.openai.com/docs/guides/error-codes/api-errors."
        )
        payload = wire.openai_error(message, "insufficient_quota", None, "insufficient_quota")
        return _tagged(json_reply(429, payload, headers), self.kind)


@dataclass(frozen=True)
class MalformedBody(Spec):
    """200 whose JSON is cut off mid-way."""

    kind: ClassVar[str] = "malformed_body"

    def render(self, ctx: RequestContext) -> Reply:
        body = b'{"created": 1700000000, "data": [{"b64_json": "iVBORw0KGgo'
        return Reply(
            status=200, body=body, headers={"content-type": "application/json"}, kind=self.kind
        )


@dataclass(frozen=True)
class EmptyBody(Spec):
    kind: ClassVar[str] = "empty_body"

    def render(self, ctx: RequestContext) -> Reply:
        return Reply(status=200, headers={"content-type": "application/json"}, kind=self.kind)


@dataclass(frozen=True)
class BadBase64(Spec):
    """200 with valid JSON whose ``b64_json`` decodes to nothing like a PNG."""

    kind: ClassVar[str] = "bad_base64"
    endpoints: ClassVar[tuple[str, ...]] = ("images", "edits", "gemini")

    def render(self, ctx: RequestContext) -> Reply:
        if ctx.endpoint == "gemini":
            part = {"inlineData": {"mimeType": "image/png", "data": "%%not*base64%%"}}
            candidate = {"content": {"parts": [part], "role": "model"}, "finishReason": "STOP"}
            return _tagged(json_reply(200, {"candidates": [candidate]}), self.kind)
        payload = {"created": int(time.time()), "data": [{"b64_json": "%%not*base64%%"}]}
        return _tagged(json_reply(200, payload), self.kind)


@dataclass(frozen=True)
class EmptyData(Spec):
    """200 with nothing in it: ``data`` / ``choices`` / ``content`` is an empty list."""

    kind: ClassVar[str] = "empty_data"
    endpoints: ClassVar[tuple[str, ...]] = ("images", "edits", "chat", "messages", "gemini")

    def render(self, ctx: RequestContext) -> Reply:
        reply = faces.success(ctx)
        payload: dict[str, Any] = json.loads(reply.body)
        key = {
            "images": "data",
            "edits": "data",
            "chat": "choices",
            "messages": "content",
            "gemini": "candidates",
        }[ctx.endpoint]
        payload[key] = []
        return _tagged(json_reply(200, payload), self.kind)


@dataclass(frozen=True)
class Prediction(Spec):
    """How a Replicate prediction goes: ``status`` "succeeded", "failed" (with ``error``)
    or "canceled"; ``polls`` non-terminal polls first (None: ``fake.replicate_polls``);
    ``output`` "list" or "single" (None: by model); ``defect`` as in ``Ok``;
    ``wait_expires``: a ``Prefer: wait`` creation still answers "starting"."""

    kind: ClassVar[str] = "prediction"
    endpoints: ClassVar[tuple[str, ...]] = ("replicate",)
    status: str = "succeeded"
    polls: int | None = None
    error: str | None = None
    output: str | None = None
    defect: Defects = None
    wait_expires: bool = False
    logs: str | None = None
    latency: float = 0.0

    def __post_init__(self) -> None:
        if self.status not in replicate_face.TERMINAL:
            raise ValueError(f"status must be one of {replicate_face.TERMINAL}")
        if self.output not in (None, "list", "single"):
            raise ValueError("output must be 'list', 'single' or None")
        _check_defects(self.defect)
        if isinstance(self.defect, list):
            object.__setattr__(self, "defect", tuple(self.defect))

    def render(self, ctx: RequestContext) -> Reply:
        error = self.error
        if self.status == "failed" and error is None:
            error = "Prediction failed: the model raised an exception."
        outcome = replicate_face.Outcome(
            self.status, self.polls, error, self.output, self.defect, self.wait_expires, self.logs
        )
        kind = "ok" if self.status == "succeeded" else f"prediction_{self.status}"
        return _tagged(faces.success(ctx, outcome=outcome, kind=kind), kind, self.latency)


@dataclass(frozen=True)
class PromptBlocked(Spec):
    """Gemini refuses the prompt: 200 with ``promptFeedback.blockReason`` and no candidates."""

    kind: ClassVar[str] = "prompt_blocked"
    endpoints: ClassVar[tuple[str, ...]] = ("gemini",)
    block_reason: str = "PROHIBITED_CONTENT"

    def render(self, ctx: RequestContext) -> Reply:
        return _tagged(gemini_face.blocked(ctx, self.block_reason), self.kind)


@dataclass(frozen=True)
class NoImage(Spec):
    """Gemini stops without an image: a candidate with ``finishReason`` (IMAGE_SAFETY,
    SAFETY, PROHIBITED_CONTENT, NO_IMAGE, RECITATION, ...) and at most a text part."""

    kind: ClassVar[str] = "no_image"
    endpoints: ClassVar[tuple[str, ...]] = ("gemini",)
    finish_reason: str = "IMAGE_SAFETY"
    text: str | None = None

    def render(self, ctx: RequestContext) -> Reply:
        reply = gemini_face.finished_without_image(ctx, self.finish_reason, self.text)
        return _tagged(reply, self.kind)


# ---------------------------------------------------------------- helpers


def rate_limited(
    retry_after: float | None = None, retry_after_ms: int | None = None, plain_text: bool = False
) -> RateLimited:
    return RateLimited(retry_after, retry_after_ms, plain_text)


def server_error(status: int = 500) -> ServerError:
    return ServerError(status)


def overloaded() -> Overloaded:
    return Overloaded()


def timeout(seconds: float = 30.0) -> Timeout:
    return Timeout(seconds)


def connection_reset() -> ConnectionReset:
    return ConnectionReset()


def content_policy() -> ContentPolicy:
    return ContentPolicy()


def bad_auth() -> BadAuth:
    return BadAuth()


def forbidden() -> Forbidden:
    return Forbidden()


def model_not_found() -> ModelNotFound:
    return ModelNotFound()


def insufficient_quota() -> InsufficientQuota:
    return InsufficientQuota()


def malformed_body() -> MalformedBody:
    return MalformedBody()


def empty_body() -> EmptyBody:
    return EmptyBody()


def bad_base64() -> BadBase64:
    return BadBase64()


def empty_data() -> EmptyData:
    return EmptyData()


def prediction(
    status: str = "succeeded",
    *,
    polls: int | None = None,
    error: str | None = None,
    output: str | None = None,
    defect: Defects = None,
    wait_expires: bool = False,
) -> Prediction:
    return Prediction(status, polls, error, output, defect, wait_expires)


def prompt_blocked(block_reason: str = "PROHIBITED_CONTENT") -> PromptBlocked:
    return PromptBlocked(block_reason)


def no_image(finish_reason: str = "IMAGE_SAFETY", text: str | None = None) -> NoImage:
    return NoImage(finish_reason, text)


SPEC_KINDS: dict[str, type[Spec]] = {
    cls.kind: cls
    for cls in (
        Ok,
        Fail,
        RateLimited,
        ServerError,
        Overloaded,
        Timeout,
        ConnectionReset,
        ContentPolicy,
        BadAuth,
        Forbidden,
        ModelNotFound,
        InsufficientQuota,
        MalformedBody,
        EmptyBody,
        BadBase64,
        EmptyData,
        Prediction,
        PromptBlocked,
        NoImage,
    )
}


def _scores(value: Any) -> Any:
    return value if isinstance(value, int) else dict(value)


def spec_from_json(data: Mapping[str, Any]) -> Spec:
    """``{"kind": "server_error", "status": 502}`` -> ``ServerError(502)``.

    Two more kinds build scripted LLM answers: ``{"kind": "judge", "by_defect": {...},
    "default": 7, "unknown": ..., "then": [...]}`` and ``{"kind": "critic", "sequences":
    {"title": [60, 75, 90]}, "default": 80}`` (see ``judging.py``); ``{"kind":
    "malformed", "malformed": "fenced", "contract": "judge"}`` answers a broken one.
    """
    fields = dict(data)
    kind = fields.pop("kind", None)
    if kind == "judge":
        queued = fields.pop("then", [])
        script = judging.JudgeScript(**fields).then(
            *[_scores(item) if not isinstance(item, str) else item for item in queued]
        )
        return Ok(reply=script)
    if kind == "critic":
        return Ok(reply=judging.CriticScript(**fields))
    if kind == "malformed":
        return Ok(text=judging.malformed(fields.pop("malformed"), **fields))
    if kind not in SPEC_KINDS:
        known = sorted([*SPEC_KINDS, "judge", "critic", "malformed"])
        raise ValueError(f"unknown response kind {kind!r}; known: {known}")
    return SPEC_KINDS[kind](**fields)
