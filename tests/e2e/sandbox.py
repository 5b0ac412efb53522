"""A throwaway systemd 252 running the shipped imagegen.service, for end-to-end tests.

systemd runs as PID 1 of its own PID, mount, UTS and IPC namespaces (tests/e2e/boot.sh,
after /work/shared/notes/real-systemd-in-tests.md) and is driven from outside with
`nsenter ... systemctl/journalctl`. The network namespace is shared, so the service
reaches a FakeAPI of the test process on 127.0.0.1.

Everything lives in one fresh directory /var/lib/imagegen-e2e-<random>/ (never /tmp,
/run or /var/tmp: the sandbox mounts private tmpfs over them), laid out like
`make install` with PREFIX=<root>/opt CONFDIR=<root>/etc STATEDIR=<root>/state:

    opt/venv -> <repo>/.cache/e2e/venv            built from /usr/bin/python3 (see prepare_venv)
    etc/imagegen.toml, etc/credentials/{openai,anthropic}_api_key
    state/outputs/                                 the outputs tree (imagegen:imagegen)
    box/units/, box/passwd, box/group, box/boot.log   what boot.sh needs
    hang                                           the daemon's test-only hang switch
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
import tomllib
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[2]
BOOT_SCRIPT = Path(__file__).resolve().with_name("boot.sh")
SYSTEMD = Path("/lib/systemd/systemd")
SYSTEM_PYTHON = Path("/usr/bin/python3")
LIB_UNITS = Path("/lib/systemd/system")
VAR_LIB = Path("/var/lib")
PREFIX = "imagegen-e2e-"
# The service's venv is cached in the project's own ignored folder (`make clean`
# removes it), never elsewhere on the host.
CACHE = REPO / ".cache" / "e2e"
# Where earlier versions cached the venv (135 MB). Its lock file stays the lock of
# every e2e session on this host, so that sessions of older checkouts, which still use
# it, and of this one never overlap; the old venv is removed under that lock.
LEGACY_CACHE = VAR_LIB / "imagegen-e2e-cache"
LOCK = LEGACY_CACHE / "lock"
# What the shipped unit hides from the service (ProtectHome=, PrivateTmp=) or the
# sandbox mounts over (boot.sh): a venv there would not be found by the service.
HIDDEN_FROM_SERVICE = tuple(Path(p) for p in ("/home", "/root", "/run", "/tmp", "/var/tmp"))
UNIT = "imagegen.service"
# The service's user and group: they exist only inside the sandbox (bind-mounted
# copies of /etc/passwd and /etc/group); the host's user database is never touched.
SERVICE_USER = "imagegen"
SERVICE_ID = 61234
# The installed paths of systemd/imagegen.service and where they live in the sandbox.
UNIT_PATHS = {"/opt/imagegen": "opt", "/etc/imagegen": "etc", "/var/lib/imagegen": "state"}

T = TypeVar("T")


def missing_prerequisite() -> str | None:
    """Why the end-to-end tests cannot run here, or None."""
    if os.geteuid() != 0:
        return "not root: booting systemd in its own PID and mount namespaces needs root"
    for tool in ("unshare", "nsenter"):
        if shutil.which(tool) is None:
            return f"`{tool}` (util-linux) is not installed"
    if not os.access(SYSTEMD, os.X_OK):
        return f"{SYSTEMD} is missing: systemd is not installed"
    return None


def wait_until(
    probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2
) -> T:
    """Poll `probe` until it returns something truthy; AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def _run(
    argv: list[str], timeout: float, check: bool = True, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    # C locale: the output of systemctl/journalctl is parsed (day names, decimal points).
    env = {**os.environ, "LC_ALL": "C", "SYSTEMD_COLORS": "0"}
    res = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, env=env, **kwargs
    )
    if check and res.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} exited {res.returncode}\n{res.stdout[-3000:]}{res.stderr[-3000:]}"
        )
    return res


# -- the service's virtual environment --------------------------------------------------


