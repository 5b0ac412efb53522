"""Reference images for a request: a chapter's `visual.reference_image` (a path relative
to the episode folder) or an image in memory (a storyboard's frame). Read only from
inside the outputs root, decoded in full, scaled to at most MAX_SIDE pixels and sent as
PNG: the providers' limits hold, and what a reference costs in tokens is bounded (the
price table holds REFERENCE_TOKENS for each)."""

from __future__ import annotations

import io
import posixpath
from pathlib import PurePosixPath

from PIL import Image

from handlers.episode.dirs import EpisodeDirs
from handlers.errors import ConfinementError, InputError
from handlers.outputs.png import decode_image
from handlers.providers.base import Reference

MAX_SIDE = 1536
MAX_REFERENCE_BYTES = 50_000_000


def reference_from_image(name: str, image: Image.Image) -> Reference:
    """A reference from pixels (e.g. the storyboard's start frame for its end frame)."""
    image = image.convert("RGB")
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return Reference(name=name, png=buffer.getvalue(), width=image.width, height=image.height)


def load_reference(dirs: EpisodeDirs, relative: str, *, where: str) -> Reference:
    """The file `relative` to the episode folder, read through folder handles from the
    outputs root down (no symlink followed); `where` names the field for errors (e.g.
    "chapter ch03: visual.reference_image"). InputError or ConfinementError say what is
    wrong and what to do."""
    paths = dirs.paths
    inside = posixpath.normpath(
        posixpath.join(paths.dir.relative_to(paths.root).as_posix(), relative)
    )
    if relative.startswith("/") or inside == "." or inside.startswith("../") or inside == "..":
        raise ConfinementError(
            f"{where} {relative!r} is outside the outputs root {paths.root}; copy the image "
            "into the episode folder and name it there (relative to the episode folder)"
        )
    folder_parts, name = PurePosixPath(inside).parts[:-1], PurePosixPath(inside).name
    try:
        folder = dirs.root.descend(PurePosixPath(*folder_parts)) if folder_parts else dirs.root
        data = folder.read_bytes(name, max_bytes=MAX_REFERENCE_BYTES, what="reference image")
    except ConfinementError:
        # The folder handles' own words are about writing; this reads someone's file.
        raise ConfinementError(
            f"{where} {relative!r} is a symlink or goes through one; imagegen reads a "
            "reference image only from a real file inside the episode folder: copy the "
            "image there"
        ) from None
    except FileNotFoundError:
        data = None
    except InputError as e:
        if "does not exist" not in str(e):
            raise InputError(f"{where} {relative!r}: {e}") from None
        data = None
    if data is None:
        raise InputError(
            f"{where} {relative!r}: no such file ({paths.root / inside}); the path is "
            f"relative to the episode folder {paths.dir}"
        )
    try:
        image = decode_image(data)
    except (ValueError, OSError, Image.DecompressionBombError) as e:
        raise InputError(
            f"{where} {relative!r}: not an image imagegen can read ({type(e).__name__}); "
            "use PNG, JPEG or WebP"
        ) from None
    return reference_from_image(
        posixpath.relpath(inside, paths.dir.relative_to(paths.root).as_posix()), image
    )
