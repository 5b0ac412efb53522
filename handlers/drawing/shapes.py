"""Shared pieces of the offline renderer's drawings: colours, the frame's scale, and
small shapes."""

from __future__ import annotations

import colorsys
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageOps

from handlers.drawing.keywords import Ask
from handlers.drawing.text import RGB

Box = tuple[int, int, int, int]


def hsl(hue: float, saturation: float, lightness: float) -> RGB:
    red, green, blue = colorsys.hls_to_rgb(hue % 1.0, lightness, saturation)
    return round(red * 255), round(green * 255), round(blue * 255)


class Frame:
    """Image size, the scale against the 1920x1080 design, and the area above the band."""

    def __init__(self, width: int, height: int, hue: float) -> None:
        self.width = width
        self.height = height
        self.hue = hue
        self.scale = min(width / 1920, height / 1080)
        self.band_height = max(1, round(height * 0.15))
        self.content_bottom = height - self.band_height

    def px(self, value: float) -> int:
        """A 1080p design length scaled to this frame, never below 1 pixel."""
        return max(1, round(value * self.scale))


# Draws one visual type into the frame: (draw, image, rng, frame, what the text asks).
Painter = Callable[[ImageDraw.ImageDraw, Image.Image, random.Random, Frame, Ask], None]


def rounded(
    draw: ImageDraw.ImageDraw,
    box: tuple[float, float, float, float],
    radius: int,
    fill: RGB | None = None,
    outline: RGB | None = None,
    width: int = 1,
) -> None:
    # Tiny frames can produce inverted boxes, which Pillow rejects; skip those shapes.
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return
    radius = max(0, min(radius, int((x1 - x0) / 2), int((y1 - y0) / 2)))
    draw.rounded_rectangle(box, radius=radius, fill=fill, outline=outline, width=width)


def bar(
    draw: ImageDraw.ImageDraw, x: float, y: float, length: float, thick: int, fill: RGB
) -> None:
    """A pill standing in for a line of text."""
    rounded(draw, (x, y, x + length, y + thick), thick // 2, fill=fill)


def vertical_gradient(width: int, height: int, top: RGB, bottom: RGB) -> Image.Image:
    # A one-pixel-wide column stretched sideways: no per-pixel Python, and constant rows
    # keep PNG encoding cheap.
    column = Image.linear_gradient("L").resize((1, max(1, height)), Image.Resampling.BILINEAR)
    return ImageOps.colorize(column, top, bottom).resize(
        (width, max(1, height)), Image.Resampling.NEAREST
    )
