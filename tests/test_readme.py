"""The README as a newcomer follows it: its shell examples run, exactly as written, on a
fresh copy of the repository, so that a README that drifts from the code fails the build.

Every ```bash block is walked, in order, in one shell (so `. .venv/bin/activate`
carries over, as it does for a reader). Three kinds of line are treated specially:

- long-running ones (`make run`) start in the background, as in a second terminal; the
  walk goes on once they are ready and stops them at the end;
- `make test` is the suite this test belongs to: it is checked with `make -n` only;
- the section "Operate (systemd)" installs onto the host (/opt/imagegen, a system
  user, a unit): it is walked only as root on a machine meant for it
  (IMAGEGEN_README_WALK_SYSTEM=1), and reported as skipped otherwise.

The fresh copy is the repository's files (tracked, and new ones not ignored) without
.venv, data/ or caches. To save the minutes of building a virtual environment, its
.venv borrows the dependencies of the running one (a .pth line) and gets imagegen
itself installed from the copy, editable, the way `make venv` does.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from daemon.summary import summary_line
from handlers.result import Outcome, RunResult
from tests.conftest import REPO

README = REPO / "README.md"
SYSTEM_SECTION = "Operate (systemd)"
WALK_SYSTEM_ENV = "IMAGEGEN_README_WALK_SYSTEM"
# Started in the background; the walk goes on once their output matches.
LONG_RUNNING = {"make run": re.compile(r"daemon_ready")}
# Checked with `make -n` only, and why.
NOT_RUN = {"make test": "the test suite this test is part of"}
COMMAND_TIMEOUT = 180.0
SETTLE_TIMEOUT = 120.0


@dataclass(frozen=True)
class Command:
    section: str
    line: str


def readme_commands(text: str) -> list[Command]:
    """Every line of every ```bash block, with the `## ` section it is in."""
    commands = []
    section = ""
    in_bash = False
    pending = ""
    for raw in text.splitlines():
        if not in_bash and raw.startswith("## "):
            section = raw[3:].strip()
        if raw.startswith("```"):
            in_bash = raw.strip() == "```bash" if not in_bash else False
            continue
        if not in_bash or not raw.strip():
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        commands.append(Command(section, pending + raw.strip()))
        pending = ""
    return commands


def _program(line: str) -> str:
    """The command without its trailing comment."""
    return re.sub(r"\s+#.*$", "", line).strip()


# -- static checks: cheap, and each names what drifted ------------------------------------


def test_readme_has_examples_in_bash_blocks():
    commands = readme_commands(README.read_text(encoding="utf-8"))
    sections = {c.section for c in commands}
    assert {"Try it", "Use", SYSTEM_SECTION} <= sections, sections
    outside = [c.line for c in commands if c.section != SYSTEM_SECTION and "systemctl" in c.line]
    assert not outside, f"systemctl outside {SYSTEM_SECTION!r}: {outside}"


def test_every_status_line_is_in_the_readme():
    text = README.read_text(encoding="utf-8")
    outcomes: tuple[Outcome, ...] = (
        "ok",
        "up_to_date",
        "failed",
        "blocked",
        "busy",
        "dry_run",
        "interrupted",
    )
    words = {summary_line(RunResult("ep", o, "why")).split()[0] for o in outcomes}
    assert words == {"[OK]", "[SKIP]", "[FAIL]", "[WAIT]", "[BUSY]", "[DRY]", "[STOP]"}
    for word in sorted(words):
        assert f"`{word}`" in text, f"{word} is not explained in the README"
        assert re.search(rf"^{re.escape(word)} ", text, re.M), f"no example line of {word}"


def test_every_episode_path_in_the_readme_is_one_it_creates():
    """`data/outputs/<name>` must be an example the README's own steps put there."""
    text = README.read_text(encoding="utf-8")
    named = set(re.findall(r"data/outputs/([\w.-]+)", text))
    examples = {p.name for p in (REPO / "examples").iterdir() if p.is_dir()}
    assert named, "the README shows no episode path"
    assert named <= examples, f"not an example episode: {sorted(named - examples)}"


