"""Find the episodes under the outputs root and say which need a job.

Whether one needs a job is the handler's cheap pre-check (`needs_job`, the reader the
handler itself uses). The state cache remembers, per episode, the stat facts of what
that check read when it said "current" (`state_key`), so start-up and every rescan
read only the episodes that changed: an unchanged one costs five lstat calls."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

from daemon.state_cache import StateCache
from handlers.episode import layout
from handlers.imagegen import needs_job, state_key

__all__ = ["MAX_DEPTH", "Reconciler", "Watches", "find_episodes", "needs_job", "walk"]

MAX_DEPTH = 4


class Watches(Protocol):
    """Told of each directory before the walk looks into it (daemon/watcher.py)."""

    def watch_dir(self, path: str, depth: int) -> None: ...
    def watch_images(self, path: str) -> None: ...


def find_episodes(root: Path, depth: int = MAX_DEPTH) -> Iterator[Path]:
    """Directories below `root` holding a chapters.json (not descending into one)."""
    return walk(root, depth, None)


def walk(top: Path, depth: int, watches: Watches | None) -> Iterator[Path]:
    """Episodes at or below `top`, searching `depth` levels down. Each directory is
    watched before it is looked into, so what is created meanwhile is seen either way."""
    return map(Path, _walk(os.fspath(top), depth, watches, None))


def _walk(
    top: str, depth: int, watches: Watches | None, known: Callable[[str], bool] | None
) -> Iterator[str]:
    """`walk` on plain strings (a big tree's scan is mostly this loop). `known(dir)`
    True: an episode decided already, neither yielded nor looked into."""
    if watches is not None:
        watches.watch_dir(top, depth)
        watches.watch_images(f"{top}/{layout.IMAGES_DIR}")  # if there is one
    if known is not None and known(top):
        return
    if os.path.lexists(f"{top}/{layout.CHAPTERS}"):
        yield top
        return
    if depth == 0:
        return
    try:
        entries = list(os.scandir(top))
    except OSError:
        return
    for entry in entries:
        name = entry.name
        if name in layout.OUR_DIRS or name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path, depth - 1, watches, known)
        elif entry.is_symlink() and os.path.isfile(f"{entry.path}/{layout.CHAPTERS}"):
            # Not followed further, but reported: the handler refuses it by name when
            # it leads out of the root, instead of the episode silently never running.
            yield entry.path


class Reconciler:
    """The start-up scan and the periodic rescan of one tree."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache = StateCache(root)
        self.cache.load()

    def scan(self, watches: Watches | None) -> list[tuple[Path, str]]:
        """(episode, why) for every episode that needs a job."""
        cache = self.cache
        prefix = len(str(self.root)) + 1
        seen: set[str] = set()

        def unchanged(path: str) -> bool:
            name = path[prefix:]
            remembered = cache.get(name)
            if remembered is None or state_key(path) != remembered:
                return False
            seen.add(name)
            return True

        needed = []
        for path in _walk(str(self.root), MAX_DEPTH, watches, unchanged):
            name = path[prefix:]
            seen.add(name)
            # The facts first, then the read: a change in between only costs a re-read.
            key = state_key(path)
            episode = Path(path)
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
