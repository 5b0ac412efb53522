"""storyboard/storyboard.json: the component sheet and every clip, each step with the
hash of its inputs. Paths in it are relative to the episode folder. Rewritten
atomically after every step, so a kill loses at most the step in flight.

Each frame's record is a manifest entry (handlers/outputs/manifest.py: status, prompt,
provider, model, candidates with their checks and scores, selection and why, cost,
sha256), so a reader of the manifest reads frames the same way; its `chapter_hash` is
the frame's input hash and `file` the frame's path from the episode folder."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.episode import layout
from handlers.errors import ImagegenError
from handlers.files.dirs import Dir
from handlers.outputs.manifest import ManifestEntry, Status

SCHEMA = "imagegen.storyboard/1"

# "planned": the clip's steps are not all done yet (a run is at it, or was stopped).
ClipStatus = Literal["planned", Status]
# Clips worth another run unasked (as manifest.RETRY_STATUSES; the daemon's pre-check,
# handlers/outputs/current.py, reads the same set), and clips that are done.
RETRY_CLIP_STATUSES = frozenset({"failed", "fallback", "planned"})
DONE_CLIP_STATUSES = frozenset({"generated", "template"})
# The state of the whole storyboard: "in_progress" from the first step of a run until
# its last; a storyboard left so was stopped, and the daemon finishes it.
State = Literal["in_progress", "complete"]


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore")


class Component(_Record):
    """One character, location or prop, drawn the same in every clip that shows it."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,47}$")
    name: str = Field(min_length=1, max_length=80)
    description: str = Field(min_length=1, max_length=400)
    # The chapters it appears in.
    chapters: list[str] = Field(default_factory=list)


class Components(_Record):
    """The sheet's content, as a planner answers it."""

    characters: list[Component] = Field(default_factory=list, max_length=20)
    locations: list[Component] = Field(default_factory=list, max_length=20)
    props: list[Component] = Field(default_factory=list, max_length=30)

    def all(self) -> list[tuple[str, Component]]:
        """(kind, component) for every one: "character", "location", "prop"."""
        return [
            *(("character", c) for c in self.characters),
            *(("location", c) for c in self.locations),
            *(("prop", c) for c in self.props),
        ]

    def by_id(self) -> dict[str, Component]:
        return {c.id: c for _, c in self.all()}

    def of_chapter(self, chapter_id: str) -> list[tuple[str, Component]]:
        return [(kind, c) for kind, c in self.all() if chapter_id in c.chapters]


class Made(_Record):
    """Who made a step's result, from which inputs, at what cost."""

    input_hash: str
    planner: str
    model: str | None = None
    cost_usd: float = 0.0
    usage: dict[str, int] = Field(default_factory=dict)
    made_at: str | None = None


class ComponentSheet(Components):
    made: Made


class ShotPlan(_Record):
    """One clip's shot, as a planner answers it (the duration is the narration's)."""

    start_prompt: str = Field(min_length=1, max_length=1200)
    end_prompt: str = Field(min_length=1, max_length=1200)
    motion_description: str = Field(min_length=1, max_length=600)
    camera_movement: str = Field(min_length=1, max_length=40)
    shot_size: str = Field(min_length=1, max_length=40)
    lens: str = Field(min_length=1, max_length=40)
    components: list[str] = Field(default_factory=list)


class Prompts(_Record):
    start: str | None = None
    end: str | None = None


class Clip(_Record):
    clip_number: int
    chapter_id: str
    title: str
    visual_type: str
    status: ClipStatus = "planned"
    start_frame_path: str | None = None
    end_frame_path: str | None = None
    # The shot plan (None until it is made): what the planner wrote, and the duration,
    # which is the narration's.
    start_prompt: str | None = None
    end_prompt: str | None = None
    motion_description: str | None = None
    camera_movement: str | None = None
    shot_size: str | None = None
    lens: str | None = None
    duration_seconds: float | None = None
    components: list[str] = Field(default_factory=list)
    plan: Made | None = None
    # The full prompts each frame is asked with: the house style, the shot's prompt and
    # the descriptions of the components in it.
    prompts: Prompts = Field(default_factory=Prompts)
    start: ManifestEntry | None = None
    end: ManifestEntry | None = None
    cost_usd: float = 0.0
    error: str | None = None

    def frame(self, moment: str) -> ManifestEntry | None:
        return self.start if moment == "start" else self.end

    def shot(self) -> ShotPlan | None:
        """The shot plan as it was made, or None before."""
        if self.plan is None or self.start_prompt is None or self.end_prompt is None:
            return None
        return ShotPlan.model_construct(
            start_prompt=self.start_prompt,
            end_prompt=self.end_prompt,
            motion_description=self.motion_description or "",
            camera_movement=self.camera_movement or "",
            shot_size=self.shot_size or "",
            lens=self.lens or "",
            components=list(self.components),
        )


class Storyboard(_Record):
    schema_: str = Field(SCHEMA, alias="schema")
    episode_id: str
    chapters_sha256: str
    frame: dict[str, int]
    state: State = "in_progress"
    # imagegen's spend on the episode when this was written (as the manifest's): a run
    # killed after paying for a frame still counts it against the cap next time.
    cumulative_cost_usd: float = 0.0
    # What the storyboard's steps cost, all clips and the sheet, as they stand.
    cost_usd: float = 0.0
    updated_at: str | None = None
    components: ComponentSheet | None = None
    clips: list[Clip] = Field(default_factory=list)
    # Steps redone for a marker that is still there ("sheet", "ch03/plan", "ch03/start",
    # "ch03/end" -> the marker's identity): a run killed halfway through a marker's
    # request goes on from there instead of paying for those steps again.
    redone: dict[str, str] = Field(default_factory=dict)

    def clip(self, chapter_id: str) -> Clip | None:
        for c in self.clips:
            if c.chapter_id == chapter_id:
                return c
        return None

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def content(self) -> dict[str, Any]:
        """Without its timestamp: equal content means nothing to write."""
        data = self.to_json()
        data.pop("updated_at", None)
        return data


def read_storyboard(folder: Dir | None, warnings: list[str]) -> Storyboard | None:
    """storyboard.json in `folder`, or None (none yet, or damaged: a warning; the frames'
    candidates on disk still spare paying for them again)."""
    if folder is None or folder.stat(layout.STORYBOARD) is None:
        return None
    path = folder.path / layout.STORYBOARD
    try:
        data = folder.read_json(
            layout.STORYBOARD, max_bytes=layout.MAX_STORYBOARD_BYTES, what="storyboard"
        )
        return Storyboard.model_validate(data)
    except (ImagegenError, OSError) as e:
        warnings.append(f"cannot read the storyboard: {e}")
    except ValueError as e:  # JSONDecodeError and ValidationError alike
        first = str(e).splitlines()[0] if isinstance(e, ValidationError) else str(e)
        warnings.append(f"{path}: damaged ({first}); it is rebuilt")
    return None


def write_storyboard(folder: Dir, board: Storyboard) -> str:
    """Write atomically; return the sha256 of what was written (provenance records it)."""
    return folder.write_json(layout.STORYBOARD, board.to_json())
