"""watchdog observer over the outputs tree. Its callbacks only put raw events on a
queue; classifying and scheduling happen in the service loop."""

from __future__ import annotations

import errno
import logging
import queue
from dataclasses import dataclass
from pathlib import Path

import structlog
from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver
from watchdog.observers.polling import PollingObserver

log = structlog.get_logger("imagegen")

# Only what daemon/triggers.py can use. This also narrows the inotify mask: without
# it every read (ours included) is an open/close event, and a startup scan of a big
# tree keeps the reader thread busy for minutes.
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
]


@dataclass(frozen=True)
class RawEvent:
    event_type: str
    src: str
    dest: str | None
    is_directory: bool


@dataclass(frozen=True)
class Overflow:
    """The kernel dropped events: the service rescans the tree."""


class _Enqueue(FileSystemEventHandler):
    def __init__(self, events: queue.SimpleQueue[object]) -> None:
        self.events = events

    def on_any_event(self, event: FileSystemEvent) -> None:
        dest = event.dest_path or None
        self.events.put(
            RawEvent(
                event.event_type,
                _text(event.src_path),
                _text(dest) if dest else None,
                event.is_directory,
            )
        )


class _OverflowHook(logging.Handler):
    """watchdog rebuilds its watches after IN_Q_OVERFLOW but tells only its logger;
    we listen there so the lost events are made good by a rescan."""

    def __init__(self, events: queue.SimpleQueue[object]) -> None:
        super().__init__(logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self.events.put(Overflow())


def start_observer(
    root: Path, events: queue.SimpleQueue[object], *, polling: bool, poll_interval: float
) -> BaseObserver:
    """inotify, or polling when asked or when the inotify limits are exhausted."""
    handler = _Enqueue(events)
    if not polling:
        observer = Observer()
        try:
            observer.schedule(handler, str(root), recursive=True, event_filter=EVENT_FILTER)
            observer.start()
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EMFILE):
                raise
            sysctl = (
                "fs.inotify.max_user_watches"
                if e.errno == errno.ENOSPC
                else "fs.inotify.max_user_instances"
            )
            log.error(
                "inotify_limit",
                message=f"inotify limit reached ({e.strerror}); falling back to polling every "
                f"{poll_interval:g} s. Raise it: sysctl -w {sysctl}=524288 (and persist it "
                "in /etc/sysctl.d/)",
            )
        else:
            logging.getLogger("watchdog.observers.inotify_c").addHandler(_OverflowHook(events))
            return observer
    observer = PollingObserver(timeout=poll_interval)
    observer.schedule(handler, str(root), recursive=True, event_filter=EVENT_FILTER)
    observer.start()
    return observer


def _text(path: str | bytes) -> str:
    return path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path
