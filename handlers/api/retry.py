"""Retries for paid API calls, with tenacity, and the errors that must not be retried.

The SDK clients are built with ``max_retries=0``: this module is the only retry loop,
so `retry.attempts` is the real number of requests per call. Retried: 408, 409, 429,
5xx (and Anthropic's 529), timeouts, connection errors and malformed answers, with
exponential backoff and jitter or the server's Retry-After. Not retried: content
policy (the chapter is `rejected`), 401/403 (the episode stops), unknown model
(a configuration error), exhausted quota, and anything marked `x-should-retry: false`.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, TypeVar

import structlog

from config.settings import RetrySettings
from handlers.errors import (
    AuthError,
    ConfigurationError,
    ContentRejected,
    ImagegenError,
    ProviderError,
    Stopped,
)

if TYPE_CHECKING:
    import anthropic
    import openai
    from tenacity import RetryCallState

log = structlog.get_logger("imagegen")
T = TypeVar("T")
Stopper = Callable[[], bool]

_CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked"})
_RETRY_STATUSES = frozenset({408, 409, 429, 529})
_SDKS = ("openai", "anthropic")


def sdk_errors(name: str) -> tuple[type[Exception], ...]:
    """The exception class `name` of every SDK imported so far. The SDKs are imported on
    first use (handlers/api/clients.py); one never imported cannot have raised."""
    found: list[type[Exception]] = []
    for sdk in _SDKS:
        cls = getattr(sys.modules.get(sdk), name, None)
        if isinstance(cls, type) and issubclass(cls, Exception):
            found.append(cls)
    return tuple(found)


class MalformedResponse(ProviderError):
    """A 200 whose body is unusable (not JSON, no image, bad base64): retried, then failed."""


class RetryableError(ProviderError):
    """A transient failure worth another attempt; `delay` is the server's Retry-After."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class RateGate:
    """Shared by every worker using one provider: a 429 pauses them all, so parallel
    chapters slow down together instead of each hammering the limit."""

    def __init__(self) -> None:
        self._resume_at = 0.0
        self._lock = threading.Lock()

    def hold_until(self, delay: float) -> None:
        with self._lock:
            self._resume_at = max(self._resume_at, time.monotonic() + delay)

    def wait(self, stopped: Stopper | None) -> None:
        while True:
            with self._lock:
                remaining = self._resume_at - time.monotonic()
            if remaining <= 0:
                return
            if pause(remaining, stopped):
                raise Stopped("shutdown while waiting out a rate limit")


def pause(seconds: float, stopped: Stopper | None) -> bool:
    """Sleep, waking early (and returning True) when `stopped()` turns true."""
    deadline = time.monotonic() + seconds
    while True:
        if stopped is not None and stopped():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(remaining, 0.05))


def call_with_retries(
    fn: Callable[[], T],
    *,
    what: str,
    policy: RetrySettings,
    gate: RateGate,
    stopped: Stopper | None = None,
) -> tuple[T, int]:
    """Run `fn` (one API request) until it succeeds or may not be retried.
    Returns (result, attempts used)."""
    # Here, not at the top: only a run that makes a paid call needs tenacity.
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

    attempts = 0

    def one_attempt() -> T:
        nonlocal attempts
        if stopped is not None and stopped():
            raise Stopped(f"{what}: not sent, imagegen is stopping")
        gate.wait(stopped)
        attempts += 1
        try:
            return fn()
        except Exception as e:
            error = classify(e, what, policy)
            if isinstance(error, RetryableError) and error.delay is not None:
                # At once, so the other workers hold before their next request.
                gate.hold_until(error.delay)
            raise error from None

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableError) and exc.delay is not None:
            return 0.0  # the gate does the waiting, for every worker at once
        return float(backoff(state))

    def sleep(seconds: float) -> None:
        if pause(seconds, stopped):
            raise Stopped(f"{what}: not retried, imagegen is stopping")

    # "initial" is tenacity 9.1's name (9.2 renamed it "multiplier"); google-genai caps
    # tenacity below 9.2.
    backoff = wait_exponential_jitter(
        initial=policy.initial_backoff_seconds,
        max=policy.max_backoff_seconds,
        jitter=policy.initial_backoff_seconds * 0.25,
    )
    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts),
        wait=wait,
        sleep=sleep,
        retry=retry_if_exception(lambda e: isinstance(e, RetryableError | MalformedResponse)),
        before_sleep=lambda s: log.warning(
            "api_retry",
            call=what,
            attempt=s.attempt_number,
            error=str(s.outcome.exception()) if s.outcome else None,
        ),
        reraise=True,
    )
    try:
        result = retrying(one_attempt)
    except (RetryableError, MalformedResponse) as e:
        raise ProviderError(f"{e} (gave up after {attempts} attempts)") from None
    return result, attempts


