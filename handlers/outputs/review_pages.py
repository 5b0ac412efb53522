"""What the review server (`imagegen web`) serves and writes, with the handler's rules:
every path confined to the outputs root, and the only writes are the request files a
person could write by hand (`images/<chapter_id>.select`, `images/<chapter_id>.png.stale`,
`images/manifest.json.stale`). The daemon does the work they ask for."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from handlers.episode.paths import EpisodePaths, ensure_inside, episode_paths, resolve_inside
from handlers.errors import InputError, UsageError
from handlers.outputs import gallery, media_sink
from handlers.outputs.manifest import ManifestEntry, read_manifest
from handlers.outputs.markers import write_marker
from handlers.outputs.picks import write_pick

# What the server hands out as files: images, thumbnails, JSON records (manifest,
# traces, provenance). Never our state directory (hidden names are refused anyway).
SERVED_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".json"})


def episode_of(root: Path, relative: str) -> EpisodePaths:
    """An episode named by its path under the root ("ep001", "show/ep001")."""
    return episode_paths(root, resolve_inside(root, relative))


def tree_page(root: Path) -> str:
    episodes, total = media_sink.recent_episodes(root, gallery.TREE_PAGE_EPISODES)
    return gallery.tree_page(root, episodes, total, served=True, version=tree_version(root))


def tree_version(root: Path) -> str:
    return gallery.tree_version(root)


def episode_page(root: Path, relative: str) -> str:
    paths = episode_of(root, relative)
    return gallery.episode_page(paths, served=True, version=gallery.episode_version(paths))


def episode_version(root: Path, relative: str) -> str:
    return gallery.episode_version(episode_of(root, relative))


def served_file(root: Path, relative: str) -> Path:
    """A regular file under the root with a suffix the server hands out."""
    path = resolve_inside(root, relative)
    if path.suffix.lower() not in SERVED_SUFFIXES:
        raise InputError(f"{relative}: not a file the review server serves")
    try:
        st = os.stat(path)
    except OSError:
        raise InputError(f"{relative}: no such file") from None
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{relative}: not a regular file")
    return path


def request_pick(paths: EpisodePaths, chapter_id: str, candidate: str, by: str) -> Path:
    """`images/<chapter_id>.select` naming a candidate the manifest lists (what
    `imagegen select` and the review page's "Use this" write)."""
    entry = _entry(paths, chapter_id)
    if entry.candidate(candidate) is None:
        known = ", ".join(c.id for c in entry.candidates) or "none kept"
        raise UsageError(f"{chapter_id} has no candidate {candidate!r} (candidates: {known})")
    target = ensure_inside(paths, paths.select_request(chapter_id))
    write_pick(target, candidate, by)
    return target


def request_regenerate(paths: EpisodePaths, chapter_id: str | None, by: str) -> Path:
    """`images/<chapter_id>.png.stale`, or `images/manifest.json.stale` for the episode."""
    if chapter_id is None:
        target = paths.manifest_stale
        reason = "regenerate the episode (review page)"
    else:
        _entry(paths, chapter_id)
        target = paths.image_stale(chapter_id)
        reason = f"regenerate {chapter_id} (review page)"
    ensure_inside(paths, paths.images).mkdir(exist_ok=True)
    target = ensure_inside(paths, target)
    write_marker(target, by=by, reason=reason)
    return target


def _entry(paths: EpisodePaths, chapter_id: str) -> ManifestEntry:
    """The chapter's manifest entry; a name the manifest does not list (a typo, or a
    path smuggled in as a chapter id) is refused before any file is named after it."""
    warnings: list[str] = []
    manifest = read_manifest(paths.manifest, warnings)
    entry = manifest.entry(chapter_id) if manifest else None
    if entry is None:
        known = ", ".join(e.chapter_id for e in manifest.chapters) if manifest else "none yet"
        raise UsageError(
            f"{paths.manifest}: no chapter {chapter_id!r} has images (chapters: {known})"
        )
    return entry
