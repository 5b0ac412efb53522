"""The review gallery: `images/index.html` per episode and `<outputs_dir>/index.html` for
the tree, written at the end of every job; the review server (`imagegen web`) renders
the same templates live, with its action buttons.

Static pages open from disk with no server: every link is relative, the CSS is
inline, there is no script and nothing from outside. Every text from chapters.json,
the manifest or a judge goes through Jinja2's autoescaping, so a chapter titled
`<script>` shows as text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from handlers.episode import layout
from handlers.episode.paths import EpisodePaths, ensure_inside, root_gallery_path
from handlers.errors import ConfinementError, ImagegenError
from handlers.files import atomic
from handlers.files.reading import read_json
from handlers.outputs import thumbs
from handlers.outputs.manifest import Candidate, Manifest, ManifestEntry, read_manifest
from handlers.outputs.markers import find_marker
from handlers.outputs.media_sink import EpisodeStatus
from handlers.outputs.picks import find_pick

# The tree's page lists the episodes whose last job finished last; `imagegen status`
# lists them all (a page of 50,000 rows would be rewritten after every job).
TREE_PAGE_EPISODES = 1000


@dataclass
class Pending:
    """Requests written and not yet applied by the daemon: what the page shows as
    waiting, and part of the version the served page polls."""

    episode: bool = False
    chapters: set[str] = field(default_factory=set)
    picks: dict[str, str] = field(default_factory=dict)


@cache
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("handlers.outputs", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


# -- one episode --------------------------------------------------------------------------


def write_episode_gallery(paths: EpisodePaths) -> list[str]:
    """images/index.html and its thumbnails; returns warnings (never raises for a
    missing or damaged image: the page shows what there is)."""
    warnings: list[str] = []
    # Confinement first: an images/ that is a symlink out of the root is never read.
    images = ensure_inside(paths, paths.images)
    thumbs_dir = ensure_inside(paths, paths.thumbs)
    manifest = read_manifest(paths.manifest, warnings)
    if manifest is None:
        return warnings
    wanted = _images_of(manifest, images)
    warnings.extend(thumbs.make_missing(thumbs_dir, wanted.items()))
    thumbs.prune(thumbs_dir, set(wanted))
    html = episode_page(paths, served=False, manifest=manifest)
    target = ensure_inside(paths, paths.gallery)
    # Made again from the manifest whenever lost: no fsync (the manifest has its own).
    atomic.write_bytes(target, html.encode("utf-8", "backslashreplace"), durable=False)
    return warnings


def episode_page(
    paths: EpisodePaths, *, served: bool, manifest: Manifest | None = None, version: str = ""
) -> str:
    warnings: list[str] = []
    if manifest is None:
        try:
            ensure_inside(paths, paths.images)
            manifest = read_manifest(paths.manifest, warnings)
        except ConfinementError as e:
            warnings.append(str(e))
    doc = _chapters_doc(paths)
    pending = pending_requests(paths, manifest)
    chapters = [
        _chapter_view(paths, e, doc["chapters"].get(e.chapter_id, {}), pending, served)
        for e in (manifest.chapters if manifest else [])
    ]
    depth = len(Path(paths.relative).parts) + 1
    return (
        _env()
        .get_template("episode.html")
        .render(
            served=served,
            version=version,
            episode=paths.relative,
            title=doc["title"] or (manifest.episode_id if manifest else paths.name),
            manifest=manifest,
            chapters=chapters,
            pending=pending,
            totals=_totals(manifest),
            warnings=warnings,
            tree_href="../" * depth + layout.ROOT_GALLERY,
        )
    )


def _images_of(manifest: Manifest, images: Path) -> dict[str, Path]:
    """sha256 -> file of every image the page shows (chosen images and candidates)."""
    found: dict[str, Path] = {}
    for e in manifest.chapters:
        if e.file and e.sha256:
            found[e.sha256] = images / e.file
        for c in e.candidates:
            if c.file and c.sha256:
                found[c.sha256] = images / c.file
    return found


def _chapter_view(
    paths: EpisodePaths,
    entry: ManifestEntry,
    chapter: dict[str, Any],
    pending: Pending,
    served: bool,
) -> dict[str, Any]:
    manual = entry.selection is not None and entry.selection.method == "manual"
    trace = paths.prompt_trace(entry.chapter_id)
    return {
        "entry": entry,
        "description": chapter.get("description"),
        "image": _image(paths, entry.file, entry.sha256) if entry.file else None,
        "trace_href": trace.relative_to(paths.images).as_posix() if trace.is_file() else None,
        "candidates": [_candidate_view(paths, entry, c, manual, served) for c in entry.candidates],
        "pending_pick": pending.picks.get(entry.chapter_id),
        "pending_regenerate": entry.chapter_id in pending.chapters or pending.episode,
        "failures": ", ".join(
            f"{c.name}: {c.detail or c.value}" for c in entry.checks if not c.passed
        ),
    }


def _candidate_view(
    paths: EpisodePaths, entry: ManifestEntry, c: Candidate, manual: bool, served: bool
) -> dict[str, Any]:
    selected = c.id == entry.selected
    return {
        "c": c,
        "image": _image(paths, c.file, c.sha256) if c.file else None,
        "selected": selected,
        "picked": selected and manual,
        "can_pick": served and c.file is not None and not selected,
    }


def _image(paths: EpisodePaths, file: str | None, sha256: str | None) -> dict[str, str | None]:
    """Links relative to images/: the full image (its content hash in the query, so a
    browser never shows a replaced image from its cache) and its thumbnail, or the
    image itself while it has none."""
    assert file is not None
    full = file + (f"?v={sha256[:12]}" if sha256 else "")
    thumb = None
    if sha256 and thumbs.present(paths.thumbs, sha256):
        thumb = f"{layout.THUMBS_DIR}/{layout.thumb_name(sha256)}"
    return {"full": full, "thumb": thumb or full, "sha256": sha256}


def _totals(manifest: Manifest | None) -> dict[str, Any]:
    entries = manifest.chapters if manifest else []
    return {
        "chapters": len(entries),
        "ok": sum(1 for e in entries if e.ok),
        "failed": sum(1 for e in entries if not e.ok),
        "candidates": sum(len(e.candidates) for e in entries),
        "cost_usd": sum(e.cost_usd for e in entries),
        "cumulative_cost_usd": manifest.cumulative_cost_usd if manifest else 0.0,
    }


def _chapters_doc(paths: EpisodePaths) -> dict[str, Any]:
    """Title and per-chapter description from chapters.json, read leniently: the page
    still shows the manifest when upstream's file is being rewritten or is invalid."""
    out: dict[str, Any] = {"title": None, "chapters": {}}
    try:
        doc = read_json(paths.chapters, max_bytes=layout.MAX_MANIFEST_BYTES, what="chapters")
    except (ImagegenError, OSError, ValueError):
        return out
    if not isinstance(doc, dict):
        return out
    title, chapters = doc.get("title"), doc.get("chapters")
    out["title"] = title if isinstance(title, str) else None
    for ch in chapters if isinstance(chapters, list) else []:
        if isinstance(ch, dict) and isinstance(ch.get("chapter_id"), str):
            visual = ch.get("visual")
            description = visual.get("description") if isinstance(visual, dict) else None
            out["chapters"][ch["chapter_id"]] = {
                "description": description if isinstance(description, str) else None
            }
    return out


