"""Shared fixtures: an outputs root, settings that ignore the host's keys and config,
and episodes built from the demo chapters.json."""

from __future__ import annotations

import copy
import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config import Settings, load_settings
from handlers.drawing.offline import OfflineRenderer
from handlers.providers.base import GeneratedImage, ImageRequest
from handlers.run.services import Services, build_services

pytest_plugins = ["tests.fakeapi.pytest_plugin"]

REPO = Path(__file__).resolve().parent.parent
DEMO = json.loads((REPO / "examples/demo-ep001/chapters.json").read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _logging_restored() -> Any:
    """A test that runs the `imagegen` command configures logging onto the stderr pytest
    captured for it, closed once the test ends: later tests log as before instead."""
    import structlog

    before = structlog.get_config()
    yield
    structlog.configure(**before)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's keys, config or credentials."""
    import os

    for name in list(os.environ):
        if name.startswith("IMAGEGEN_") or name in (
            "OPENAI_API_KEY",
            "ANTHROPIC_API_KEY",
            "GEMINI_API_KEY",
            "GOOGLE_API_KEY",
            "REPLICATE_API_TOKEN",
            "CREDENTIALS_DIRECTORY",
            "OPENAI_BASE_URL",
            "ANTHROPIC_BASE_URL",
        ):
            monkeypatch.delenv(name)
    monkeypatch.setattr("config.loader.SYSTEM_CONFIG", Path("/nonexistent/imagegen.toml"))
    # The suites written before candidates, judging and prompt refinement count one paid
    # image per chapter and every chat call, and compare prompts; they keep testing that.
    # Tests of selection and refinement set their own values (flags and overrides win
    # over the environment), and so do subprocesses.
    monkeypatch.setenv("IMAGEGEN_SELECTION__CANDIDATES", "1")
    monkeypatch.setenv("IMAGEGEN_SELECTION__JUDGE", "none")
    monkeypatch.setenv("IMAGEGEN_REFINE__ENABLED", "false")


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    root = tmp_path / "outputs"
    root.mkdir()
    return root


@pytest.fixture
def settings(outputs: Path) -> Settings:
    return load_settings(overrides={"outputs_dir": outputs})


def demo_doc() -> dict[str, Any]:
    return copy.deepcopy(DEMO)


def write_episode(root: Path, name: str = "ep001", doc: dict[str, Any] | None = None) -> Path:
    episode = root / name
    episode.mkdir(parents=True, exist_ok=True)
    data = doc if doc is not None else demo_doc()
    data.setdefault("episode_id", name)
    if data["episode_id"] == DEMO["episode_id"]:
        data["episode_id"] = name
    (episode / "chapters.json").write_text(
        json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return episode


@pytest.fixture
def episode(outputs: Path) -> Path:
    return write_episode(outputs)


class CountingProvider:
    """The offline renderer, counting calls per chapter; `hook` runs inside each call
    (to fail, to stall, or to touch files mid-run)."""

    name = "offline"

    def __init__(self, hook: Callable[[ImageRequest], None] | None = None) -> None:
        self.inner = OfflineRenderer()
        self.calls: Counter[str] = Counter()
        self.hook = hook
        self._lock = threading.Lock()

    def generate(self, request: ImageRequest) -> GeneratedImage:
        with self._lock:
            self.calls[request.chapter_id] += 1
        if self.hook is not None:
            self.hook(request)
        return self.inner.generate(request)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


@pytest.fixture
def counting(settings: Settings) -> tuple[CountingProvider, Services]:
    services = build_services(settings)
    provider = CountingProvider()
    services.chain[0] = type(services.chain[0])(services.chain[0].spec, provider)
    return provider, services


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under root with (size, mtime_ns): proves 'nothing written'."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }
