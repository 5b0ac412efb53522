"""The review gallery: `images/index.html` per episode and `<outputs_dir>/index.html` for
the tree, written at the end of every job; the review server (`imagegen web`) renders
the same templates live, with its action buttons.

Static pages open from disk with no server: every link is relative, the CSS is
inline, there is no script and nothing from outside. Every text from chapters.json,
the manifest or a judge goes through Jinja2's autoescaping, so a chapter titled
`<script>` shows as text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from handlers.episode import layout
from handlers.episode.dirs import EpisodeDirs
from handlers.errors import ConfinementError, ImagegenError
from handlers.files.dirs import Dir
from handlers.outputs import thumbs
from handlers.outputs.manifest import Candidate, Manifest, ManifestEntry, read_manifest
from handlers.outputs.markers import find_marker
from handlers.outputs.media_sink import EpisodeStatus
from handlers.outputs.picks import find_pick
from handlers.outputs.storyboard_strip import Clip, read_strip

# The tree's page lists the episodes whose last job finished last; `imagegen status`
# lists them all (a page of 50,000 rows would be rewritten after every job).
TREE_PAGE_EPISODES = 1000


@dataclass
class Pending:
    """Requests written and not yet applied by the daemon: what the page shows as
    waiting, and part of the version the served page polls."""

    episode: bool = False
    chapters: set[str] = field(default_factory=set)
    clips: set[str] = field(default_factory=set)
    picks: dict[str, str] = field(default_factory=dict)


@cache
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("handlers.outputs", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def warm_up() -> None:
    """Compile the pages' templates now (~30 ms of a run's last step otherwise)."""
    for name in ("episode.html", "tree.html"):
        _env().get_template(name)


# -- one episode --------------------------------------------------------------------------


def write_episode_gallery(dirs: EpisodeDirs) -> list[str]:
    """images/index.html and its thumbnails; returns warnings (never raises for a
    missing or damaged image: the page shows what there is)."""
    warnings: list[str] = []
    images = dirs.images()
    manifest = read_manifest(images, warnings)
    if images is None or manifest is None:
        return warnings
    thumbs_dir = images.make_dir(layout.THUMBS_DIR)
    strip = read_strip(dirs)
    wanted = _images_of(dirs, manifest)
    for clip in strip.values():
        wanted.update({f.sha256: (f.folder, f.name) for f in clip.frames if f.sha256})
    sources = [(sha, folder, name) for sha, (folder, name) in wanted.items()]
    warnings.extend(thumbs.make_missing(thumbs_dir, sources))
    thumbs.prune(thumbs_dir, set(wanted))
    html = episode_page(dirs, served=False, manifest=manifest, strip=strip)
    # Made again from the manifest whenever lost: no fsync (the manifest has its own).
    images.write_bytes(layout.GALLERY, html.encode("utf-8", "backslashreplace"), durable=False)
    return warnings


def episode_page(
    dirs: EpisodeDirs,
    *,
    served: bool,
    manifest: Manifest | None = None,
    strip: dict[str, Clip] | None = None,
    version: str = "",
) -> str:
    warnings: list[str] = []
    paths = dirs.paths
    images = _images(dirs, warnings)
    if manifest is None:
        manifest = read_manifest(images, warnings)
    if strip is None:
        strip = read_strip(dirs)
    doc = _chapters_doc(dirs)
    pending = pending_requests(dirs, manifest)
    thumbs_dir = _open(images, layout.THUMBS_DIR)
    chapters = [
        _chapter_view(images, thumbs_dir, e, doc["chapters"].get(e.chapter_id, {}), pending, served)
        | {
            "clip": _clip_view(thumbs_dir, strip.get(e.chapter_id)),
            "pending_clip": e.chapter_id in pending.clips,
        }
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


def _images(dirs: EpisodeDirs, warnings: list[str]) -> Dir | None:
    """images/, unless missing or a symlink (then the page says so and shows nothing)."""
    try:
        return dirs.images()
    except ConfinementError as e:
        warnings.append(str(e))
        return None


def _open(folder: Dir | None, name: str) -> Dir | None:
    return folder.find_dir(name) if folder is not None else None


def _images_of(dirs: EpisodeDirs, manifest: Manifest) -> dict[str, tuple[Dir, str]]:
    """sha256 -> (folder, file) of every picture the page shows: each chapter's chosen
    candidate (the chapter image is that picture, scaled to the frame), or its image
    when it has none."""
    found: dict[str, tuple[Dir, str]] = {}
    images = dirs.images()
    assert images is not None
    for e in manifest.chapters:
        for c in e.candidates:
            parts = (c.file or "").split("/")
            folder = dirs.candidates(e.chapter_id) if len(parts) == 3 else None
            if c.sha256 and folder is not None:
                found[c.sha256] = (folder, parts[2])
        if e.file and e.sha256 and _shown_sha(e) == e.sha256:
            found[e.sha256] = (images, e.file)
    return found


def _shown_sha(entry: ManifestEntry) -> str | None:
    """Whose thumbnail shows the chapter image: its chosen candidate's (the same
    picture, thumbnailed when it was kept), else the image's own."""
    chosen = entry.candidate(entry.selected) if entry.selected else None
    return chosen.sha256 if chosen is not None and chosen.sha256 else entry.sha256


