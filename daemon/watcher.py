"""Watching the outputs tree. Its thread only puts raw events on a queue; classifying
and scheduling happen in the service loop.

inotify watches exactly the directories that can hold work: every directory down to
episode depth, and each episode's `images/` (markers and retry requests land there),
so at most 2 per episode; provenance/, render/ and anything deeper are never watched.
The tree walk (daemon/reconcile.py) adds them, before it looks into each directory, so
nothing created meanwhile goes unseen; directories that appear later are walked here.
Polling (daemon/polling.py) serves network filesystems, and takes over when the
inotify limits are exhausted."""

from __future__ import annotations

import errno
import os
import queue
import select
import threading
from pathlib import Path
from typing import NamedTuple, Protocol

import structlog

from daemon import inotify as ino
from daemon.events import Overflow, RawEvent
from daemon.reconcile import Watches, walk
from handlers.episode import layout

log = structlog.get_logger("imagegen")

# A directory that is or may become an episode: its chapters.json being written or
# renamed into place, its chapters.json.stale removed, directories appearing in it.
DIR_MASK = (
    ino.IN_CREATE
    | ino.IN_MODIFY
    | ino.IN_CLOSE_WRITE
    | ino.IN_MOVED_TO
    | ino.IN_MOVED_FROM
    | ino.IN_DELETE
    | ino.IN_ONLYDIR
    | ino.IN_DONT_FOLLOW
)
# images/: markers and retry requests arriving. Not IN_MODIFY: our own images are
# written there, and a marker's arrival is its create, close or rename.
IMAGES_MASK = (
    ino.IN_CREATE | ino.IN_CLOSE_WRITE | ino.IN_MOVED_TO | ino.IN_ONLYDIR | ino.IN_DONT_FOLLOW
)
_DIR_ARRIVED = ino.IN_CREATE | ino.IN_MOVED_TO
_GONE = ino.IN_MOVED_FROM | ino.IN_DELETE
STOP_CHECK_SECONDS = 0.5


class Watcher(Watches, Protocol):
    """What the service sees of a watcher."""

    def stop(self) -> None: ...
    def is_alive(self) -> bool: ...


def start_watcher(
    root: Path, events: queue.SimpleQueue[object], *, polling: bool, poll_interval: float
) -> Watcher:
    """inotify, or polling when asked or when the inotify limits are exhausted."""
    if not polling:
        try:
            return InotifyWatcher(root, events, poll_interval)
        except OSError as e:
            if e.errno not in (errno.ENOSPC, errno.EMFILE):
                raise
            _limit_reached(e, poll_interval)
    return _polling(root, events, poll_interval)


def _polling(root: Path, events: queue.SimpleQueue[object], interval: float) -> Watcher:
    from daemon.polling import PollingWatcher  # watchdog: loaded only when polling

    return PollingWatcher(root, events, interval)


class _Watched(NamedTuple):  # a tuple: 100,000 of them are made at start-up
    path: str
    depth: int  # levels below it still searched for episodes; -1 for images/


