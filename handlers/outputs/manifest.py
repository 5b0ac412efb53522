"""images/manifest.json: one entry per chapter, rewritten atomically after each chapter."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

from handlers.episode import layout
from handlers.errors import ImagegenError
from handlers.files.dirs import Dir

MANIFEST_SCHEMA = "imagegen.manifest/1"

# "fallback": an offline stand-in drawn because every paid provider of the chapter's
# chain failed; like "failed", it is tried again (the daemon's pre-check and the plan).
Status = Literal[
    "generated",
    "template",
    "failed",
    "failed_checks",
    "rejected",
    "skipped_cost_cap",
    "skipped",
    "fallback",
]
OK_STATUSES: frozenset[str] = frozenset({"generated", "template"})
# Statuses worth another run unasked: the provider may be back (the daemon retries them).
RETRY_STATUSES: frozenset[str] = frozenset({"failed", "fallback"})
MAX_MANIFEST_BYTES = layout.MAX_MANIFEST_BYTES
IMAGE_MIME = "image/png"


class Check(BaseModel):
    """One deterministic check of a candidate: what was measured, the limit, the verdict."""

    model_config = ConfigDict(extra="ignore")

    name: str
    passed: bool
    value: float | str | None = None
    limit: str | None = None
    detail: str = ""


class ProviderAttempt(BaseModel):
    """One link of the provider chain tried for an image: ok, rejected (its safety
    system), auth_failed (key refused: the provider is off for the run), unusable (no
    such model), failed (outage after retries), skipped (off already, or its provider
    rejected this prompt), cost_cap (its price did not fit)."""

    model_config = ConfigDict(extra="ignore")

    provider: str
    model: str
    outcome: str
    error: str | None = None


class Candidate(BaseModel):
    """One image made for a chapter, kept for review and re-ranking."""

    model_config = ConfigDict(extra="ignore")

    id: str
    file: str | None = None  # relative to images/
    sha256: str | None = None
    bytes: int | None = None
    provider: str | None = None
    model: str | None = None
    generation_method: str | None = None
    revised_prompt: str | None = None
    native_width: int | None = None
    native_height: int | None = None
    cost_usd: float = 0.0
    # Every link of the chain tried for this image, in order, and the reference images
    # (relative to the episode) the serving provider was sent.
    provider_attempts: list[ProviderAttempt] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    # The offline renderer's stand-in after every paid provider failed.
    stand_in: bool = False
    judge_cost_usd: float = 0.0
    judge_usage: dict[str, int] = Field(default_factory=dict)
    checks: list[Check] = Field(default_factory=list)
    passed: bool = True
    text_found: str | None = None
    checks_score: float = 0.0
    scores: dict[str, int] | None = None
    judge_score: float | None = None
    judge_model: str | None = None
    rationale: str | None = None
    total: float = 0.0
    note: str | None = None

    def failures(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]


class Selection(BaseModel):
    model_config = ConfigDict(extra="ignore")

    method: Literal["judge", "checks", "manual"]
    why: str


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="ignore")

    chapter_id: str
    order: int
    title: str
    visual_type: str
    status: Status
    # A chapter's 2nd, 3rd... visual (`visuals[1:]`) has an entry of its own, with the
    # id `<chapter_id>-v2`...: these name its chapter and the visual's number; null for
    # a chapter's main visual.
    source_chapter_id: str | None = None
    visual_number: int | None = None
    generation_method: str | None = None
    provider: str | None = None
    model: str | None = None
    prompt: str | None = None
    prompt_source: str | None = None
    # The writer + critic trace of the prompt (relative to images/) and its outcome.
    prompt_trace: str | None = None
    prompt_refinement: dict[str, Any] | None = None
    revised_prompt: str | None = None
    file: str | None = None
    width: int | None = None
    height: int | None = None
    native_width: int | None = None
    native_height: int | None = None
    bytes: int | None = None
    sha256: str | None = None
    mtime_ns: int | None = None
    cost_usd: float = 0.0
    image_cost_usd: float = 0.0
    prompt_cost_usd: float = 0.0
    judge_cost_usd: float = 0.0
    usage: dict[str, Any] = Field(default_factory=dict)
    attempts: int = 0
    chapter_hash: str
    template_hash: str | None = None
    settings_hash: str
    generated_at: str | None = None
    error: str | None = None
    # The chain's trail for the chapter's image (the selected candidate's, or the call
    # that failed) and the reference images that were sent with it.
    provider_attempts: list[ProviderAttempt] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    # Templates get their checks here; generated chapters per candidate.
    checks: list[Check] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)
    selected: str | None = None
    selection: Selection | None = None

    def candidate(self, candidate_id: str) -> Candidate | None:
        for c in self.candidates:
            if c.id == candidate_id:
                return c
        return None

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES


class ImageRecord(BaseModel):
    """One chapter's image as peer tools of the upstream pipeline read it (their
    media-asset shape); derived from the chapter's entry, never read back."""

    chapter_id: str
    chapter_title: str
    visual_type: str
    file_path: str | None  # relative to the episode; None while the chapter has no image
    generation_method: str | None
    mime_type: str
    size_bytes: int | None
    metadata: dict[str, Any]

    @classmethod
    def of(cls, entry: ManifestEntry) -> ImageRecord:
        chosen = entry.candidate(entry.selected) if entry.selected else None
        metadata: dict[str, Any] = {
            "status": entry.status,
            "prompt": entry.prompt,
            "model": entry.model,
            "provider": entry.provider,
            "cost_usd": entry.cost_usd,
            "sha256": entry.sha256,
            "width": entry.width,
            "height": entry.height,
            "candidates": {
                "count": len(entry.candidates),
                "passed": sum(1 for c in entry.candidates if c.passed),
                "selected": entry.selected,
                "method": entry.selection.method if entry.selection else None,
                "why": entry.selection.why if entry.selection else None,
                "score": chosen.total if chosen else None,
            },
        }
        if entry.error:
            metadata["error"] = entry.error
        return cls(
            chapter_id=entry.chapter_id,
            chapter_title=entry.title,
            visual_type=entry.visual_type,
            file_path=f"{layout.IMAGES_DIR}/{entry.file}" if entry.file else None,
            generation_method=entry.generation_method,
            mime_type=IMAGE_MIME,
            size_bytes=entry.bytes,
            metadata=metadata,
        )


class Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    schema_: str = Field(MANIFEST_SCHEMA, alias="schema")
    episode_id: str
    chapters_sha256: str
    frame: dict[str, int]
    # Everything imagegen ever spent on this episode, updated with each chapter, so a
    # crash loses no record of money spent and the cost cap counts it.
    cumulative_cost_usd: float = 0.0
    updated_at: str | None = None
    chapters: list[ManifestEntry] = Field(default_factory=list)

    def entry(self, chapter_id: str) -> ManifestEntry | None:
        for e in self.chapters:
            if e.chapter_id == chapter_id:
                return e
        return None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def images(self) -> list[ImageRecord]:
        """`chapters` again in the shape peer tools read, in chapter order."""
        return [ImageRecord.of(e) for e in self.chapters]

    def content(self) -> dict[str, Any]:
        """The manifest without its timestamp: equal content means nothing to write."""
        data = self.to_json()
        data.pop("updated_at", None)
        return data

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def read_manifest(images: Dir | None, warnings: list[str]) -> Manifest | None:
    """The previous manifest in `images`, or None. A damaged one is a warning: the
    PNGs' own metadata still lets the planner reuse their images instead of paying
    again."""
    if images is None or images.stat(layout.MANIFEST) is None:
        return None
    path = images.path / layout.MANIFEST
    try:
        data = images.read_json(layout.MANIFEST, max_bytes=MAX_MANIFEST_BYTES, what="manifest")
    except (ImagegenError, OSError) as e:
        warnings.append(f"cannot read the previous manifest: {e}")
        return None
    except ValueError as e:
        warnings.append(f"{path}: previous manifest is damaged ({e}); rebuilding it")
        return None
    try:
        return Manifest.model_validate(data)
    except ValidationError as e:
        first = str(e).splitlines()[0]
        warnings.append(f"{path}: previous manifest is damaged ({first}); rebuilding it")
        return None


def write_manifest(images: Dir, manifest: Manifest) -> str:
    """Write atomically; return the sha256 of what was written (provenance records it)."""
    return images.write_json(layout.MANIFEST, manifest.to_json())
