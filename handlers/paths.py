"""Where an episode's files live, and the confinement rule: nothing outside the root."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from handlers.errors import ConfinementError, InputError

CHAPTERS = "chapters.json"
STALE = ".stale"


@dataclass(frozen=True)
class EpisodePaths:
    """The fixed layout of one episode directory (see the README's file table)."""

    root: Path
    dir: Path

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def chapters(self) -> Path:
        return self.dir / CHAPTERS

    @property
    def chapters_stale(self) -> Path:
        return self.dir / (CHAPTERS + STALE)

    @property
    def images(self) -> Path:
        return self.dir / "images"

    @property
    def manifest(self) -> Path:
        return self.images / "manifest.json"

    @property
    def manifest_stale(self) -> Path:
        return self.images / ("manifest.json" + STALE)

    @property
    def request(self) -> Path:
        return self.images / "imagegen_request.json"

    def image(self, chapter_id: str) -> Path:
        return self.images / f"{chapter_id}.png"

    def image_stale(self, chapter_id: str) -> Path:
        return self.images / f"{chapter_id}.png{STALE}"

    @property
    def provenance_dir(self) -> Path:
        return self.dir / "provenance"

    @property
    def provenance(self) -> Path:
        return self.provenance_dir / "imagegen_provenance.json"

    @property
    def render_stale(self) -> Path:
        return self.dir / "render" / ("draft.mp4" + STALE)


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


def ensure_inside(paths: EpisodePaths, target: Path) -> Path:
    """Check a path we are about to write is still under the root after symlinks."""
    parent = Path(os.path.realpath(target.parent))
    if not parent.is_relative_to(paths.root):
        raise ConfinementError(
            f"{target.parent} resolves to {parent}, outside the outputs root {paths.root}; "
            "remove the symlink"
        )
    if target.is_symlink():
        raise ConfinementError(f"{target} is a symlink; imagegen does not write through symlinks")
    return parent / target.name
