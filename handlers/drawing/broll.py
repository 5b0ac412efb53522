"""The offline renderer's b-roll: picks the scene the text names. A market, a city
(with its bank), people out in the open, a desk of objects, or a landscape when the
text names none of these."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from handlers.drawing.city import paint_city
from handlers.drawing.countryside import paint_landscape
from handlers.drawing.desk import paint_desk
from handlers.drawing.keywords import Ask
from handlers.drawing.landscape import ground_colour
from handlers.drawing.market import paint_market
from handlers.drawing.people import draw_crowd
from handlers.drawing.shapes import Frame, Painter

# Things that make a still life on a desk rather than a place.
OBJECTS = ("coin", "phone", "computer", "chart", "map", "network", "block")


def scene_for(ask: Ask) -> str:
    """Name of the scene b-roll draws for these subjects (market wins over city: a
    market in a city is still a market scene)."""
    if ask.has("market"):
        return "market"
    if ask.has("city", "bank"):
        return "city"
    if ask.has("people", "house"):
        return "outdoors"
    if ask.has(*OBJECTS):
        return "desk"
    return "landscape"


def _paint_outdoors(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: Frame, ask: Ask
) -> None:
    """Landscape (with houses if named) and, when people are named, a group of them
    in the foreground."""
    paint_landscape(draw, image, rng, frame, ask)
    if ask.has("people"):
        centre = frame.width * ask.pick((0.5, 0.32, 0.68), salt=5)
        half = frame.width * 0.3
        ground = frame.content_bottom - frame.px(16)
        draw_crowd(
            draw,
            rng,
            centre - half,
            centre + half,
            ground,
            frame.content_bottom * 0.62,
            rng.randint(4, 7),
            ground_colour(ask),
        )


SCENES: dict[str, Painter] = {
    "market": paint_market,
    "city": paint_city,
    "outdoors": _paint_outdoors,
    "desk": paint_desk,
    "landscape": paint_landscape,
}


def paint_b_roll(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: Frame, ask: Ask
) -> None:
    SCENES[scene_for(ask)](draw, image, rng, frame, ask)
