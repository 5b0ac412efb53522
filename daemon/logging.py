"""structlog set-up: journald fields under systemd, console on a terminal, JSON lines elsewhere.

Under journald every event becomes one journal entry with its fields (EPISODE_ID,
CHAPTER_ID, EVENT, COST_USD, ...) so `journalctl -u imagegen EPISODE_ID=ep001` works.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import sys
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import structlog
import systemd.journal as journal
from structlog.typing import EventDict, Processor, WrappedLogger

FORMATS = ("auto", "console", "json", "journal")

SYSLOG_IDENTIFIER = "imagegen"

# Where journald listens for native-protocol datagrams (what systemd.journal.sendv uses).
# A module constant so tests can point it at a socket of their own.
JOURNAL_SOCKET = "/run/systemd/journal/socket"

# Same pattern as handlers/api/retry.py `scrub`. Not imported from there: the daemon sees
# only the handlers' public face, and logging is set up before anything else.
_KEY_LIKE = re.compile(r"\b(sk|key|sess)-[A-Za-z0-9_\-*]{3,}")
_REDACTED = "[redacted key]"

# syslog(3) priorities, which is what journald's PRIORITY field holds.
_PRIORITY = {
    "debug": 7,
    "info": 6,
    "warning": 4,
    "warn": 4,
    "error": 3,
    "exception": 3,
    "critical": 2,
}

# Keys that become journal fields of their own rather than generic upper-cased ones.
_CODE_FIELDS = {"pathname": "CODE_FILE", "lineno": "CODE_LINE", "func_name": "CODE_FUNC"}
# journald stamps entries itself, and the level is carried by PRIORITY.
_NOT_FIELDS = {"event", "message", "level", "timestamp", "exception"}
_OWN_FIELDS = {"MESSAGE", "PRIORITY", "SYSLOG_IDENTIFIER", "EVENT", "EXCEPTION"} | set(
    _CODE_FIELDS.values()
)
_FIELD_NAME_MAX = 64  # journald drops longer field names


def configure_logging(fmt: str = "auto", *, verbose: bool = False) -> None:
    """Set up structlog for `fmt` ("auto", "console", "json" or "journal").

    Level: INFO when verbose, and always under journald (there the daemon's events
    are the product's output); WARNING otherwise.
    """
    resolved = resolve_format(fmt)
    journal_missing = fmt == "journal" and resolved != "journal"
    level = logging.INFO if verbose or "journal" in (fmt, resolved) else logging.WARNING

    renderer: list[Processor]
    if resolved == "journal":
        renderer = [
            # The call site, for the journal's CODE_FILE/CODE_LINE/CODE_FUNC.
            structlog.processors.CallsiteParameterAdder(
                [
                    structlog.processors.CallsiteParameter.PATHNAME,
                    structlog.processors.CallsiteParameter.LINENO,
                    structlog.processors.CallsiteParameter.FUNC_NAME,
                ]
            ),
            send_to_journal,
        ]
    elif resolved == "json":
        renderer = [_JSON]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]

    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Render tracebacks to text before scrubbing: an exception message from a
            # provider may echo part of the API key.
            structlog.processors.format_exc_info,
            scrub_secrets,
            *renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    if journal_missing:
        # systemd.journal.sendv silently drops entries when journald is not there, so
        # honouring the request would lose every log line without a trace.
        structlog.get_logger("imagegen").warning(
            "journal_unavailable", socket=JOURNAL_SOCKET, using="json"
        )


def resolve_format(fmt: str) -> str:
    """The concrete format ("console", "json" or "journal") that `fmt` stands for here."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if fmt == "journal" or (fmt == "auto" and _under_journald()):
        if journal_usable():
            return "journal"
        if fmt == "journal":
            return "json"
    if fmt == "auto":
        return "console" if sys.stderr.isatty() else "json"
    return fmt


def _under_journald() -> bool:
    # systemd sets JOURNAL_STREAM when stdout/stderr go to the journal and
    # INVOCATION_ID for every unit it starts.
    return bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))


