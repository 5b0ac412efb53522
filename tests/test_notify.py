"""daemon.notify against a datagram socket the test binds itself (no systemd needed)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from daemon import notify


@pytest.fixture
def notify_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def _received(sock: socket.socket) -> str:
    return sock.recv(4096).decode("utf-8")


def test_notify_sends_one_newline_joined_datagram(notify_socket: socket.socket) -> None:
    assert notify.notify("READY=1", "STATUS=hazır") is True
    assert _received(notify_socket) == "READY=1\nSTATUS=hazır"


def test_helpers_send_exact_datagrams(notify_socket: socket.socket) -> None:
    assert notify.ready("watching data/outputs")
    assert _received(notify_socket) == "READY=1\nSTATUS=watching data/outputs"

    assert notify.status("ep001: 3/7 chapters")
    assert _received(notify_socket) == "STATUS=ep001: 3/7 chapters"

    assert notify.stopping("draining 2 jobs")
    assert _received(notify_socket) == "STOPPING=1\nSTATUS=draining 2 jobs"

    assert notify.watchdog_ping()
    assert _received(notify_socket) == "WATCHDOG=1"


def test_reloading_carries_monotonic_usec(notify_socket: socket.socket) -> None:
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert notify.reloading()
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    first, second = _received(notify_socket).split("\n")
    assert first == "RELOADING=1"
    key, _, value = second.partition("=")
    assert key == "MONOTONIC_USEC"
    assert before <= int(value) <= after


def test_status_newline_cannot_inject_an_assignment(notify_socket: socket.socket) -> None:
    assert notify.status("line one\nREADY=1")
    assert _received(notify_socket) == "STATUS=line one READY=1"


def test_abstract_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"imagegen-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2.0)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify.watchdog_ping() is True
        assert _received(sock) == "WATCHDOG=1"


def test_unset_socket_returns_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify.notify("READY=1") is False
    assert notify.ready("x") is False
    assert notify.watchdog_ping() is False


def test_missing_socket_path_returns_false(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone.sock"))
    assert notify.ready("x") is False
    assert notify.reloading() is False


def test_unbound_abstract_socket_returns_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", f"@imagegen-nobody-{time.monotonic_ns()}")
    assert notify.watchdog_ping() is False


def test_watchdog_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert notify.watchdog_interval() is None

    monkeypatch.setenv("WATCHDOG_USEC", "10000000")
    assert notify.watchdog_interval() == 5.0

    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert notify.watchdog_interval() == 5.0

    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert notify.watchdog_interval() is None


@pytest.mark.parametrize("value", ["", "0", "-5", "soon"])
def test_watchdog_interval_ignores_bad_usec(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", value)
    assert notify.watchdog_interval() is None
