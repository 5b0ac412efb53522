"""What the media database holds for one episode, read from its files alone: one
asset row per image, candidate, storyboard frame, manifest and provenance file, the
prompt templates its images were written with, and the jobs its provenance lists.

The daemon's sink after a job and `imagegen db rebuild` both call `episode_rows`, so
a rebuilt database has the same rows as the one kept up to date (ids aside)."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, Literal

from handlers.episode import layout
from handlers.episode.dirs import EpisodeDirs
from handlers.episode.paths import EpisodePaths
from handlers.errors import ConfinementError, ImagegenError
from handlers.files.dirs import Dir
from handlers.outputs.manifest import IMAGE_MIME, Manifest, ManifestEntry, read_manifest
from handlers.outputs.provenance import RUN_COUNTS, history, read_previous

AssetType = Literal[
    "image", "candidate", "storyboard_frame", "storyboard", "manifest", "provenance"
]
JSON_MIME = "application/json"


@dataclass(frozen=True)
class AssetRow:
    asset_type: AssetType
    chapter_id: str | None
    file_path: str  # relative to the outputs root
    mime_type: str
    size_bytes: int
    created_at: str  # the file's modification time: the moment its content was written
    metadata: dict[str, Any] = field(default_factory=dict)
    prompt_sha256: str | None = None
    duration_seconds: float | None = None

    def metadata_json(self) -> str:
        return text(json.dumps(self.metadata, ensure_ascii=False, sort_keys=True))


@dataclass(frozen=True)
class PromptUse:
    sha256: str
    name: str | None
    source: str | None
    text: str | None
    first_used: str | None


@dataclass(frozen=True)
class RunRow:
    job_id: str
    trigger: str | None
    started_at: str
    finished_at: str | None
    status: str
    counts: dict[str, int]
    cost_usd: float
    error: str | None


@dataclass
class EpisodeRows:
    episode_id: str  # the episode's folder relative to the outputs root
    title: str | None = None
    chapters: int = 0
    images: int = 0
    failed: int = 0
    cumulative_cost_usd: float = 0.0
    updated_at: str | None = None
    assets: list[AssetRow] = field(default_factory=list)
    prompts: list[PromptUse] = field(default_factory=list)
    runs: list[RunRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def episode_rows(dirs: EpisodeDirs) -> EpisodeRows:
    """Everything through the episode's open folders: a symlink out of the root in
    place of images/, provenance/ or storyboard/ is never followed (no rows for it)."""
    paths = dirs.paths
    rows = EpisodeRows(episode_id=text(paths.relative), title=_episode_title(dirs))
    manifest = read_manifest(_folder(dirs.images), rows.warnings)
    if manifest is not None:
        _manifest_rows(dirs, manifest, rows)
    provenance = _folder(dirs.provenance)
    record = read_previous(provenance)
    if record and provenance is not None:
        _provenance_rows(paths, provenance, record, rows)
    _storyboard_rows(dirs, rows)
    return rows


def _folder(get: Callable[[], Dir | None]) -> Dir | None:
    try:
        return get()
    except ConfinementError:
        return None


def _manifest_rows(dirs: EpisodeDirs, manifest: Manifest, rows: EpisodeRows) -> None:
    images = dirs.images()
    assert images is not None  # the manifest was read there
    paths = dirs.paths
    rows.chapters = len(manifest.chapters)
    rows.cumulative_cost_usd = manifest.cumulative_cost_usd
    rows.updated_at = _opt(manifest.updated_at)
    rows.failed = sum(1 for e in manifest.chapters if not e.ok and e.status != "skipped")
    _add(
        rows,
        paths,
        images,
        layout.MANIFEST,
        "manifest",
        None,
        JSON_MIME,
        {"chapters": len(manifest.chapters), "cumulative_cost_usd": manifest.cumulative_cost_usd},
    )
    for entry in manifest.chapters:
        if entry.file and _add(
            rows,
            paths,
            images,
            entry.file,
            "image",
            entry.chapter_id,
            IMAGE_MIME,
            _image_meta(entry),
            entry.template_hash,
        ):
            rows.images += 1
        folder = _folder(partial(dirs.candidates, entry.chapter_id))
        for c in entry.candidates:
            parts = (c.file or "").split("/")
            if folder is None or len(parts) != 3:
                continue
            meta = {
                "candidate": c.id,
                "selected": c.id == entry.selected,
                "passed": c.passed,
                "failed_checks": c.failures(),
                "checks_score": c.checks_score,
                "judge_score": c.judge_score,
                "total": c.total,
                "rationale": c.rationale,
                "provider": c.provider,
                "model": c.model,
                "cost_usd": c.cost_usd,
                "sha256": c.sha256,
            }
            _add(
                rows,
                paths,
                folder,
                parts[2],
                "candidate",
                entry.chapter_id,
                IMAGE_MIME,
                meta,
                entry.template_hash,
            )


def _episode_title(dirs: EpisodeDirs) -> str | None:
    try:
        doc = dirs.episode.read_json(
            layout.CHAPTERS, max_bytes=layout.MAX_MANIFEST_BYTES, what="chapters"
        )
    except (ImagegenError, OSError, ValueError):
        return None
    title = doc.get("title") if isinstance(doc, dict) else None
    return text(title) if isinstance(title, str) else None


def _image_meta(entry: ManifestEntry) -> dict[str, Any]:
    return {
        "title": entry.title,
        "visual_type": entry.visual_type,
        "status": entry.status,
        "generation_method": entry.generation_method,
        "provider": entry.provider,
        "model": entry.model,
        "prompt": entry.prompt,
        "cost_usd": entry.cost_usd,
        "sha256": entry.sha256,
        "width": entry.width,
        "height": entry.height,
        "selected": entry.selected,
        "selection": entry.selection.model_dump() if entry.selection else None,
    }


def _provenance_rows(
    paths: EpisodePaths, folder: Dir, record: dict[str, Any], rows: EpisodeRows
) -> None:
    meta = {"outcome": record.get("outcome"), "cost_usd": record.get("cost_usd")}
    _add(rows, paths, folder, layout.PROVENANCE, "provenance", None, JSON_MIME, meta)
    templates = record.get("prompt_templates")
    for item in templates if isinstance(templates, list) else []:
        if isinstance(item, dict) and isinstance(item.get("sha256"), str):
            rows.prompts.append(
                PromptUse(
                    sha256=text(item["sha256"]),
                    name=_opt(item.get("name")),
                    source=_opt(item.get("source")),
                    text=_opt(item.get("text")),
                    first_used=_opt(item.get("first_used")),
                )
            )
    for job in history(record):
        if not isinstance(job.get("started_at"), str):
            continue
        cost = job.get("cost_usd")
        rows.runs.append(
            RunRow(
                job_id=text(job["job_id"]),
                trigger=_opt(job.get("trigger")),
                started_at=text(job["started_at"]),
                finished_at=_opt(job.get("finished_at")),
                status=_opt(job.get("outcome")) or "unknown",
                counts={k: v for k in RUN_COUNTS if isinstance(v := job.get(k), int)},
                cost_usd=float(cost) if isinstance(cost, int | float) else 0.0,
                error=_opt(job.get("error")),
            )
        )


def _storyboard_rows(dirs: EpisodeDirs, rows: EpisodeRows) -> None:
    board = dirs.episode.find_dir(layout.STORYBOARD_DIR)
    if board is None:
        return
    paths = dirs.paths
    _add(rows, paths, board, layout.STORYBOARD, "storyboard", None, JSON_MIME, {})
    for clip in sorted(board.names()):
        folder = board.find_dir(clip)
        for moment in layout.FRAME_MOMENTS if folder is not None else ():
            meta = {"frame": moment}
            frame = layout.frame_name(moment)
            _add(rows, paths, folder, frame, "storyboard_frame", clip, IMAGE_MIME, meta)


def _add(
    rows: EpisodeRows,
    paths: EpisodePaths,
    folder: Dir | None,
    name: str,
    asset_type: AssetType,
    chapter_id: str | None,
    mime: str,
    metadata: dict[str, Any],
    prompt_sha256: str | None = None,
) -> bool:
    """One row for a regular file that exists; a file the records name but the disk
    lacks gets none (the files are the truth)."""
    if folder is None or "/" in name:
        return False
    st = folder.stat(name)
    if st is None or not stat.S_ISREG(st.st_mode):
        return False
    rows.assets.append(
        AssetRow(
            asset_type=asset_type,
            chapter_id=text(chapter_id) if chapter_id is not None else None,
            file_path=text((folder.path / name).relative_to(paths.root).as_posix()),
            mime_type=mime,
            size_bytes=st.st_size,
            created_at=file_time(st.st_mtime_ns),
            metadata=metadata,
            prompt_sha256=_opt(prompt_sha256),
        )
    )
    return True


def file_time(mtime_ns: int) -> str:
    return datetime.fromtimestamp(mtime_ns / 1e9, UTC).isoformat(timespec="milliseconds")


def text(value: str) -> str:
    """A name as SQLite can store it: a non-UTF-8 file name (lone surrogates here)
    becomes backslash escapes instead of failing the write."""
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _opt(value: object) -> str | None:
    return text(value) if isinstance(value, str) else None
