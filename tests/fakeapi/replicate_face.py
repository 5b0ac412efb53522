"""The Replicate API face, as the official ``replicate`` client speaks it.

``POST /v1/models/{owner}/{name}/predictions`` and ``POST /v1/predictions`` (with
``version``) create a prediction; ``GET /v1/predictions/{id}`` polls it through
``starting`` -> ``processing`` (``polls`` times, ``fake.replicate_polls`` by default) ->
``succeeded`` (or a scripted ``failed`` / ``canceled``); ``POST .../cancel`` cancels it.
``Prefer: wait`` answers the finished prediction at once. Outputs are URLs of images the
fake serves (``/_fake/files/{id}.webp``): a list, or one URL for models that answer one.
``GET /v1/account`` checks a token; ``POST /v1/files`` takes uploads (the client's default
for file inputs). Errors are RFC 7807 problem details ``{"title", "detail", "status"}``.

How a prediction ends is fixed when it is created: by the rule that matched the creation
(``prediction(status="failed", error=..., polls=3)``, ``Ok(defect="blank")``,
``content_policy()``), else it succeeds. Polls can be faulted separately with rules on
the ``replicate_poll`` endpoint (matched against the creation body).
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakeapi.registry import GeneratedRecord, Registry
from tests.fakeapi.wire import Defects, Reply, RequestContext, defect_for, json_reply, new_id

DEFAULT_POLLS = 1
TERMINAL = ("succeeded", "failed", "canceled")
ASPECT_SIZES = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "4:3": (1152, 896),
    "3:4": (896, 1152),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "21:9": (1536, 640),
    "9:21": (640, 1536),
}
FORMATS = {"webp": "webp", "png": "png", "jpg": "jpeg", "jpeg": "jpeg"}
NSFW_ERROR = "NSFW content detected. Try running it again, or try a different prompt."

_TITLES = {
    400: "Bad Request",
    401: "Unauthenticated",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    422: "Input validation failed",
    429: "Request was throttled",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_DETAILS = {
    401: "You did not pass a valid authentication token",
    402: (
        "You have insufficient credit to run this model. Go to "
        "https://replicate.com/account/billing#billing to purchase credit. Once you purchase "
        "credit, please wait a few minutes before trying again."
    ),
    403: "You do not have permission to perform this action.",
    404: "The requested resource could not be found.",
    429: "Request was throttled. Expected available in 1 second.",
    500: "Internal server error",
}


def problem(status: int, detail: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": _TITLES.get(status, "Error"),
        "detail": detail or _DETAILS.get(status, "An error occurred."),
        "status": status,
    }
    body.update(extra)
    return body


def error_reply(status: int, detail: str | None = None, kind: str = "error", **extra: Any) -> Reply:
    reply = json_reply(status, problem(status, detail, **extra))
    reply.headers["content-type"] = "application/problem+json"
    reply.kind = kind
    return reply


def auth_error(given: str | None) -> Reply:
    return error_reply(401, None, "bad_auth")


def validate(endpoint: str, body: object) -> Reply | None:
    if endpoint != "replicate":
        return None
    if not isinstance(body, dict):
        return error_reply(400, "The request body is not valid JSON.", "invalid_request")
    given = body.get("input")
    if not isinstance(given, dict):
        return error_reply(
            422,
            "- input: Invalid type. Expected: object, given: null\n",
            "invalid_request",
            invalid_fields=[
                {"type": "invalid_type", "field": "input", "description": "Invalid type."}
            ],
        )
    prompt = given.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return error_reply(
            422,
            "- input: prompt is required\n",
            "invalid_request",
            invalid_fields=[
                {"type": "required", "field": "input", "description": "prompt is required"}
            ],
        )
    return None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _version_of(model: str) -> str:
    return hashlib.sha256(model.encode()).hexdigest()


@dataclass(frozen=True)
class Outcome:
    """How a prediction ends. ``polls``: non-terminal polls first (None: the fake's
    default); ``output``: "list", "single" or None (list for models with num_outputs or
    "schnell" in the name); ``wait_expires``: ``Prefer: wait`` gives up and answers
    ``starting`` like a slow real prediction."""

    status: str = "succeeded"
    polls: int | None = None
    error: str | None = None
    output: str | None = None
    defects: Defects = None
    wait_expires: bool = False
    logs: str | None = None


@dataclass
class Prediction:
    id: str
    model: str
    version: str
    input: dict[str, Any]
    body: dict[str, Any]
    outcome: Outcome
    polls_left: int
    status: str = "starting"
    created_at: str = field(default_factory=_now)
    started_at: str | None = None
    completed_at: str | None = None
    error: str | None = None
    outputs: list[GeneratedRecord] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    predict_time: float | None = None
    polled: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def prompt(self) -> str:
        return str(self.input.get("prompt", ""))

    def json(self, base_url: str, files: Files | None = None) -> dict[str, Any]:
        output: Any = None
        if self.status == "succeeded":
            urls = [_output_url(record, base_url, files) for record in self.outputs]
            output = urls if self._list_output() else (urls[0] if urls else None)
        metrics: dict[str, Any] = {}
        if self.predict_time is not None:
            total = round(self.predict_time + 0.4, 3)
            metrics = {"predict_time": self.predict_time, "total_time": total}
            if self.status == "succeeded":
                metrics["image_count"] = len(self.outputs)
        logs = self.outcome.logs
        if logs is None:
            logs = "" if self.status == "starting" else "Using seed: 1234\n100%|██████████| 4/4\n"
        return {
            "id": self.id,
            "model": self.model,
            "version": self.version,
            "input": self.input,
            "logs": logs,
            "output": output,
            "data_removed": False,
            "error": self.error,
            "status": self.status,
            "source": "api",
            "created_at": self.created_at,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "urls": {
                "cancel": f"{base_url}/v1/predictions/{self.id}/cancel",
                "get": f"{base_url}/v1/predictions/{self.id}",
                "stream": f"{base_url}/v1/predictions/{self.id}/stream",
                "web": f"https://replicate.com/p/{self.id}",
            },
            "metrics": metrics,
        }

    def _list_output(self) -> bool:
        if self.outcome.output is not None:
            return self.outcome.output == "list"
        return "num_outputs" in self.input or "schnell" in self.model

    def count(self) -> int:
        number = self.input.get("num_outputs", 1)
        return max(1, min(4, number)) if isinstance(number, int) else 1

    def size(self) -> tuple[int, int]:
        width, height = self.input.get("width"), self.input.get("height")
        if isinstance(width, int) and isinstance(height, int) and min(width, height) >= 16:
            return min(width, 2048), min(height, 2048)
        return ASPECT_SIZES.get(str(self.input.get("aspect_ratio") or "1:1"), (1024, 1024))

    def fmt(self) -> str:
        return FORMATS.get(str(self.input.get("output_format") or "webp"), "webp")


# fn(record id) -> encoded bytes: given, outputs are data URLs instead of links.
Files = Callable[[int], bytes]


def _output_url(record: GeneratedRecord, base_url: str, files: Files | None) -> str:
    if files is None:
        return f"{base_url}{record.file_path}"
    mime = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}[record.format]
    return f"data:{mime};base64,{base64.b64encode(files(record.id)).decode('ascii')}"


class Predictions:
    """The fake's predictions by id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Prediction] = {}

    def get(self, prediction_id: str) -> Prediction | None:
        with self._lock:
            return self._by_id.get(prediction_id)

    def all(self) -> list[Prediction]:
        with self._lock:
            return list(self._by_id.values())

    def clear(self) -> None:
        with self._lock:
            self._by_id.clear()

    def add(self, prediction: Prediction) -> None:
        with self._lock:
            self._by_id[prediction.id] = prediction