@contextlib.contextmanager
def exclusive_lock(path: Path, timeout: float) -> Iterator[None]:
    """flock(2) on `path`: one e2e session per host at a time. The sandboxes of two
    sessions would share cgroup hierarchies, and one would reinstall the venv under
    the other's running service."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    with path.open("a") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RuntimeError(
                        f"another e2e session held {path} for {timeout:g} s"
                    ) from None
                time.sleep(1.0)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _project_packages() -> list[str]:
    """The top-level packages pyproject.toml installs (packages.find include patterns)."""
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns: list[str] = data["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({p.rstrip("*").split(".")[0] for p in patterns})


def _copy_source(dest: Path) -> Path:
    # pip builds a local directory in place (setuptools writes build/ and *.egg-info
    # into it): build from a copy so the repository is never written to.
    shutil.copytree(
        REPO,
        dest,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            ".cache",
            "data",
            "tests",
            "build",
            "*.egg-info",
            "__pycache__",
            ".*_cache",
        ),
    )
    return dest


def _check_installed_code(venv: Path) -> None:
    """The venv runs exactly the repository's code (a stale cache must not hide a change)."""
    site = next((venv / "lib").glob("python3*/site-packages"))
    stale = []
    for package in _project_packages():
        for source in sorted((REPO / package).rglob("*")):
            if not source.is_file() or "__pycache__" in source.parts:
                continue
            installed = site / source.relative_to(REPO)
            if source.suffix in (".py", ".toml", ".md") and (
                not installed.is_file() or installed.read_bytes() != source.read_bytes()
            ):
                stale.append(str(source.relative_to(REPO)))
    if stale:
        raise RuntimeError(f"the service venv does not hold the repository's code: {stale}")


def visible_to_service(path: Path) -> bool:
    """Whether the service's user could read `path`: not under a directory the unit
    hides, and every directory above it open to others (the service is another uid)."""
    real = Path(os.path.realpath(path))
    if any(real == hidden or real.is_relative_to(hidden) for hidden in HIDDEN_FROM_SERVICE):
        return False
    for directory in [real, *real.parents]:
        if directory.exists() and not os.stat(directory).st_mode & stat.S_IXOTH:
            return False
    return True


def prepare_venv(work: Path) -> Path:
    """The service's venv, built from the SYSTEM Python (a Python under /root would be
    hidden from the service by ProtectHome=).

    Cached in CACHE/venv (<repo>/.cache/e2e, git-ignored) when the service can read the
    repository; otherwise built in `work`, which the caller removes after the session.
    The cache is keyed by pyproject.toml (the dependencies) and the system Python's
    version; our own package is reinstalled from a fresh copy of the repository every
    session and then compared file by file with the repository. Call with the lock held.
    """
    version = _run([str(SYSTEM_PYTHON), "-c", "import sys; print(sys.version)"], 30).stdout
    key = hashlib.sha256((REPO / "pyproject.toml").read_bytes() + version.encode()).hexdigest()
    if visible_to_service(REPO):
        CACHE.mkdir(mode=0o755, parents=True, exist_ok=True)
        for directory in (CACHE.parent, CACHE):
            os.chmod(directory, 0o755)  # the service (another uid) reads the venv
        venv = CACHE / "venv"
    else:
        os.chmod(work, 0o755)  # mkdtemp made it 0700: the service must traverse it
        venv = work / "venv"
    stamp = venv / ".e2e-cache-key"
    pip = str(venv / "bin" / "pip")
    source = _copy_source(work / "src")
    # The service (another uid) must read everything: build with a umask of 022.
    if stamp.is_file() and stamp.read_text() == key and (venv / "bin" / "python").exists():
        reinstall = [pip, "install", "-q", "--no-deps", "--force-reinstall", str(source)]
        _run(reinstall, 600, umask=0o022)
    else:
        shutil.rmtree(venv, ignore_errors=True)
        _run([str(SYSTEM_PYTHON), "-m", "venv", str(venv)], 300, umask=0o022)
        _run([pip, "install", "-q", str(source)], 1200, umask=0o022)
        stamp.write_text(key)  # last: a half-built venv never matches
    shutil.rmtree(source)
    _check_installed_code(venv)
    return venv


