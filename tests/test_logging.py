"""daemon.logging: journald field mapping, secret scrubbing, format selection."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import structlog
import systemd.journal as journal

from daemon import logging as dlog

KEY = "sk-proj-abcdef123456"


@pytest.fixture(autouse=True)
def _reset_structlog(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Never depend on the machine: no real journald, no systemd environment.
    monkeypatch.setattr(dlog, "JOURNAL_SOCKET", "/nonexistent/journal/socket")
    for name in ("JOURNAL_STREAM", "INVOCATION_ID"):
        monkeypatch.delenv(name, raising=False)
    yield
    structlog.reset_defaults()
    structlog.contextvars.clear_contextvars()


@pytest.fixture
def fake_journald(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[dict[str, str]]]:
    """A bound socket where journald's would be, and journal.sendv recorded."""
    path = tmp_path / "journal.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    monkeypatch.setattr(dlog, "JOURNAL_SOCKET", str(path))
    sent: list[dict[str, str]] = []

    def sendv(*lines: str) -> None:
        sent.append(dict(line.split("=", 1) for line in lines))

    monkeypatch.setattr(journal, "sendv", sendv)
    yield sent
    sock.close()


def _event(**kw: Any) -> dict[str, Any]:
    return {"event": "chapter_generated", "level": "info", **kw}


# --- journal_fields ---------------------------------------------------------------


def test_journal_fields_maps_known_keys() -> None:
    fields = dlog.journal_fields(
        _event(
            episode_id="ep001",
            chapter_id="ch03",
            status="generated",
            cost_usd=0.05,
            duration_ms=1234,
            timestamp="2025-01-01T00:00:00Z",
        )
    )
    assert fields["EVENT"] == "chapter_generated"
    assert fields["EPISODE_ID"] == "ep001"
    assert fields["CHAPTER_ID"] == "ch03"
    assert fields["STATUS"] == "generated"
    assert fields["COST_USD"] == "0.05"
    assert fields["DURATION_MS"] == "1234"
    assert fields["PRIORITY"] == "6"
    assert fields["SYSLOG_IDENTIFIER"] == "imagegen"
    # journald stamps entries itself; the level travels as PRIORITY.
    assert "TIMESTAMP" not in fields
    assert "LEVEL" not in fields
    assert all(isinstance(v, str) for v in fields.values())


@pytest.mark.parametrize(
    ("level", "priority"),
    [
        ("debug", "7"),
        ("info", "6"),
        ("warning", "4"),
        ("error", "3"),
        ("exception", "3"),
        ("critical", "2"),
    ],
)
def test_journal_fields_priority(level: str, priority: str) -> None:
    assert dlog.journal_fields(_event(level=level))["PRIORITY"] == priority


def test_journal_fields_readable_message() -> None:
    fields = dlog.journal_fields(_event(episode_id="ep001", chapter_id="ch03", cost_usd=0.05))
    assert fields["MESSAGE"] == "chapter_generated episode_id=ep001 chapter_id=ch03 cost_usd=0.05"


def test_journal_fields_message_key_wins() -> None:
    fields = dlog.journal_fields(_event(message="Chapter 3 done", episode_id="ep001"))
    assert fields["MESSAGE"] == "Chapter 3 done"
    assert fields["EVENT"] == "chapter_generated"


def test_journal_fields_turkish_text_intact() -> None:
    title = "Işığın kırılması: çğıöşü ÇĞİÖŞÜ"
    fields = dlog.journal_fields(_event(title=title, message="Bölüm üretildi"))
    assert fields["TITLE"] == title
    assert fields["MESSAGE"] == "Bölüm üretildi"
    readable = dlog.journal_fields(_event(title=title))["MESSAGE"]
    assert f'title="{title}"' in readable


def test_journal_fields_sanitises_odd_keys() -> None:
    fields = dlog.journal_fields(
        _event(**{"http-status": 429, "_private": "x", "2nd": "y", "dotted.key": "z", "ağ": "w"})
    )
    assert fields["HTTP_STATUS"] == "429"
    assert fields["PRIVATE"] == "x"
    assert fields["FIELD_2ND"] == "y"
    assert fields["DOTTED_KEY"] == "z"
    assert fields["A_"] == "w"
    for name in fields:
        assert not name.startswith("_")
        assert all(c.isascii() and (c.isupper() or c.isdigit() or c == "_") for c in name)


def test_journal_fields_does_not_clobber_own_fields() -> None:
    fields = dlog.journal_fields(_event(priority="high", syslog_identifier="x"))
    assert fields["PRIORITY"] == "6"
    assert fields["FIELD_PRIORITY"] == "high"
    assert fields["SYSLOG_IDENTIFIER"] == "imagegen"


def test_journal_fields_value_rendering() -> None:
    fields = dlog.journal_fields(
        _event(cost_usd=0.00001, big=1e16, ok=True, missing=None, sizes=[1024, 1536])
    )
    assert fields["COST_USD"] == "0.00001"
    assert fields["BIG"] == "10000000000000000"
    assert fields["OK"] == "true"
    assert "MISSING" not in fields
    assert fields["SIZES"] == "[1024, 1536]"


def test_journal_fields_exception_in_message() -> None:
    fields = dlog.journal_fields(_event(level="error", exception="Traceback ...\nBoom"))
    assert fields["EXCEPTION"] == "Traceback ...\nBoom"
    assert fields["MESSAGE"] == "chapter_generated\nTraceback ...\nBoom"


