"""The imagegen command as a user runs it: a subprocess, real files, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from handlers.outputs.markers import write_marker
from tests.conftest import REPO, demo_doc, write_episode


def imagegen(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEGEN_")}
    full_env.pop("OPENAI_API_KEY", None)
    full_env.pop("ANTHROPIC_API_KEY", None)
    full_env["IMAGEGEN_CONFIG"] = str(REPO / "config/imagegen.default.toml")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "daemon", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_run_prints_one_line_per_episode_and_skips_when_current(outputs):
    a = write_episode(outputs, "ep-a")
    b = write_episode(outputs, "ep-b")
    first = imagegen("run", "--outputs-dir", str(outputs), str(a), str(b / "chapters.json"))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "[OK] ep-a -> 3 generated, 2 templates, 0 reused, 0 failed, $0.00",
        "[OK] ep-b -> 3 generated, 2 templates, 0 reused, 0 failed, $0.00",
    ]
    second = imagegen("run", "--outputs-dir", str(outputs), str(a))
    assert second.stdout.strip() == "[SKIP] ep-a -> up to date"


def test_failure_exit_code_and_line(outputs):
    good = write_episode(outputs, "ep-good")
    bad = outputs / "ep-bad"
    bad.mkdir()
    (bad / "chapters.json").write_text("{")
    res = imagegen("run", "--outputs-dir", str(outputs), str(good), str(bad))
    assert res.returncode == 1
    lines = res.stdout.splitlines()
    assert lines[0].startswith("[OK] ep-good")
    assert lines[1].startswith("[FAIL] ep-bad: ") and "invalid JSON" in lines[1]


def test_stale_input_exit_code(outputs):
    ep = write_episode(outputs, "ep-stale")
    write_marker(ep / "chapters.json.stale", by="chapterize", reason="rewriting")
    res = imagegen("run", "--outputs-dir", str(outputs), str(ep))
    assert res.returncode == 3
    assert res.stdout.startswith("[WAIT] ep-stale: chapters.json.stale (by chapterize")


def test_validate(outputs, tmp_path):
    ep = write_episode(outputs, "ep-v")
    ok = imagegen("validate", str(ep))
    assert ok.returncode == 0
    assert "5 chapters (3 to generate, 2 templates)" in ok.stdout
    doc = demo_doc()
    doc["schema_version"] = "2.0"
    bad = tmp_path / "chapters.json"
    bad.write_text(json.dumps(doc))
    res = imagegen("validate", str(bad))
    assert res.returncode == 1 and "major version 2 is not supported" in res.stdout


def test_config_redacts_secrets():
    res = imagegen("config", env={"OPENAI_API_KEY": "sk-live-supersecret-123"})
    assert res.returncode == 0
    assert "sk-live-supersecret-123" not in res.stdout + res.stderr
    data = json.loads(res.stdout.split("\n", 1)[1])
    assert data["openai"]["api_key"] == "<set, from OPENAI_API_KEY>"


def test_invalid_config_is_a_usage_error(tmp_path: Path):
    res = imagegen("config", env={"IMAGEGEN_IMAGE__CONCURRENCY": "0"})
    assert res.returncode == 2
    assert "image.concurrency = '0' (environment IMAGEGEN_IMAGE__CONCURRENCY)" in res.stderr


def test_dry_run_prints_estimate(outputs):
    ep = write_episode(outputs, "ep-dry")
    res = imagegen("run", "--dry-run", "--outputs-dir", str(outputs), str(ep))
    assert res.returncode == 0
    assert res.stdout.startswith("[DRY] ep-dry -> would generate 3, template 2")
    assert (ep / "images/imagegen_request.json").is_file()
    assert not (ep / "images/manifest.json").exists()


def test_price_table_with_override(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[prices]\n"image:gpt-image-1.5:medium:1536x1024" = 0.07\n')
    res = imagegen("config", "--prices", "--config", str(toml))
    assert res.returncode == 0
    table = json.loads(res.stdout.split("\n", 1)[1])
    assert table["image:gpt-image-1.5:medium:1536x1024"] == 0.07
    assert table["image:dall-e-3:hd:1792x1024"] == 0.12


def test_keys_never_reach_output_logs_or_files(outputs, fake_api):
    from tests.fakeapi import content_policy

    secret = "sk-proj-ThisIsTheRealSecret0123456789"
    ep = write_episode(outputs, "ep-secret")
    fake_api.add_rule("images", [content_policy()], match="Cüzdan", repeat=True)
    env = {
        "OPENAI_API_KEY": secret,
        "ANTHROPIC_API_KEY": secret,
        "IMAGEGEN_OPENAI__BASE_URL": fake_api.openai_base_url,
        "IMAGEGEN_ANTHROPIC__BASE_URL": fake_api.anthropic_base_url,
    }
    res = imagegen(
        "run", "-v", "--log-format", "json", "--outputs-dir", str(outputs), str(ep), env=env
    )
    assert res.returncode == 1
    assert "401" in res.stdout and "Check the API key" in res.stdout
    everything = res.stdout + res.stderr
    everything += "".join(p.read_text(encoding="utf-8") for p in ep.rglob("*.json"))
    assert secret not in everything
    assert "ThisIsTheRealSecret" not in everything
    assert "sk-proj" not in everything