# -- cgroups ----------------------------------------------------------------------------


def _cgroup_mounts() -> list[Path]:
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        if fstype in ("cgroup", "cgroup2"):
            mounts.append(Path(fields[4]))
    return mounts


def remove_cgroups(name: str, timeout: float = 10.0) -> list[Path]:
    """rmdir the sandbox's cgroup `name` in every hierarchy, deepest first (boot.sh
    made PID 1 create all its cgroups below it). Returns what is left over."""
    assert name.startswith(PREFIX) and "/" not in name
    deadline = time.monotonic() + timeout
    while True:
        left = []
        for mount in _cgroup_mounts():
            top = mount / name
            if not top.is_dir():
                continue
            for path in sorted(top.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                if path.is_dir():
                    with contextlib.suppress(OSError):
                        path.rmdir()
            try:
                top.rmdir()
            except OSError:
                left.append(top)
        # Processes of a killed sandbox take a moment to be reaped.
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.2)


def sweep_stale() -> None:
    """Remove what a killed earlier session left behind: its empty cgroups, its
    directory (unless its cgroups still hold processes) and its build directory; and
    the venv older versions cached outside the project (LEGACY_CACHE).
    Call with the lock held: no other session's sandbox runs then."""
    shutil.rmtree(LEGACY_CACHE / "venv", ignore_errors=True)
    mounts = _cgroup_mounts()
    for mount in mounts:
        for top in mount.glob(PREFIX + "*"):
            remove_cgroups(top.name, timeout=0)
    for root in VAR_LIB.glob(PREFIX + "*"):
        if (
            root == LEGACY_CACHE
            or not root.is_dir()
            or any((m / root.name).exists() for m in mounts)
        ):
            continue
        if (root / "box").is_dir() or root.name.startswith(PREFIX + "build-"):
            shutil.rmtree(root, ignore_errors=True)


# -- configuration ----------------------------------------------------------------------


def installed_unit(root: Path) -> str:
    """systemd/imagegen.service with only its installed paths moved into `root`."""
    text = (REPO / "systemd" / UNIT).read_text(encoding="utf-8")
    pattern = re.compile("(" + "|".join(map(re.escape, UNIT_PATHS)) + r")(?![\w.-])")
    moved = pattern.sub(lambda m: f"{root}/{UNIT_PATHS[m.group(1)]}", text)
    masked = moved
    for place in UNIT_PATHS.values():
        masked = masked.replace(f"{root}/{place}", "<moved>")
    for path in UNIT_PATHS:
        assert path not in masked, f"{path} left in the unit"
    return moved


def set_toml_key(text: str, section: str | None, key: str, value: object) -> str:
    """Set `key` in `[section]` (None: the top-level table) of a TOML text, replacing
    its line (commented-out or not), or adding it right after the section header."""
    lines = text.splitlines()
    rendered = f"{key} = {json.dumps(value)}"
    current: str | None = None
    header_at = -1 if section is None else None
    for i, line in enumerate(lines):
        header = re.match(r"^\[([\w.]+)\]\s*$", line)
        if header:
            current = header.group(1)
            if current == section:
                header_at = i
            continue
        if current == section and re.match(rf"^#?\s*{re.escape(key)}\s*=", line):
            lines[i] = rendered
            return "\n".join(lines) + "\n"
    if header_at is None:
        lines += ["", f"[{section}]", rendered]
    else:
        lines.insert(header_at + 1, rendered)
    return "\n".join(lines) + "\n"


