"""The storyboard as the gallery shows it: per clip, its start and end frames side by
side with the motion and camera move between them. Read leniently from
storyboard/storyboard.json (a damaged or missing one shows no strip: the page still
shows the chapters), and only through folder handles."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from typing import Any

from handlers.episode import layout
from handlers.episode.dirs import EpisodeDirs
from handlers.errors import ImagegenError
from handlers.files.dirs import Dir


@dataclass
class Frame:
    moment: str  # "start" | "end"
    folder: Dir  # storyboard/<chapter_id>/
    name: str  # start.png
    sha256: str | None
    status: str

    @property
    def file(self) -> str:
        """Relative to images/, where the gallery page is."""
        return f"../{layout.STORYBOARD_DIR}/{self.folder.name}/{self.name}"


@dataclass
class Clip:
    number: int
    chapter_id: str
    status: str
    motion: str
    camera: str
    shot: str
    duration_seconds: float | None
    frames: list[Frame]


def read_strip(dirs: EpisodeDirs) -> dict[str, Clip]:
    """chapter_id -> its clip, for every clip whose frames are on disk."""
    board = dirs.episode.find_dir(layout.STORYBOARD_DIR)
    if board is None:
        return {}
    try:
        doc = board.read_json(
            layout.STORYBOARD, max_bytes=layout.MAX_STORYBOARD_BYTES, what="storyboard"
        )
    except (ImagegenError, OSError, ValueError):
        return {}
    clips = doc.get("clips") if isinstance(doc, dict) else None
    found: dict[str, Clip] = {}
    for raw in clips if isinstance(clips, list) else []:
        clip = _clip(board, raw)
        if clip is not None:
            found[clip.chapter_id] = clip
    return found


def _clip(board: Dir, raw: Any) -> Clip | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("chapter_id"), str):
        return None
    chapter_id = raw["chapter_id"]
    folder = board.find_dir(chapter_id)
    if folder is None:
        return None
    frames = []
    for moment in layout.FRAME_MOMENTS:
        name = layout.frame_name(moment)
        st = folder.stat(name)
        if st is None or not stat.S_ISREG(st.st_mode):
            continue
        entry = raw.get(moment)
        if not isinstance(entry, dict):
            entry = {}
        sha = _str(entry.get("sha256")) or None
        frames.append(Frame(moment, folder, name, sha, _str(entry.get("status"))))
    if not frames:
        return None
    duration = raw.get("duration_seconds")
    shot = " · ".join(s for s in (_str(raw.get("shot_size")), _str(raw.get("lens"))) if s)
    return Clip(
        number=raw["clip_number"] if isinstance(raw.get("clip_number"), int) else 0,
        chapter_id=chapter_id,
        status=_str(raw.get("status")),
        motion=_str(raw.get("motion_description")),
        camera=_str(raw.get("camera_movement")),
        shot=shot,
        duration_seconds=float(duration) if isinstance(duration, int | float) else None,
        frames=frames,
    )


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""
