"""Shots: the camera vocabulary every planner answers in, a clip's duration from its
narration, the template planner's shot for a chapter, and the frame prompts, which carry
the component sheet's descriptions word for word (that is what keeps a character, place
or prop the same from clip to clip, whoever planned the shot)."""

from __future__ import annotations

import re

from handlers.episode.chapters import MAX_NARRATION_SECONDS, Chapter, plausible
from handlers.hashing import sha256_bytes
from handlers.storyboard.model import Component, Components, ShotPlan

# Camera moves: what the start frame shows, what the end frame shows, the move itself.
CAMERA: dict[str, tuple[str, str, str]] = {
    "push in": (
        "the whole scene in view, its main subject small in the centre",
        "after the camera has pushed in, the main subject fills the centre of the frame",
        "the camera pushes in slowly towards the main subject",
    ),
    "pull out": (
        "close on the main subject in the centre of the scene",
        "after the camera has pulled out, the whole scene around the subject is in view",
        "the camera pulls out slowly to reveal the whole scene",
    ),
    "pan left": (
        "framed on the right-hand part of the scene",
        "after the camera has panned left, the left-hand part of the scene is in frame",
        "the camera pans left across the scene",
    ),
    "pan right": (
        "framed on the left-hand part of the scene",
        "after the camera has panned right, the right-hand part of the scene is in frame",
        "the camera pans right across the scene",
    ),
    "tilt up": (
        "framed low, on the ground and the lower half of the scene",
        "after the camera has tilted up, the upper half of the scene and the sky are in frame",
        "the camera tilts up from the ground to the top of the scene",
    ),
    "tilt down": (
        "framed high, on the top of the scene",
        "after the camera has tilted down, the lower half of the scene is in frame",
        "the camera tilts down from the top of the scene to the ground",
    ),
    "truck left": (
        "seen from the right-hand side of the scene",
        "after the camera has travelled left, the scene is seen from its left-hand side",
        "the camera travels sideways to the left, parallel to the scene",
    ),
    "truck right": (
        "seen from the left-hand side of the scene",
        "after the camera has travelled right, the scene is seen from its right-hand side",
        "the camera travels sideways to the right, parallel to the scene",
    ),
    "crane up": (
        "at eye level, low within the scene",
        "after the camera has risen, the scene is seen from above and wider",
        "the camera cranes up and back over the scene",
    ),
    "crane down": (
        "seen from above, the whole scene laid out",
        "after the camera has come down, the scene is seen at eye level, closer",
        "the camera cranes down into the scene",
    ),
    "static": (
        "a locked-off frame of the scene",
        "the same locked-off frame, the action moved on",
        "the camera holds still while the action plays out",
    ),
}
CAMERA_MOVES = tuple(CAMERA)
SHOT_SIZES = (
    "extreme wide",
    "wide",
    "medium wide",
    "medium",
    "medium close-up",
    "close-up",
    "extreme close-up",
)
LENS = re.compile(r"^\d{2,3}mm$")

# The template planner's choices: a move and a size per visual type.
_MOVES_BY_TYPE: dict[str, tuple[str, ...]] = {
    "b_roll": ("pan right", "push in", "truck left", "crane up", "pull out", "tilt up"),
    "diagram": ("push in", "pan right", "tilt down"),
    "screen_share": ("push in", "tilt down"),
    "talking_head": ("push in",),
    "title_card": ("pull out",),
}
_SIZE_BY_TYPE = {
    "b_roll": "wide",
    "diagram": "medium",
    "screen_share": "close-up",
    "talking_head": "medium",
    "title_card": "wide",
}
_LENS_BY_SIZE = {
    "extreme wide": "18mm",
    "wide": "24mm",
    "medium wide": "28mm",
    "medium": "35mm",
    "medium close-up": "50mm",
    "close-up": "85mm",
    "extreme close-up": "100mm",
}
WORDS_PER_MINUTE = 150


def duration_seconds(chapter: Chapter) -> float:
    """The clip lasts as long as its narration: the chapter's own estimate, else its
    word count (or its words) at 150 a minute; to the half second, at least one."""
    narration = chapter.narration
    estimate = narration.estimated_duration_seconds
    if plausible(estimate, MAX_NARRATION_SECONDS):
        seconds = float(estimate)
    else:
        count = narration.word_count
        most = MAX_NARRATION_SECONDS * WORDS_PER_MINUTE / 60
        if not (isinstance(count, int) and plausible(count, most)):
            count = len(narration.text.split())
        seconds = count * 60 / WORDS_PER_MINUTE
    return max(1.0, round(seconds * 2) / 2)


def template_shot(chapter: Chapter, components: list[Component]) -> ShotPlan:
    """A shot from the chapter's own words: a camera move by visual type (varied by
    chapter_id, not by position: a chapter added before it changes nothing), framed at
    the start and the end of the move."""
    visual = chapter.main_visual
    moves = _MOVES_BY_TYPE.get(visual.type, ("push in",))
    move = moves[int(sha256_bytes(chapter.chapter_id.encode())[:8], 16) % len(moves)]
    size = _SIZE_BY_TYPE.get(visual.type, "medium")
    lens = _LENS_BY_SIZE[size]
    start, end, motion = CAMERA[move]
    subject = " ".join(visual.description.split()).rstrip(".")
    seconds = duration_seconds(chapter)
    return ShotPlan(
        start_prompt=f"{size.capitalize()} shot, {lens} lens: {subject}. Opening frame, {start}.",
        end_prompt=f"{size.capitalize()} shot, {lens} lens: {subject}. Closing frame, {end}.",
        motion_description=f"{motion.capitalize()} over {seconds:g} seconds, while: {subject}.",
        camera_movement=move,
        shot_size=size,
        lens=lens,
        components=[c.id for c in components],
    )


def frame_prompt(style_prefix: str, shot_text: str, components: list[Component]) -> str:
    """What a frame is asked with: the house style, the shot's own prompt, and each
    component it shows with its description from the sheet, word for word."""
    text = style_prefix + " ".join(shot_text.split())
    if components:
        cast = "; ".join(f"{c.name}: {c.description}" for c in components)
        text += f" Drawn exactly as in every other shot of this episode: {cast}."
    return text


def shown(plan: ShotPlan, sheet: Components) -> list[Component]:
    """The sheet's components the shot names, in the sheet's order (an id the sheet does
    not have is dropped: a planner's slip must not reach a prompt)."""
    wanted = set(plan.components)
    return [c for _, c in sheet.all() if c.id in wanted]
