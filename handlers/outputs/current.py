"""Is an episode current? One reader for the daemon's cheap pre-check and the handler.

The pre-check reads only chapters.json, the manifest, the provenance record and a
directory listing; the handler then decides precisely (and does nothing when the
episode is in fact current). Settings changes are deliberately not detected here: a
restart must not repaint, and pay for, every episode; use markers or `run --force`."""

from __future__ import annotations

import hashlib
import os
import struct
import time
from pathlib import Path
from typing import Any

from handlers.episode import layout
from handlers.errors import ImagegenError
from handlers.files.reading import parse_json, read_json, read_regular_file
from handlers.hashing import sha256_bytes
from handlers.outputs.manifest import RETRY_STATUSES


def describes(record: Any, manifest_sha256: str | None) -> bool:
    """Our provenance record was written for this manifest (no run died between them)."""
    return (
        isinstance(record, dict)
        and manifest_sha256 is not None
        and record.get("manifest_sha256") == manifest_sha256
    )


# A file rewritten within its filesystem's timestamp granularity (a kernel tick; whole
# seconds on some network filesystems) keeps its mtime: facts this fresh are not
# trusted to stand for the content (git's "racily clean" entries).
RACY_NS = 2_000_000_000


def provenance_describes(provenance: Path, manifest_sha256: str | None) -> bool:
    try:
        data = read_json(provenance, max_bytes=layout.MAX_PROVENANCE_BYTES, what="provenance")
    except (ImagegenError, OSError, ValueError):
        return False
    return describes(data, manifest_sha256)


def needs_job(episode: Path) -> str | None:
    """Why the episode needs a job, or None when it looks current (or is blocked)."""
    if (episode / layout.CHAPTERS_STALE).exists():
        return None  # blocked until upstream removes the marker: its removal triggers us
    images = episode / layout.IMAGES_DIR
    try:
        names = set(os.listdir(images))
    except OSError:
        return "never processed"
    if layout.MANIFEST_STALE in names or layout.RETRY_REQUEST in names:
        return "marker present"
    if any(layout.is_chapter_marker(n) for n in names):
        return "marker present"
    if any(layout.is_select_request(n) for n in names):
        return "pick of a candidate present"
    if any(layout.is_temp_file(n) for n in names):
        return "temp file of a killed run"  # the job sweeps it under the episode lock
    try:
        # Never blocking on a FIFO, never following a symlink: the handler reports
        # such files properly; here they only mean "needs a job".
        raw_manifest = read_regular_file(
            images / layout.MANIFEST, max_bytes=layout.MAX_MANIFEST_BYTES, what="manifest"
        )
        manifest = parse_json(raw_manifest)
        raw_chapters = read_regular_file(
            episode / layout.CHAPTERS, max_bytes=layout.MAX_MANIFEST_BYTES, what=layout.CHAPTERS
        )
    except (ImagegenError, OSError, ValueError):
        return "no readable manifest"
    if not isinstance(manifest, dict):
        return "manifest damaged"
    if manifest.get("chapters_sha256") != sha256_bytes(raw_chapters):
        return f"{layout.CHAPTERS} changed"
    try:
        wanted = {c["chapter_id"] for c in parse_json(raw_chapters)["chapters"]}
    except (ValueError, KeyError, TypeError):
        return f"{layout.CHAPTERS} unreadable"  # the handler will say exactly why
    entries = manifest.get("chapters", [])
    if {e.get("chapter_id") for e in entries if isinstance(e, dict)} != wanted:
        return "chapters without an entry (interrupted run)"
    for entry in entries:
        if not isinstance(entry, dict):
            return "manifest damaged"
        # Only plain failures are worth another try unasked: a rejected prompt is
        # rejected again, and a cost-capped chapter stays capped. An offline stand-in
        # ("fallback") waits for its providers like a failure does.
        status = entry.get("status")
        if status in RETRY_STATUSES:
            what = "failed" if status == "failed" else "has an offline stand-in"
            return f"chapter {entry.get('chapter_id')} {what}"
        file = entry.get("file")
        if status in ("generated", "template", "fallback") and (
            not isinstance(file, str) or file not in names
        ):
            return f"image of {entry.get('chapter_id')} missing"
    provenance = episode / layout.PROVENANCE_DIR / layout.PROVENANCE
    if not os.path.lexists(provenance):
        return "no provenance"
    if not provenance_describes(provenance, sha256_bytes(raw_manifest)):
        return "interrupted run"
    return None


def state_key(episode: Path | str) -> str | None:
    """The stat facts of everything `needs_job` reads: while they stay the same, so
    does its verdict, and a cache of verdicts decides an unchanged episode from five
    lstat calls. The episode and images/ directories stand for their listings (markers,
    images, temp files). None when a fact is too fresh to trust, or unreadable."""
    base = os.fspath(episode)
    images = f"{base}/{layout.IMAGES_DIR}"
    facts: list[int] = []
    newest = 0
    for path in (
        base,
        f"{base}/{layout.CHAPTERS}",
        images,
        f"{images}/{layout.MANIFEST}",
        f"{base}/{layout.PROVENANCE_DIR}/{layout.PROVENANCE}",
    ):
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            facts += _ABSENT
            continue
        except OSError:
            return None
        facts += (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        newest = max(newest, st.st_mtime_ns, st.st_ctime_ns)
    if time.time_ns() - newest < RACY_NS:
        return None
    return hashlib.blake2b(_FACTS.pack(*facts), digest_size=16).hexdigest()


_FACTS = struct.Struct("<" + "Qqqq" * 5)  # (inode, size, mtime_ns, ctime_ns) of each
_ABSENT = (0, -1, -1, -1)