def classify(exc: Exception, what: str, policy: RetrySettings) -> Exception:
    """Map an SDK exception to ours. Messages carry the provider's words, never a key."""
    if isinstance(exc, ImagegenError):
        return exc
    if isinstance(exc, sdk_errors("APITimeoutError")):
        return RetryableError(f"{what}: timed out")
    if isinstance(exc, sdk_errors("APIConnectionError")):
        return RetryableError(f"{what}: connection failed ({type(exc.__cause__).__name__})")
    if isinstance(exc, sdk_errors("APIStatusError")):
        return _classify_status(exc, what, policy)  # type: ignore[arg-type]
    if isinstance(exc, sdk_errors("APIResponseValidationError")):
        return MalformedResponse(f"{what}: malformed response body")
    if isinstance(exc, ValueError):  # JSON decoding of a broken 200 body
        return MalformedResponse(f"{what}: malformed response body ({type(exc).__name__})")
    return ProviderError(f"{what}: {type(exc).__name__}: {exc}")


def _classify_status(
    exc: openai.APIStatusError | anthropic.APIStatusError, what: str, policy: RetrySettings
) -> Exception:
    status = exc.status_code
    code, message = _error_fields(exc)
    detail = f"{what}: HTTP {status}" + (f" {code}" if code else "") + f": {message}"
    if status in (401, 403):
        return AuthError(
            f"{detail}. Check the API key (OPENAI_API_KEY / ANTHROPIC_API_KEY or the "
            "systemd credential); no further calls are made for this episode"
        )
    if code in _CONTENT_POLICY_CODES:
        return ContentRejected(f"{what}: rejected by the provider's safety system: {message}")
    if code == "model_not_found" or (status == 404 and "model" in message.lower()):
        return ConfigurationError(
            f"{detail}. Change the model in the settings (image.model / image.fallback "
            "or prompt.model) to one this server offers"
        )
    if code == "insufficient_quota":
        return ProviderError(f"{detail}. The account is out of credit; not retried")
    headers = exc.response.headers
    if headers.get("x-should-retry", "").lower() == "false":
        return ProviderError(f"{detail} (server said not to retry)")
    if status in _RETRY_STATUSES or status >= 500:
        return retry_later(detail, retry_after(headers), policy)
    return ProviderError(detail)


def retry_later(detail: str, delay: float | None, policy: RetrySettings) -> ProviderError:
    """A transient fault to try again (after `delay`, the server's wish, when given),
    unless the server asks to wait longer than the settings allow."""
    if delay is not None and delay > policy.max_retry_after_seconds:
        return ProviderError(
            f"{detail}; the server asks to wait {delay:.0f} s, more than "
            f"retry.max_retry_after_seconds ({policy.max_retry_after_seconds:.0f} s)"
        )
    return RetryableError(detail, delay)


def retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms`, else `retry-after` (seconds or an HTTP date)."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _error_fields(exc: openai.APIStatusError | anthropic.APIStatusError) -> tuple[str | None, str]:
    """(code, message) from either API's error body; text bodies (proxies) as they are."""
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            code = inner.get("code") or inner.get("type")
            message = inner.get("message") or str(exc.message)
            return (str(code) if code else None), _clip(str(message))
    return None, _clip(str(exc.message))


# OpenAI and Anthropic keys (sk-...), Google API keys (AIza...), Replicate tokens (r8_...).
_KEY_LIKE = re.compile(
    r"\b(sk|key|sess)-[A-Za-z0-9_\-*]{3,}|\bAIza[0-9A-Za-z_\-*]{6,}|\br8_[A-Za-z0-9*]{6,}"
)


def scrub(text: str) -> str:
    """Provider messages may echo (part of) a key, e.g. 'Incorrect API key provided:
    sk-te****'; nothing that looks like one leaves this module."""
    return _KEY_LIKE.sub("[redacted key]", text)


def clip(text: str, limit: int = 300) -> str:
    """One line, at most `limit` characters, with nothing that looks like a key."""
    return _clip(text, limit)


def _clip(text: str, limit: int = 300) -> str:
    text = scrub(" ".join(text.split()))
    return text if len(text) <= limit else text[: limit - 1] + "…"
