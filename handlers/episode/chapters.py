"""chapters.json: the input contract (schema 1.x), loaded safely and validated.

Fields imagegen uses (ids, titles, visuals, narration text) are errors when wrong;
fields it does not use (order, durations, overlays, transitions) only warn, so an
upstream quirk there never costs an episode its images.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from handlers.episode import layout
from handlers.errors import InputError
from handlers.files.reading import parse_json, read_regular_file

GENERATED_TYPES = frozenset({"diagram", "b_roll", "screen_share"})
TEMPLATE_TYPES = frozenset({"title_card", "talking_head"})
KNOWN_TYPES = GENERATED_TYPES | TEMPLATE_TYPES

SAFE_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}$")
_VERSION = re.compile(r"^(\d+)\.(\d+)$")


class _In(BaseModel):
    # Unknown fields are upstream's business (forward compatibility); no coercion of
    # "3" into 3: the contract says int, so a string is an upstream bug worth naming.
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


# A chapter's narration longer than a day is no estimate at all (inf, nan and 1e308 all
# come through a JSON reader).
MAX_NARRATION_SECONDS = 24 * 3600


def plausible(value: object, most: float) -> bool:
    """A number from 1 to `most`. nan fails both comparisons; bool is an int to Python,
    never a number here."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 1 <= value <= most


class Narration(_In):
    # The two numbers are lenient: only a storyboard clip's length reads them, and an
    # implausible one is replaced by counting the words (with a warning).
    text: str = Field(min_length=1)
    word_count: Any = None
    estimated_duration_seconds: Any = None


class Visual(_In):
    # Any string: a type imagegen does not know, the empty one included, skips its visual
    # with a warning (_check_document); upstream may add types before we draw them.
    type: str
    description: str = Field(min_length=1)
    image_prompt: str | None = None
    # An image the generated one should follow (style, characters, composition): a path
    # relative to the episode folder, inside the outputs root (checked when it is read).
    reference_image: str | None = Field(None, min_length=1, max_length=500)

    @field_validator("reference_image")
    @classmethod
    def _relative(cls, v: str | None) -> str | None:
        if v is not None and (v.startswith(("/", "\\")) or "\0" in v):
            raise ValueError(
                "must be a path relative to the episode folder, e.g. 'refs/harbour.png'"
            )
        return v


class Chapter(_In):
    chapter_id: str
    title: str = Field(min_length=1)
    order: Any = None
    narration: Narration
    visual: Visual | None = None
    visuals: list[Visual] | None = None
    overlays: Any = None
    transitions: Any = None
    notes: Any = None
    # Set on the copies `image_chapters` makes for a chapter's 2nd, 3rd... visual: the
    # chapter it belongs to and the visual's number. Never read from the input.
    _visual_of: tuple[str, int] | None = PrivateAttr(None)

    @field_validator("chapter_id")
    @classmethod
    def _safe_id(cls, v: str) -> str:
        if not SAFE_ID.match(v) or v in (".", ".."):
            raise ValueError(
                "must be a safe file name: letters, digits, '_', '-', '.' (not leading), "
                "at most 64 characters, e.g. 'ch01'"
            )
        return v

    @property
    def main_visual(self) -> Visual:
        if self.visual is not None:
            return self.visual
        assert self.visuals  # guaranteed by _check_chapter
        return self.visuals[0]

    @property
    def source_chapter_id(self) -> str:
        """The chapter this image belongs to (itself, unless it is a further visual)."""
        return self._visual_of[0] if self._visual_of else self.chapter_id

    @property
    def visual_number(self) -> int:
        """1 for a chapter's main visual, 2, 3, ... for the further ones."""
        return self._visual_of[1] if self._visual_of else 1


