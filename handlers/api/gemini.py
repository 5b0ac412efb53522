"""The Gemini API through the official google-genai SDK: one shared client per (key,
server, options), the free key check, and its errors mapped to ours.

Imported only when a configured chain has a Gemini link: the SDK takes about a second
to import. The client is built without retry options, so the SDK does not retry and
handlers/api/retry.py stays the only retry loop."""

from __future__ import annotations

import re
import threading
from typing import Any

import httpx
from google import genai
from google.genai import errors, types

from config.settings import GeminiSettings, RetrySettings
from handlers.api.retry import MalformedResponse, RetryableError, clip, retry_after, retry_later
from handlers.errors import AuthError, ConfigurationError, ImagegenError, ProviderError

try:  # the SDK talks through httpx2 (a fork of httpx) where it is installed
    import httpx2

    _TIMEOUTS: tuple[type[Exception], ...] = (httpx.TimeoutException, httpx2.TimeoutException)
    _TRANSPORT: tuple[type[Exception], ...] = (httpx.TransportError, httpx2.TransportError)
except ImportError:  # pragma: no cover - depends on the SDK's own dependencies
    _TIMEOUTS = (httpx.TimeoutException,)
    _TRANSPORT = (httpx.TransportError,)

# A key check that failed for these says nothing about the key.
_INCONCLUSIVE: tuple[type[Exception], ...] = (*_TRANSPORT, ValueError)

KEY_HINT = "Check the Gemini API key (GEMINI_API_KEY or the systemd credential gemini_api_key)"
_QUOTA = "exceeded your current quota"
_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")

_lock = threading.Lock()
_clients: dict[tuple[object, ...], genai.Client] = {}


def gemini_client(cfg: GeminiSettings) -> genai.Client:
    key = cfg.api_key.get_secret_value() if cfg.api_key else "missing-key"
    ident = (key, cfg.base_url, cfg.api_version, cfg.timeout_seconds)
    with _lock:
        client = _clients.get(ident)
        if client is None:
            options = types.HttpOptions(
                base_url=cfg.base_url,
                api_version=cfg.api_version,
                timeout=int(cfg.timeout_seconds * 1000),  # milliseconds
            )
            # Kept in the dict for the process: a collected Client closes its connections.
            client = _clients[ident] = genai.Client(api_key=key, http_options=options)
        return client


def key_probe(client: genai.Client) -> bool:
    """The free check: one page of the models list. AuthError for a refused key;
    anything else is inconclusive (the real call will tell): False."""
    try:
        next(iter(client.models.list(config={"page_size": 1})), None)
        return True
    except errors.APIError as e:
        if _refused(e):
            raise AuthError(
                f"gemini: HTTP {e.code} {e.status}: {clip(str(e.message))}. {KEY_HINT}; "
                "gemini gets no further calls in this run"
            ) from None
    except _INCONCLUSIVE:
        pass
    return False


def classify(exc: Exception, what: str, policy: RetrySettings) -> Exception:
    """Map a google-genai exception to ours. Messages carry the API's words, never a key."""
    if isinstance(exc, ImagegenError):
        return exc
    if isinstance(exc, errors.APIError):
        return _classify_api(exc, what, policy)
    if isinstance(exc, _TIMEOUTS):
        return RetryableError(f"{what}: timed out")
    if isinstance(exc, _TRANSPORT):
        return RetryableError(f"{what}: connection failed ({type(exc).__name__})")
    if isinstance(exc, ValueError):  # JSON decoding or the SDK's model of a broken body
        return MalformedResponse(f"{what}: malformed response body ({type(exc).__name__})")
    return ProviderError(f"{what}: {type(exc).__name__}: {clip(str(exc))}")


def _classify_api(exc: errors.APIError, what: str, policy: RetrySettings) -> Exception:
    code = int(exc.code or 0)
    message = clip(str(exc.message or ""))
    detail = f"{what}: HTTP {code}" + (f" {exc.status}" if exc.status else "") + f": {message}"
    if _refused(exc):
        return AuthError(f"{detail}. {KEY_HINT}; gemini gets no further calls in this run")
    if code == 404:
        return ConfigurationError(
            f"{detail}. Change the Gemini model in the settings (image.model, image.fallback "
            "or image.chains) to one this server offers"
        )
    if code == 429 and _QUOTA in message.lower():
        return ProviderError(f"{detail}. The project is out of quota; not retried")
    if code in (408, 409, 429) or code >= 500:
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        delay = retry_after(headers)
        if delay is None:
            delay = _retry_info(exc.details)
        return retry_later(detail, delay, policy)
    return ProviderError(detail)


def _refused(exc: errors.APIError) -> bool:
    """A wrong key is a 400 with reason API_KEY_INVALID; a missing or suspended one 401/403."""
    return exc.code in (401, 403) or "API_KEY_INVALID" in _reasons(exc.details)


def _reasons(details: Any) -> set[str]:
    found: set[str] = set()
    for item in _detail_items(details):
        reason = item.get("reason")
        if isinstance(reason, str):
            found.add(reason)
    return found


def _retry_info(details: Any) -> float | None:
    """google.rpc.RetryInfo's retryDelay ("13s"), when the answer has no Retry-After."""
    for item in _detail_items(details):
        if str(item.get("@type", "")).endswith("RetryInfo"):
            found = _DELAY.match(str(item.get("retryDelay", "")))
            if found:
                return float(found.group(1))
    return None


def _detail_items(details: Any) -> list[dict[str, Any]]:
    error = details.get("error", details) if isinstance(details, dict) else None
    items = error.get("details") if isinstance(error, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []
