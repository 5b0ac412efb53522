"""Where an episode's files live, and the confinement rule: nothing outside the root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from handlers.episode import layout
from handlers.errors import ConfinementError, InputError


@dataclass(frozen=True)
class EpisodePaths:
    """The fixed layout of one episode directory (names from `layout`)."""

    root: Path
    dir: Path

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def chapters(self) -> Path:
        return self.dir / layout.CHAPTERS

    @property
    def chapters_stale(self) -> Path:
        return self.dir / layout.CHAPTERS_STALE

    @property
    def images(self) -> Path:
        return self.dir / layout.IMAGES_DIR

    @property
    def manifest(self) -> Path:
        return self.images / layout.MANIFEST

    @property
    def manifest_stale(self) -> Path:
        return self.images / layout.MANIFEST_STALE

    @property
    def request(self) -> Path:
        return self.images / layout.REQUEST

    @property
    def retry_request(self) -> Path:
        return self.images / layout.RETRY_REQUEST

    def image(self, chapter_id: str) -> Path:
        return self.images / layout.image_name(chapter_id)

    def image_stale(self, chapter_id: str) -> Path:
        return self.images / layout.image_stale_name(chapter_id)

    def candidates(self, chapter_id: str) -> Path:
        return self.images / layout.CANDIDATES_DIR / chapter_id

    def prompt_trace(self, chapter_id: str) -> Path:
        return self.images / layout.PROMPTS_DIR / chapter_id

    def select_request(self, chapter_id: str) -> Path:
        return self.images / layout.select_name(chapter_id)

    @property
    def gallery(self) -> Path:
        return self.images / layout.GALLERY

    @property
    def thumbs(self) -> Path:
        return self.images / layout.THUMBS_DIR

    @property
    def storyboard_dir(self) -> Path:
        return self.dir / layout.STORYBOARD_DIR

    @property
    def relative(self) -> str:
        """The episode's path under the outputs root ("ep001", "show/ep001"): its name
        in the media database and in the review pages' addresses."""
        return self.dir.relative_to(self.root).as_posix()

    @property
    def provenance_dir(self) -> Path:
        return self.dir / layout.PROVENANCE_DIR

    @property
    def provenance(self) -> Path:
        return self.provenance_dir / layout.PROVENANCE

    @property
    def render_dir(self) -> Path:
        return self.dir / layout.RENDER_DIR

    @property
    def render_draft(self) -> Path:
        return self.render_dir / layout.RENDER_DRAFT

    @property
    def render_stale(self) -> Path:
        return self.render_dir / layout.RENDER_STALE


def media_db_path(root: Path) -> Path:
    return root / layout.STATE_DIR / layout.MEDIA_DB


def root_gallery_path(root: Path) -> Path:
    return root / layout.ROOT_GALLERY


def episode_dir_of(path: Path) -> Path:
    """An episode directory from what a person typed: the folder or its chapters.json."""
    return path.parent if path.name == layout.CHAPTERS else path


def episode_paths(root: Path, episode_dir: Path) -> EpisodePaths:
    """Resolve an episode directory, refusing anything that escapes the outputs root."""
    root_real = Path(os.path.realpath(root))
    if not root_real.is_dir():
        raise ConfinementError(
            f"outputs root {root} does not exist or is not a directory (setting outputs_dir)"
        )
    candidate = episode_dir if episode_dir.is_absolute() else Path.cwd() / episode_dir
    real = Path(os.path.realpath(candidate))
    if real == root_real or not real.is_relative_to(root_real):
        raise ConfinementError(
            f"episode directory {episode_dir} resolves to {real}, which is not inside the "
            f"outputs root {root_real}; move it under the root or set outputs_dir"
        )
    if not real.is_dir():
        raise InputError(f"episode directory {episode_dir} does not exist or is not a directory")
    return EpisodePaths(root=root_real, dir=real)


def resolve_inside(root: Path, relative: str) -> Path:
    """A path a client named relative to the outputs root (the review server's
    addresses), refused when it would leave the root or name a hidden file (the state
    directory, temp files)."""
    root_real = Path(os.path.realpath(root))
    parts = [p for p in relative.split("/") if p not in ("", ".")]
    if relative.startswith("/") or any(p == ".." or p.startswith(".") for p in parts):
        raise ConfinementError(
            f"{relative!r}: not a path inside the outputs root (no '..', no hidden names)"
        )
    real = Path(os.path.realpath(root_real.joinpath(*parts)))
    if not real.is_relative_to(root_real):
        raise ConfinementError(
            f"{relative!r} resolves to {real}, outside the outputs root {root_real}"
        )
    return real