def image_chapters(chapters: list[Chapter]) -> list[Chapter]:
    """Every image an episode needs, each as a chapter with one visual: the chapter
    itself (its main visual: `visual`, else `visuals[0]`), then a copy for each further
    entry of `visuals`, named `<chapter_id>-v2`, `-v3`, ... so that its image, manifest
    entry, markers, candidates and prompt trace work as a chapter's do."""
    out: list[Chapter] = []
    for ch in chapters:
        out.append(ch)
        for number, visual in enumerate((ch.visuals or [])[1:], start=2):
            extra = ch.model_copy(
                update={
                    "chapter_id": layout.visual_id(ch.chapter_id, number),
                    "visual": visual,
                    "visuals": None,
                }
            )
            extra._visual_of = (ch.chapter_id, number)
            out.append(extra)
    return out


class ChaptersDoc(_In):
    schema_version: str
    episode_id: str = Field(min_length=1)
    title: str = Field(min_length=1)
    total_chapters: int = Field(ge=1)
    estimated_duration_seconds: Any = None
    chapters: list[Chapter] = Field(min_length=1)

    @field_validator("schema_version")
    @classmethod
    def _major_one(cls, v: str) -> str:
        m = _VERSION.match(v)
        if not m:
            raise ValueError("must look like '1.0' (MAJOR.MINOR)")
        if int(m.group(1)) != 1:  # "01.0" is major 1 too
            raise ValueError(
                f"major version {m.group(1)} is not supported; this imagegen reads schema 1.x "
                "(upgrade imagegen or have upstream write schema 1)"
            )
        return v


@dataclass
class Episode:
    """A validated chapters.json with the raw bytes' hash and any warnings."""

    path: Path
    doc: ChaptersDoc
    sha256: str
    warnings: list[str] = field(default_factory=list)

    @property
    def chapters(self) -> list[Chapter]:
        return self.doc.chapters

    @cached_property
    def image_chapters(self) -> list[Chapter]:
        """One per image: every chapter, then each further visual (see image_chapters)."""
        return image_chapters(self.doc.chapters)

    def with_their_visuals(self, chapter_ids: frozenset[str]) -> frozenset[str]:
        """The chapters named and the images of their further visuals (`--chapter`)."""
        return frozenset(
            c.chapter_id for c in self.image_chapters if c.source_chapter_id in chapter_ids
        )


def load_chapters(path: Path, *, max_bytes: int, episode_name: str | None = None) -> Episode:
    """Read and validate one chapters.json. Raises InputError naming file, chapter and field."""
    raw = read_regular_file(path, max_bytes=max_bytes, what=layout.CHAPTERS)
    return parse_chapters(raw, path, episode_name=episode_name)


