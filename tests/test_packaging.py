"""Installing imagegen: on PATH after `make install`, no setuptools warnings, and the
test suite's caches inside the project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e import sandbox


def make_dry(*args: str) -> str:
    """What `make` would run (-n: nothing is executed)."""
    res = subprocess.run(
        ["make", "-n", "-C", str(REPO), *args], capture_output=True, text=True, timeout=60
    )
    assert res.returncode == 0, res.stderr
    return res.stdout


def test_make_install_puts_imagegen_on_path():
    script = make_dry("install", "PREFIX=/opt/ig", "BINDIR=/usr/local/bin")
    assert "ln -sfn /opt/ig/venv/bin/imagegen /usr/local/bin/imagegen" in script
    # and uninstall removes that link, but only when it is ours
    script = make_dry("uninstall", "PREFIX=/opt/ig", "BINDIR=/usr/local/bin")
    assert '"$(readlink /usr/local/bin/imagegen)" = "/opt/ig/venv/bin/imagegen"' in script
    assert "rm -f /usr/local/bin/imagegen" in script


def test_editable_install_prints_no_setuptools_warning(tmp_path):
    """`make venv` installs the checkout in editable mode; setuptools warned there that
    folders named like the packages might shadow them (flat layout, no package-dir)."""
    copy = tmp_path / "src"
    shutil.copytree(
        REPO,
        copy,
        ignore=shutil.ignore_patterns(".git", ".venv", ".cache", "data", "*.egg-info", "build"),
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    res = subprocess.run(
        [*pip, "install", "--no-deps", "--no-input", "-e", str(copy)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    output = res.stdout + res.stderr
    # pip's own notes about unreachable index locations are not setuptools' business
    lines = [line for line in output.splitlines() if "Location 'file:" not in line]
    warned = [line for line in lines if "Warning" in line or "warning:" in line or "!!" in line]
    assert not warned, "\n".join(lines)


def test_e2e_venv_cache_lives_in_the_projects_ignored_folder():
    assert sandbox.CACHE.is_relative_to(REPO)
    res = subprocess.run(
        ["git", "-C", str(REPO), "check-ignore", "-q", str(sandbox.CACHE / "venv" / "bin")],
        timeout=30,
    )
    assert res.returncode == 0, f"{sandbox.CACHE} is not ignored by git"
    assert ".cache" in (REPO / "Makefile").read_text(encoding="utf-8").split("clean:")[1]


def test_e2e_sweep_removes_the_venv_cached_outside_the_project(tmp_path, monkeypatch):
    legacy = tmp_path / "imagegen-e2e-cache"
    (legacy / "venv" / "bin").mkdir(parents=True)
    (legacy / "venv" / "bin" / "python").write_text("")
    (legacy / "lock").write_text("")
    monkeypatch.setattr(sandbox, "VAR_LIB", tmp_path)
    monkeypatch.setattr(sandbox, "LEGACY_CACHE", legacy)
    monkeypatch.setattr(sandbox, "_cgroup_mounts", list)
    sandbox.sweep_stale()
    assert not (legacy / "venv").exists()
    assert (legacy / "lock").exists(), "the host-wide lock of e2e sessions stays"


@pytest.mark.parametrize(
    ("path", "visible"),
    [("/root/src/imagegen", False), ("/home/ann/imagegen", False), ("/tmp/x", False)],
)
def test_e2e_venv_is_not_cached_where_the_service_cannot_see_it(path, visible):
    assert sandbox.visible_to_service(Path(path)) is visible


def test_e2e_checks_the_installed_code_of_every_package():
    # The stale-venv check compares these packages file by file with the repository.
    assert sandbox._project_packages() == ["config", "daemon", "handlers"]


def test_e2e_venv_cache_is_used_when_the_repository_is_readable():
    readable = all(
        os.stat(p).st_mode & 0o001 for p in [REPO, *REPO.parents] if p != Path("/")
    ) and not any(REPO.is_relative_to(h) for h in sandbox.HIDDEN_FROM_SERVICE)
    assert sandbox.visible_to_service(REPO) is readable
