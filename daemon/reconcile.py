"""Find episodes and tell, cheaply, whether one needs a job.

The check reads only chapters.json, the manifest, the provenance record and a
directory listing; the handler itself decides precisely (and does nothing when the
episode is in fact current). Settings changes are deliberately not detected here: a
restart must not repaint, and pay for, every episode; use markers or `run --force`."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

from daemon.triggers import CHAPTERS, INPUT_STALE, MANIFEST_STALE, RETRY_REQUEST

_SKIP_DIRS = frozenset({"images", "provenance", "render"})
MAX_DEPTH = 4


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
    try:
        raw_manifest = (images / "manifest.json").read_bytes()
        manifest = json.loads(raw_manifest)
        raw_chapters = (episode / CHAPTERS).read_bytes()
    except (OSError, ValueError):
        return "no readable manifest"
    if not isinstance(manifest, dict):
        return "manifest damaged"
    if manifest.get("chapters_sha256") != hashlib.sha256(raw_chapters).hexdigest():
        return "chapters.json changed"
    try:
        wanted = {c["chapter_id"] for c in json.loads(raw_chapters)["chapters"]}
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
        provenance = json.loads((episode / "provenance/imagegen_provenance.json").read_bytes())
    except (OSError, ValueError):
        return "no provenance"
    if provenance.get("manifest_sha256") != hashlib.sha256(raw_manifest).hexdigest():
        return "interrupted run"
    return None
