"""The imagegen command as a user runs it: a subprocess, real files, exit codes."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from handlers.outputs.markers import write_marker
from tests.conftest import REPO, demo_doc, write_episode
from tests.support.env import child_env


def imagegen(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = child_env()
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


# -- a newcomer's first hour (issue 18) ---------------------------------------------------


def test_version():
    res = imagegen("--version")
    assert res.returncode == 0, res.stderr
    assert re.fullmatch(r"imagegen \d+\.\d+\.\d+\S*\n", res.stdout)


def test_daemon_refuses_a_missing_outputs_dir_instead_of_creating_it(tmp_path):
    typo = tmp_path / "outptus"
    # Before the fix the daemon created the typo and watched it forever: the timeout
    # turns that into a failure rather than a hang.
    try:
        res = subprocess.run(
            [sys.executable, "-m", "daemon", "daemon", "--outputs-dir", str(typo)],
            cwd=REPO,
            env=child_env(),
            capture_output=True,
            text=True,
            timeout=20,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the daemon started on a directory that did not exist")
    assert res.returncode == 2
    assert not typo.exists()
    assert f"outputs_dir = '{typo}' (command line): does not exist" in res.stderr
    assert "--create" in res.stderr


def test_daemon_create_makes_the_outputs_dir(tmp_path):
    root = tmp_path / "new" / "outputs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "daemon", "daemon", "--create", "--log-format", "json",
         "--outputs-dir", str(root)],
        cwd=REPO,
        env=child_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    seen = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            seen.append(line)
            if "daemon_ready" in line:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert root.is_dir()
    assert proc.returncode == 0, "".join(seen) + err
    assert seen[0] == f"imagegen: created outputs_dir {root}\n"


def test_run_on_a_missing_outputs_dir_is_a_usage_error(tmp_path):
    res = imagegen("run", "--outputs-dir", str(tmp_path / "nope"), str(tmp_path / "nope/ep"))
    assert res.returncode == 2
    assert "does not exist" in res.stderr and "--outputs-dir" in res.stderr
    assert res.stdout == ""


def test_unknown_chapter_is_a_usage_error_and_runs_nothing(outputs):
    good = write_episode(outputs, "ep-a")
    other = write_episode(outputs, "ep-b")
    res = imagegen(
        "run", "--outputs-dir", str(outputs), "--chapter", "ch99", "--chapter", "ch01",
        str(good), str(other),
    )  # fmt: skip
    assert res.returncode == 2, res.stdout + res.stderr
    assert "--chapter ch99: no such chapter_id in" in res.stderr
    assert "(it has ch01, ch02, ch03, ch04, ch05)" in res.stderr
    assert not (good / "images").exists() and not (other / "images").exists()


def test_a_run_waiting_for_the_lock_says_who_holds_it_after_a_second(outputs):
    ep = write_episode(outputs, "ep-locked")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time\n"
            "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",  # killed once the run said it waits
            str(ep),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        env = child_env()
        env["IMAGEGEN_CONFIG"] = str(REPO / "config/imagegen.default.toml")
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "daemon", "run", "-v", "--log-format", "json",
             "--outputs-dir", str(outputs), str(ep)],
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert proc.stderr is not None
        told_at = None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("imagegen: ep-locked: waiting for the lock held by"):
                told_at = time.monotonic() - started
                break
        holder.kill()  # the lock goes with its holder; the run goes on
        holder.wait()
        out, err = proc.communicate(timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert told_at is not None, "".join(lines)
    # Python start-up (~1 s here) plus the one second of quiet waiting; generous for a
    # loaded machine, and still far below the holder's minute.
    assert told_at < 10, told_at
    said = lines[-1]
    assert f"held by pid {holder.pid} (python" in said and "--no-wait" in said
    events = [json.loads(x) for x in "".join(lines[:-1]).splitlines() + err.splitlines() if x]
    logged = [e for e in events if e.get("event") == "waiting_for_lock"]
    assert logged and logged[0]["holder"].startswith(f"pid {holder.pid}")
    assert proc.returncode == 0 and out.startswith("[OK] ep-locked")


def test_a_bug_in_one_episode_costs_that_episode_not_the_ones_after(outputs, monkeypatch, capsys):
    """An unexpected exception (a bug, like the inf narration estimate that once
    overflowed a storyboard's rounding) fails its episode with a line that says so; the
    run goes on to the next episode, as the daemon does."""
    import daemon.cli as cli

    a = write_episode(outputs, "ep-bug")
    b = write_episode(outputs, "ep-fine")
    real_run = cli.run

    def buggy(episode, request, settings, **kw):
        if episode.name == "ep-bug":
            raise OverflowError("cannot convert float infinity to integer")
        return real_run(episode, request, settings, **kw)

    monkeypatch.setattr(cli, "run", buggy)
    code = cli.main(["run", "--outputs-dir", str(outputs), str(a), str(b)])
    out = capsys.readouterr().out
    assert code == 1
    assert "[FAIL] ep-bug: internal error: OverflowError: cannot convert float infinity" in out
    assert "a bug in imagegen" in out
    assert "[OK] ep-fine" in out and (b / "images" / "manifest.json").exists()
