"""Decide, per chapter: reuse, generate, template, skip (or keep, when not selected).

A chapter is reused only when its content hash, the prompt template hash and the
image settings hash all match its manifest entry and its PNG is present and intact.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from handlers.episode.chapters import Chapter, ChaptersDoc
from handlers.episode.paths import EpisodePaths
from handlers.episode.routing import Route, route_of
from handlers.hashing import sha256_file
from handlers.outputs.entries import Fingerprint, entry_from_png
from handlers.outputs.manifest import Manifest, ManifestEntry
from handlers.outputs.markers import Marker

Action = Literal["reuse", "generate", "template", "skip", "keep"]


@dataclass
class ChapterPlan:
    chapter: Chapter
    route: Route
    action: Action
    reason: str
    fingerprint: Fingerprint
    previous: ManifestEntry | None
    marker: Marker | None = None


def plan_episode(
    *,
    paths: EpisodePaths,
    doc: ChaptersDoc,
    manifest: Manifest | None,
    fingerprints: dict[str, Fingerprint],
    selected: frozenset[str] | None,
    force: bool,
    all_marker: Marker | None,
    chapter_markers: dict[str, Marker],
) -> list[ChapterPlan]:
    plans = []
    for chapter in doc.chapters:
        cid = chapter.chapter_id
        fp = fingerprints[cid]
        previous = manifest.entry(cid) if manifest else None
        route = route_of(chapter)
        marker = chapter_markers.get(cid) or all_marker
        action, reason = _decide(
            paths,
            chapter,
            route,
            fp,
            previous,
            selected,
            force,
            chapter_markers.get(cid),
            all_marker,
        )
        if action == "reuse" and previous is None:
            previous = _recover_entry(paths, chapter, route, fp)
        plans.append(
            ChapterPlan(
                chapter=chapter,
                route=route,
                action=action,
                reason=reason,
                fingerprint=fp,
                previous=previous,
                marker=marker if action in ("generate", "template") else None,
            )
        )
    return plans


def _decide(
    paths: EpisodePaths,
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
    if previous is None:
        if _png_matches(paths.image(cid), fp):
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
    problem = _image_problem(paths.image(cid), previous)
    if problem:
        return work, problem
    return "reuse", "unchanged"


def _image_problem(path: Path, entry: ManifestEntry) -> str | None:
    """None when the image is present and intact. Size and mtime as recorded are
    trusted; anything else costs a full hash, which still rescues a mere copy."""
    try:
        st = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return "image missing"
    if entry.bytes is not None and st.st_size != entry.bytes:
        return "image modified (size differs)"
    if entry.mtime_ns is not None and st.st_mtime_ns == entry.mtime_ns:
        return None
    if entry.sha256 is None or sha256_file(path) != entry.sha256:
        return "image modified (checksum differs)"
    return None


def _png_matches(path: Path, fp: Fingerprint) -> bool:
    if not path.is_file() or path.is_symlink():
        return False
    from handlers.outputs.png import read_png_meta  # Pillow: only when a manifest is lost

    meta = read_png_meta(path)
    return (
        meta.get("chapter_hash") == fp.chapter
        and meta.get("settings_hash") == fp.settings
        and (meta.get("template_hash") or None) == fp.template
    )


def _recover_entry(
    paths: EpisodePaths, chapter: Chapter, route: Route, fp: Fingerprint
) -> ManifestEntry:
    """Rebuild a manifest entry from an image's own PNG metadata (the manifest was
    lost or damaged, or a crash came between image and manifest)."""
    return entry_from_png(paths.image(chapter.chapter_id), chapter, route, fp)