def _chapter_view(
    images: Dir | None,
    thumbs_dir: Dir | None,
    entry: ManifestEntry,
    chapter: dict[str, Any],
    pending: Pending,
    served: bool,
) -> dict[str, Any]:
    manual = entry.selection is not None and entry.selection.method == "manual"
    prompts = _open(_open(images, layout.PROMPTS_DIR), entry.chapter_id)
    trace = prompts is not None and prompts.stat(layout.TRACE_INDEX) is not None
    return {
        "entry": entry,
        "description": chapter.get("description"),
        "image": _image(thumbs_dir, entry.file, entry.sha256, _shown_sha(entry)),
        "trace_href": f"{layout.PROMPTS_DIR}/{entry.chapter_id}/{layout.TRACE_INDEX}"
        if trace
        else None,
        "candidates": [
            _candidate_view(thumbs_dir, entry, c, manual, served) for c in entry.candidates
        ],
        "pending_pick": pending.picks.get(entry.chapter_id),
        "pending_regenerate": entry.chapter_id in pending.chapters or pending.episode,
        "failures": ", ".join(
            f"{c.name}: {c.detail or c.value}" for c in entry.checks if not c.passed
        ),
    }


def _candidate_view(
    thumbs_dir: Dir | None, entry: ManifestEntry, c: Candidate, manual: bool, served: bool
) -> dict[str, Any]:
    selected = c.id == entry.selected
    return {
        "c": c,
        "image": _image(thumbs_dir, c.file, c.sha256, c.sha256),
        "selected": selected,
        "picked": selected and manual,
        "can_pick": served and c.file is not None and not selected,
    }


def _clip_view(thumbs_dir: Dir | None, clip: Clip | None) -> dict[str, Any] | None:
    """The chapter's storyboard clip: its frames side by side and the move between."""
    if clip is None:
        return None
    return {
        "clip": clip,
        "frames": [
            {"moment": f.moment, "image": _image(thumbs_dir, f.file, f.sha256, f.sha256)}
            for f in clip.frames
        ],
    }


def _image(
    thumbs_dir: Dir | None, file: str | None, sha256: str | None, shown: str | None
) -> dict[str, str | None] | None:
    """Links relative to images/: the full image (its content hash in the query, so a
    browser never shows a replaced image from its cache) and its thumbnail, or the
    image itself while it has none."""
    if file is None:
        return None
    full = file + (f"?v={sha256[:12]}" if sha256 else "")
    thumb = None
    if shown and thumbs.present(thumbs_dir, shown):
        thumb = f"{layout.THUMBS_DIR}/{layout.thumb_name(shown)}"
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


def _chapters_doc(dirs: EpisodeDirs) -> dict[str, Any]:
    """Title and per-chapter description from chapters.json, read leniently: the page
    still shows the manifest when upstream's file is being rewritten or is invalid."""
    out: dict[str, Any] = {"title": None, "chapters": {}}
    try:
        doc = dirs.episode.read_json(
            layout.CHAPTERS, max_bytes=layout.MAX_MANIFEST_BYTES, what="chapters"
        )
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


def pending_requests(dirs: EpisodeDirs, manifest: Manifest | None) -> Pending:
    pending = Pending()
    images = _images(dirs, [])
    if manifest is None or images is None:
        return pending
    ignored: list[str] = []
    board = dirs.episode.find_dir(layout.STORYBOARD_DIR)
    if board is not None:
        everything = find_marker(board, layout.STORYBOARD_STALE, ignored) is not None
        for e in manifest.chapters:
            if everything or find_marker(board, layout.clip_stale_name(e.chapter_id), ignored):
                pending.clips.add(e.chapter_id)
    pending.episode = find_marker(images, layout.MANIFEST_STALE, ignored) is not None
    for e in manifest.chapters:
        if find_marker(images, layout.image_stale_name(e.chapter_id), ignored) is not None:
            pending.chapters.add(e.chapter_id)
        pick = find_pick(images, layout.select_name(e.chapter_id), ignored)
        if pick is not None:
            pending.picks[e.chapter_id] = pick.candidate or "?"
    return pending


def episode_version(dirs: EpisodeDirs) -> str:
    """Changes whenever what the episode page shows changes: the manifest, chapters.json,
    the storyboard, and the requests waiting for the daemon. The served page polls it."""
    images = _images(dirs, [])
    parts = []
    for folder, name in (
        (images, layout.MANIFEST),
        (dirs.episode, layout.CHAPTERS),
        (images, layout.MANIFEST_STALE),
        (dirs.episode.find_dir(layout.STORYBOARD_DIR), layout.STORYBOARD),
    ):
        st = folder.stat(name) if folder is not None else None
        parts.append(f"{st.st_mtime_ns}.{st.st_size}" if st is not None else "-")
    names = sorted(
        n
        for n in (images.names() if images is not None else [])
        if layout.is_chapter_marker(n) or layout.is_select_request(n)
    )
    board = dirs.episode.find_dir(layout.STORYBOARD_DIR)
    clips = sorted(
        f"{layout.STORYBOARD_DIR}/{n}"
        for n in (board.names() if board is not None else [])
        if layout.is_clip_marker(n)
    )
    return "/".join(parts + names + clips)


# -- the tree -----------------------------------------------------------------------------


def write_tree_gallery(root: Dir, episodes: list[EpisodeStatus], total: int) -> None:
    html = tree_page(root, episodes, total, served=False)
    root.write_bytes(layout.ROOT_GALLERY, html.encode("utf-8", "backslashreplace"), durable=False)


def tree_page(
    root: Dir, episodes: list[EpisodeStatus], total: int, *, served: bool, version: str = ""
) -> str:
    rows = [
        {
            "status": e,
            "href": f"{e.episode_id}/{layout.IMAGES_DIR}/{layout.GALLERY}",
            "has_gallery": served or e.images > 0,
        }
        for e in episodes
    ]
    return (
        _env()
        .get_template("tree.html")
        .render(served=served, version=version, rows=rows, total=total, root=str(root.path))
    )


def tree_version(root: Dir) -> str:
    st = root.stat(layout.ROOT_GALLERY)
    return f"{st.st_mtime_ns}.{st.st_size}" if st is not None else "-"
