"""Check an API key once per process with a free request (GET /v1/models; Gemini's
models list, Replicate's account), so a bad key stops the provider after one paid-
endpoint request even with parallel workers.

The check runs alongside the first call instead of before it: the first caller starts
the probe in a thread and sends its own request at once; every other caller waits for
the probe's verdict. A bad key therefore costs the probe and that one request (both
refused, nothing paid), and a good key costs the first image no round trip.

Only a 401 counts as a bad key: a 403 there may just mean a restricted key without
model-listing rights, and a 404 a compatible server without the endpoint. Probes of
other SDKs raise AuthError themselves for a refused key and return otherwise."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from handlers.api.retry import scrub, sdk_errors
from handlers.errors import AuthError, KeyRefused

_verified: set[str] = set()
# A failed check is remembered briefly so the workers waiting on it do not each ask
# again; briefly, so a key fixed on the provider's side works again within a minute.
_failed: dict[str, tuple[float, str]] = {}
FAILURE_TTL_SECONDS = 60.0
_probes: dict[str, _Check] = {}
_guard = threading.Lock()


@dataclass
class _Check:
    """One probe in flight, and its verdict for the callers waiting on it (theirs, not
    a stale one left in _failed by an earlier check of the same key)."""

    done: threading.Event = field(default_factory=threading.Event)
    refused: str | None = None


def ensure_key_works(
    kind: str, base_url: str | None, key: str, probe: Callable[[], object]
) -> None:
    """Return when the caller may send its request; KeyRefused (an AuthError) when the
    key is bad, raised before the caller sent anything."""
    fingerprint = key_fingerprint(kind, base_url, key)
    with _guard:
        if fingerprint in _verified:
            return
        failed = _failed.get(fingerprint)
        if failed is not None and time.monotonic() - failed[0] < FAILURE_TTL_SECONDS:
            raise KeyRefused(failed[1])
        check = _probes.get(fingerprint)
        if check is None:
            check = _probes[fingerprint] = _Check()
            threading.Thread(
                target=_probe,
                args=(fingerprint, kind, probe, check),
                name=f"imagegen-key-check-{kind}",
                daemon=True,
            ).start()
            return  # the first call goes alongside the probe
    check.done.wait()
    if check.refused is not None:
        raise KeyRefused(check.refused)


def key_fingerprint(kind: str, base_url: str | None, key: str) -> str:
    """What a verdict is remembered under: never the key itself."""
    return hashlib.sha256(f"{kind}\0{base_url}\0{key}".encode()).hexdigest()


def _probe(fingerprint: str, kind: str, probe: Callable[[], object], check: _Check) -> None:
    message = None
    try:
        probe()
    except AuthError as e:  # Gemini's and Replicate's probes say so themselves
        message = str(e)
    except sdk_errors("AuthenticationError") as e:
        message = (
            f"{kind}: HTTP 401: {scrub(str(getattr(e, 'message', e)))}. Check the API key "
            "(OPENAI_API_KEY / ANTHROPIC_API_KEY or the systemd credential); no further "
            "calls are made for this episode"
        )
    except Exception:
        pass  # inconclusive (a server without the endpoint, a network fault): the call tells
    with _guard:
        if message is None:
            _verified.add(fingerprint)
            _failed.pop(fingerprint, None)  # an expired refusal: the key was fixed since
        else:
            _failed[fingerprint] = (time.monotonic(), message)
        _probes.pop(fingerprint, None)
        check.refused = message
    check.done.set()


def forget_verified_keys() -> None:
    """For tests and SIGHUP: check keys again on next use."""
    with _guard:
        _verified.clear()
        _failed.clear()
