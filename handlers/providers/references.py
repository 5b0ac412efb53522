"""Reference images for a request: a chapter's `visual.reference_image` (a path relative
to the episode folder) or an image in memory (a storyboard's frame). Read only from
inside the outputs root, decoded in full, scaled to at most MAX_SIDE pixels and sent as
PNG: the providers' limits hold, and what a reference costs in tokens is bounded (the
price table holds REFERENCE_TOKENS for each)."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

from handlers.episode.paths import EpisodePaths
from handlers.errors import ConfinementError, InputError
from handlers.files.reading import read_regular_file
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


def load_reference(paths: EpisodePaths, relative: str, *, where: str) -> Reference:
    """The file `relative` to the episode folder; `where` names the field for errors
    (e.g. "chapter ch03: visual.reference_image"). InputError or ConfinementError say
    what is wrong and what to do."""
    target = Path(os.path.realpath(paths.dir / relative))
    if not target.is_relative_to(paths.root):
        raise ConfinementError(
            f"{where} {relative!r} resolves to {target}, outside the outputs root "
            f"{paths.root}; copy the image into the episode folder and name it there"
        )
    if not target.exists():
        raise InputError(
            f"{where} {relative!r}: no such file ({target}); the path is relative to the "
            f"episode folder {paths.dir}"
        )
    data = read_regular_file(target, max_bytes=MAX_REFERENCE_BYTES, what="reference image")
    try:
        image = decode_image(data)
    except (ValueError, OSError, Image.DecompressionBombError) as e:
        raise InputError(
            f"{where} {relative!r}: not an image imagegen can read ({type(e).__name__}); "
            "use PNG, JPEG or WebP"
        ) from None
    name = os.path.relpath(target, paths.dir)
    return reference_from_image(name, image)
