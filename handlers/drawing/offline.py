"""Offline image provider: deterministic placeholder art drawn with Pillow.

Used when no image API is configured (or for tests and dry runs). It draws what the
chapter's title and visual description name (keywords.py: a market, people, a city,
a phone...), and each candidate of a chapter takes a different layout, palette and
composition. Every image carries an "offline render" label and the title band, so
nobody mistakes it for a generated picture. A storyboard frame (request.shot) is drawn
by shots.py: the start and end of one shot.
"""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from handlers.drawing.keywords import ask_for
from handlers.drawing.scene import (
    LABEL,
    PAINTERS,
    canvas_size,
    offline_label,
    paint_abstract,
    stable,
    title_band,
)
from handlers.drawing.shapes import Frame
from handlers.drawing.shots import render_shot
from handlers.drawing.text import find_font
from handlers.providers.base import GeneratedImage, ImageRequest

__all__ = ["LABEL", "MODEL", "OfflineRenderer", "chapter_seed", "render_offline", "request_seed"]

MODEL = "offline-pillow-1"


def chapter_seed(request: ImageRequest) -> int:
    """The same for every candidate of a chapter: where the rotations of layout,
    palette and composition start."""
    return stable(
        f"{request.prompt}\x00{request.visual_type}\x00{request.seed}\x00{request.description}"
    )


def request_seed(request: ImageRequest) -> int:
    """Seed of one candidate's details (counts, sizes, positions)."""
    return stable(f"{chapter_seed(request)}\x00{request.candidate}")


def render_offline(request: ImageRequest, bold_font: str, regular_font: str) -> Image.Image:
    """Draw the placeholder image for one request; same request, same pixels."""
    base = chapter_seed(request)
    variant = max(0, request.candidate - 1)
    ask = ask_for(request.title, request.description, variant, base)
    rng = random.Random(request_seed(request))
    # Candidates step round the colour wheel by about a third: different hue families.
    hue = (base % 1000) / 1000 + variant * 0.37
    frame = Frame(max(1, request.width), max(1, request.height), hue % 1.0)
    canvas = Frame(*canvas_size(frame.width, frame.height), frame.hue)
    image = Image.new("RGB", (canvas.width, canvas.height))
    painter = PAINTERS.get(request.visual_type, paint_abstract)
    painter(ImageDraw.Draw(image), image, rng, canvas, ask)
    if canvas.width != frame.width or canvas.height != frame.height:
        image = image.resize((frame.width, frame.height), Image.Resampling.LANCZOS)
    title_band(image, request.title, frame, bold_font)
    offline_label(image, frame, regular_font)
    return image


class OfflineRenderer:
    """ImageProvider that needs no network, no key and costs nothing."""

    name = "offline"

    def __init__(self, font_path: str | None = None) -> None:
        # Resolve fonts now so a missing font fails at start-up, not mid-episode.
        self._bold_font = find_font(True, font_path)
        self._regular_font = find_font(False, font_path)

    def generate(self, request: ImageRequest) -> GeneratedImage:
        if request.shot is not None:
            image = render_shot(request, self._bold_font, self._regular_font)
        else:
            image = render_offline(request, self._bold_font, self._regular_font)
        return GeneratedImage(
            image=image,
            provider=self.name,
            model=MODEL,
            generation_method="offline",
            cost_usd=0.0,
        )
