"""`imagegen web`: the review pages over HTTP, with their buttons (Starlette + uvicorn).

The pages are the static gallery's templates rendered live; the buttons only write
the request files a person could write by hand (a pick, a `.stale` marker), and the
daemon does the work. Like Jupyter: bound to 127.0.0.1, and every request needs the
token printed at start, given once as `?token=` (then kept in a cookie) or as an
`Authorization: token ...` header.
"""

from __future__ import annotations

import getpass
import mimetypes
import os
import secrets
import socket

import uvicorn
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.applications import Starlette
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from config import Settings
from handlers.episode import layout
from handlers.errors import ConfinementError, ImagegenError, UsageError
from handlers.imagegen import (
    ReviewAction,
    review_episode_page,
    review_file,
    review_request,
    review_tree_page,
    review_version,
)

API = "/.api"  # a dot name: never an episode's (the scan skips hidden names)
EPISODE_PAGE = f"/{layout.IMAGES_DIR}/{layout.GALLERY}"
# The pages' own inline style and script; nothing from elsewhere, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; "
        "form-action 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class ActionRequest(BaseModel):
    """What a button sends: the episode by its path under the outputs root."""

    model_config = ConfigDict(extra="forbid")

    action: ReviewAction
    episode: str
    chapter_id: str | None = None
    candidate: str | None = None


def build_app(settings: Settings, token: str, cookie: str, who: str) -> ASGIApp:
    def tree(request: Request) -> Response:
        return HTMLResponse(review_tree_page(settings))

    def state(request: Request) -> Response:
        episode = request.query_params.get("episode") or None
        return JSONResponse({"version": review_version(settings, episode)})

    async def action(request: Request) -> Response:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            # A form from another site cannot send JSON without the browser asking first.
            return _error(415, "send the request as application/json")
        try:
            asked = ActionRequest.model_validate_json(await request.body())
        except ValidationError as e:
            return _error(400, f"bad request: {e.errors()[0]['loc']}: {e.errors()[0]['msg']}")
        message = review_request(
            settings, asked.episode, asked.action, asked.chapter_id, asked.candidate, by=who
        )
        return JSONResponse({"ok": True, "message": message})

    def page_or_file(request: Request) -> Response:
        path = request.path_params["path"]
        if path.endswith(EPISODE_PAGE) or path.endswith(f"/{layout.IMAGES_DIR}/"):
            episode = path.rsplit(f"/{layout.IMAGES_DIR}/", 1)[0]
            return HTMLResponse(review_episode_page(settings, episode))
        if path == layout.ROOT_GALLERY:
            return HTMLResponse(review_tree_page(settings))
        media_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        # no-cache: the browser revalidates; images carry their content hash in ?v= anyway.
        return Response(
            review_file(settings, path),
            media_type=media_type,
            headers={"Cache-Control": "no-cache"},
        )

    app = Starlette(
        routes=[
            Route("/", tree),
            Route(f"{API}/state", state),
            Route(f"{API}/action", action, methods=["POST"]),
            Route("/{path:path}", page_or_file),
        ],
        exception_handlers={ImagegenError: _handler_error, OSError: _handler_error},
    )
    return _TokenGate(app, token, cookie)


async def _handler_error(request: Request, exc: Exception) -> Response:
    status = (
        400 if isinstance(exc, UsageError) else 403 if isinstance(exc, ConfinementError) else 404
    )
    return _error(status, str(exc))


def _error(status: int, message: str) -> Response:
    return JSONResponse({"ok": False, "error": message}, status_code=status)


class _TokenGate:
    """Every request needs the token; a page opened with ?token= gets a cookie and is
    sent on without the token in its address (so it is not left in the history)."""

    def __init__(self, app: ASGIApp, token: str, cookie: str) -> None:
        self.app = app
        self.token = token
        self.cookie = cookie

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.query_params.get("token")
        response: Response | None = None
        if given is not None:
            if secrets.compare_digest(given, self.token):
                rest = URL(scope=scope).remove_query_params("token").query
                response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), 303)
                response.set_cookie(
                    self.cookie, self.token, httponly=True, samesite="strict", path="/"
                )
            else:
                response = _refused("wrong token")
        elif not self._allowed(request):
            response = _refused("no token")
        elif request.method == "POST" and not _same_origin(request):
            response = _refused("request from another site")
        if response is None:

            async def send_with_headers(message: dict[str, object]) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))  # type: ignore[call-overload]
                    headers += [
                        (k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()
                    ]
                    message["headers"] = headers
                await send(message)

            await self.app(scope, receive, send_with_headers)  # type: ignore[arg-type]
            return
        await response(scope, receive, send)

    def _allowed(self, request: Request) -> bool:
        cookie = request.cookies.get(self.cookie, "")
        header = request.headers.get("authorization", "")
        given = header.removeprefix("token ").strip() if header.startswith("token ") else cookie
        return bool(given) and secrets.compare_digest(given, self.token)


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.headers.get('host')}"


def _refused(why: str) -> Response:
    return PlainTextResponse(
        f"403 {why}: open the address `imagegen web` printed when it started (it ends in "
        "?token=...), or send 'Authorization: token ...'",
        status_code=403,
    )


def serve(settings: Settings, host: str, port: int, token: str | None = None) -> int:
    """Bind first (port 0 picks a free one), print the address with its token, serve
    until Ctrl-C or SIGTERM."""
    token = token or secrets.token_urlsafe(24)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    port = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    app = build_app(settings, token, f"imagegen_token_{port}", _who())
    print(f"imagegen web: review pages of {os.path.realpath(settings.outputs_dir)}", flush=True)
    print(f"  open http://{shown}:{port}/?token={token}", flush=True)
    print("  buttons write request files; the daemon (imagegen daemon) applies them", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    server.run(sockets=[sock])
    return 0


def _who() -> str:
    try:
        return f"imagegen web ({getpass.getuser()})"
    except (KeyError, OSError):
        return f"imagegen web (uid {os.getuid()})"
