"""Writes one run's outputs: each chapter's PNG, the manifest after every chapter, and
the downstream render marker before the first image changes. Knows whether our
provenance record describes the manifest it left."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

from PIL import Image

from config.settings import FrameSettings
from handlers.episode import layout
from handlers.episode.chapters import Episode
from handlers.episode.paths import EpisodePaths, ensure_inside
from handlers.errors import ImagegenError, InputError
from handlers.files import atomic
from handlers.files.reading import read_regular_file
from handlers.hashing import sha256_bytes
from handlers.outputs.current import provenance_describes
from handlers.outputs.entries import now_iso, png_meta, with_file_facts
from handlers.outputs.manifest import (
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestEntry,
    write_manifest,
)
from handlers.outputs.markers import write_marker
from handlers.outputs.png import decode_image, encode_png
from handlers.outputs.thumbs import write_thumb

MAX_CANDIDATE_BYTES = 100_000_000


class Recorder:
    def __init__(
        self,
        paths: EpisodePaths,
        episode: Episode,
        frame: FrameSettings,
        cumulative_usd: Callable[[], float],
    ) -> None:
        self.paths = paths
        self.episode = episode
        self.frame = frame
        self._cumulative_usd = cumulative_usd
        self.entries: dict[str, ManifestEntry] = {}
        # Chapters this run finished (well or not), as opposed to entries carried over.
        self.touched: set[str] = set()
        # Chapters this run is about to redo: the render marker's reason names them.
        self.planned: list[str] = []
        self.manifest_sha: str | None = None
        self._render_invalidated = False
        self._lock = threading.Lock()

    # -- images -------------------------------------------------------------------------

    def write_image(self, entry: ManifestEntry, img: Image.Image) -> ManifestEntry:
        target = ensure_inside(
            self.paths, self._mkdir(self.paths.images) / self.paths.image(entry.chapter_id).name
        )
        data = encode_png(img, png_meta(entry))
        self._invalidate_render()
        atomic.write_bytes(target, data)
        sha = sha256_bytes(data)
        self._thumb(sha, img)
        return with_file_facts(entry, target, sha256=sha)

    # -- candidates ---------------------------------------------------------------------

    def next_candidate_number(self, chapter_id: str) -> int:
        """Numbers go on across generations: a file a reviewer has open is never
        replaced by a different picture under the same name."""
        directory = self.paths.candidates(chapter_id)
        try:
            names = os.listdir(directory)
        except (FileNotFoundError, NotADirectoryError):
            return 1
        numbers = [n for n in map(layout.candidate_number, names) if n is not None]
        return max(numbers, default=0) + 1

    def write_candidate(
        self, chapter_id: str, candidate: str, img: Image.Image, meta: dict[str, str]
    ) -> tuple[str, str, int]:
        """Write images/candidates/<chapter_id>/<candidate>.png; return (file relative
        to images/, sha256, bytes)."""
        parent = self._mkdir(self._mkdir(self.paths.images) / layout.CANDIDATES_DIR)
        directory = self._mkdir(parent / chapter_id)
        target = ensure_inside(self.paths, directory / layout.candidate_name(candidate))
        data = encode_png(img, meta)
        atomic.write_bytes(target, data)
        relative = f"{layout.CANDIDATES_DIR}/{chapter_id}/{target.name}"
        sha = sha256_bytes(data)
        self._thumb(sha, img)
        return relative, sha, len(data)

    def _thumb(self, sha256: str, img: Image.Image) -> None:
        """The gallery's thumbnail, made now from the picture in memory: the gallery
        written at the end of the job then decodes no image."""
        thumbs_dir = ensure_inside(self.paths, self.paths.thumbs)
        write_thumb(thumbs_dir, sha256, img)

    def read_candidate(self, relative: str, sha256: str | None) -> Image.Image:
        """A kept candidate, decoded (for a manual pick or a re-ranking); refused when
        the file is no longer the one that was checked."""
        target = ensure_inside(self.paths, self.paths.images / relative)
        data = read_regular_file(target, max_bytes=MAX_CANDIDATE_BYTES, what="candidate image")
        if sha256 is not None and sha256_bytes(data) != sha256:
            raise InputError(f"{target} changed since it was checked; not used")
        return decode_image(data)

    def _prune_candidates(self, entry: ManifestEntry) -> None:
        """After the manifest names a chapter's current candidates, the files of earlier
        generations go (the manifest no longer points at them)."""
        directory = self.paths.candidates(entry.chapter_id)
        keep = {c.file.rsplit("/", 1)[-1] for c in entry.candidates if c.file}
        try:
            names = os.listdir(directory)
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in names:
            if layout.candidate_number(name) is not None and name not in keep:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(ensure_inside(self.paths, directory / name))

    def _invalidate_render(self) -> None:
        """Before the first image changes, mark the downstream render stale: written
        first, it survives a crash at any later moment. Only a draft that exists can be
        outdated (upstream's rule): with no render/draft.mp4 nothing is written."""
        with self._lock:
            if self._render_invalidated:
                return
            self._render_invalidated = True
        if not os.path.lexists(self.paths.render_draft):
            return
        render_dir = ensure_inside(self.paths, self.paths.render_dir)
        write_marker(
            ensure_inside(self.paths, render_dir / self.paths.render_stale.name),
            by="imagegen",
            reason=f"images regenerated: {', '.join(self.planned)}",
        )

    # -- the manifest -------------------------------------------------------------------

    def carry(self, entry: ManifestEntry) -> None:
        """An entry this run keeps as it was (reused, or not selected this time)."""
        self.entries[entry.chapter_id] = entry

    def record(self, entry: ManifestEntry) -> None:
        """A chapter finished (well or not): its entry goes into the manifest at once."""
        self.entries[entry.chapter_id] = entry
        self.touched.add(entry.chapter_id)
        self.write_manifest()
        if entry.candidates or entry.status in ("generated", "failed_checks"):
            self._prune_candidates(entry)

    def write_manifest(self) -> None:
        target = ensure_inside(
            self.paths, self._mkdir(self.paths.images) / self.paths.manifest.name
        )
        self.manifest_sha = write_manifest(target, self.manifest())

    def manifest(self) -> Manifest:
        ordered = [
            self.entries[c.chapter_id]
            for c in self.episode.chapters
            if c.chapter_id in self.entries
        ]
        return Manifest(
            episode_id=self.episode.doc.episode_id,
            chapters_sha256=self.episode.sha256,
            frame={"width": self.frame.width, "height": self.frame.height},
            cumulative_cost_usd=round(self._cumulative_usd(), 6),
            updated_at=now_iso(),
            chapters=ordered,
        )

    def unchanged_since(self, previous: Manifest) -> bool:
        """The manifest this run would write says what `previous` says; then its file's
        hash is what provenance must describe."""
        if self.manifest().content() != previous.content():
            return False
        self.manifest_sha = _file_sha(self.paths.manifest)
        return True

    def provenance_matches(self) -> bool:
        """Our provenance describes the current manifest (no run died before writing it)."""
        return provenance_describes(self.paths.provenance, self.manifest_sha)

    def provenance_path(self) -> Path:
        directory = self._mkdir(self.paths.provenance_dir)
        return ensure_inside(self.paths, directory / self.paths.provenance.name)

    def request_path(self) -> Path:
        return ensure_inside(self.paths, self._mkdir(self.paths.images) / self.paths.request.name)

    def _mkdir(self, directory: Path) -> Path:
        ensure_inside(self.paths, directory)
        directory.mkdir(exist_ok=True)
        return directory


def _file_sha(path: Path) -> str | None:
    try:
        return sha256_bytes(read_regular_file(path, max_bytes=MAX_MANIFEST_BYTES, what="file"))
    except (ImagegenError, OSError):
        return None