def _model_and_version(ctx: RequestContext) -> tuple[str, str]:
    owner, name = ctx.params.get("owner"), ctx.params.get("name")
    if owner and name:
        model = f"{owner}/{name}"
        return model, _version_of(model)
    version = str(ctx.body.get("version") or "")
    if ":" in version:
        model, _, version = version.partition(":")
        return model, version
    return "fake/unknown-model", version or _version_of("fake/unknown-model")


def create(ctx: RequestContext, outcome: Outcome, kind: str = "ok") -> Reply:
    """A new prediction (201); finished at once under ``Prefer: wait``."""
    if ctx.fake is None:
        raise RuntimeError("Replicate predictions need the FakeAPI in the request context")
    model, version = _model_and_version(ctx)
    polls = ctx.fake.replicate_polls if outcome.polls is None else outcome.polls
    prediction = Prediction(
        id=new_id("")[:26].lower(),
        model=model,
        version=version,
        input=dict(ctx.body.get("input") or {}),
        body=ctx.body,
        outcome=outcome,
        polls_left=max(0, polls),
    )
    ctx.fake.predictions.add(prediction)
    wait = ctx.headers.get("prefer", "").strip().lower().startswith("wait")
    with prediction.lock:
        made: list[GeneratedRecord] = []
        if wait and not outcome.wait_expires:
            made = _finish(ctx, prediction)
        reply = json_reply(201, prediction.json(ctx.base_url, _files(ctx)))
    return _billed(reply, prediction, made, kind)


