"""Check an API key once with a free request (GET /v1/models; Gemini's models list,
Replicate's account) before the first paid call, so a bad key stops the provider after
one request even with parallel workers.

Only a 401 counts as a bad key: a 403 there may just mean a restricted key without
model-listing rights, and a 404 a compatible server without the endpoint. Probes of
other SDKs raise AuthError themselves for a refused key and return otherwise."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from handlers.api.retry import loaded_sdks, scrub
from handlers.errors import AuthError

_verified: set[str] = set()
# A failed check is remembered briefly so the workers waiting on it do not each ask
# again; briefly, so a key fixed on the provider's side works again within a minute.
_failed: dict[str, tuple[float, str]] = {}
FAILURE_TTL_SECONDS = 60.0
_locks: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def ensure_key_works(
    kind: str, base_url: str | None, key: str, probe: Callable[[], object]
) -> None:
    fingerprint = hashlib.sha256(f"{kind}\0{base_url}\0{key}".encode()).hexdigest()
    with _guard:
        if fingerprint in _verified:
            return
        lock = _locks.setdefault(fingerprint, threading.Lock())
    with lock:  # the first worker probes, the others wait for its verdict
        if fingerprint in _verified:
            return
        failed = _failed.get(fingerprint)
        if failed is not None and time.monotonic() - failed[0] < FAILURE_TTL_SECONDS:
            raise AuthError(failed[1])
        try:
            probe()
        except AuthError as e:
            _failed[fingerprint] = (time.monotonic(), str(e))
            raise
        except Exception as e:
            # openai and anthropic errors (their modules are loaded: their probe ran).
            sdks = loaded_sdks()
            if any(isinstance(e, sdk.AuthenticationError) for sdk in sdks):
                message = (
                    f"{kind}: HTTP 401: {scrub(str(getattr(e, 'message', e)))}. Check the API "
                    "key (OPENAI_API_KEY / ANTHROPIC_API_KEY or the systemd credential); no "
                    "further calls are made for this episode"
                )
                _failed[fingerprint] = (time.monotonic(), message)
                raise AuthError(message) from None
            if not any(isinstance(e, sdk.APIError) for sdk in sdks):
                raise
            # Any other API error is inconclusive: the real call will tell.
        with _guard:
            _verified.add(fingerprint)


def forget_verified_keys() -> None:
    """For tests and SIGHUP: check keys again on next use."""
    with _guard:
        _verified.clear()
        _failed.clear()