def parse_chapters(raw: bytes, path: Path, *, episode_name: str | None = None) -> Episode:
    """Validate the bytes of a chapters.json read from `path` (named in every error)."""
    where = str(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(
            f"{where}: not valid UTF-8 (byte {e.start}: {raw[e.start : e.start + 4]!r}); "
            "upstream must write chapters.json as UTF-8"
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        data = parse_json(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"{where}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg} "
            "(truncated or still being written?)"
        ) from None
    except ValueError as e:  # nested too deeply, a giant number
        raise InputError(f"{where}: {e}; this cannot be a chapters document") from None
    if not isinstance(data, dict):
        raise InputError(f"{where}: top level must be a JSON object, got {type(data).__name__}")
    try:
        doc = ChaptersDoc.model_validate(data)
    except ValidationError as e:
        raise InputError(_explain(where, data, e)) from None
    warnings = _check_document(where, doc, episode_name)
    return Episode(path=path, doc=doc, sha256=hashlib.sha256(raw).hexdigest(), warnings=warnings)


def _check_document(where: str, doc: ChaptersDoc, episode_name: str | None) -> list[str]:
    errors: list[str] = []
    warnings: list[str] = []
    seen: dict[str, int] = {}
    ids = {ch.chapter_id.casefold(): i for i, ch in enumerate(doc.chapters)}
    for i, ch in enumerate(doc.chapters):
        label = f"chapters[{i}] (chapter_id {ch.chapter_id!r})"
        key = ch.chapter_id.casefold()
        if key in seen:
            errors.append(
                f"{label}: chapter_id duplicates chapters[{seen[key]}]; "
                "ids must be unique (case-insensitively, they name files)"
            )
        seen.setdefault(key, i)
        if ch.visual is None and not ch.visuals:
            errors.append(f"{label}: needs 'visual' (an object) or a non-empty 'visuals' list")
        visual = ch.visual or (ch.visuals[0] if ch.visuals else None)
        if visual is not None and visual.type not in KNOWN_TYPES:
            warnings.append(
                f"{label}: visual.type {visual.type!r} is unknown "
                f"(known: {', '.join(sorted(KNOWN_TYPES))}); chapter skipped"
            )
        for number, extra in enumerate((ch.visuals or [])[1:], start=2):
            image = layout.visual_id(ch.chapter_id, number)
            other = ids.get(image.casefold())
            if other is not None:
                errors.append(
                    f"{label}: visuals[{number - 1}] is drawn as {layout.IMAGES_DIR}/"
                    f"{layout.image_name(image)}, the image of chapters[{other}]; "
                    "rename that chapter_id"
                )
            if extra.type not in KNOWN_TYPES:
                warnings.append(
                    f"{label}: visuals[{number - 1}].type {extra.type!r} is unknown; "
                    "that visual is skipped"
                )
        estimate = ch.narration.estimated_duration_seconds
        if estimate is not None and not plausible(estimate, MAX_NARRATION_SECONDS):
            warnings.append(
                f"{label}: narration.estimated_duration_seconds {_short(estimate)} is not a "
                f"number of seconds from 1 to {MAX_NARRATION_SECONDS}; a storyboard clip's "
                "length is taken from the narration's words instead"
            )
        if ch.order is not None and ch.order != i + 1:
            warnings.append(f"{label}: order is {ch.order!r}, expected {i + 1}")
    if doc.total_chapters != len(doc.chapters):
        errors.append(
            f"total_chapters is {doc.total_chapters} but the document has "
            f"{len(doc.chapters)} chapters (truncated document?)"
        )
    if errors:
        raise InputError(f"{where}: " + "; ".join(errors))
    if episode_name is not None and doc.episode_id != episode_name:
        warnings.append(
            f"episode_id {doc.episode_id!r} differs from the folder name {episode_name!r}"
        )
    total = sum(
        c.narration.estimated_duration_seconds
        for c in doc.chapters
        if isinstance(c.narration.estimated_duration_seconds, int)
    )
    est = doc.estimated_duration_seconds
    if isinstance(est, int) and total and abs(total - est) > 5:
        warnings.append(f"estimated_duration_seconds {est} differs from the chapters' sum {total}")
    return warnings


def _explain(where: str, data: dict[str, Any], err: ValidationError) -> str:
    parts = []
    for item in err.errors()[:10]:
        loc = list(item["loc"])
        prefix = ""
        if len(loc) >= 2 and loc[0] == "chapters" and isinstance(loc[1], int):
            idx = loc[1]
            chapters = data.get("chapters")
            cid = None
            if isinstance(chapters, list) and idx < len(chapters):
                entry = chapters[idx]
                cid = entry.get("chapter_id") if isinstance(entry, dict) else None
            prefix = f"chapters[{idx}]" + (f" (chapter_id {cid!r})" if isinstance(cid, str) else "")
            loc = loc[2:]
        field_name = ".".join(str(p) for p in loc)
        msg = item["msg"].removeprefix("Value error, ")
        if item["type"] != "missing":
            msg += f" (got {_short(item.get('input'))})"
        parts.append(f"{prefix + ': ' if prefix else ''}{field_name or '(document)'}: {msg}")
    more = len(err.errors()) - 10
    tail = f"; and {more} more" if more > 0 else ""
    return f"{where}: " + "; ".join(parts) + tail


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
