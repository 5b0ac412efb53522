"""Polling the tree with watchdog's observer: for network filesystems, where inotify
sees no other host's writes, and when the inotify limits are exhausted. It snapshots
the whole tree every interval; its events go on the service's queue like inotify's."""

from __future__ import annotations

import queue
from pathlib import Path

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
from watchdog.observers.polling import PollingObserver

from daemon.events import RawEvent

# Only what daemon/triggers.py can use.
EVENT_FILTER: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
]


class PollingWatcher:
    def __init__(self, root: Path, events: queue.SimpleQueue[object], interval: float) -> None:
        self._observer = PollingObserver(timeout=interval)
        self._observer.schedule(
            _Enqueue(events), str(root), recursive=True, event_filter=EVENT_FILTER
        )
        self._observer.start()

    def watch_dir(self, path: str, depth: int) -> None:
        pass  # the observer walks the whole tree on every poll

    def watch_images(self, path: str) -> None:
        pass

    def stop(self) -> None:
        self._observer.stop()

    def is_alive(self) -> bool:
        return self._observer.is_alive()


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


def _text(path: str | bytes) -> str:
    return path.decode("utf-8", "surrogateescape") if isinstance(path, bytes) else path