def test_examples_are_dropped_under_their_own_episode_id():
    """A copy into a folder of another name logs "episode_id ... differs from the folder
    name" on a newcomer's first try."""
    text = README.read_text(encoding="utf-8")
    copies = re.findall(r"cp (-r )?examples/([\w.-]+)(/chapters\.json)? (\S+)", text)
    assert copies, "the README shows no way to drop an example episode"
    for recursive, example, just_the_file, dest in copies:
        doc = json.loads((REPO / "examples" / example / "chapters.json").read_text("utf-8"))
        assert doc["episode_id"] == example, f"examples/{example} has another episode_id"
        if just_the_file:  # cp examples/X/chapters.json FOLDER/: FOLDER is the episode
            assert Path(dest).name == example, f"cp examples/{example}/chapters.json {dest}"
        else:  # cp -r examples/X DIR/: the folder keeps its name
            assert recursive and dest.endswith("/"), f"cp examples/{example} {dest}"


# -- the walk -----------------------------------------------------------------------------


class Shell:
    """One bash the commands are typed into, one after the other, like a terminal."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc"],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        assert self.proc.stdout is not None
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True).start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line)
        self.lines.put(None)

    def run(self, line: str, timeout: float = COMMAND_TIMEOUT) -> tuple[int, str]:
        marker = f"__readme_walk_{uuid.uuid4().hex}__"
        assert self.proc.stdin is not None
        # The newline before `}` keeps a trailing comment from swallowing the rest;
        # stdin from /dev/null: a command must not read the script that drives it.
        self.proc.stdin.write(f"{{ {line}\n}} </dev/null\necho {marker}$?\n")
        self.proc.stdin.flush()
        output: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                got = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"`{line}` still running after {timeout:g} s:\n{''.join(output)}"
                ) from None
            if got is None:
                raise AssertionError(f"the shell exited during `{line}`:\n{''.join(output)}")
            if marker in got:
                before, code = got.split(marker, 1)
                output.append(before)
                return int(code.strip()), "".join(output)
            output.append(got)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


class Background:
    """A long-running command, as in a second terminal."""

    def __init__(self, line: str, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.line = line
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                ["bash", "-c", line],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait_until(self, ready: re.Pattern[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready.search(self.output()):
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"`{self.line}` exited {self.proc.returncode}:\n{self.output()}"
                )
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"`{self.line}` not ready after {timeout:g} s:\n{self.output()}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        # SIGTERM to the whole group, as Ctrl-C reaches make and the daemon together.
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            # The daemon writes every thread's stack to its log on SIGABRT (faulthandler).
            os.killpg(self.proc.pid, signal.SIGABRT)
            time.sleep(2)
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)
            tail = "\n".join(self.output().splitlines()[-80:])
            raise AssertionError(f"`{self.line}` did not stop on SIGTERM:\n{tail}") from None


def fresh_copy(dest: Path) -> Path:
    """The repository's files as a clone (plus new files not yet committed) would have
    them, modification times kept so that make sees the copied .venv as current."""
    listed = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        source = REPO / rel
        if source.is_file():  # tracked files deleted in the working tree are gone
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    return dest


def borrowed_venv(copy: Path) -> None:
    """copy/.venv: imagegen installed from the copy as `make venv` would (editable), its
    dependencies those of the running environment; marked current for make."""
    venv = copy / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "_readme_walk_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    res = subprocess.run(
        [*pip, "install", "-q", "--no-deps", "--no-input", "-e", str(copy)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    (venv / ".installed-stamp").touch()  # newer than the copied pyproject.toml


def walk_env() -> dict[str, str]:
    """A newcomer's environment: no virtual environment active, no imagegen settings or
    keys (the offline renderer runs), no systemd notification sockets."""
    drop = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CREDENTIALS_DIRECTORY", "VIRTUAL_ENV")
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in drop
        and not k.startswith(("IMAGEGEN_", "NOTIFY_", "WATCHDOG_", "JOURNAL_", "PYTEST_"))
        and k not in ("INVOCATION_ID", "PYTHONPATH")
    }
    path = [p for p in env.get("PATH", "").split(":") if p and not (Path(p) / "activate").exists()]
    env["PATH"] = ":".join(path)
    if Path("/etc/imagegen/imagegen.toml").exists():
        # This host has an installed service; a fresh checkout on a dev machine has not,
        # and the README's dev steps assume the built-in defaults.
        env["IMAGEGEN_CONFIG"] = "config/imagegen.default.toml"
    return env


def warnings_and_errors(log: str) -> list[str]:
    """Warning and error events of a JSON-lines log."""
    bad = []
    for line in log.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("level") in ("warning", "error", "critical"):
            bad.append(line)
    return bad


def walk(commands: list[Command], copy: Path, env: dict[str, str], logs: Path) -> list[str]:
    """Run `commands` in `copy`; return what was not run, and why."""
    not_run: list[str] = []
    shell = Shell(copy, env)
    background: list[Background] = []
    try:
        for i, command in enumerate(commands):
            program = _program(command.line)
            if program in LONG_RUNNING:
                job = Background(command.line, copy, env, logs / f"background-{i}.log")
                background.append(job)
                job.wait_until(LONG_RUNNING[program], COMMAND_TIMEOUT)
                continue
            if program in NOT_RUN:
                target = program.split()[1]
                code, out = shell.run(f"make -n {target} >/dev/null")
                assert code == 0, f"`make -n {target}` failed:\n{out}"
                not_run.append(f"`{program}`: {NOT_RUN[program]} (checked with make -n)")
                continue
            code, out = shell.run(command.line)
            assert code == 0, f"README, {command.section}: `{command.line}` exited {code}:\n{out}"
        settle(copy, background)
        for job in background:
            job.stop()
            bad = warnings_and_errors(job.output())
            assert not bad, f"`{job.line}` logged warnings or errors:\n" + "\n".join(bad)
    finally:
        for job in background:
            if job.proc.poll() is None:
                os.killpg(job.proc.pid, signal.SIGKILL)
        shell.close()
    return not_run


def settle(copy: Path, background: list[Background]) -> None:
    """Wait until every episode the walk made has its manifest: the daemon got to all."""
    outputs = copy / "data" / "outputs"
    assert outputs.is_dir(), "the walk made no data/outputs"
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while True:
        episodes = [p for p in sorted(outputs.iterdir()) if p.is_dir() and p.name[0] != "."]
        missing = [p.name for p in episodes if not (p / "images/manifest.json").exists()]
        if not missing:
            return
        if time.monotonic() >= deadline:
            logs = "\n".join(job.output()[-3000:] for job in background)
            raise AssertionError(f"no images for {missing} after {SETTLE_TIMEOUT:g} s\n{logs}")
        time.sleep(0.3)


@pytest.mark.slow
def test_readme_walk(tmp_path, capsys):
    copy = fresh_copy(tmp_path / "imagegen")
    borrowed_venv(copy)
    logs = tmp_path / "logs"
    logs.mkdir()
    commands = [
        c
        for c in readme_commands((copy / "README.md").read_text(encoding="utf-8"))
        if c.section != SYSTEM_SECTION
    ]
    not_run = walk(commands, copy, walk_env(), logs)
    # The README's promises after the walk, on the files it made.
    images = copy / "data/outputs/demo-ep002/images"
    assert sorted(p.name for p in images.glob("*.png")) == [f"ch0{i}.png" for i in range(1, 5)]
    assert not (copy / "data/outputs/demo-ep001/images/imagegen_request.json").exists()
    with capsys.disabled():
        for note in not_run:
            print(f"\nREADME walk: not run: {note}")


def test_readme_operate_section():
    """The systemd section, as written; it changes the host, so only where asked to."""
    if os.geteuid() != 0:
        pytest.skip(f"README {SYSTEM_SECTION!r} not walked: it needs root (make install)")
    if os.environ.get(WALK_SYSTEM_ENV) != "1":
        pytest.skip(
            f"README {SYSTEM_SECTION!r} not walked: it installs onto this host (/opt/imagegen, "
            f"/etc/imagegen, user imagegen, the unit); set {WALK_SYSTEM_ENV}=1 on a machine "
            "meant for it. The e2e tests run the installed unit under a real systemd."
        )
    commands = [
        c
        for c in readme_commands(README.read_text(encoding="utf-8"))
        if c.section == SYSTEM_SECTION
    ]
    systemd_runs = Path("/run/systemd/system").is_dir()
    env = walk_env()
    shell = Shell(REPO, env)
    try:
        for command in commands:
            program = _program(command.line)
            uses_systemd = program.split()[0] in ("systemctl", "journalctl")
            if uses_systemd and not systemd_runs:
                print(f"README walk: not run (systemd is not running here): {program}")
                continue
            if uses_systemd and " -f" in f" {program} ":
                program = f"timeout 3 {program} || [ $? = 124 ]"  # follows forever
            code, out = shell.run(program)
            assert code == 0, f"README, {command.section}: `{command.line}` exited {code}:\n{out}"
    finally:
        shell.close()
