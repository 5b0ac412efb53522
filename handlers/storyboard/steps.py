"""The storyboard's steps as a dependency graph of hashes, and the one question a run
asks before it loads anything heavy: is there storyboard work to do?

    sheet  = hash(planner, episode title, every chapter's title, visuals, narration)
    shot   = hash(planner, the chapter's title, visuals, narration, duration,
                  the sheet's components in that chapter: kind, id, name, description)
    start  = hash(the start prompt with those descriptions, visual type, image settings,
                  scene and camera move, reference image)
    end    = hash(the same for the end prompt, and the start frame's sha256)

A step depends on what its inputs are, not on when they were made: a sheet made again
that says the same about a chapter leaves that chapter's shot, and its frames, alone."""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from handlers.episode import layout
from handlers.episode.chapters import Chapter, Episode
from handlers.episode.routing import route_of
from handlers.files.dirs import Dir
from handlers.hashing import sha256_bytes, sha256_json
from handlers.outputs.manifest import ManifestEntry
from handlers.outputs.markers import Marker
from handlers.providers.base import Shot
from handlers.storyboard.frames import FrameSpec, Moment, frame_chapter, scene_of
from handlers.storyboard.model import Clip, Component, Components, Storyboard
from handlers.storyboard.shots import duration_seconds, frame_prompt, shown

SHEET_STEP = "components/1"
SHOT_STEP = "shot/1"
MAX_FRAME_BYTES = 200_000_000


def sheet_hash(planner: dict[str, Any], title: str, chapters: list[Chapter]) -> str:
    return sha256_json(
        {
            "step": SHEET_STEP,
            **planner,
            "episode_title": title,
            "chapters": [
                {
                    "chapter_id": ch.chapter_id,
                    "title": ch.title,
                    "visuals": [[v.type, v.description] for v in (ch.visuals or [ch.main_visual])],
                    "narration": ch.narration.text,
                }
                for ch in chapters
            ],
        }
    )


def shot_hash(
    planner: dict[str, Any], chapter: Chapter, components: list[tuple[str, Component]]
) -> str:
    return sha256_json(
        {
            "step": SHOT_STEP,
            **planner,
            "chapter_id": chapter.chapter_id,
            "title": chapter.title,
            "visuals": [
                [v.type, v.description, v.image_prompt]
                for v in (chapter.visuals or [chapter.main_visual])
            ],
            "narration": chapter.narration.text,
            "duration": duration_seconds(chapter),
            "components": [[kind, c.id, c.name, c.description] for kind, c in components],
        }
    )


@dataclass(frozen=True)
class FrameRules:
    """What every frame of a run is made with: the house style and, per visual type,
    the hash of the settings that make it (the image chain's first link, or the
    templates')."""

    style_prefix: str
    settings_hash: Callable[[str], str]

    def spec(
        self,
        chapter: Chapter,
        clip: Clip,
        sheet: Components,
        moment: Moment,
        start_sha256: str | None = None,
        look: int | None = None,
    ) -> FrameSpec:
        plan = clip.shot()
        assert plan is not None
        text = plan.start_prompt if moment == "start" else plan.end_prompt
        prompt = frame_prompt(self.style_prefix, text, shown(plan, sheet))
        framed = frame_chapter(chapter, moment, text)
        return FrameSpec(
            chapter=framed,
            moment=moment,
            prompt=prompt,
            settings_hash=self.settings_hash(framed.main_visual.type),
            shot=Shot(scene_of(chapter), plan.camera_movement, moment, look),
            start_sha256=start_sha256,
        )