def pending_requests(paths: EpisodePaths, manifest: Manifest | None) -> Pending:
    pending = Pending()
    if manifest is None:
        return pending
    ignored: list[str] = []
    pending.episode = find_marker(paths.manifest_stale, ignored) is not None
    for e in manifest.chapters if manifest else []:
        if find_marker(paths.image_stale(e.chapter_id), ignored) is not None:
            pending.chapters.add(e.chapter_id)
        pick = find_pick(paths.select_request(e.chapter_id), ignored)
        if pick is not None:
            pending.picks[e.chapter_id] = pick.candidate or "?"
    return pending


def episode_version(paths: EpisodePaths) -> str:
    """Changes whenever what the episode page shows changes: the manifest, chapters.json,
    and the requests waiting for the daemon. The served page polls it."""
    parts = []
    for path in (paths.manifest, paths.chapters, paths.manifest_stale):
        try:
            st = os.stat(path)
            parts.append(f"{st.st_mtime_ns}.{st.st_size}")
        except OSError:
            parts.append("-")
    try:
        names = sorted(
            n
            for n in os.listdir(paths.images)
            if layout.is_chapter_marker(n) or layout.is_select_request(n)
        )
    except OSError:
        names = []
    return "/".join(parts + names)


# -- the tree -----------------------------------------------------------------------------


def write_tree_gallery(root: Path, episodes: list[EpisodeStatus], total: int) -> None:
    html = tree_page(root, episodes, total, served=False)
    target = root_gallery_path(root)
    if target.is_symlink():
        raise ImagegenError(f"{target} is a symlink; imagegen does not write through symlinks")
    atomic.write_bytes(target, html.encode("utf-8", "backslashreplace"), durable=False)


def tree_page(
    root: Path, episodes: list[EpisodeStatus], total: int, *, served: bool, version: str = ""
) -> str:
    rows = [
        {
            "status": e,
            "href": f"{e.episode_id}/{layout.IMAGES_DIR}/{layout.GALLERY}",
            "has_gallery": served or (root / e.episode_id / layout.IMAGES_DIR).is_dir(),
        }
        for e in episodes
    ]
    return (
        _env()
        .get_template("tree.html")
        .render(served=served, version=version, rows=rows, total=total, root=str(root))
    )


def tree_version(root: Path) -> str:
    try:
        st = os.stat(root_gallery_path(root))
    except OSError:
        return "-"
    return f"{st.st_mtime_ns}.{st.st_size}"
