"""Settings that point every image provider (OpenAI, Gemini, Replicate) at the loopback
fake, with quick retries, and small readers of what a run wrote."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from config import Settings, load_settings
from tests.fakeapi import FakeAPI

GEMINI = "gemini-2.5-flash-image"
FLUX = "black-forest-labs/flux-schnell"


def provider_settings(
    outputs: Path,
    fake: FakeAPI,
    *,
    prices: dict[str, float] | None = None,
    selection: dict[str, Any] | None = None,
    **image: Any,
) -> Settings:
    """`image` is the [image] table (provider, fallback, chains, fallback_offline...)."""
    return load_settings(
        overrides={
            "outputs_dir": outputs,
            "prices": prices or {},
            "image": image,
            "prompt": {"writer": "template"},
            "selection": {"candidates": 1, "judge": "none", **(selection or {})},
            "openai": {"api_key": fake.api_key, "base_url": fake.openai_base_url},
            "gemini": {
                "api_key": fake.gemini_api_key,
                "base_url": fake.gemini_base_url,
                "timeout_seconds": 5,
            },
            "replicate": {
                "api_key": fake.replicate_api_token,
                "base_url": fake.replicate_base_url,
                "timeout_seconds": 5,
                "poll_seconds": 0.01,
            },
            "retry": {"initial_backoff_seconds": 0.01, "max_backoff_seconds": 0.05},
        }
    )


def entries(episode: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))
    return {c["chapter_id"]: c for c in data["chapters"]}


def trail(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """(provider, outcome) of every link tried for the entry's image."""
    return [(a["provider"], a["outcome"]) for a in entry["provider_attempts"]]


def requests_to(fake: FakeAPI, endpoint: str, needle: str | None = None) -> list[Any]:
    return [
        r
        for r in fake.requests
        if r.endpoint == endpoint and (needle is None or needle in (r.prompt or ""))
    ]
