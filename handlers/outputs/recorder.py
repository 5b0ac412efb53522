"""Writes one run's outputs: each chapter's PNG, the manifest after every chapter, and
the downstream render marker before the first image changes. Knows whether our
provenance record describes the manifest it left."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from config.settings import FrameSettings
from handlers.episode import layout
from handlers.episode.chapters import Episode
from handlers.episode.dirs import EpisodeDirs
from handlers.errors import ConfinementError, ImagegenError, InputError
from handlers.files.dirs import Dir
from handlers.hashing import sha256_bytes
from handlers.outputs import shelves
from handlers.outputs.current import describes
from handlers.outputs.entries import now_iso, png_meta, with_file_facts
from handlers.outputs.manifest import (
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestEntry,
    write_manifest,
)
from handlers.outputs.markers import marker_info
from handlers.outputs.shelves import MAX_CANDIDATE_BYTES, Shelf
from handlers.outputs.thumbs import write_thumb

if TYPE_CHECKING:
    from PIL import Image

# handlers.outputs.png (Pillow) is imported in the methods that make or read images: a
# run that finds its episode current plans and ends without loading Pillow.

log = structlog.get_logger("imagegen")


class Recorder:
    def __init__(
        self,
        dirs: EpisodeDirs,
        episode: Episode,
        frame: FrameSettings,
        cumulative_usd: Callable[[], float],
    ) -> None:
        self.dirs = dirs
        self.paths = dirs.paths
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

    def _images(self) -> Dir:
        images = self.dirs.images(create=True)
        assert images is not None
        return images

    # -- images -------------------------------------------------------------------------

    def write_image(
        self, entry: ManifestEntry, img: Image.Image | None, png: bytes | None = None
    ) -> ManifestEntry:
        """The chapter's image: `img` encoded, or `png` (a kept candidate's file, at the
        frame size already) with the entry's metadata in place of the candidate's."""
        from handlers.outputs.png import encode_png, retag

        name = layout.image_name(entry.chapter_id)
        if png is not None:
            data = retag(png, png_meta(entry))
        else:
            assert img is not None
            data = encode_png(img, png_meta(entry))
        self._invalidate_render()
        images = self._images()
        images.write_bytes(name, data)
        st = images.stat(name)
        assert st is not None
        sha = sha256_bytes(data)
        if img is not None and not entry.selected:
            # A chapter made of candidates shows its chosen candidate's thumbnail (the
            # same picture, thumbnailed when it was kept); a template needs its own.
            self.thumb(sha, img)
        return with_file_facts(entry, name, st, sha)

    # -- candidates ---------------------------------------------------------------------

    def shelf(self, chapter_id: str) -> Shelf:
        """images/candidates/<chapter_id>/, named relative to images/."""
        return Shelf(
            lambda create: self.dirs.candidates(chapter_id, create),
            f"{layout.CANDIDATES_DIR}/{chapter_id}",
        )

    def next_candidate_number(self, chapter_id: str) -> int:
        return shelves.next_number(self.shelf(chapter_id))

    def thumb(self, sha256: str, img: Image.Image) -> None:
        """The gallery's thumbnail, made now from the picture in memory: the gallery
        written at the end of the job then decodes no image. A thumbnail is a cache:
        one that cannot be written never costs the chapter (the gallery makes it later);
        only a folder gone under the run (Gone) stops it, as any other write would."""
        try:
            write_thumb(self._images().make_dir(layout.THUMBS_DIR), sha256, img)
        except (OSError, ConfinementError) as e:
            log.warning("thumbnail_not_written", episode_id=self.paths.name, error=str(e))

    def read_candidate(self, relative: str, sha256: str | None) -> tuple[Image.Image, bytes]:
        """A kept candidate, decoded, and its file's bytes (for a manual pick or a
        re-ranking); refused when the file is no longer the one that was checked."""
        from handlers.outputs.png import decode_image

        parts = relative.split("/")
        folder = self.dirs.candidates(parts[1]) if len(parts) == 3 else None
        if folder is None or parts[0] != layout.CANDIDATES_DIR:
            raise InputError(f"{self.paths.images / relative}: not a kept candidate file")
        data = folder.read_bytes(parts[2], max_bytes=MAX_CANDIDATE_BYTES, what="candidate image")
        if sha256 is not None and sha256_bytes(data) != sha256:
            raise InputError(
                f"{self.paths.images / relative} changed since it was checked; not used"
            )
        return decode_image(data), data

    def orphan_candidates(
        self, chapter_id: str, known: set[str]
    ) -> list[tuple[str, dict[str, str], bytes, Image.Image]]:
        """Candidate files of a chapter that no manifest names (shelves.orphans)."""
        return shelves.orphans(self.shelf(chapter_id), known)

    def _prune_candidates(self, entry: ManifestEntry) -> None:
        """After the manifest names a chapter's current candidates, the files of earlier
        generations go (the manifest no longer points at them)."""
        keep = {c.file.rsplit("/", 1)[-1] for c in entry.candidates if c.file}
        shelves.prune(self.shelf(entry.chapter_id), keep)

    def _invalidate_render(self) -> None:
        """Before the first image changes, mark the downstream render stale: written
        first, it survives a crash at any later moment. Only a draft that exists can be
        outdated (upstream's rule): with no render/draft.mp4 nothing is written."""
        with self._lock:
            if self._render_invalidated:
                return
            self._render_invalidated = True
        render = self.dirs.render()
        if render is None or render.stat(layout.RENDER_DRAFT) is None:
            return
        reason = f"images regenerated: {', '.join(self.planned)}"
        render.write_json(layout.RENDER_STALE, marker_info("imagegen", reason))

    # -- the manifest -------------------------------------------------------------------

    def carry(self, entry: ManifestEntry) -> None:
        """An entry this run keeps as it was (reused, or not selected this time)."""
        self.entries[entry.chapter_id] = entry

    def record(self, entry: ManifestEntry, *, new_generation: bool = False) -> None:
        """A chapter finished (well or not): its entry goes into the manifest at once.
        An entry of a new generation supersedes the candidate files of the last one."""
        self.entries[entry.chapter_id] = entry
        self.touched.add(entry.chapter_id)
        self.write_manifest()
        if new_generation:
            self._prune_candidates(entry)

    def write_manifest(self) -> None:
        self.manifest_sha = write_manifest(self._images(), self.manifest())

    def manifest(self) -> Manifest:
        ordered = [
            self.entries[c.chapter_id]
            for c in self.episode.image_chapters
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
        self.manifest_sha = _sha_of(self.dirs.images(), layout.MANIFEST)
        return True

    def provenance_matches(self) -> bool:
        """Our provenance describes the current manifest (no run died before writing it)."""
        folder = self.dirs.provenance()
        if folder is None:
            return False
        try:
            record = folder.read_json(
                layout.PROVENANCE, max_bytes=layout.MAX_PROVENANCE_BYTES, what="provenance"
            )
        except (ImagegenError, OSError, ValueError):
            return False
        return describes(record, self.manifest_sha)

    def provenance_folder(self) -> Dir:
        folder = self.dirs.provenance(create=True)
        assert folder is not None
        return folder

    def images_folder(self) -> Dir:
        return self._images()


def _sha_of(folder: Dir | None, name: str) -> str | None:
    if folder is None:
        return None
    try:
        return sha256_bytes(folder.read_bytes(name, max_bytes=MAX_MANIFEST_BYTES, what="file"))
    except (ImagegenError, OSError):
        return None