def journal_usable() -> bool:
    """True if journald is listening on its native socket.

    Checked up front because systemd.journal.sendv reports success when the socket
    does not exist (libsystemd ignores ENOENT), so a send failure cannot tell us.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(JOURNAL_SOCKET)
    except OSError:
        return False
    return True


# --- secrets ------------------------------------------------------------------------


def scrub_secrets(_logger: WrappedLogger, _method_name: str, event_dict: EventDict) -> EventDict:
    """Replace anything that looks like an API key in any string value (nested too)."""
    return {key: _scrub(value) for key, value in event_dict.items()}


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _KEY_LIKE.sub(_REDACTED, value)
    if isinstance(value, Mapping):
        return {key: _scrub(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_scrub(item) for item in value)
    if isinstance(value, BaseException):
        # Renderers would repr() it unscrubbed; provider errors are the likeliest
        # place for a key to turn up ("Incorrect API key provided: sk-te****").
        return _KEY_LIKE.sub(_REDACTED, f"{type(value).__name__}: {value}")
    return value


# --- journald -----------------------------------------------------------------------

_JSON = structlog.processors.JSONRenderer(ensure_ascii=False)


def send_to_journal(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> str:
    """Last processor under journald: one journal entry per event.

    If the send fails the event is written to stderr as a JSON line instead (under
    systemd that still reaches the journal, just without fields).
    """
    # sendv, not journal.send: send() wants CODE_LINE as an int and, lacking CODE_*,
    # records its own caller (this function) as the origin; sendv takes the
    # "FIELD=value" lines as they are.
    lines = [f"{name}={value}" for name, value in journal_fields(event_dict).items()]
    try:
        journal.sendv(*lines)
    except Exception:  # logging must never take the daemon down
        return _JSON(logger, method_name, event_dict)  # type: ignore[return-value]
    raise structlog.DropEvent


def journal_fields(event_dict: Mapping[str, Any]) -> dict[str, str]:
    """Map a structlog event to journald fields (pure; values are strings).

    event -> EVENT, message (or a readable "event key=value ..." line) -> MESSAGE,
    level -> PRIORITY, every other key -> its upper-cased, sanitised name
    (episode_id -> EPISODE_ID, cost_usd -> COST_USD, ...). None values are left out.
    """
    level = str(event_dict.get("level", "info")).lower()
    event = _field_text(event_dict.get("event", ""))
    fields: dict[str, str] = {
        "PRIORITY": str(_PRIORITY.get(level, _PRIORITY["info"])),
        "SYSLOG_IDENTIFIER": SYSLOG_IDENTIFIER,
        "EVENT": event,
    }
    readable = [event] if event else []
    for key, value in event_dict.items():
        if key in _NOT_FIELDS or value is None:
            continue
        text = _field_text(value)
        if key in _CODE_FIELDS:
            fields[_CODE_FIELDS[key]] = text
            continue
        fields[_field_name(key)] = text
        readable.append(f"{key}={_quoted(text)}")

    message = event_dict.get("message")
    fields["MESSAGE"] = _field_text(message) if message is not None else " ".join(readable)
    exception = event_dict.get("exception")
    if exception:
        # journalctl shows only MESSAGE by default; the traceback belongs in sight.
        fields["EXCEPTION"] = _field_text(exception)
        fields["MESSAGE"] += "\n" + fields["EXCEPTION"]
    return fields


def _field_name(key: str) -> str:
    # journald accepts ^[A-Z_][A-Z0-9_]*$ and reserves a leading "_" for trusted fields.
    name = re.sub(r"[^A-Z0-9_]", "_", key.upper()).lstrip("_")[:_FIELD_NAME_MAX]
    if not name or name[0].isdigit() or name in _OWN_FIELDS:
        name = ("FIELD_" + name)[:_FIELD_NAME_MAX]
    return name


def _field_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return repr(value)
        # Shortest round-tripping digits, never exponent notation: 0.05 -> "0.05",
        # 1e-05 -> "0.00001".
        return format(Decimal(repr(value)), "f")
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def _quoted(text: str) -> str:
    if text and not any(ch.isspace() or ch in '="' for ch in text):
        return text
    return json.dumps(text, ensure_ascii=False)
