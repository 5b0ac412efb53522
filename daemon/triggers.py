"""Which filesystem events mean work, and for which episode: an explicit whitelist.

Our own writes (images, manifest, provenance, render marker, temp files) match
nothing here, so they never trigger us."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from handlers.episode import layout

Kind = Literal["input", "marker", "unblocked", "retry", "directory", "scan"]
# When a trigger's job may start without the settle:
#   "complete": the file was closed after writing, renamed into place, or removed, so
#       its writer is done: read the input now, start at once when it validates, and
#       report at once when it does not;
#   "found": in a directory that just appeared (written before it was watched): read
#       now and start at once when it validates, else settle quietly (its writer may
#       still be going);
#   None: a write in progress: the settle applies.
Ready = Literal["complete", "found"] | None
_WRITE_EVENTS = frozenset({"created", "modified", "closed", "moved"})
# A writer closing the file, or a rename into place (inotify IN_CLOSE_WRITE, IN_MOVED_TO).
_COMPLETE_EVENTS = frozenset({"closed", "moved"})


@dataclass(frozen=True)
class Trigger:
    episode: Path
    kind: Kind
    reason: str
    ready: Ready = None


def classify(
    root: Path, event_type: str, src: str, dest: str | None, is_directory: bool
) -> Trigger | None:
    """The trigger an event stands for, or None. For a move, the destination counts
    (an atomic rename into place is a write); its source only for a marker going away."""
    if event_type == "moved" and dest:
        moved_away = _classify_removal(root, Path(src), is_directory) if src else None
        arrived = _classify_arrival(root, Path(dest), "moved", is_directory)
        return arrived or moved_away
    if event_type == "deleted":
        return _classify_removal(root, Path(src), is_directory)
    return _classify_arrival(root, Path(src), event_type, is_directory)


def _classify_arrival(
    root: Path, path: Path, event_type: str, is_directory: bool
) -> Trigger | None:
    if not _inside(root, path):
        return None
    if is_directory:
        # Ours (images/, images/prompts/ch02/, ...) is never a new episode to look into.
        ours = {path.name, *path.relative_to(root).parts[:-1]} & layout.OUR_DIRS
        if event_type in ("created", "moved") and not ours:
            return Trigger(path, "directory", f"directory {path.name} appeared")
        return None
    if event_type not in _WRITE_EVENTS:
        return None
    name = path.name
    ready: Ready = "complete" if event_type in _COMPLETE_EVENTS else None
    if name == layout.CHAPTERS and path.parent != root:
        return Trigger(path.parent, "input", f"{layout.CHAPTERS} {event_type}", ready)
    if event_type in ("created", "moved") and path.is_symlink() and path.is_dir():
        # inotify reports a symlink to a directory as a file: look into it like a
        # new directory (the handler then refuses it by name if it leads outside).
        return Trigger(path, "directory", f"symlink {path.name} appeared")
    if path.parent.name == layout.IMAGES_DIR and path.parent.parent != root:
        episode = path.parent.parent
        if name == layout.MANIFEST_STALE or layout.is_chapter_marker(name):
            return Trigger(episode, "marker", f"marker {layout.IMAGES_DIR}/{name}", ready)
        if layout.is_select_request(name):
            return Trigger(episode, "marker", f"pick {layout.IMAGES_DIR}/{name}", ready)
        if name == layout.RETRY_REQUEST:
            # Always at once: the operator asked, whatever state the input is in.
            return Trigger(episode, "retry", "retry requested", "complete")
    return None


def _classify_removal(root: Path, path: Path, is_directory: bool) -> Trigger | None:
    if is_directory or not _inside(root, path):
        return None
    if path.name == layout.CHAPTERS_STALE and path.parent != root:
        return Trigger(path.parent, "unblocked", f"{layout.CHAPTERS_STALE} removed", "complete")
    return None


def _inside(root: Path, path: Path) -> bool:
    return path.is_relative_to(root) and path != root
