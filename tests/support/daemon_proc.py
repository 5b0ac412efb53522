"""Run the real daemon as a subprocess on a test tree, and read its JSON log."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.env import child_env

REPO = Path(__file__).resolve().parents[2]


class DaemonProcess:
    def __init__(
        self,
        outputs: Path,
        *,
        config: str = "",
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
        settle: float = 0.3,
    ) -> None:
        self.outputs = outputs
        self.config_path = outputs.parent / "imagegen.toml"
        self.config_path.write_text(
            f"[daemon]\nsettle_seconds = {settle}\nsettle_max_seconds = {max(3.0, settle)}\n"
            + config,
            encoding="utf-8",
        )
        self.log_path = log_path or outputs.parent / "daemon.log"
        self.env = {
            k: v
            for k, v in child_env(
                ("IMAGEGEN_", "NOTIFY_", "WATCHDOG_", "JOURNAL_", "INVOCATION_")
            ).items()
            if k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")
        }
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self._offset = 0

    def start(self, wait_ready: bool = True) -> DaemonProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daemon",
                "daemon",
                "-v",
                "--log-format",
                "json",
                "--config",
                str(self.config_path),
                "--outputs-dir",
                str(self.outputs),
            ],
            cwd=REPO,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        if wait_ready:
            self.wait_for(lambda e: e.get("event") == "daemon_ready", timeout=20)
        return self

    def events(self) -> list[dict[str, Any]]:
        out = []
        if not self.log_path.exists():
            return out
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                out.append({"event": "raw", "line": line})
        return out

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 15, count: int = 1
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.events() if predicate(e)]
            if len(found) >= count:
                return found
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.tail()}")
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting; log tail:\n{self.tail()}")

    def jobs(self, episode: str) -> list[dict[str, Any]]:
        return [
            e
            for e in self.events()
            if e.get("event") == "job_finished" and e.get("episode_id") == episode
        ]

    def wait_jobs(self, episode: str, count: int = 1, timeout: float = 20) -> list[dict[str, Any]]:
        return self.wait_for(
            lambda e: e.get("event") == "job_finished" and e.get("episode_id") == episode,
            timeout=timeout,
            count=count,
        )

    def tail(self, n: int = 30) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            # Every thread's stack into the log (faulthandler), to see where it hung.
            self.proc.send_signal(signal.SIGABRT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            raise AssertionError(f"no stop on SIGTERM in {timeout:g} s:\n{self.tail(80)}") from None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
