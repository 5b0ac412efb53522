"""The HTTP/1.1 side of the fake: routing, reading bodies, writing answers, resets.

The real SDKs keep connections alive in a pool, so every answer carries an exact
Content-Length and the request body is always read to its end. ``FakeAPI`` (server.py)
owns the decisions; this module owns the bytes.
"""

from __future__ import annotations

import json
import re
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakeapi import multipart, wire
from tests.fakeapi.wire import Reply, json_reply

if TYPE_CHECKING:
    from tests.fakeapi.server import FakeAPI

_FIXED: dict[tuple[str, str], str] = {
    ("POST", "/v1/images/generations"): "images",
    ("POST", "/v1/images/edits"): "edits",
    ("POST", "/v1/chat/completions"): "chat",
    ("POST", "/v1/messages"): "messages",
    ("POST", "/v1/predictions"): "replicate",
    ("GET", "/v1/account"): "replicate_account",
    ("POST", "/v1/files"): "replicate_files",
}
_GEMINI_CALL = re.compile(
    r"^/(?P<version>v1|v1beta|v1alpha)/models/(?P<model>[^/:]+):generateContent$"
)
_GEMINI_MODELS = re.compile(r"^/(?P<version>v1|v1beta|v1alpha)/models(/(?P<model>[^/:]+))?$")
_REPLICATE_MODEL = re.compile(r"^/v1/models/(?P<owner>[^/]+)/(?P<name>[^/]+)/predictions$")
_PREDICTION = re.compile(r"^/v1/predictions/(?P<id>[\w-]+)(?P<cancel>/cancel)?$")
_UPLOAD = re.compile(r"^/v1/files/(?P<id>[\w-]+)(?P<download>/download)?$")


@dataclass(frozen=True)
class Route:
    endpoint: str  # "unknown" when nothing matched
    params: dict[str, str] = field(default_factory=dict)


def route(method: str, path: str, headers: dict[str, str]) -> Route:
    """Which endpoint a request is for, with what the path says (model, prediction id)."""
    path = unquote(path)
    fixed = _FIXED.get((method, path))
    if fixed is not None:
        return Route(fixed)
    if method == "GET" and path == "/v1/models":
        # OpenAI and Anthropic list models here; google-genai (API version v1) too.
        if "x-goog-api-key" in headers and "authorization" not in headers:
            return Route("gemini_models", {"version": "v1"})
        return Route("models")
    found = _GEMINI_CALL.match(path)
    if found and method == "POST":
        return Route("gemini", found.groupdict())
    found = _GEMINI_MODELS.match(path)
    if found and method == "GET":
        return Route("gemini_models", {k: v for k, v in found.groupdict().items() if v})
    found = _REPLICATE_MODEL.match(path)
    if found and method == "POST":
        return Route("replicate", found.groupdict())
    found = _PREDICTION.match(path)
    if found:
        if found.group("cancel") and method == "POST":
            return Route("replicate_cancel", {"id": found.group("id")})
        if not found.group("cancel") and method == "GET":
            return Route("replicate_poll", {"id": found.group("id")})
    found = _UPLOAD.match(path)
    if found and method == "GET":
        params = {"id": found.group("id")}
        if found.group("download"):
            params["download"] = "1"
        return Route("replicate_files", params)
    return Route("unknown")


def not_found(method: str, path: str, headers: dict[str, str], request_id: str) -> Reply:
    if "x-api-key" in headers and "authorization" not in headers:
        payload = wire.anthropic_error("not_found_error", "Not Found", request_id)
    else:
        message = f"Invalid URL ({method} {path})"
        payload = wire.openai_error(message, "invalid_request_error")
    reply = json_reply(404, payload)
    reply.kind = "not_found"
    return reply


def _peer_closed(connection: socket.socket) -> bool:
    """True when the client has closed its end (e.g. it timed out while we slept)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        if not readable:
            return False
        return connection.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


@dataclass
class Request:
    """One parsed API request, as the decisions see it."""

    route: Route
    method: str
    path: str  # with the query
    headers: dict[str, str]  # lower-case names
    query: dict[str, str]
    body: Any  # parsed JSON, multipart text fields as a dict, or None
    files: list[tuple[str, str | None, str | None, bytes]]  # multipart file parts
    raw: bytes
    request_id: str
    received: float
    form_error: str | None = None  # a multipart body that could not be parsed

    @property
    def endpoint(self) -> str:
        return self.route.endpoint


_FORM_INTEGERS = ("n", "output_compression", "partial_images")


def parse_body(headers: dict[str, str], raw: bytes) -> tuple[Any, list[Any], str | None]:
    """(body, files, error): JSON, or multipart/form-data as (text fields, file parts)."""
    content_type = headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        try:
            form = multipart.parse(content_type, raw)
        except (multipart.MultipartError, ValueError) as error:
            return None, [], str(error)
        fields: dict[str, Any] = dict(form.fields)
        for name in _FORM_INTEGERS:
            value = fields.get(name)
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                fields[name] = int(value)
        return fields, form.files, None
    try:
        return (json.loads(raw) if raw else None), [], None
    except ValueError:
        return None, [], None


class Server(ThreadingHTTPServer):
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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server
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
        parts = urlsplit(self.path)
        if parts.path.startswith("/_fake/"):
            self._send(fake._control(method, parts.path, raw))
            return

        headers = {name.lower(): value for name, value in self.headers.items()}
        body, files, form_error = parse_body(headers, raw)
        request = Request(
            route=route(method, parts.path, headers),
            method=method,
            path=self.path,
            headers=headers,
            query=dict(parse_qsl(parts.query)),
            body=body,
            files=files,
            raw=raw,
            request_id=wire.new_id("req_"),
            received=received,
            form_error=form_error,
        )
        if request.endpoint == "unknown":
            reply = not_found(method, parts.path, headers, request.request_id)
            self._finish_request(request, reply, None)
            return

        fake._begin(request.endpoint)
        self._in_flight = True
        try:
            reply, inputs = fake._decide(request)
            delay = reply.delay
            if delay is None:
                delay = fake.latency_for(request.endpoint) if 200 <= reply.status < 300 else 0.0
            # Scripted latency is the server's whole time, rendering the answer included.
            delay = max(0.0, delay - (time.monotonic() - received))
            if delay > 0 and fake._stopping.wait(delay):
                reply = Reply(status=0, reset=True, kind="stopped")
            self._finish_request(request, reply, inputs)
        finally:
            if self._in_flight:
                fake._end(request.endpoint)

    def _finish_request(self, request: Request, reply: Reply, inputs: Any) -> None:
        fake = self.server.fake
        delivered = not reply.reset and not _peer_closed(self.connection)
        record = fake._make_record(request, reply, inputs, delivered)
        # Counted (and out of flight) before the bytes go out, so a client that has its
        # answer sees counters that include it.
        fake._record(record, end_flight=self._in_flight)
        self._in_flight = False
        if reply.reset or not delivered:
            self._reset()
            return
        id_header = "request-id" if request.endpoint == "messages" else "x-request-id"
        reply.headers.setdefault(id_header, request.request_id)
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
