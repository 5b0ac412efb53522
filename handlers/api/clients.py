"""One SDK client per (server, key, options), shared by every provider and run.

Clients are thread-safe and hold connection pools: sharing them lets the daemon keep
connections alive across episodes, and a run does not pay for SSL set-up again.

Each SDK is imported on the first client made from it: importing one costs 0.4-1.8 s,
which a run with nothing to do, or one that uses only the other SDK, must not pay."""

from __future__ import annotations

import contextlib
import importlib
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING

from config.settings import AnthropicSettings, OpenAISettings

if TYPE_CHECKING:
    import anthropic
    import openai

_lock = threading.Lock()
_openai: dict[tuple[object, ...], openai.OpenAI] = {}
_anthropic: dict[tuple[object, ...], anthropic.Anthropic] = {}


def openai_client(cfg: OpenAISettings) -> openai.OpenAI:
    key = cfg.api_key.get_secret_value() if cfg.api_key else "missing-key"
    ident = (key, cfg.base_url, cfg.organization, cfg.timeout_seconds)
    with _lock:
        client = _openai.get(ident)
        if client is None:
            _import_legacy_httpx()
            import openai

            client = _openai[ident] = openai.OpenAI(
                api_key=key,
                base_url=cfg.base_url,
                organization=cfg.organization,
                timeout=cfg.timeout_seconds,
                max_retries=0,  # ours are the only retries (handlers/retry.py)
            )
        return client


def anthropic_client(cfg: AnthropicSettings) -> anthropic.Anthropic:
    key = cfg.api_key.get_secret_value() if cfg.api_key else "missing-key"
    ident = (key, cfg.base_url, cfg.timeout_seconds)
    with _lock:
        client = _anthropic.get(ident)
        if client is None:
            import anthropic

            client = _anthropic[ident] = anthropic.Anthropic(
                api_key=key, base_url=cfg.base_url, timeout=cfg.timeout_seconds, max_retries=0
            )
        return client


# The module each other provider's SDK is imported as (OpenAI's and Anthropic's come
# with their clients, above).
_SDKS = {"gemini": "google.genai", "replicate": "replicate"}


def prepare_clients(
    providers: Iterable[str], openai: OpenAISettings, anthropic: AnthropicSettings
) -> None:
    """Do now, for these providers, what their first request would: import the SDK; for
    OpenAI and Anthropic, make the shared client (its HTTP stack and SSL context,
    another ~0.15 s after the SDK itself). A run calls it in the background before the
    first request needs it; the key check stays with the first request, which it must
    not delay (handlers/api/key_check.py). Unknown names (offline) and an
    SDK that is not installed are left to the request, which says what to do."""
    _import_legacy_httpx()
    importlib.import_module("tenacity")  # every paid call's retries (handlers/api/retry.py)
    for provider in providers:
        with contextlib.suppress(ImportError):
            if provider == "openai":
                openai_client(openai)
            elif provider == "anthropic":
                anthropic_client(anthropic)
            elif provider in _SDKS:
                importlib.import_module(_SDKS[provider])


def _import_legacy_httpx() -> None:
    """Import httpx, when installed, before the first OpenAI client exists.

    The openai SDK looks up sys.modules["httpx"] on every request (to accept that
    package's errors as well as httpx2's). The Gemini and Replicate SDKs import httpx;
    when their first use comes while an OpenAI request is in flight, that request finds
    a half-imported module and fails with "partially initialized module 'httpx' has no
    attribute ...". Seen under the OpenAI -> Gemini fallback. Costs 30 ms once."""
    with contextlib.suppress(ImportError):  # not installed: nothing else imports it either
        import httpx  # noqa: F401
