"""Decide, per chapter: reuse, generate, template, skip (or keep, when not selected).

A chapter is reused only when its content hash, the prompt template hash and the
image settings hash all match its manifest entry and its PNG is present and intact.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import Literal

from handlers.episode import layout
from handlers.episode.chapters import Chapter, ChaptersDoc
from handlers.episode.routing import Route, route_of
from handlers.errors import ImagegenError, InputError
from handlers.files.dirs import Dir
from handlers.hashing import sha256_bytes
from handlers.outputs.entries import Fingerprint, entry_from_png
from handlers.outputs.manifest import RETRY_STATUSES, Manifest, ManifestEntry
from handlers.outputs.markers import Marker
from handlers.outputs.picks import Pick

# An image file larger than this is not one of ours (a 4K PNG is about 25 MB).
MAX_IMAGE_BYTES = 200_000_000

Action = Literal["reuse", "generate", "template", "skip", "keep", "select", "rescore"]
# What a run is for: all the work an episode needs, only people's picks of candidates
# (`imagegen select`), or re-ranking kept candidates (`imagegen rescore`).
Mode = Literal["run", "picks", "rescore"]


@dataclass
class ChapterPlan:
    chapter: Chapter
    route: Route
    action: Action
    reason: str
    fingerprint: Fingerprint
    previous: ManifestEntry | None
    marker: Marker | None = None
    pick: Pick | None = None


def plan_episode(
    *,
    images: Dir | None,
    doc: ChaptersDoc,
    manifest: Manifest | None,
    fingerprints: dict[str, Fingerprint],
    selected: frozenset[str] | None,
    force: bool,
    all_marker: Marker | None,
    chapter_markers: dict[str, Marker],
    picks: dict[str, Pick] | None = None,
    mode: Mode = "run",
) -> list[ChapterPlan]:
    plans = []
    picks = picks or {}
    for chapter in doc.chapters:
        cid = chapter.chapter_id
        fp = fingerprints[cid]
        previous = manifest.entry(cid) if manifest else None
        route = route_of(chapter)
        marker = chapter_markers.get(cid) or all_marker
        action, reason = _decide(
            images,
            chapter,
            route,
            fp,
            previous,
            None if mode != "run" else selected,
            force and mode == "run",
            chapter_markers.get(cid),
            all_marker,
        )
        action, reason = _requested(action, reason, mode, previous, picks.get(cid), selected, cid)
        if action in ("reuse", "select", "rescore") and previous is None:
            assert images is not None  # reuse without an entry: its PNG was read there
            previous = _recover_entry(images, chapter, route, fp)
        plans.append(
            ChapterPlan(
                chapter=chapter,
                route=route,
                action=action,
                reason=reason,
                fingerprint=fp,
                previous=previous,
                marker=marker if action in ("generate", "template") else None,
                pick=picks.get(cid) if action == "select" else None,
            )
        )
    return plans


def _requested(
    action: Action,
    reason: str,
    mode: Mode,
    previous: ManifestEntry | None,
    pick: Pick | None,
    selected: frozenset[str] | None,
    chapter_id: str,
) -> tuple[Action, str]:
    """A pick or a re-ranking applies to a chapter that is current: its candidates are
    the ones the chapter's input made. A chapter that needs new images gets them first
    (the pick then names a candidate of the old input and is dropped)."""
    current = action == "reuse"
    has_candidates = previous is not None and bool(previous.candidates)
    if mode == "rescore":
        if selected is not None and chapter_id not in selected:
            return "keep", "not selected"
        if current and has_candidates:
            return "rescore", "re-ranking kept candidates"
        return "keep", "no kept candidates to re-rank" if current else f"not current ({reason})"
    if pick is not None and current:
        return "select", f"pick {pick.describe()}"
    if mode == "picks":
        return "keep", "no pick" if pick is None else f"pick waits: {reason}"
    return action, reason


def _decide(
    images: Dir | None,
    chapter: Chapter,
    route: Route,
    fp: Fingerprint,
    previous: ManifestEntry | None,
    selected: frozenset[str] | None,
    force: bool,
    own_marker: Marker | None,
    all_marker: Marker | None,
) -> tuple[Action, str]:
    cid = chapter.chapter_id
    if selected is not None and cid not in selected:
        return "keep", "not selected"
    if route == "skip":
        return "skip", f"visual.type {chapter.main_visual.type!r} is unknown"
    work: Action = "generate" if route == "generate" else "template"
    if selected is not None:
        return work, "selected with --chapter"
    if force:
        return work, "forced"
    if own_marker is not None:
        return work, f"marker {own_marker.describe()}"
    if all_marker is not None:
        return work, f"marker {all_marker.describe()}"
    name = layout.image_name(cid)
    if previous is None:
        if _png_matches(images, name, fp):
            return "reuse", "image matches (manifest entry rebuilt from PNG metadata)"
        return work, "new chapter"
    if not previous.ok:
        return work, f"previous attempt {previous.status}"
    if previous.chapter_hash != fp.chapter:
        return work, "chapter changed"
    if previous.template_hash != fp.template:
        return work, "prompt template changed"
    if previous.settings_hash != fp.settings:
        return work, "image settings changed"
    problem = _image_problem(images, name, previous)
    if problem:
        return work, problem
    return "reuse", "unchanged"


def _image_problem(images: Dir | None, name: str, entry: ManifestEntry) -> str | None:
    """None when the image is present and intact. Size and mtime as recorded are
    trusted; anything else costs a full hash, which still rescues a mere copy."""
    st = images.stat(name) if images is not None else None
    if images is None or st is None:
        return "image missing"
    if not stat.S_ISREG(st.st_mode):
        return "image is not a regular file"
    if entry.bytes is not None and st.st_size != entry.bytes:
        return "image modified (size differs)"
    if entry.mtime_ns is not None and st.st_mtime_ns == entry.mtime_ns:
        return None
    data = _read_image(images, name)
    if entry.sha256 is None or data is None or sha256_bytes(data) != entry.sha256:
        return "image modified (checksum differs)"
    return None


def _png_matches(images: Dir | None, name: str, fp: Fingerprint) -> bool:
    data = _read_image(images, name) if images is not None else None
    if data is None:
        return False
    from handlers.outputs.png import png_text  # Pillow: only when a manifest is lost

    meta = png_text(data)
    return (
        # An offline stand-in ("fallback") waits for its providers, manifest or not.
        meta.get("status") not in RETRY_STATUSES
        and meta.get("chapter_hash") == fp.chapter
        and meta.get("settings_hash") == fp.settings
        and (meta.get("template_hash") or None) == fp.template
    )


def _recover_entry(images: Dir, chapter: Chapter, route: Route, fp: Fingerprint) -> ManifestEntry:
    """Rebuild a manifest entry from an image's own PNG metadata (the manifest was
    lost or damaged, or a crash came between image and manifest)."""
    name = layout.image_name(chapter.chapter_id)
    data = _read_image(images, name)
    st = images.stat(name)
    if data is None or st is None:
        raise InputError(f"{images.path / name} vanished while being reused")
    return entry_from_png(name, data, st, chapter, route, fp)


def _read_image(images: Dir, name: str) -> bytes | None:
    try:
        return images.read_bytes(name, max_bytes=MAX_IMAGE_BYTES, what="image")
    except (ImagegenError, OSError):
        return None
