"""The loopback fake of the OpenAI and Anthropic HTTP APIs.

``FakeAPI`` owns the decisions (auth, validation, rules, counters); ``_Handler`` owns the
HTTP/1.1 bytes. The real SDKs keep connections alive in a pool, so every answer carries
an exact Content-Length and the request body is always read to its end.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import socket
import struct
import sys
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from tests.fakeapi import images, wire
from tests.fakeapi.responses import ModelNotFound, Ok, Spec
from tests.fakeapi.rules import Matcher, Rule, RuleBook, rule_args_from_json
from tests.fakeapi.wire import Reply, ReplyText, RequestContext, json_reply

ROUTES: dict[tuple[str, str], str] = {
    ("POST", "/v1/images/generations"): "images",
    ("POST", "/v1/chat/completions"): "chat",
    ("POST", "/v1/messages"): "messages",
    # Free in the real APIs; imagegen lists models once to check a key before paying.
    ("GET", "/v1/models"): "models",
}
_FILE_RE = re.compile(r"^/_fake/files/(\d+)x(\d+)-([0-9a-f]{6})\.(png|jpeg|webp)$")


@dataclass
class RequestRecord:
    """One API request and what the fake did with it (times are ``time.monotonic()``)."""

    endpoint: str  # "images" | "chat" | "messages" | "unknown"
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    json: Any  # parsed body, or None when absent or not JSON
    status: int | None  # None: the connection was reset without an answer
    kind: str  # "ok" or the fault / error that answered, e.g. "rate_limited"
    received_at: float
    answered_at: float
    retry_count: int | None  # from x-stainless-retry-count
    delivered: bool  # False when the client had gone (timed out) before the answer
    images: int  # images paid by this answer

    @property
    def prompt(self) -> str | None:
        return self.json.get("prompt") if isinstance(self.json, dict) else None

    @property
    def model(self) -> str | None:
        return self.json.get("model") if isinstance(self.json, dict) else None


class FakeAPI:
    """A scriptable fake of the OpenAI images/chat and Anthropic messages APIs on loopback."""

    def __init__(
        self,
        api_key: str = "sk-test-fake-key",
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        default_latency: float = 0.0,
        state_file: str | os.PathLike[str] | None = None,
        strict_images: bool = True,
    ) -> None:
        self.api_key = api_key
        self.host = host
        self.requested_port = port
        self.default_latency = default_latency
        # Per-endpoint latency of successful answers, e.g. latency["images"] = 1.0.
        self.latency: dict[str, float] = {}
        # Answer text of chat/messages when no rule gives one: str, or fn(body) -> str.
        self.reply_text: ReplyText = None
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
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._in_flight: Counter[str] = Counter()
        self._clear_counters()

    # ------------------------------------------------------------ lifecycle

    def start(self) -> FakeAPI:
        if self._server is not None:
            return self
        self._stopping = threading.Event()
        self._server = _Server((self.host, self.requested_port), _Handler, self)
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
        or fn(json_body) -> bool. When the responses run out the rule is done (with
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
        """Forget rules, requests and counters (settings such as latency stay)."""
        self._rules.clear()
        with self._lock:
            self._clear_counters()
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

    def _decide(self, endpoint: str, headers: dict[str, str], body: Any, request_id: str) -> Reply:
        """The answer to one API request; ``body`` is the parsed JSON (None if not JSON)."""
        given = _api_key(endpoint, headers)
        if given != self.api_key:
            return wire.auth_error(endpoint, given, request_id)
        if endpoint == "models":
            return _kind(json_reply(200, wire.models_list()), "ok")
        if endpoint == "messages" and not headers.get("anthropic-version"):
            payload = wire.anthropic_error(
                "invalid_request_error", "anthropic-version: header is required", request_id
            )
            return _kind(json_reply(400, payload), "invalid_request")
        invalid = wire.validate(endpoint, body, request_id, self.strict_images)
        if invalid is not None:
            return invalid
        ctx = RequestContext(endpoint, body, request_id, self.base_url, self.reply_text)
        try:
            spec = self._rules.pick(endpoint, body)
            if spec is None and str(body.get("model")) in self.retired_models:
                spec = ModelNotFound()
            return (spec or Ok()).render(ctx)
        except Exception:
            # A broken match function or spec is a test bug: make it loud, not a hang.
            message = traceback.format_exc()
            with self._lock:
                self.errors.append(message)
            payload = wire.openai_error(f"fakeapi internal error: {message}", "server_error")
            return _kind(json_reply(500, payload), "fake_error")

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
            if record.status == 200 and record.images:
                self._images_generated += record.images
                if record.delivered:
                    self._add_paid(record, record.images)
            self._changed.notify_all()
        self.write_state()

    def _undeliver(self, record: RequestRecord) -> None:
        """The answer could not be written after all: take back what it paid."""
        with self._lock:
            if record.delivered and record.status == 200 and record.images:
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
        if method == "GET" and path == "/_fake/state":
            return json_reply(200, self.state())
        if method == "POST" and path == "/_fake/reset":
            self.reset()
            return json_reply(200, {"ok": True})
        if method == "POST" and path == "/_fake/rules":
            try:
                data = json.loads(raw)
                items = data if isinstance(data, list) else [data]
                for item in items:
                    self.add_rule_json(item)
            except (ValueError, TypeError) as error:
                return json_reply(400, {"error": str(error)})
            return json_reply(200, {"added": len(items)})
        found = _FILE_RE.match(path) if method == "GET" else None
        if found is not None:
            width, height = int(found.group(1)), int(found.group(2))
            colour = tuple(bytes.fromhex(found.group(3)))
            fmt = found.group(4)
            data_bytes = images.encode_image(width, height, (colour[0], colour[1], colour[2]), fmt)
            return Reply(200, data_bytes, {"content-type": f"image/{fmt}"})
        return json_reply(404, {"error": f"no control endpoint {method} {path}"})


def _kind(reply: Reply, kind: str) -> Reply:
    reply.kind = kind
    return reply


def _api_key(endpoint: str, headers: dict[str, str]) -> str | None:
    # anthropic 2.x sends its api_key as "Authorization: Bearer"; raw HTTP callers and older
    # SDKs send x-api-key. The messages endpoint takes either, x-api-key first.
    if endpoint in ("messages", "models") and headers.get("x-api-key"):
        return headers["x-api-key"]
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


def _not_found(method: str, path: str, headers: dict[str, str], request_id: str) -> Reply:
    if "x-api-key" in headers and "authorization" not in headers:
        payload = wire.anthropic_error("not_found_error", "Not Found", request_id)
    else:
        message = f"Invalid URL ({method} {path})"
        payload = wire.openai_error(message, "invalid_request_error")
    return _kind(json_reply(404, payload), "not_found")


def _peer_closed(connection: socket.socket) -> bool:
    """True when the client has closed its end (e.g. it timed out while we slept)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        if not readable:
            return False
        return connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Bursts of concurrent SDK connections must not be refused by a short listen backlog.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], fake: FakeAPI
    ) -> None:
        self.fake = fake
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that dies mid-request (a SIGKILLed daemon, a timed-out SDK call) is
        # part of the tests, not an error worth a traceback.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # True between _begin and the moment the answer is recorded.
    _in_flight: bool = False

    def setup(self) -> None:
        super().setup()
        with self.server.fake._lock:
            self.server.fake._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except (OSError, ValueError):
            # The socket may already be gone (reset on purpose, or the client left).
            pass
        finally:
            with self.server.fake._lock:
                self.server.fake._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet: a request log per call drowns test output.
        pass

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_GET
    do_PUT = do_GET
    do_PATCH = do_GET
    do_DELETE = do_GET

    # ------------------------------------------------------------

    def _serve(self) -> None:
        fake = self.server.fake
        received = time.monotonic()
        raw = self._read_body()
        method = self.command
        path = urlsplit(self.path).path
        if path.startswith("/_fake/"):
            self._send(fake._control(method, path, raw))
            return

        headers = {name.lower(): value for name, value in self.headers.items()}
        endpoint = ROUTES.get((method, path), "unknown")
        request_id = wire.new_id("req_")
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None

        if endpoint == "unknown":
            reply = _not_found(method, path, headers, request_id)
            self._finish_request(endpoint, headers, body, reply, received, request_id)
            return

        fake._begin(endpoint)
        self._in_flight = True
        try:
            reply = fake._decide(endpoint, headers, body, request_id)
            delay = reply.delay
            if delay is None:
                delay = fake.latency_for(endpoint) if reply.status == 200 else 0.0
            # Scripted latency is the server's whole time, rendering the answer included.
            delay = max(0.0, delay - (time.monotonic() - received))
            if delay > 0 and fake._stopping.wait(delay):
                reply = Reply(status=0, reset=True, kind="stopped")
            self._finish_request(endpoint, headers, body, reply, received, request_id)
        finally:
            if self._in_flight:
                fake._end(endpoint)

    def _finish_request(
        self,
        endpoint: str,
        headers: dict[str, str],
        body: Any,
        reply: Reply,
        received: float,
        request_id: str,
    ) -> None:
        fake = self.server.fake
        delivered = not reply.reset and not _peer_closed(self.connection)
        retry = headers.get("x-stainless-retry-count")
        record = RequestRecord(
            endpoint=endpoint,
            method=self.command,
            path=self.path,
            headers=headers,
            json=body,
            status=None if reply.reset else reply.status,
            kind=reply.kind,
            received_at=received,
            answered_at=time.monotonic(),
            retry_count=int(retry) if retry and retry.isdigit() else None,
            delivered=delivered,
            images=reply.images if reply.status == 200 else 0,
        )
        # Counted (and out of flight) before the bytes go out, so a client that has its
        # answer sees counters that include it.
        fake._record(record, end_flight=self._in_flight)
        self._in_flight = False
        if reply.reset or not delivered:
            self._reset()
            return
        id_header = "request-id" if endpoint == "messages" else "x-request-id"
        reply.headers.setdefault(id_header, request_id)
        try:
            self._send(reply)
        except OSError:
            fake._undeliver(record)
            self.close_connection = True

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size_line = self.rfile.readline(65537)
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Trailers end with an empty line.
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline(65537)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()

    def _reset(self) -> None:
        """Drop the connection with a TCP RST, the way a crashed proxy does."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass
