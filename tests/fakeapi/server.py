"""The loopback fake of the OpenAI, Anthropic, Gemini and Replicate HTTP APIs.

``FakeAPI`` owns the decisions (auth, validation, rules, images, counters); ``handler.py``
owns the HTTP/1.1 bytes; ``wire.py``, ``gemini_face.py`` and ``replicate_face.py`` the
shapes of each API; ``registry.py`` every image the fake made.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from tests.fakeapi import control, faces, gemini_face, replicate_face, wire
from tests.fakeapi.handler import Handler, Request, Server
from tests.fakeapi.registry import GeneratedRecord, Registry
from tests.fakeapi.replicate_face import Predictions, Upload
from tests.fakeapi.responses import ModelNotFound, Ok, Spec
from tests.fakeapi.rules import Matcher, Rule, RuleBook, rule_args_from_json
from tests.fakeapi.vision import InputError, InputImage, Inputs
from tests.fakeapi.wire import Reply, ReplyText, RequestContext, VisionReply, json_reply

_FILE_RE = control.FILE_RE
_UPLOAD_RE = re.compile(r"^/v1/files/([\w-]+)(/download)?$")


@dataclass
class RequestRecord:
    """One API request and what the fake did with it (times are ``time.monotonic()``)."""

    endpoint: str  # "images" | "edits" | "chat" | "messages" | "gemini" | "replicate" | ...
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    json: Any  # parsed body (multipart text fields as a dict), or None when absent or not JSON
    status: int | None  # None: the connection was reset without an answer
    kind: str  # "ok" or the fault / error that answered, e.g. "rate_limited"
    received_at: float
    answered_at: float
    retry_count: int | None  # from x-stainless-retry-count
    delivered: bool  # False when the client had gone (timed out) before the answer
    images: int  # images paid by this answer
    # The image prompt (Gemini: its text parts; Replicate: input.prompt) and the model.
    prompt: str | None = None
    model: str | None = None
    # Images the request sent (vision messages, edit references, Gemini/Replicate inputs),
    # each decoded and identified against the registry, and its text parts.
    input_images: list[InputImage] = field(default_factory=list)
    text_parts: list[str] = field(default_factory=list)
    # Images this answer generated (also when the answer was a fault that rendered some).
    generated: list[GeneratedRecord] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)  # from the path: model, id, ...

    @property
    def shown(self) -> list[GeneratedRecord | None]:
        """The generated images the request showed, None where one was not recognised."""
        return [image.record for image in self.input_images]


class FakeAPI:
    """A scriptable fake of the OpenAI images/chat, Anthropic messages, Gemini and
    Replicate APIs on loopback."""

    def __init__(
        self,
        api_key: str = "sk-test-fake-key",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        default_latency: float = 0.0,
        state_file: str | os.PathLike[str] | None = None,
        strict_images: bool = True,
        gemini_api_key: str = "AIzaSy-fake-gemini-key",
        replicate_api_token: str = "r8_fake_replicate_token",
    ) -> None:
        self.api_key = api_key
        self.gemini_api_key = gemini_api_key
        self.replicate_api_token = replicate_api_token
        self.host = host
        self.requested_port = port
        self.default_latency = default_latency
        # Per-endpoint latency of successful answers, e.g. latency["images"] = 1.0.
        self.latency: dict[str, float] = {}
        # Answer text of chat/messages when no rule gives one: str, or fn(body) -> str.
        self.reply_text: ReplyText = None
        # fn(body, images) -> str for chat/messages/Gemini text answers when no rule gives
        # one; images: the generated images the request showed (None where not recognised).
        # Takes precedence over reply_text. See judging.JudgeScript / CriticScript.
        self.vision_reply: VisionReply | None = None
        # Non-terminal polls of a Replicate prediction before it ends (rules can override).
        self.replicate_polls = replicate_face.DEFAULT_POLLS
        # Replicate outputs as data: URLs instead of http links to the fake. The replicate
        # client turns only https: and data: outputs into FileOutput objects (run()).
        self.replicate_data_urls = False
        # Every image the fake generated, to find again from bytes a client shows it.
        self.registry = Registry()
        self.predictions = Predictions()
        self._uploads: dict[str, Upload] = {}
        # Models answered with 404 model_not_found (e.g. {"dall-e-3"} to mimic the retirement).
        self.retired_models: set[str] = set()
        # Reject sizes/qualities the requested image model does not support, like the real API.
        self.strict_images = strict_images
        self.state_file = os.fspath(state_file) if state_file is not None else None

        self._rules = RuleBook()
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._state_lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._in_flight: Counter[str] = Counter()
        self._clear_counters()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeAPI:
        if self._server is not None:
            return self
        self._stopping = threading.Event()
        self._server = Server((self.host, self.requested_port), Handler, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fakeapi:{self.port}",
            daemon=True,
        )
        self._thread.start()
        if self.state_file:
            self.write_state()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None:
            return
        # Wake handlers sleeping on latency/timeout() first so nothing waits for them.
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            # Unblocks handler threads idling on keep-alive connections.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeAPI is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    def openai_client(self, **kwargs: Any) -> Any:
        """An ``openai.OpenAI`` pointed here (``max_retries=0`` unless given)."""
        import openai

        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(api_key=self.api_key, base_url=self.openai_base_url, **kwargs)

    def anthropic_client(self, **kwargs: Any) -> Any:
        """An ``anthropic.Anthropic`` pointed here (``max_retries=0`` unless given)."""
        import anthropic

        kwargs.setdefault("max_retries", 0)
        return anthropic.Anthropic(api_key=self.api_key, base_url=self.anthropic_base_url, **kwargs)

    @property
    def gemini_base_url(self) -> str:
        """``genai.Client(http_options=HttpOptions(base_url=...))``: the SDK adds the version."""
        return self.base_url

    @property
    def replicate_base_url(self) -> str:
        return self.base_url

    def gemini_client(self, api_version: str | None = "v1beta", **kwargs: Any) -> Any:
        """A ``google.genai.Client`` pointed here (the SDK does not retry by default).

        Keep a reference while using it: a garbage-collected Client closes its HTTP client,
        so ``fake.gemini_client().models.generate_content(...)`` in one expression fails.
        """
        from google import genai
        from google.genai import types

        options = types.HttpOptions(base_url=self.gemini_base_url, api_version=api_version)
        return genai.Client(api_key=self.gemini_api_key, http_options=options, **kwargs)

    def replicate_client(self, **kwargs: Any) -> Any:
        """A ``replicate.Client`` pointed here, polling every 10 ms.

        The client retries GETs (polls) itself on 429/503/504, sleeping ``retry-after``.
        """
        import replicate

        client = replicate.Client(
            api_token=self.replicate_api_token, base_url=self.replicate_base_url, **kwargs
        )
        client.poll_interval = 0.01
        return client

    def identify(self, image: bytes | Any) -> GeneratedRecord | None:
        """The generated image these bytes (PNG/JPEG/WebP, resized, cropped...) came from."""
        return self.registry.identify(image)

    @property
    def generated(self) -> list[GeneratedRecord]:
        """Every image the fake generated, in order (``id`` 1, 2, ...)."""
        return self.registry.records

    # ------------------------------------------------------------ scripting

    def add_rule(
        self,
        endpoint: str,
        responses: Sequence[Spec],
        match: Matcher = None,
        repeat: bool = False,
    ) -> Rule:
        """Answer matching requests of ``endpoint`` with ``responses``, one each, in order.

        ``match``: None (every request), a substring of the prompt / of all message text,
        or fn(json_body) -> bool (a Replicate poll is matched against the body that created
        the prediction). When the responses run out the rule is done (with
        ``repeat=True`` the last one repeats forever). Rules are tried in insertion order.
        """
        return self._rules.add(endpoint, responses, match, repeat)

    def add_rule_json(self, data: dict[str, Any]) -> Rule:
        """``add_rule`` from the JSON form used by ``--script`` and ``POST /_fake/rules``."""
        return self.add_rule(**rule_args_from_json(data))

    @property
    def rules(self) -> list[Rule]:
        return self._rules.snapshot()

    def latency_for(self, endpoint: str) -> float:
        return self.latency.get(endpoint, self.default_latency)

    def reset(self) -> None:
        """Forget rules, requests, counters, generated images and predictions (settings
        such as latency stay)."""
        self._rules.clear()
        self.registry.clear()
        self.predictions.clear()
        with self._lock:
            self._clear_counters()
            self._uploads.clear()
        if self.state_file and self._server is not None:
            self.write_state()

    # ------------------------------------------------------------ inspection

    def _clear_counters(self) -> None:
        self._requests: list[RequestRecord] = []
        self._status_counts: Counter[tuple[str, str]] = Counter()
        self._images_paid = 0
        self._images_generated = 0
        self._paid_prompts: Counter[str] = Counter()
        self._paid_by_model: Counter[str] = Counter()
        # In-flight requests survive a reset (their ends would go negative otherwise).
        self._max_in_flight: Counter[str] = Counter(self._in_flight)
        self.errors: list[str] = []

    @property
    def requests(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._requests)

    def count(
        self, endpoint: str | None = None, status: int | None = None, kind: str | None = None
    ) -> int:
        with self._lock:
            return sum(
                1
                for record in self._requests
                if (endpoint is None or record.endpoint == endpoint)
                and (status is None or record.status == status)
                and (kind is None or record.kind == kind)
            )

    @property
    def images_paid(self) -> int:
        """Images delivered in 200 answers with real image data."""
        with self._lock:
            return self._images_paid

    @property
    def images_generated(self) -> int:
        """Images rendered for 200 answers, delivered or not: the real API bills a request
        even when the client gave up waiting."""
        with self._lock:
            return self._images_generated

    @property
    def paid_prompts(self) -> Counter[str]:
        with self._lock:
            return Counter(self._paid_prompts)

    @property
    def paid_by_model(self) -> Counter[str]:
        with self._lock:
            return Counter(self._paid_by_model)

    @property
    def max_in_flight(self) -> dict[str, int]:
        with self._lock:
            return {endpoint: self._max_in_flight[endpoint] for endpoint in wire.ENDPOINTS}

    @property
    def in_flight(self) -> dict[str, int]:
        with self._lock:
            return {endpoint: self._in_flight[endpoint] for endpoint in wire.ENDPOINTS}

    def wait_until(self, predicate: Callable[[FakeAPI], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate(self)`` holds (checked after every request) or timeout."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with self._changed:
                self._changed.wait(min(remaining, 0.1))
        return True

    def state(self) -> dict[str, Any]:
        """The counters as JSON-ready data (``GET /_fake/state`` and ``--state-file``)."""
        with self._lock:
            by_endpoint: dict[str, dict[str, int]] = {}
            for (endpoint, status), number in sorted(self._status_counts.items()):
                by_endpoint.setdefault(endpoint, {})[status] = number
            return {
                "requests": by_endpoint,
                "total_requests": len(self._requests),
                "images_paid": self._images_paid,
                "images_generated": self._images_generated,
                "paid_prompts": dict(self._paid_prompts),
                "paid_by_model": dict(self._paid_by_model),
                "max_in_flight": {e: self._max_in_flight[e] for e in wire.ENDPOINTS},
                "errors": list(self.errors),
                "generated": self.registry.summary(),
                "predictions": dict(
                    Counter(prediction.status for prediction in self.predictions.all())
                ),
            }

    def write_state(self) -> None:
        if not self.state_file:
            return
        # One writer at a time, snapshot taken inside, so the last write is the newest state.
        with self._state_lock:
            data = json.dumps(self.state(), indent=1, sort_keys=True)
            temporary = f"{self.state_file}.tmp"
            with open(temporary, "w", encoding="utf-8") as handle:
                handle.write(data)
            os.replace(temporary, self.state_file)

    # ------------------------------------------------------------ decisions (handler side)

    def _decide(self, request: Request) -> tuple[Reply, Inputs | None]:
        """The answer to one API request and the images/texts it sent."""
        endpoint, headers, body = request.endpoint, request.headers, request.body
        given = faces.api_key(endpoint, headers, request.query)
        if given != self._key_for(endpoint):
            return faces.auth_error(endpoint, given, request.request_id), None
        simple = self._simple(request)
        if simple is not None:
            return simple, None
        if endpoint == "messages" and not headers.get("anthropic-version"):
            payload = wire.anthropic_error(
                "invalid_request_error", "anthropic-version: header is required", request.request_id
            )
            return _kind(json_reply(400, payload), "invalid_request"), None
        if request.form_error is not None:
            payload = wire.openai_error(
                f"Could not parse multipart form: {request.form_error}", "invalid_request_error"
            )
            return _kind(json_reply(400, payload), "invalid_request"), None
        match_body = body
        if endpoint == "replicate_poll":
            prediction = self.predictions.get(request.route.params["id"])
            if prediction is None:
                return replicate_face.error_reply(404, kind="not_found"), None
            match_body = prediction.body
        else:
            invalid = faces.validate(endpoint, body, request.request_id, self.strict_images)
            if invalid is not None:
                return invalid, None
        try:
            inputs = faces.inputs(
                endpoint, body or {}, request.files, self.registry, self.base_url, self._file_bytes
            )
        except InputError as error:
            return faces.input_error(endpoint, error, request.request_id), None
        ctx = RequestContext(
            endpoint=endpoint,
            body=match_body if endpoint == "replicate_poll" else body,
            request_id=request.request_id,
            base_url=self.base_url,
            reply_text=self.reply_text,
            vision_reply=self.vision_reply,
            inputs=inputs,
            params=request.route.params,
            fake=self,
            headers=headers,
        )
        try:
            spec: Spec | None = self._rules.pick(endpoint, match_body)
            if spec is None and _model_name(request) in self.retired_models:
                spec = ModelNotFound()
            return (spec or Ok()).render(ctx), inputs
        except Exception:
            # A broken match function or spec is a test bug: make it loud, not a hang.
            message = traceback.format_exc()
            with self._lock:
                self.errors.append(message)
            payload = wire.openai_error(f"fakeapi internal error: {message}", "server_error")
            return _kind(json_reply(500, payload), "fake_error"), inputs

    def _key_for(self, endpoint: str) -> str:
        family = faces.family(endpoint)
        if family == "gemini":
            return self.gemini_api_key
        if family == "replicate":
            return self.replicate_api_token
        return self.api_key

    def _simple(self, request: Request) -> Reply | None:
        """Answers of endpoints that rules do not script: key checks, cancel, uploads."""
        endpoint, params = request.endpoint, request.route.params
        if endpoint == "models":
            return _kind(json_reply(200, wire.models_list()), "ok")
        if endpoint == "gemini_models":
            model = params.get("model")
            if model is None:
                return _kind(json_reply(200, gemini_face.models_list()), "ok")
            if model not in gemini_face.MODELS:
                return gemini_face.error_reply(404, f"models/{model} is not found", "not_found")
            return _kind(json_reply(200, gemini_face.model_info(model)), "ok")
        if endpoint == "replicate_account":
            return _kind(json_reply(200, replicate_face.account()), "ok")
        if endpoint == "replicate_cancel":
            prediction = self.predictions.get(params["id"])
            if prediction is None:
                return replicate_face.error_reply(404, kind="not_found")
            ctx = RequestContext(
                endpoint, prediction.body, request.request_id, self.base_url, fake=self
            )
            return replicate_face.cancel(ctx, prediction)
        if endpoint == "replicate_files":
            return self._files_endpoint(request)
        return None

    def _files_endpoint(self, request: Request) -> Reply:
        if request.method == "POST":
            content = next((part for part in request.files if part[0] == "content"), None)
            if content is None:
                return replicate_face.error_reply(400, "Missing file content", "invalid_request")
            upload = Upload(
                id=wire.new_id("")[:20],
                name=content[1] or "file",
                content_type=content[2] or "application/octet-stream",
                data=content[3],
            )
            with self._lock:
                self._uploads[upload.id] = upload
            return _kind(json_reply(201, upload.json(self.base_url)), "ok")
        with self._lock:
            found = self._uploads.get(request.route.params["id"])
        if found is None:
            return replicate_face.error_reply(404, kind="not_found")
        if request.route.params.get("download"):
            return Reply(200, found.data, {"content-type": found.content_type})
        return _kind(json_reply(200, found.json(self.base_url)), "ok")

    def _file_bytes(self, path: str) -> bytes | None:
        """Bytes of a file this fake serves (a generated image or an upload), by URL path."""
        found = _FILE_RE.match(path)
        if found is not None:
            served = self.registry.file(int(found.group(1)))
            return None if served is None else served[1]
        found = _UPLOAD_RE.match(path)
        if found is not None:
            with self._lock:
                upload = self._uploads.get(found.group(1))
            return None if upload is None else upload.data
        return None

    def _make_record(
        self, request: Request, reply: Reply, inputs: Inputs | None, delivered: bool
    ) -> RequestRecord:
        retry = request.headers.get("x-stainless-retry-count")
        ok = 200 <= reply.status < 300
        return RequestRecord(
            endpoint=request.endpoint,
            method=request.method,
            path=request.path,
            headers=request.headers,
            json=request.body,
            status=None if reply.reset else reply.status,
            kind=reply.kind,
            received_at=request.received,
            answered_at=time.monotonic(),
            retry_count=int(retry) if retry and retry.isdigit() else None,
            delivered=delivered,
            images=reply.images if ok else 0,
            prompt=reply.prompt or wire.request_prompt(request.endpoint, request.body),
            model=reply.model or _model_name(request),
            input_images=list(inputs.images) if inputs else [],
            text_parts=list(inputs.texts) if inputs else [],
            generated=list(reply.generated),
            params=dict(request.route.params),
        )

    def _begin(self, endpoint: str) -> None:
        with self._lock:
            self._in_flight[endpoint] += 1
            self._max_in_flight[endpoint] = max(
                self._max_in_flight[endpoint], self._in_flight[endpoint]
            )

    def _end(self, endpoint: str) -> None:
        with self._changed:
            self._in_flight[endpoint] -= 1
            self._changed.notify_all()

    def _record(self, record: RequestRecord, end_flight: bool = False) -> None:
        with self._changed:
            if end_flight:
                self._in_flight[record.endpoint] -= 1
            self._requests.append(record)
            status = "reset" if record.status is None else str(record.status)
            self._status_counts[(record.endpoint, status)] += 1
            if record.status is not None and 200 <= record.status < 300 and record.images:
                self._images_generated += record.images
                if record.delivered:
                    self._add_paid(record, record.images)
            self._changed.notify_all()
        self.write_state()

    def _undeliver(self, record: RequestRecord) -> None:
        """The answer could not be written after all: take back what it paid."""
        with self._lock:
            ok = record.status is not None and 200 <= record.status < 300
            if record.delivered and ok and record.images:
                self._add_paid(record, -record.images)
            record.delivered = False
        self.write_state()

    def _add_paid(self, record: RequestRecord, number: int) -> None:
        self._images_paid += number
        prompt, model = record.prompt or "", record.model or wire.DEFAULT_IMAGE_MODEL
        self._paid_prompts[prompt] += number
        self._paid_by_model[model] += number
        # A taken-back payment must not leave a zero entry behind in the Counters.
        if self._paid_prompts[prompt] <= 0:
            del self._paid_prompts[prompt]
        if self._paid_by_model[model] <= 0:
            del self._paid_by_model[model]

    def _control(self, method: str, path: str, raw: bytes) -> Reply:
        """The ``/_fake/...`` endpoints used by other processes (no auth, not recorded)."""
        return control.answer(self, method, path, raw)


def _model_name(request: Request) -> str | None:
    params = request.route.params
    if params.get("model"):
        return params["model"]
    if params.get("owner") and params.get("name"):
        return f"{params['owner']}/{params['name']}"
    body = request.body
    if isinstance(body, dict) and body.get("model") is not None:
        return str(body["model"])
    if request.endpoint == "replicate" and isinstance(body, dict) and body.get("version"):
        return str(body["version"]).partition(":")[0]
    return None


def _kind(reply: Reply, kind: str) -> Reply:
    reply.kind = kind
    return reply
