"""Manifest entries, and the same facts as PNG text chunks so an image describes itself."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from handlers.episode.chapters import Chapter
from handlers.episode.routing import Route
from handlers.hashing import sha256_bytes
from handlers.outputs.manifest import ManifestEntry


@dataclass(frozen=True)
class Fingerprint:
    """What a chapter's image depends on, as three hashes kept apart so the plan can
    say which one changed."""

    chapter: str
    template: str | None
    settings: str


# Entry fields carried in the PNG; enough to rebuild the entry without the manifest.
PNG_FIELDS = (
    "chapter_id",
    "chapter_hash",
    "template_hash",
    "settings_hash",
    "status",
    "generation_method",
    "provider",
    "model",
    "prompt",
    "prompt_source",
    "prompt_trace",
    "revised_prompt",
    "generated_at",
    "selected",
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def png_meta(entry: ManifestEntry) -> dict[str, str]:
    data = entry.model_dump()
    meta = {k: str(data[k]) for k in PNG_FIELDS if data.get(k) is not None}
    meta["title"] = entry.title
    if entry.native_width and entry.native_height:
        meta["native_size"] = f"{entry.native_width}x{entry.native_height}"
    meta["cost_usd"] = f"{entry.cost_usd:.6f}"
    return meta


def base_entry(chapter: Chapter, fp: Fingerprint, **fields: object) -> ManifestEntry:
    return ManifestEntry.model_validate(
        {
            "chapter_id": chapter.chapter_id,
            "order": chapter.order if isinstance(chapter.order, int) else 0,
            "title": chapter.title,
            "visual_type": chapter.main_visual.type,
            **(
                {
                    "source_chapter_id": chapter.source_chapter_id,
                    "visual_number": chapter.visual_number,
                }
                if chapter.visual_number > 1
                else {}
            ),
            "chapter_hash": fp.chapter,
            "template_hash": fp.template,
            "settings_hash": fp.settings,
            **fields,
        }
    )


def template_entry(
    chapter: Chapter, fp: Fingerprint, *, model: str, width: int, height: int, **fields: object
) -> ManifestEntry:
    """The entry of an image drawn from a template: by Pillow, at the frame size, free."""
    return base_entry(
        chapter,
        fp,
        **fields,
        status="template",
        generation_method="template",
        provider="pillow",
        model=model,
        width=width,
        height=height,
        native_width=width,
        native_height=height,
        generated_at=now_iso(),
    )


def with_file_facts(
    entry: ManifestEntry, name: str, st: os.stat_result, sha256: str
) -> ManifestEntry:
    return entry.model_copy(
        update={"file": name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256}
    )


def entry_from_png(
    name: str, data: bytes, st: os.stat_result, chapter: Chapter, route: Route, fp: Fingerprint
) -> ManifestEntry:
    """Rebuild a chapter's entry from its image file's own metadata (`data`, read by
    the caller through the images folder)."""
    # Pillow only here: a run whose manifest is intact never loads it to plan.
    from PIL import Image

    from handlers.outputs.png import png_text

    meta = png_text(data)
    native_w = native_h = None
    if "native_size" in meta and "x" in meta["native_size"]:
        w, _, h = meta["native_size"].partition("x")
        native_w, native_h = int(w), int(h)
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
    status = meta.get("status") or ("template" if route == "template" else "generated")
    entry = base_entry(
        chapter,
        fp,
        status=status,
        generation_method=meta.get("generation_method"),
        provider=meta.get("provider"),
        model=meta.get("model"),
        prompt=meta.get("prompt"),
        prompt_source=meta.get("prompt_source"),
        prompt_trace=meta.get("prompt_trace"),
        revised_prompt=meta.get("revised_prompt"),
        generated_at=meta.get("generated_at"),
        width=width,
        height=height,
        native_width=native_w,
        native_height=native_h,
        cost_usd=float(meta.get("cost_usd", "0") or 0),
        image_cost_usd=float(meta.get("cost_usd", "0") or 0),
        selected=meta.get("selected"),
    )
    return with_file_facts(entry, name, st, sha256_bytes(data))