# --- scrubbing --------------------------------------------------------------------


def test_scrub_secrets_nested() -> None:
    event = {
        "event": f"auth failed for {KEY}",
        "error": f"Incorrect API key provided: {KEY}",
        "nested": {"deeper": [f"x {KEY} y", ("key-abc123",)], "n": 3},
        "exc": ValueError(f"bad {KEY}"),
    }
    out = dlog.scrub_secrets(None, "error", event)
    assert KEY not in json.dumps(out, default=str)
    assert out["error"] == "Incorrect API key provided: [redacted key]"
    assert out["nested"]["deeper"] == ["x [redacted key] y", ("[redacted key]",)]
    assert out["nested"]["n"] == 3
    assert out["exc"] == "ValueError: bad [redacted key]"


def test_scrub_leaves_ordinary_words() -> None:
    out = dlog.scrub_secrets(None, "info", {"event": "risk-free sketch-book task-42"})
    assert out["event"] == "risk-free sketch-book task-42"


# --- configure_logging ------------------------------------------------------------


def _stderr_json(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    err = capsys.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_json_format_writes_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    dlog.configure_logging("json", verbose=True)
    structlog.get_logger("imagegen").info(
        "chapter_generated", episode_id="ep001", cost_usd=0.05, title="Giriş", error=KEY
    )
    (line,) = _stderr_json(capsys)
    assert line["event"] == "chapter_generated"
    assert line["episode_id"] == "ep001"
    assert line["cost_usd"] == 0.05
    assert line["title"] == "Giriş"
    assert line["error"] == "[redacted key]"
    assert line["level"] == "info"
    assert "timestamp" in line


def test_json_format_not_verbose_hides_info(capsys: pytest.CaptureFixture[str]) -> None:
    dlog.configure_logging("json")
    log = structlog.get_logger("imagegen")
    log.info("chapter_generated")
    log.warning("budget_low")
    assert [e["event"] for e in _stderr_json(capsys)] == ["budget_low"]


def test_exception_traceback_is_scrubbed(capsys: pytest.CaptureFixture[str]) -> None:
    dlog.configure_logging("json")
    try:
        raise RuntimeError(f"Incorrect API key provided: {KEY}")
    except RuntimeError:
        structlog.get_logger("imagegen").exception("provider_failed")
    err = capsys.readouterr().err
    assert KEY not in err
    assert "RuntimeError" in err


def test_unknown_format_rejected() -> None:
    with pytest.raises(ValueError, match="unknown log format"):
        dlog.configure_logging("xml")


def test_auto_without_systemd_is_json_off_a_tty() -> None:
    assert dlog.resolve_format("auto") == "json"


@pytest.mark.parametrize("var", ["INVOCATION_ID", "JOURNAL_STREAM"])
def test_auto_under_systemd_without_journald_falls_back(
    var: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(var, "8:12345" if var == "JOURNAL_STREAM" else "abc123")
    assert not dlog.journal_usable()
    assert dlog.resolve_format("auto") == "json"
    dlog.configure_logging("auto")
    structlog.get_logger("imagegen").warning("budget_low", episode_id="ep001")
    (line,) = _stderr_json(capsys)
    assert line["event"] == "budget_low"


def test_auto_picks_journal_only_under_systemd(
    fake_journald: list[dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert dlog.journal_usable()
    assert dlog.resolve_format("auto") == "json"
    monkeypatch.setenv("INVOCATION_ID", "abc123")
    assert dlog.resolve_format("auto") == "journal"


def test_journal_format_sends_fields(
    fake_journald: list[dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    dlog.configure_logging("journal")
    structlog.get_logger("imagegen").info(
        "chapter_generated", episode_id="ep001", chapter_id="ch03", cost_usd=0.05, note=KEY
    )
    (fields,) = fake_journald
    assert fields["EPISODE_ID"] == "ep001"
    assert fields["CHAPTER_ID"] == "ch03"
    assert fields["COST_USD"] == "0.05"
    assert fields["PRIORITY"] == "6"  # INFO is logged under journald even without verbose
    assert fields["NOTE"] == "[redacted key]"
    # The call site, not daemon/logging.py, is recorded as the origin.
    assert fields["CODE_FILE"] == __file__
    assert fields["CODE_FUNC"] == "test_journal_format_sends_fields"
    assert capsys.readouterr().err == ""


def test_journal_send_failure_falls_back_to_stderr_json(
    fake_journald: list[dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def broken(*_lines: str) -> None:
        raise OSError("journal gone")

    monkeypatch.setattr(journal, "sendv", broken)
    dlog.configure_logging("journal")
    structlog.get_logger("imagegen").info("chapter_generated", episode_id="ep001")
    (line,) = _stderr_json(capsys)
    assert line["event"] == "chapter_generated"
    assert line["episode_id"] == "ep001"


def test_explicit_journal_without_journald_uses_json(capsys: pytest.CaptureFixture[str]) -> None:
    dlog.configure_logging("journal")
    structlog.get_logger("imagegen").info("chapter_generated", episode_id="ep001")
    events = _stderr_json(capsys)
    assert [e["event"] for e in events] == ["journal_unavailable", "chapter_generated"]
