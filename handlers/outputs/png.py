"""Fit an image to the video frame and write it as PNG carrying its own provenance."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, PngImagePlugin

# Keys of the PNG text chunks; the planner reads them back when the manifest is lost.
META_PREFIX = "imagegen:"
# Measured on a photo-like 1920x1080 frame: level 6 takes 320 ms for 1.09 MB, level 3
# 128 ms for 1.13 MB, level 1 92 ms for 1.39 MB. 3: nearly the smallest, 2.5x faster.
PNG_COMPRESS_LEVEL = 3


def fit_to_frame(img: Image.Image, width: int, height: int) -> Image.Image:
    """Scale to cover the frame, centre-crop, high-quality resampling."""
    if img.mode != "RGB":
        img = img.convert("RGB")  # (convert would copy an RGB image too: 5-9 MB for nothing)
    if img.size == (width, height):
        return img
    # The centred source region with the frame's aspect, resampled straight to the
    # frame: no pixel outside the crop is ever computed.
    scale = max(width / img.width, height / img.height)
    src_w = width / scale
    src_h = height / scale
    left = (img.width - src_w) / 2
    top = (img.height - src_h) / 2
    box = (left, top, left + src_w, top + src_h)
    return img.resize((width, height), Image.Resampling.LANCZOS, box=box)


def encode_png(img: Image.Image, meta: dict[str, str]) -> bytes:
    info = PngImagePlugin.PngInfo()
    for key, value in meta.items():
        # iTXt keeps UTF-8 (Turkish titles and prompts) intact.
        info.add_itxt(META_PREFIX + key, value)
    buf = io.BytesIO()
    img.save(buf, "PNG", pnginfo=info, compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()


def read_png_meta(path: Path) -> dict[str, str]:
    """The imagegen text chunks of a PNG; {} when it is not a readable PNG of ours."""
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                return {}
            text = getattr(img, "text", {})
    except (OSError, ValueError, Image.DecompressionBombError):
        return {}
    return {
        k.removeprefix(META_PREFIX): str(v) for k, v in text.items() if k.startswith(META_PREFIX)
    }


def decode_image(data: bytes) -> Image.Image:
    """Decode provider bytes fully now, so a truncated image fails here, not later."""
    img = Image.open(io.BytesIO(data))
    img.load()
    return img