class InotifyWatcher:
    def __init__(self, root: Path, events: queue.SimpleQueue[object], poll_interval: float) -> None:
        self.root = root
        self.events = events
        self.poll_interval = poll_interval
        self._ino = ino.Inotify()
        self._by_wd: dict[int, _Watched] = {}
        self._by_path: dict[str, int] = {}
        # Watched directories by parent: what a directory moved away takes with it.
        self._children: dict[str, set[str]] = {}
        self._lock = threading.Lock()  # the tree walk and the reader thread both add
        self._fallback: Watcher | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._read, name="imagegen-inotify", daemon=True)
        self._thread.start()

    # -- what the tree walk calls ------------------------------------------------------

    def watch_dir(self, path: str, depth: int) -> None:
        self._add(path, DIR_MASK, depth)

    def watch_images(self, path: str) -> None:
        self._add(path, IMAGES_MASK, -1)

    @property
    def watch_count(self) -> int:
        return len(self._by_wd)

    def _add(self, path: str, mask: int, depth: int) -> None:
        if path in self._by_path:
            return  # watched already (a rescan): no lock, no system call
        with self._lock:
            if self._fallback is not None or path in self._by_path:
                return
            try:
                wd = self._ino.add_watch(path, mask)
            except OSError as e:
                if e.errno in (errno.ENOSPC, errno.EMFILE):
                    self._fall_back(e)
                return  # gone, not a directory, a symlink: nothing to watch
            if wd in self._by_wd:  # the same directory under a new name (moved)
                self._forget(wd)
            self._by_wd[wd] = _Watched(path, depth)
            self._by_path[path] = wd
            self._children.setdefault(os.path.dirname(path), set()).add(path)

    def _fall_back(self, e: OSError) -> None:
        _limit_reached(e, self.poll_interval)
        self._fallback = _polling(self.root, self.events, self.poll_interval)
        self._stopping.set()

    # -- lifecycle ----------------------------------------------------------------------

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            if self._fallback is not None:
                self._fallback.stop()

    def is_alive(self) -> bool:
        with self._lock:
            if self._fallback is not None:
                return self._fallback.is_alive()
        return self._thread.is_alive()

    # -- the reader thread ----------------------------------------------------------------

    def _read(self) -> None:
        poller = select.poll()
        poller.register(self._ino.fd, select.POLLIN)
        try:
            while not self._stopping.is_set():
                if poller.poll(STOP_CHECK_SECONDS * 1000):
                    for event in self._ino.read():
                        self._handle(event)
        finally:
            with self._lock:
                self._ino.close()

    def _handle(self, event: ino.Event) -> None:
        if event.mask & ino.IN_Q_OVERFLOW:
            self.events.put(Overflow())
            return
        with self._lock:
            watched = self._by_wd.get(event.wd)
            if event.mask & ino.IN_IGNORED:
                self._forget(event.wd)
        if watched is None or not event.name:
            return
        path = os.path.join(watched.path, event.name)
        if event.mask & ino.IN_ISDIR:
            self._directory_event(watched, path, event)
            return
        if event.name == layout.CHAPTERS and event.mask & _DIR_ARRIVED and watched.depth >= 0:
            # The folder just became an episode: its images/ may already be there.
            self.watch_images(os.path.join(watched.path, layout.IMAGES_DIR))
        self.events.put(_raw(event.mask, path, is_directory=False))

    def _directory_event(self, parent: _Watched, path: str, event: ino.Event) -> None:
        if parent.depth < 0:
            return  # in images/: our own folders (candidates, prompts), never work
        if event.mask & ino.IN_MOVED_FROM:
            # Deleted directories lose their watches by themselves (IN_IGNORED); moved
            # ones would go on reporting under their old name.
            self._unwatch_below(path)
        elif event.mask & _DIR_ARRIVED:
            name = event.name
            if name == layout.IMAGES_DIR:
                self.watch_images(path)
                # Markers written before the watch existed are reported by no event.
                for entry in _listing(path):
                    self.events.put(RawEvent("created", entry, None, False))
            elif parent.depth > 0 and _may_hold_episodes(parent.path, name):
                for _ in walk(Path(path), parent.depth - 1, self):
                    pass
        self.events.put(_raw(event.mask, path, is_directory=True))

    def _unwatch_below(self, path: str) -> None:
        """Drop the watches of `path` and every watched directory below it."""
        with self._lock:
            below = [path]
            while below:
                current = below.pop()
                below.extend(self._children.get(current, ()))
                wd = self._by_path.get(current)
                if wd is not None:
                    self._ino.rm_watch(wd)
                    self._forget(wd)

    def _forget(self, wd: int) -> None:
        watched = self._by_wd.pop(wd, None)
        if watched is None or self._by_path.get(watched.path) != wd:
            return
        del self._by_path[watched.path]
        parent = os.path.dirname(watched.path)
        siblings = self._children.get(parent)
        if siblings is not None:
            siblings.discard(watched.path)
            if not siblings:
                del self._children[parent]


def _may_hold_episodes(parent: str, name: str) -> bool:
    """Not one of our folders, not hidden, and not inside an episode (the walk does not
    descend into one)."""
    if name in layout.OUR_DIRS or name.startswith("."):
        return False
    return not os.path.lexists(os.path.join(parent, layout.CHAPTERS))


def _raw(mask: int, path: str, *, is_directory: bool) -> RawEvent:
    if mask & ino.IN_MOVED_TO:
        return RawEvent("moved", "", path, is_directory)
    if mask & _GONE:
        return RawEvent("deleted", path, None, is_directory)
    if mask & ino.IN_CLOSE_WRITE:
        return RawEvent("closed", path, None, is_directory)
    if mask & ino.IN_CREATE:
        return RawEvent("created", path, None, is_directory)
    return RawEvent("modified", path, None, is_directory)


def _listing(directory: str) -> list[str]:
    try:
        return [entry.path for entry in os.scandir(directory)]
    except OSError:
        return []


def _limit_reached(e: OSError, poll_interval: float) -> None:
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