def installed_config(root: Path, settings: Mapping[tuple[str | None, str], object]) -> str:
    """What `make install` writes to CONFDIR/imagegen.toml (the defaults with
    outputs_dir set to STATEDIR/outputs), plus `settings` {(section, key): value}."""
    text = (REPO / "config" / "imagegen.default.toml").read_text(encoding="utf-8")
    text, found = re.subn(r"(?m)^outputs_dir = .*$", f'outputs_dir = "{root}/state/outputs"', text)
    assert found == 1, "config/imagegen.default.toml has no outputs_dir line"
    for (section, key), value in settings.items():
        text = set_toml_key(text, section, key, value)
    data = tomllib.loads(text)
    for (section, key), value in settings.items():
        assert (data[section] if section else data)[key] == value, (section, key)
    return text


def _with_user(system_file: Path, line: str, name: str) -> str:
    text = system_file.read_text(encoding="utf-8")
    if any(entry.split(":")[0] == name for entry in text.splitlines()):
        raise RuntimeError(f"{system_file} already has {name!r}: pick another name")
    if any(entry.split(":")[2:3] == [str(SERVICE_ID)] for entry in text.splitlines()):
        raise RuntimeError(f"id {SERVICE_ID} is taken in {system_file}: pick another")
    return text.rstrip("\n") + "\n" + line + "\n"


SANDBOX_TARGET = """\
# The only unit booted: no sysinit.target, basic.target or default.target.
[Unit]
Description=imagegen e2e sandbox
DefaultDependencies=no
# journald must run in here for the unit's logs and `journalctl -u imagegen`.
Wants=systemd-journald.socket systemd-journald.service
# Only a reference: it keeps imagegen.service loaded while inactive, so that
# `systemctl show` reports how its last run ended (Result=, ExecMainStatus=) rather
# than the defaults of a unit garbage-collected and loaded afresh.
After=imagegen.service
"""

# imagegen.service has default dependencies: Requires=sysinit.target. The host's
# sysinit.target would run systemd-tmpfiles-setup (which empties /tmp) and friends;
# only unit files in BOX/units exist in the sandbox, and this empty stub stands in.
SYSINIT_STUB = """\
# Stub: stands in for sysinit.target, which the unit requires by default dependencies.
# The host's sysinit.target must never run in the sandbox.
[Unit]
Description=sysinit.target stub of the imagegen e2e sandbox
DefaultDependencies=no
"""


# -- the sandbox ------------------------------------------------------------------------


