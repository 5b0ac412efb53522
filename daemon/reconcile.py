"""Find the episodes under the outputs root and say which need a job.

Whether one needs a job is the handler's cheap pre-check (`needs_job`, the reader the
handler itself uses). The state cache remembers, per episode, the stat facts of what
that check read when it said "current" (`state_key`), so start-up and every rescan
read only the episodes that changed: an unchanged one costs five lstat calls."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from daemon.state_cache import StateCache
from handlers.episode import layout
from handlers.imagegen import needs_job, state_key

__all__ = ["MAX_DEPTH", "Reconciler", "Watches", "find_episodes", "needs_job", "walk"]

MAX_DEPTH = 4


class Watches(Protocol):
    """Told of each directory before the walk looks into it (daemon/watcher.py)."""

    def watch_dir(self, path: Path, depth: int) -> None: ...
    def watch_images(self, path: Path) -> None: ...


def find_episodes(root: Path, depth: int = MAX_DEPTH) -> Iterator[Path]:
    """Directories below `root` holding a chapters.json (not descending into one)."""
    return walk(root, depth, None)


def walk(top: Path, depth: int, watches: Watches | None) -> Iterator[Path]:
    """Episodes at or below `top`, searching `depth` levels down. Each directory is
    watched before it is looked into, so what is created meanwhile is seen either way."""
    if watches is not None:
        watches.watch_dir(top, depth)
    if os.path.lexists(os.path.join(top, layout.CHAPTERS)):
        if watches is not None:
            watches.watch_images(top / layout.IMAGES_DIR)
        yield top
        return
    if depth == 0:
        return
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for entry in entries:
        if entry.name in layout.OUR_DIRS or entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from walk(Path(entry.path), depth - 1, watches)
        elif entry.is_symlink() and os.path.isfile(os.path.join(entry.path, layout.CHAPTERS)):
            # Not followed further, but reported: the handler refuses it by name when
            # it leads out of the root, instead of the episode silently never running.
            yield Path(entry.path)


class Reconciler:
    """The start-up scan and the periodic rescan of one tree."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache = StateCache(root)
        self.cache.load()

    def scan(self, watches: Watches | None) -> list[tuple[Path, str]]:
        """(episode, why) for every episode that needs a job."""
        needed = []
        seen = set()
        cache = self.cache
        prefix = len(str(self.root)) + 1
        for episode in walk(self.root, MAX_DEPTH, watches):
            name = str(episode)[prefix:]
            seen.add(name)
            # The facts first, then the read: a change in between only costs a re-read.
            key = state_key(episode)
            if key is not None and cache.get(name) == key:
                continue
            reason = needs_job(episode)
            if reason is None and key is not None:
                cache.put(name, key)
            else:
                cache.drop(name)
                if reason is not None:
                    needed.append((episode, reason))
        cache.keep_only(seen)
        cache.save()
        return needed
