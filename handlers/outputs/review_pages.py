"""What the review server (`imagegen web`) serves and writes, with the handler's rules:
every path confined to the outputs root, read and written through folders opened from
the root down (never through a symlink), and the only writes are the request files a
person could write by hand (`images/<chapter_id>.select`, `images/<chapter_id>.png.stale`,
`images/manifest.json.stale`). The daemon does the work they ask for."""

from __future__ import annotations

import stat
from pathlib import Path, PurePath

from handlers.episode import layout
from handlers.episode.dirs import EpisodeDirs
from handlers.episode.paths import EpisodePaths, episode_paths, resolve_inside
from handlers.errors import InputError, UsageError
from handlers.files.dirs import Dir
from handlers.outputs import gallery, media_sink
from handlers.outputs.manifest import ManifestEntry, read_manifest
from handlers.outputs.markers import marker_info
from handlers.outputs.picks import pick_record
from handlers.outputs.storyboard_strip import read_strip

# What the server hands out as files: images, thumbnails, JSON records (manifest,
# traces, provenance). Never our state directory (hidden names are refused anyway).
SERVED_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".json"})
MAX_SERVED_BYTES = 100_000_000


def episode_of(root: Path, relative: str) -> EpisodePaths:
    """An episode named by its path under the root ("ep001", "show/ep001")."""
    return episode_paths(root, resolve_inside(root, relative))


def tree_page(root: Path) -> str:
    episodes, total = media_sink.recent_episodes(root, gallery.TREE_PAGE_EPISODES)
    with Dir.open(root) as folder:
        version = gallery.tree_version(folder)
        return gallery.tree_page(folder, episodes, total, served=True, version=version)


def tree_version(root: Path) -> str:
    with Dir.open(root) as folder:
        return gallery.tree_version(folder)


def episode_page(root: Path, relative: str) -> str:
    with EpisodeDirs(episode_of(root, relative)) as dirs:
        return gallery.episode_page(dirs, served=True, version=gallery.episode_version(dirs))


def episode_version(root: Path, relative: str) -> str:
    with EpisodeDirs(episode_of(root, relative)) as dirs:
        return gallery.episode_version(dirs)


def served_file(root: Path, relative: str) -> bytes:
    """The bytes of a regular file under the root with a suffix the server hands out,
    read through folders opened from the root down (no symlink followed at any step)."""
    resolve_inside(root, relative)  # no '..', no hidden names
    where = PurePath(relative)
    if where.suffix.lower() not in SERVED_SUFFIXES or len(where.parts) < 2:
        raise InputError(f"{relative}: not a file the review server serves")
    with Dir.open(root) as top:
        folder = top.descend(PurePath(*where.parts[:-1]))
        st = folder.stat(where.name)
        if st is None or not stat.S_ISREG(st.st_mode):
            raise InputError(f"{relative}: no such file")
        return folder.read_bytes(where.name, max_bytes=MAX_SERVED_BYTES, what="file")


def request_pick(paths: EpisodePaths, chapter_id: str, candidate: str, by: str) -> str:
    """`images/<chapter_id>.select` naming a candidate the manifest lists (what
    `imagegen select` and the review page's "Use this" write); returns its name."""
    with EpisodeDirs(paths) as dirs:
        images, entry = _entry(dirs, chapter_id)
        if entry.candidate(candidate) is None:
            known = ", ".join(c.id for c in entry.candidates) or "none kept"
            raise UsageError(f"{chapter_id} has no candidate {candidate!r} (candidates: {known})")
        name = layout.select_name(chapter_id)
        images.write_json(name, pick_record(candidate, by))
        return name


def chapter_entry(paths: EpisodePaths, chapter_id: str) -> ManifestEntry:
    """The chapter's manifest entry, with its candidates (`imagegen select` without a
    candidate lists them)."""
    with EpisodeDirs(paths) as dirs:
        return _entry(dirs, chapter_id)[1]


def request_regenerate(paths: EpisodePaths, chapter_id: str | None, by: str) -> str:
    """`images/<chapter_id>.png.stale`, or `images/manifest.json.stale` for the episode;
    returns its name."""
    with EpisodeDirs(paths) as dirs:
        if chapter_id is None:
            images = dirs.images(create=True)
            assert images is not None
            name, reason = layout.MANIFEST_STALE, "regenerate the episode (review page)"
        else:
            images, _ = _entry(dirs, chapter_id)
            name = layout.image_stale_name(chapter_id)
            reason = f"regenerate {chapter_id} (review page)"
        images.write_json(name, marker_info(by, reason))
        return name


def request_regenerate_clip(paths: EpisodePaths, chapter_id: str, by: str) -> str:
    """`storyboard/<chapter_id>.stale` for a clip the storyboard has; returns its name
    relative to the episode."""
    with EpisodeDirs(paths) as dirs:
        clips = read_strip(dirs)
        board = dirs.storyboard()
        if chapter_id not in clips or board is None:
            known = ", ".join(sorted(clips)) or "none"
            raise UsageError(
                f"{paths.dir / layout.STORYBOARD_DIR}: no clip {chapter_id!r} (clips: {known})"
            )
        name = layout.clip_stale_name(chapter_id)
        board.write_json(
            name, marker_info(by, f"regenerate the clip of {chapter_id} (review page)")
        )
        return f"{layout.STORYBOARD_DIR}/{name}"


def _entry(dirs: EpisodeDirs, chapter_id: str) -> tuple[Dir, ManifestEntry]:
    """The chapter's manifest entry; a name the manifest does not list (a typo, or a
    path smuggled in as a chapter id) is refused before any file is named after it."""
    warnings: list[str] = []
    images = dirs.images()
    manifest = read_manifest(images, warnings)
    entry = manifest.entry(chapter_id) if manifest else None
    if entry is None or images is None:
        known = ", ".join(e.chapter_id for e in manifest.chapters) if manifest else "none yet"
        raise UsageError(
            f"{dirs.paths.manifest}: no chapter {chapter_id!r} has images (chapters: {known})"
        )
    return images, entry
