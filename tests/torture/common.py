"""Shared pieces of the torture scenarios: the fake's key, episodes with one prompt
per chapter (so the fake's bill can be read per chapter), the daemon's environment."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.fakeapi import FakeAPI

# Distinctive, so the secrets scan can look for it everywhere afterwards.
SECRET_KEY = "sk-torture-0123456789SECRETabcdef"


def drop(outputs: Path, name: str, doc: dict[str, Any]) -> Path:
    episode = outputs / name
    episode.mkdir(parents=True, exist_ok=True)
    tmp = episode / ".chapters.json.part"
    tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, episode / "chapters.json")
    return episode


def daemon_env(fake: FakeAPI, **extra: str) -> dict[str, str]:
    env = {
        "OPENAI_API_KEY": SECRET_KEY,
        "IMAGEGEN_OPENAI__BASE_URL": fake.openai_base_url,
        "IMAGEGEN_IMAGE__PROVIDER": "openai",
        "IMAGEGEN_RETRY__INITIAL_BACKOFF_SECONDS": "0.02",
        "IMAGEGEN_RETRY__MAX_BACKOFF_SECONDS": "0.1",
    }
    env.update(extra)
    return env


def manifest_entries(episode: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {c["chapter_id"]: c for c in data.get("chapters", [])}
