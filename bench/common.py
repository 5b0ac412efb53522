"""What every benchmark shares: the figures and their verdicts, percentiles, timing of
whole processes, and the daemon's log timestamps."""

from __future__ import annotations

import compileall
import os
import resource
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = str(REPO / ".venv/bin/python") if (REPO / ".venv/bin/python").exists() else "python3"
IMAGEGEN = str(REPO / ".venv/bin/imagegen")
# Big trees live under the worktree's ignored data/ and are removed afterwards.
WORK = REPO / "data" / "bench"


@dataclass
class Figure:
    name: str
    value: str
    target: str
    ok: bool | None  # None: reported, not judged (short form, or no target)
    baseline: str


FIGURES: list[Figure] = []


def record(name: str, value: str, target: str, ok: bool | None, baseline: str) -> None:
    FIGURES.append(Figure(name, value, target, ok, baseline))
    verdict = "PASS" if ok else ("FAIL" if ok is not None else "-")
    print(f"  {name}: {value} (target {target}) -> {verdict}")
    print(f"      baseline: {baseline}", flush=True)


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    if p >= 100:
        return ordered[-1]
    return statistics.quantiles(ordered, n=100, method="inclusive")[int(p) - 1]


def compile_bytecode() -> str:
    """imagegen's own modules compiled, as `pip install .` (the systemd install) leaves
    them. A checkout run with PYTHONDONTWRITEBYTECODE set (CI and this machine set it)
    would otherwise compile every module again in every process a figure starts, and
    the whole-process figures would time the compiler; the packages it is measured
    against come compiled from their wheels."""
    for package in ("daemon", "handlers", "config"):
        compileall.compile_dir(REPO / package, quiet=1)
    flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
    return f"bytecode of daemon/, handlers/, config/ compiled (PYTHONDONTWRITEBYTECODE={flag})"


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without the developer's keys and settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("IMAGEGEN_", "NOTIFY_", "WATCHDOG_"))
        and k not in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "CREDENTIALS_DIRECTORY")
    }
    empty = WORK / "empty.toml"  # built-in defaults only, whatever /etc holds
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.touch()
    env["IMAGEGEN_CONFIG"] = str(empty)
    env.update(extra or {})
    return env


@dataclass
class ProcessRun:
    seconds: float
    max_rss_mb: float
    returncode: int
    stdout: str


def run_process(cmd: list[str], env: dict[str, str], cwd: Path = REPO) -> ProcessRun:
    """Wall time and peak RSS of one whole process (its own, from wait4)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return ProcessRun(
        seconds, usage.ru_maxrss / 1024, proc.returncode, out.decode(errors="replace")
    )


def median_seconds(cmd: list[str], env: dict[str, str], n: int) -> tuple[float, float, float]:
    """(median, min, max) of n whole-process runs."""
    times = [run_process(cmd, env).seconds for _ in range(n)]
    return statistics.median(times), min(times), max(times)


def interleaved(
    cmds: dict[str, list[str]], envs: dict[str, dict[str, str]], n: int
) -> dict[str, list[float]]:
    """n runs of each command, interleaved, so the machine's other load falls on all
    of them alike."""
    times: dict[str, list[float]] = {name: [] for name in cmds}
    for _ in range(n):
        for name, cmd in cmds.items():
            res = run_process(cmd, envs[name])
            assert res.returncode == 0, (name, res.stdout)
            times[name].append(res.seconds)
    return times


def spread(values: Sequence[float]) -> str:
    """How noisy a series was: median with its min-max range, in ms."""
    return (
        f"median {statistics.median(values) * 1000:.0f} ms "
        f"(min {min(values) * 1000:.0f}, max {max(values) * 1000:.0f}, n={len(values)})"
    )


def log_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (its high-water mark)."""
    return _status_mb(pid, "VmHWM")


def _status_mb(pid: int, field: str) -> float:
    return status_mb(Path(f"/proc/{pid}/status").read_text(), field)


def status_mb(status: str, field: str) -> float:
    """A size field ("VmRSS", "VmHWM") of a /proc/<pid>/status text, in MB."""
    for line in status.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def own_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min) on {os.cpu_count()} cores"
