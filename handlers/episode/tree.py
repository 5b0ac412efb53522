"""Finding episodes under the outputs root: the daemon's start-up scan and the media
database's rebuild walk the tree the same way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from handlers.episode import layout

MAX_DEPTH = 4


def find_episodes(root: Path, depth: int = MAX_DEPTH) -> Iterator[Path]:
    """Directories below `root` holding a chapters.json (not descending into one)."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    if any(e.name == layout.CHAPTERS for e in entries):
        yield root
        return
    if depth == 0:
        return
    for entry in sorted(entries, key=lambda e: e.name):
        if entry.name in layout.OUR_DIRS or entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from find_episodes(Path(entry.path), depth - 1)
        elif entry.is_symlink() and os.path.isfile(os.path.join(entry.path, layout.CHAPTERS)):
            # Not followed further, but reported: the handler refuses it by name when
            # it leads out of the root, instead of the episode silently never running.
            yield Path(entry.path)
