"""Find episodes and tell, cheaply, whether one needs a job.

The check reads only chapters.json, the manifest, the provenance record and a
directory listing; the handler itself decides precisely (and does nothing when the
episode is in fact current). Settings changes are deliberately not detected here: a
restart must not repaint, and pay for, every episode; use markers or `run --force`."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from daemon.triggers import CHAPTERS, INPUT_STALE, MANIFEST_STALE, RETRY_REQUEST
from handlers.errors import ImagegenError
from handlers.reading import parse_json, read_json, read_regular_file

_SKIP_DIRS = frozenset({"images", "provenance", "render"})
MAX_DEPTH = 4
MAX_BYTES = 50_000_000


def find_episodes(root: Path, depth: int = MAX_DEPTH) -> Iterator[Path]:
    """Directories below `root` holding a chapters.json (not descending into one)."""
    try:
        entries = list(os.scandir(root))
    except OSError:
        return
    if any(e.name == CHAPTERS for e in entries):
        yield root
        return
    if depth == 0:
        return
    for entry in entries:
        if entry.name in _SKIP_DIRS or entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from find_episodes(Path(entry.path), depth - 1)
        elif entry.is_symlink() and os.path.isfile(os.path.join(entry.path, CHAPTERS)):
            # Not followed further, but reported: the handler refuses it by name when
            # it leads out of the root, instead of the episode silently never running.
            yield Path(entry.path)


def needs_job(episode: Path) -> str | None:
    """Why the episode needs a job, or None when it looks current (or is blocked)."""
    if (episode / INPUT_STALE).exists():
        return None  # blocked until upstream removes the marker: its removal triggers us
    images = episode / "images"
    try:
        names = set(os.listdir(images))
    except OSError:
        return "never processed"
    if MANIFEST_STALE in names or RETRY_REQUEST in names:
        return "marker present"
    if any(n.endswith(".png.stale") and not n.startswith(".") for n in names):
        return "marker present"
    if any(n.startswith(".") and n.endswith(".tmp") for n in names):
        return "temp file of a killed run"  # the job sweeps it under the episode lock
    try:
        # Never blocking on a FIFO, never following a symlink: the handler reports
        # such files properly; here they only mean "needs a job".
        raw_manifest = read_regular_file(
            images / "manifest.json", max_bytes=MAX_BYTES, what="manifest"
        )
        manifest = parse_json(raw_manifest)
        raw_chapters = read_regular_file(episode / CHAPTERS, max_bytes=MAX_BYTES, what=CHAPTERS)
    except (ImagegenError, OSError, ValueError):
        return "no readable manifest"
    if not isinstance(manifest, dict):
        return "manifest damaged"
    if manifest.get("chapters_sha256") != hashlib.sha256(raw_chapters).hexdigest():
        return "chapters.json changed"
    try:
        wanted = {c["chapter_id"] for c in parse_json(raw_chapters)["chapters"]}
    except (ValueError, KeyError, TypeError):
        return "chapters.json unreadable"  # the handler will say exactly why
    entries = manifest.get("chapters", [])
    if {e.get("chapter_id") for e in entries if isinstance(e, dict)} != wanted:
        return "chapters without an entry (interrupted run)"
    for entry in entries:
        if not isinstance(entry, dict):
            return "manifest damaged"
        # Only plain failures are worth another try unasked: a rejected prompt is
        # rejected again, and a cost-capped chapter stays capped.
        if entry.get("status") == "failed":
            return f"chapter {entry.get('chapter_id')} failed"
        file = entry.get("file")
        if entry.get("status") in ("generated", "template") and (
            not isinstance(file, str) or file not in names
        ):
            return f"image of {entry.get('chapter_id')} missing"
    try:
        provenance = read_json(
            episode / "provenance/imagegen_provenance.json", max_bytes=MAX_BYTES, what="provenance"
        )
    except (ImagegenError, OSError, ValueError):
        return "no provenance"
    if (
        not isinstance(provenance, dict)
        or provenance.get("manifest_sha256") != hashlib.sha256(raw_manifest).hexdigest()
    ):
        return "interrupted run"
    return None
