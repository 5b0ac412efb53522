"""Where one image's candidates are kept: a chapter's in images/candidates/<chapter_id>/,
a storyboard frame's in storyboard/<chapter_id>/candidates/<moment>/. Each candidate is
written there the moment it is paid for (c01.png, c02.png, ...), found again after a
kill, and pruned once a newer generation is recorded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from handlers.episode import layout
from handlers.errors import ImagegenError
from handlers.files.dirs import Dir

if TYPE_CHECKING:
    from PIL import Image

MAX_CANDIDATE_BYTES = 100_000_000


@dataclass(frozen=True)
class Shelf:
    """One image's candidate folder, opened (and created when asked) through its
    episode's folder handles, and the prefix its records name files by (a chapter's
    are relative to images/, a storyboard frame's to the episode folder)."""

    folder: Callable[[bool], Dir | None]
    prefix: str

    def file(self, candidate: str) -> str:
        return f"{self.prefix}/{layout.candidate_name(candidate)}"


def next_number(shelf: Shelf) -> int:
    """Numbers go on across generations: a file a reviewer has open is never replaced
    by a different picture under the same name."""
    folder = shelf.folder(False)
    if folder is None:
        return 1
    numbers = [n for n in map(layout.candidate_number, folder.names()) if n is not None]
    return max(numbers, default=0) + 1


def write(shelf: Shelf, candidate: str, img: Image.Image, meta: dict[str, str]) -> bytes:
    """Write the candidate's PNG (carrying `meta`); return its bytes."""
    from handlers.outputs.png import encode_png

    folder = shelf.folder(True)
    assert folder is not None
    data = encode_png(img, meta)
    folder.write_bytes(layout.candidate_name(candidate), data)
    return data


def orphans(shelf: Shelf, known: set[str]) -> list[tuple[str, dict[str, str], bytes, Image.Image]]:
    """Candidate files no record names (a run was killed after paying for them): (id,
    their PNG metadata, bytes, pixels), in number order. Unreadable ones are skipped:
    they are replaced, never trusted."""
    from PIL import Image

    from handlers.outputs.png import decode_image, png_text

    folder = shelf.folder(False)
    if folder is None:
        return []
    found = []
    for name in sorted(folder.names(), key=lambda n: layout.candidate_number(n) or 0):
        number = layout.candidate_number(name)
        if number is None or layout.candidate_id(number) in known:
            continue
        try:
            data = folder.read_bytes(name, max_bytes=MAX_CANDIDATE_BYTES, what="candidate")
            image = decode_image(data).convert("RGB")
        except (ImagegenError, OSError, ValueError, Image.DecompressionBombError):
            continue
        found.append((layout.candidate_id(number), png_text(data), data, image))
    return found


def prune(shelf: Shelf, keep: set[str]) -> None:
    """Remove the candidate files not named in `keep` (file names): once a record names
    a newer generation, the earlier files are no longer pointed at."""
    folder = shelf.folder(False)
    if folder is None:
        return
    for name in folder.names():
        if layout.candidate_number(name) is not None and name not in keep:
            folder.remove(name)