def frame_problem(folder: Dir | None, entry: ManifestEntry | None, input_hash: str) -> str | None:
    """None when the recorded frame is current: made for this very input, ok, and its
    file present and intact (size and mtime as recorded, else its checksum)."""
    if entry is None:
        return "not made yet"
    if not entry.ok:
        return f"previous attempt {entry.status}"
    if entry.chapter_hash != input_hash:
        return "its inputs changed"
    name = (entry.file or "").rsplit("/", 1)[-1]
    st = folder.stat(name) if folder is not None and name else None
    if folder is None or st is None or not stat.S_ISREG(st.st_mode):
        return "frame missing"
    if entry.bytes is not None and st.st_size != entry.bytes:
        return "frame modified (size differs)"
    if entry.mtime_ns is not None and st.st_mtime_ns == entry.mtime_ns:
        return None
    try:
        data = folder.read_bytes(name, max_bytes=MAX_FRAME_BYTES, what="frame")
    except (OSError, ValueError):
        return "frame unreadable"
    if entry.sha256 is None or sha256_bytes(data) != entry.sha256:
        return "frame modified (checksum differs)"
    return None


@dataclass
class ClipWork:
    """One chapter's clip as a run finds it."""

    chapter: Chapter
    clip_number: int
    previous: Clip | None
    # Redone whatever its hashes say (a marker, --force, --chapter), and why.
    forced: str | None = None
    marker: Marker | None = None
    # False: another chapter was named with --chapter; this clip stays as it is.
    selected: bool = True
    # The identity of the marker that forces it (marker_token): steps already redone
    # for that very marker are not redone again after a kill.
    token: str | None = None


@dataclass
class BoardPlan:
    """What a run knows of the storyboard before any step: the last one written, each
    clip, what is forced, and the markers to consume once their work is done."""

    previous: Storyboard | None
    clips: list[ClipWork]
    planner: dict[str, Any]
    sheet_hash: str
    sheet_forced: str | None = None
    all_marker: Marker | None = None
    warnings: list[str] = field(default_factory=list)

    def pending(
        self,
        episode: Episode,
        rules: FrameRules,
        clip_folder: Callable[[str], Dir | None],
    ) -> str | None:
        """Why the storyboard needs work, or None when every step is current and its
        file says so (then a run writes nothing)."""
        board = self.previous
        if board is None:
            return "no storyboard yet"
        if self.sheet_forced or any(c.forced for c in self.clips):
            return self.sheet_forced or next(c.forced for c in self.clips if c.forced)
        if board.state != "complete":
            return "the last run was stopped"
        if board.chapters_sha256 != episode.sha256:
            return f"{layout.CHAPTERS} changed"
        sheet = board.components
        if sheet is None or sheet.made.input_hash != self.sheet_hash:
            return "component sheet out of date"
        if [c.chapter_id for c in board.clips] != [
            w.chapter.chapter_id for w in self.clips
        ] and all(w.selected for w in self.clips):
            return "chapters added, removed or moved"
        for work in self.clips:
            if not work.selected:
                continue
            problem = clip_problem(work, sheet, self.planner, rules, clip_folder)
            if problem is not None:
                return f"clip {work.clip_number} ({work.chapter.chapter_id}): {problem}"
        return None


def clip_problem(
    work: ClipWork,
    sheet: Components,
    planner: dict[str, Any],
    rules: FrameRules,
    clip_folder: Callable[[str], Dir | None],
) -> str | None:
    """Why one clip needs work, or None when its plan and both frames are current."""
    clip = work.previous
    if route_of(work.chapter) == "skip":  # an unknown visual type: no clip, as no image
        return None if clip is not None and clip.status == "skipped" else "not recorded"
    if clip is None or clip.plan is None or clip.shot() is None:
        return "no shot plan"
    if clip.clip_number != work.clip_number:
        return "clip number changed"
    components = sheet.of_chapter(work.chapter.chapter_id)
    if clip.plan.input_hash != shot_hash(planner, work.chapter, components):
        return "shot plan out of date"
    folder = clip_folder(work.chapter.chapter_id)
    start = rules.spec(work.chapter, clip, sheet, "start")
    problem = frame_problem(folder, clip.start, start.input_hash())
    if problem is not None:
        return f"start frame: {problem}"
    assert clip.start is not None
    end = rules.spec(work.chapter, clip, sheet, "end", clip.start.sha256)
    problem = frame_problem(folder, clip.end, end.input_hash())
    return None if problem is None else f"end frame: {problem}"
