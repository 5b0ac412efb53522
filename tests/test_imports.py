"""What a run imports: a run with nothing to do loads no SDK and no Pillow, an SDK is
loaded by the first call that uses it, and the key check does not hold the first call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from config import load_settings
from handlers.api.key_check import forget_verified_keys
from handlers.imagegen import RunRequest, run
from tests.conftest import REPO
from tests.fakeapi import FakeAPI
from tests.support.env import child_env
from tests.support.episodes import episode_doc, paid_episode_doc, write_doc

# yaml: the prompt template's front matter, parsed only by a run with work to do.
HEAVY = ("openai", "anthropic", "PIL", "tenacity", "scipy", "yaml")

# Runs the CLI in a fresh interpreter, then prints which heavy modules it loaded.
PROBE = f"""
import json, sys
from daemon.cli import main
code = main(sys.argv[1:])
print(json.dumps({{"code": code, "loaded": sorted(m for m in {HEAVY!r} if m in sys.modules)}}))
"""


def _cli(args: list[str], env: dict[str, str] | None = None) -> dict[str, object]:
    # The test run's selection and refinement settings stay (one image, no judge): with
    # the defaults a judge or critic call would load its SDK, rightly, on its first call.
    clean = child_env()
    clean.pop("OPENAI_API_KEY", None)
    clean.pop("ANTHROPIC_API_KEY", None)
    res = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=REPO,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    out: dict[str, object] = json.loads(lines[-1])
    out["stdout"] = "\n".join(lines[:-1])
    return out


def _keys_env(fake: FakeAPI) -> dict[str, str]:
    return {
        "OPENAI_API_KEY": fake.api_key,
        "ANTHROPIC_API_KEY": fake.api_key,
        "IMAGEGEN_OPENAI__BASE_URL": fake.openai_base_url,
        "IMAGEGEN_ANTHROPIC__BASE_URL": fake.anthropic_base_url,
    }


def test_up_to_date_run_without_keys_loads_no_sdk_and_no_pillow(outputs: Path) -> None:
    episode = write_doc(outputs, "ep-noop", episode_doc("ep-noop", 5))
    first = _cli(["run", "--outputs-dir", str(outputs), str(episode)])
    assert first["code"] == 0 and "[OK]" in str(first["stdout"])
    again = _cli(["run", "--outputs-dir", str(outputs), str(episode)])
    assert again["code"] == 0 and "[SKIP] ep-noop -> up to date" in str(again["stdout"])
    assert again["loaded"] == [], again


def test_up_to_date_run_with_keys_loads_no_sdk_and_no_pillow(outputs: Path, fake_api) -> None:
    # Chapters of every route: LLM-written prompts, chapter prompts, templates.
    episode = write_doc(outputs, "ep-keys", episode_doc("ep-keys", 5))
    env = _keys_env(fake_api)
    first = _cli(["run", "--outputs-dir", str(outputs), str(episode)], env)
    assert first["code"] == 0 and "[OK]" in str(first["stdout"]), first
    assert fake_api.count("messages") > 0 and fake_api.images_paid > 0
    requests = len(fake_api.requests)
    again = _cli(["run", "--outputs-dir", str(outputs), str(episode)], env)
    assert "[SKIP] ep-keys -> up to date" in str(again["stdout"])
    # The LLM writer's model, part of each chapter's fingerprint, is the template's
    # front matter: with keys, the template is parsed.
    assert again["loaded"] == ["yaml"], again
    assert len(fake_api.requests) == requests, "no request at all, not even a key check"


def test_an_sdk_is_loaded_by_its_first_call_only(outputs: Path, fake_api) -> None:
    # Every chapter brings its own prompt: no prompt writer call, so no Anthropic SDK,
    # although its key is configured.
    episode = write_doc(outputs, "ep-sdk", paid_episode_doc("ep-sdk", 2))
    out = _cli(["run", "--outputs-dir", str(outputs), str(episode)], _keys_env(fake_api))
    assert out["code"] == 0 and "2 generated" in str(out["stdout"]), out
    assert "openai" in out["loaded"] and "anthropic" not in out["loaded"], out  # type: ignore[operator]
    # Every candidate was checked (a perceptual hash each) without scipy: ~30 MB.
    assert "scipy" not in out["loaded"], out  # type: ignore[operator]


def test_key_check_runs_alongside_the_first_image_request(outputs: Path, fake_api) -> None:
    forget_verified_keys()
    fake_api.latency["models"] = 0.5  # a slow key check must not hold the first image
    episode = write_doc(outputs, "ep-probe", paid_episode_doc("ep-probe", 1))
    settings = load_settings(
        overrides={
            "outputs_dir": outputs,
            "image": {"provider": "openai"},
            "prompt": {"writer": "template"},
            "openai": {"api_key": fake_api.api_key, "base_url": fake_api.openai_base_url},
        }
    )
    assert run(episode, RunRequest(), settings).outcome == "ok"
    assert fake_api.wait_until(lambda f: f.count("models") == 1)
    probe = next(r for r in fake_api.requests if r.endpoint == "models")
    image = next(r for r in fake_api.requests if r.endpoint == "images")
    assert image.received_at < probe.answered_at, "the image request waited for the key check"


def test_httpx_is_whole_before_the_first_openai_request() -> None:
    # The openai SDK reads sys.modules["httpx"] on every request; the Gemini and
    # Replicate SDKs import httpx on their first use, possibly while an OpenAI request
    # is in flight. If httpx were first imported then, that request would fail.
    code = (
        "import sys\n"
        "from config.settings import OpenAISettings\n"
        "from handlers.api.clients import openai_client\n"
        "assert 'httpx' not in sys.modules\n"
        "openai_client(OpenAISettings())\n"
        "print('httpx' in sys.modules)\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=child_env(), capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "True"
