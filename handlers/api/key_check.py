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

from handlers.api.retry import scrub, sdk_errors
from handlers.errors import AuthError

_verified: set[str] = set()
# A failed check is remembered briefly so the workers waiting on it do not each ask
# again; briefly, so a key fixed on the provider's side works again within a minute.
_failed: dict[str, tuple[float, str]] = {}
FAILURE_TTL_SECONDS = 60.0
_probes: dict[str, threading.Event] = {}
_guard = threading.Lock()


def ensure_key_works(
    kind: str, base_url: str | None, key: str, probe: Callable[[], object]
) -> None:
    """Return when the caller may send its request; AuthError when the key is bad."""
    fingerprint = hashlib.sha256(f"{kind}\0{base_url}\0{key}".encode()).hexdigest()
    with _guard:
        if fingerprint in _verified:
            return
        failed = _failed.get(fingerprint)
        if failed is not None and time.monotonic() - failed[0] < FAILURE_TTL_SECONDS:
            raise AuthError(failed[1])
        done = _probes.get(fingerprint)
        if done is None:
            done = _probes[fingerprint] = threading.Event()
            threading.Thread(
                target=_probe,
                args=(fingerprint, kind, probe, done),
                name=f"imagegen-key-check-{kind}",
                daemon=True,
            ).start()
            return  # the first call goes alongside the probe
    done.wait()
    with _guard:
        failed = _failed.get(fingerprint)
    if failed is not None:
        raise AuthError(failed[1])


def _probe(fingerprint: str, kind: str, probe: Callable[[], object], done: threading.Event) -> None:
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
        else:
            _failed[fingerprint] = (time.monotonic(), message)
        _probes.pop(fingerprint, None)
    done.set()


def forget_verified_keys() -> None:
    """For tests and SIGHUP: check keys again on next use."""
    with _guard:
        _verified.clear()
        _failed.clear()