class Sandbox:
    def __init__(self, venv: Path, openai_base_url: str, api_key: str) -> None:
        self.root = Path(os.path.realpath(tempfile.mkdtemp(prefix=PREFIX, dir=VAR_LIB)))
        self.name = self.root.name
        self.venv = venv
        self.openai_base_url = openai_base_url
        self.api_key = api_key
        self.etc = self.root / "etc"
        self.state = self.root / "state"
        self.outputs = self.state / "outputs"
        self.box = self.root / "box"
        self.hang_file = self.root / "hang"
        self.config_path = self.etc / "imagegen.toml"
        self.base_settings: dict[tuple[str | None, str], object] = {
            ("daemon", "settle_seconds"): 0.3,
            ("daemon", "settle_max_seconds"): 3.0,
            ("image", "concurrency"): 2,
            # Image prompts come from the chapters or a template: no chat calls.
            ("prompt", "writer"): "template",
            # One image per generated chapter, no judge: these tests count images and
            # calls to prove the unit's promises (tests/test_selection_wire.py covers
            # candidates and judging).
            ("selection", "candidates"): 1,
            ("selection", "judge"): "none",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0  # host PID of the sandbox's systemd

    # -- installation (what `make install` does, into self.root) --

    def install(self) -> None:
        os.chmod(self.root, 0o755)  # mkdtemp made it 0700: the service must traverse it
        opt = self.root / "opt"
        opt.mkdir(mode=0o755)
        (opt / "venv").symlink_to(self.venv)
        shutil.copy(REPO / "README.md", opt / "README.md")
        self.etc.mkdir(mode=0o755)
        credentials = self.etc / "credentials"
        credentials.mkdir(mode=0o700)
        keys = (
            ("openai_api_key", self.api_key),
            ("anthropic_api_key", ""),
            ("gemini_api_key", ""),
            ("replicate_api_token", ""),
        )
        for name, value in keys:
            path = credentials / name
            path.touch(mode=0o600)
            path.write_text(value + "\n" if value else "")
        self.write_config({})
        for path in (self.state, self.outputs):
            path.mkdir()
            os.chown(path, SERVICE_ID, SERVICE_ID)
            os.chmod(path, 0o2775)  # install -d -o imagegen -g imagegen -m 2775

        units = self.box / "units"
        (units / f"{UNIT}.d").mkdir(parents=True)
        (units / "sandbox.target").write_text(SANDBOX_TARGET)
        (units / "sysinit.target").write_text(SYSINIT_STUB)
        # The host's own units, unchanged: journald, and network-online.target, which
        # imagegen.service wants (nothing is behind it in here).
        host_units = (
            "systemd-journald.service",
            "systemd-journald.socket",
            "network-online.target",
        )
        for name in host_units:
            shutil.copy(LIB_UNITS / name, units / name)
        (units / UNIT).write_text(installed_unit(self.root))
        (units / f"{UNIT}.d" / "e2e.conf").write_text(self.e2e_dropin())
        passwd = f"{SERVICE_USER}:x:{SERVICE_ID}:{SERVICE_ID}::{self.state}:/usr/sbin/nologin"
        (self.box / "passwd").write_text(_with_user(Path("/etc/passwd"), passwd, SERVICE_USER))
        group = f"{SERVICE_USER}:x:{SERVICE_ID}:"
        (self.box / "group").write_text(_with_user(Path("/etc/group"), group, SERVICE_USER))
        for name in ("passwd", "group"):
            os.chmod(self.box / name, 0o644)

    def e2e_dropin(self) -> str:
        return (
            "# Test-only knobs of the e2e sandbox; the shipped unit is loaded unchanged\n"
            "# but for its installed paths.\n"
            "[Service]\n"
            f"Environment=IMAGEGEN_OPENAI__BASE_URL={self.openai_base_url}\n"
            "Environment=IMAGEGEN_IMAGE__PROVIDER=openai\n"
            f"Environment=IMAGEGEN_TEST_HANG_FILE={self.hang_file}\n"
            "RestartSec=1\n"
            # A killed daemon must not write a core file onto the shared disk.
            "LimitCORE=0\n"
        )

    def write_config(self, extra: Mapping[tuple[str | None, str], object]) -> None:
        text = installed_config(self.root, {**self.base_settings, **extra})
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.config_path)

    # -- boot and shutdown --

    def boot(self, timeout: float = 30.0) -> None:
        # boot.sh execs `unshare --fork --kill-child ...` in this process. If the test
        # process dies, setpriv's parent-death signal kills unshare, and --kill-child
        # takes systemd and so the whole PID namespace with it. (setpriv, not a
        # preexec_fn: that is unsafe with the FakeAPI's threads running.)
        die_with_us = ["setpriv", "--pdeathsig", "SIGKILL", "--"] if shutil.which("setpriv") else []
        log = (self.box / "boot.log").open("wb")
        self.proc = subprocess.Popen(
            [*die_with_us, "/bin/bash", str(BOOT_SCRIPT), str(self.box), self.name],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()

        def child() -> int | None:
            # unshare's child: boot.sh as PID 1 of the new namespaces, until it execs systemd.
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"the sandbox exited {self.proc.returncode}:\n{self.boot_log()}")
            path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
            with contextlib.suppress(OSError):
                pids = path.read_text().split()
                if pids and Path(f"/proc/{pids[0]}/comm").read_text().strip() == "systemd":
                    return int(pids[0])
            return None

        self.pid = wait_until(child, timeout, "the sandbox's systemd to start", 0.05)

        def running() -> str | None:
            res = self.run(["systemctl", "is-system-running"], check=False, timeout=10)
            state = res.stdout.strip()
            return state if state in ("running", "degraded") else None

        state = wait_until(running, timeout, "the sandbox's systemd to finish booting")
        assert state == "running", self.run(["systemctl", "--failed", "--no-pager"]).stdout

    def boot_log(self) -> str:
        path = self.box / "boot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def close(self) -> None:
        """Shut the sandbox down, remove its cgroups and directory."""
        if self.alive():
            with contextlib.suppress(Exception):
                # Nothing worth draining at teardown; keeps `exit` quick.
                self.run(["systemctl", "kill", "--signal=SIGKILL", UNIT], check=False, timeout=10)
            with contextlib.suppress(Exception):
                # In a container (container=other) `exit` makes PID 1 and
                # systemd-shutdown just exit: nothing is unmounted or remounted.
                self.run(["systemctl", "--force", "exit"], check=False, timeout=10)
            assert self.proc is not None
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                warnings.warn("the sandbox's systemd did not exit: SIGKILL", stacklevel=2)
        if self.proc is not None and self.proc.poll() is None:
            # SIGKILL to PID 1 of the namespace ends every process in it; SIGTERM
            # would only make systemd re-execute itself.
            if self.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait(timeout=15)
        left = remove_cgroups(self.name)
        if left:
            # The next session's sweep_stale() removes them.
            warnings.warn(f"cgroups of the sandbox left behind: {left}", stacklevel=2)
        if self.root.name.startswith(PREFIX) and self.root.parent == VAR_LIB:
            shutil.rmtree(self.root, ignore_errors=True)

    # -- driving it --

    def run(
        self, argv: list[str], check: bool = True, timeout: float = 30.0
    ) -> subprocess.CompletedProcess[str]:
        """`argv` inside the sandbox (its mount, PID, UTS and IPC namespaces)."""
        assert self.pid, "the sandbox is not booted"
        nsenter = ["nsenter", "-t", str(self.pid), "-m", "-p", "-u", "-i", "--"]
        return _run(nsenter + argv, timeout, check)

    def systemctl(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        res = self.run(["systemctl", "--no-pager", *args], check=False, timeout=timeout)
        if res.returncode != 0:
            raise AssertionError(
                f"systemctl {' '.join(args)} exited {res.returncode}: {res.stderr.strip()}\n"
                + self.diagnostics()
            )
        return res

    def show(self, *properties: str, unit: str = UNIT) -> dict[str, str]:
        res = self.run(
            ["systemctl", "show", "--timestamp=us+utc", f"--property={','.join(properties)}", unit]
        )
        values = dict(line.split("=", 1) for line in res.stdout.splitlines() if "=" in line)
        return {p: values.get(p, "") for p in properties}

    def journal(self, *matches: str, unit: str | None = UNIT) -> list[dict[str, Any]]:
        """`journalctl -u UNIT -o json MATCHES...` as dicts, oldest first."""
        argv = ["journalctl", "--no-pager", "-o", "json"]
        if unit:
            argv += ["-u", unit]
        res = self.run([*argv, *matches], check=False, timeout=30)
        return [json.loads(line) for line in res.stdout.splitlines() if line.strip()]

    def wait_journal(
        self, predicate: Callable[[dict[str, Any]], bool], *matches: str, timeout: float = 20.0
    ) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            return next((e for e in self.journal(*matches) if predicate(e)), None)

        try:
            return wait_until(probe, timeout, f"a journal entry ({' '.join(matches)})", 0.25)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{self.diagnostics()}") from None

    def write_unit_file(self, relative: str, text: str | None) -> None:
        """Write (or with None remove) /run/systemd/system/<relative> in the sandbox."""
        path = Path(f"/proc/{self.pid}/root/run/systemd/system") / relative
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)

    def diagnostics(self, lines: int = 40) -> str:
        """The unit's status and journal tail, for failure messages."""
        status = self.run(["systemctl", "--no-pager", "status", UNIT], check=False)
        tail = self.run(
            ["journalctl", "--no-pager", "-u", UNIT, "-n", str(lines), "-o", "short-monotonic"],
            check=False,
        )
        return f"--- systemctl status\n{status.stdout}\n--- journal\n{tail.stdout}"
