"""Replicate through the official `replicate` client: one shared client per (token,
server, options), the free key check (GET /v1/account), its errors mapped to ours, and
the Retry-After its errors drop.

Imported only when a configured chain has a Replicate link. How Replicate retries:
the client itself retries GETs (prediction polls) on 429/503/504, honouring
Retry-After; it never retries a POST, so creating a prediction is retried here (429,
5xx, timeouts), never a poll: a prediction that may still succeed is never created
twice."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import httpx
from replicate.client import Client
from replicate.exceptions import ReplicateError

from config.settings import ReplicateSettings, RetrySettings
from handlers.api.retry import MalformedResponse, RetryableError, clip, retry_after, retry_later
from handlers.errors import AuthError, ConfigurationError, ImagegenError, ProviderError

TOKEN_HINT = "Check the Replicate token (REPLICATE_API_TOKEN or the systemd credential "
TOKEN_HINT += "replicate_api_token)"
# Longest a single HTTP request may take; a prediction's own deadline is its setting.
REQUEST_TIMEOUT = 60.0


class _LastError(threading.local):
    """The headers of this thread's last error answer: ReplicateError keeps only the
    body, and a 429's Retry-After is in the headers."""

    headers: Mapping[str, str] | None = None


_last_error = _LastError()
_lock = threading.Lock()
_clients: dict[tuple[object, ...], Client] = {}


class _DefaultTimeout(httpx.BaseTransport):
    """Gives requests without a timeout the client's. replicate 1.0 creates a prediction
    with an explicit `timeout=None` unless it waits (`Prefer: wait`), which httpx takes
    as "no timeout at all": a stuck POST would hold its worker forever."""

    def __init__(self, inner: httpx.BaseTransport, timeout: httpx.Timeout) -> None:
        self._inner = inner
        self._timeout = timeout.as_dict()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        given = request.extensions.get("timeout") or {}
        if all(value is None for value in given.values()):
            request.extensions["timeout"] = self._timeout
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def _remember_error(response: httpx.Response) -> None:
    _last_error.headers = response.headers if response.status_code >= 400 else None


def replicate_client(cfg: ReplicateSettings) -> Client:
    token = cfg.api_key.get_secret_value() if cfg.api_key else "missing-token"
    ident = (token, cfg.base_url, cfg.timeout_seconds)
    with _lock:
        client = _clients.get(ident)
        if client is None:
            seconds = min(REQUEST_TIMEOUT, cfg.timeout_seconds)
            timeout = httpx.Timeout(seconds, connect=min(5.0, seconds))
            client = _clients[ident] = Client(
                api_token=token,
                base_url=cfg.base_url,
                timeout=timeout,
                transport=_DefaultTimeout(httpx.HTTPTransport(), timeout),
                event_hooks={"response": [_remember_error]},
            )
        return client


def key_probe(client: Client) -> bool:
    """GET /v1/account: AuthError for a refused token; True when it answered, False
    when the check was inconclusive."""
    try:
        client.accounts.current()
        return True
    except ReplicateError as e:
        if e.status in (401, 403):
            raise AuthError(
                f"replicate: HTTP {e.status}: {clip(str(e.detail or e.title or ''))}. "
                f"{TOKEN_HINT}; replicate gets no further calls in this run"
            ) from None
    except (httpx.TransportError, ValueError):
        pass
    return False


def classify(exc: Exception, what: str, policy: RetrySettings) -> Exception:
    """Map an exception of creating a prediction to ours."""
    if isinstance(exc, ImagegenError):
        return exc
    if isinstance(exc, ReplicateError):
        return _classify_status(exc, what, policy)
    if isinstance(exc, httpx.TimeoutException):
        return RetryableError(f"{what}: timed out")
    if isinstance(exc, httpx.TransportError):
        return RetryableError(f"{what}: connection failed ({type(exc).__name__})")
    if isinstance(exc, ValueError):  # JSON decoding of a broken body
        return MalformedResponse(f"{what}: malformed response body ({type(exc).__name__})")
    return ProviderError(f"{what}: {type(exc).__name__}: {clip(str(exc))}")


def _classify_status(exc: ReplicateError, what: str, policy: RetrySettings) -> Exception:
    status = int(exc.status or 0)
    words = clip(" ".join(str(w) for w in (exc.title, exc.detail) if w))
    detail = f"{what}: HTTP {status}: {words}"
    if status in (401, 403):
        return AuthError(f"{detail}. {TOKEN_HINT}; replicate gets no further calls in this run")
    if status == 404:
        return ConfigurationError(
            f"{detail}. Change the Replicate model in the settings (image.fallback or "
            "image.chains) to one that exists: 'owner/name' for official models, "
            "'owner/name:<version id>' for the others"
        )
    if status == 402:
        return ProviderError(f"{detail}. The account is out of credit; not retried")
    if status == 422:
        return ProviderError(f"{detail}. Check the link's input = {{...}} against the model")
    if status in (408, 409, 429) or status >= 500:
        return retry_later(detail, retry_after(_last_error.headers or {}), policy)
    return ProviderError(detail)
