"""What one storyboard frame asks for, and the hash of it: the frame is made again
exactly when this changes (or when it is asked for: a marker, --force)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from handlers.episode.chapters import Chapter, Visual
from handlers.episode.routing import route_of
from handlers.hashing import sha256_json
from handlers.outputs.entries import Fingerprint
from handlers.providers.base import Shot

FRAME_STEP = "frame/1"
Moment = Literal["start", "end"]


@dataclass(frozen=True)
class FrameSpec:
    """One frame of one clip. `chapter` is the chapter as the image pipeline sees the
    frame: its id and title, and a visual whose description is the frame's own shot
    (what checks read and the judge compares the image with)."""

    chapter: Chapter
    moment: Moment
    prompt: str
    settings_hash: str
    shot: Shot
    # The end frame follows its start frame: the start frame's file (sha256).
    start_sha256: str | None = None

    @property
    def route(self) -> str:
        return route_of(self.chapter)

    @property
    def chapter_id(self) -> str:
        return self.chapter.chapter_id

    def input_hash(self) -> str:
        visual = self.chapter.main_visual
        return sha256_json(
            {
                "step": FRAME_STEP,
                "moment": self.moment,
                "visual_type": visual.type,
                "prompt": self.prompt,
                "settings": self.settings_hash,
                "scene": self.shot.scene,
                "camera": self.shot.camera_movement,
                "reference_image": visual.reference_image,
                "start": self.start_sha256,
            }
        )

    def fingerprint(self) -> Fingerprint:
        """As a chapter's: its candidates are recovered after a kill only when they were
        made for this very frame."""
        return Fingerprint(chapter=self.input_hash(), template=None, settings=self.settings_hash)


def frame_chapter(chapter: Chapter, moment: Moment, shot_text: str) -> Chapter:
    """The chapter with the frame's shot as its one visual."""
    visual = chapter.main_visual
    own = Visual(
        type=visual.type,
        description=f"{moment.capitalize()} frame of the clip: {' '.join(shot_text.split())}",
        image_prompt=None,
        reference_image=visual.reference_image,
    )
    return chapter.model_copy(update={"visual": own, "visuals": None})


def scene_of(chapter: Chapter) -> str:
    """What both frames of a clip show, for a renderer without a model: the same text
    for the start and the end frame, so both draw one scene."""
    return f"{chapter.title}\n{chapter.main_visual.description}"