def poll(ctx: RequestContext, prediction: Prediction, kind: str = "ok") -> Reply:
    """One GET: move the prediction one step on and answer its state."""
    with prediction.lock:
        prediction.polled += 1
        made: list[GeneratedRecord] = []
        if prediction.status not in TERMINAL:
            if prediction.polls_left > 0:
                prediction.polls_left -= 1
                prediction.status = "processing"
                prediction.started_at = prediction.started_at or _now()
            else:
                made = _finish(ctx, prediction)
        reply = json_reply(200, prediction.json(ctx.base_url, _files(ctx)))
    return _billed(reply, prediction, made, kind)


def cancel(ctx: RequestContext, prediction: Prediction) -> Reply:
    with prediction.lock:
        if prediction.status not in TERMINAL:
            prediction.status = "canceled"
            prediction.completed_at = _now()
            prediction.predict_time = round(time.monotonic() - prediction.started, 3)
        return json_reply(200, prediction.json(ctx.base_url, _files(ctx)))


def _files(ctx: RequestContext) -> Files | None:
    """Outputs as data URLs when ``fake.replicate_data_urls`` (the client makes FileOutput
    objects only of https: and data: URLs, and the fake serves plain http)."""
    if ctx.fake is None or not ctx.fake.replicate_data_urls:
        return None
    registry: Registry = ctx.fake.registry

    def read(record_id: int) -> bytes:
        served = registry.file(record_id)
        return b"" if served is None else served[1]

    return read


def _finish(ctx: RequestContext, prediction: Prediction) -> list[GeneratedRecord]:
    """Reach the scripted end; returns the images made (to bill) when it succeeded."""
    assert ctx.fake is not None
    outcome = prediction.outcome
    prediction.started_at = prediction.started_at or _now()
    prediction.completed_at = _now()
    prediction.predict_time = round(0.8 + 0.35 * prediction.count(), 3)
    prediction.status = outcome.status
    if outcome.status == "failed":
        prediction.error = outcome.error or "Prediction failed."
        return []
    if outcome.status == "canceled":
        return []
    made = []
    size = prediction.size()
    for index in range(prediction.count()):
        record, _ = ctx.fake.registry.generate(
            endpoint="replicate",
            prompt=prediction.prompt,
            model=prediction.model,
            size=size,
            fmt=prediction.fmt(),
            defect=defect_for(outcome.defects, index),
            request_id=ctx.request_id,
        )
        made.append(record)
    prediction.outputs = made
    return made


def _billed(reply: Reply, prediction: Prediction, made: list[GeneratedRecord], kind: str) -> Reply:
    reply.kind = kind
    reply.generated = made
    reply.images = len(made)
    reply.prompt = prediction.prompt
    reply.model = prediction.model
    return reply


def account() -> dict[str, Any]:
    return {"type": "user", "username": "fake-user", "name": "Fake User", "github_url": None}


@dataclass
class Upload:
    id: str
    name: str
    content_type: str
    data: bytes
    created_at: str = field(default_factory=_now)

    def json(self, base_url: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "content_type": self.content_type,
            "size": len(self.data),
            "etag": hashlib.md5(self.data).hexdigest(),  # an etag, not security
            "checksums": {"sha256": hashlib.sha256(self.data).hexdigest()},
            "metadata": {},
            "created_at": self.created_at,
            "expires_at": None,
            "urls": {"get": f"{base_url}/v1/files/{self.id}"},
        }
