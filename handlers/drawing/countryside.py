"""The offline renderer's countryside: hills under a sky, b-roll's fallback scene, with
a village when the text names houses. Candidates change the time of day, the camera
height and the foreground (a large tree framing one side, a lake, or fields)."""

from __future__ import annotations

import math
import random

from PIL import Image, ImageDraw

from handlers.drawing.keywords import Ask
from handlers.drawing.landscape import (
    Sky,
    ground_colour,
    house,
    meadow,
    paint_hills,
    paint_sky,
    tree,
)
from handlers.drawing.shapes import Frame, hsl
from handlers.drawing.text import mix

Ridge = list[tuple[float, float]]


def _at(ridge: Ridge, share: float) -> tuple[float, float]:
    """The ridge point ``share`` of the way across the frame."""
    return ridge[min(len(ridge) - 1, max(0, int(share * len(ridge))))]


def _path(draw: ImageDraw.ImageDraw, frame: Frame, ridge: Ridge, side: float) -> None:
    """A dirt path from the far side down to the camera, widening with nearness."""
    start = _at(ridge, 1 - side)
    bottom_x = frame.width * (0.5 + (0.5 - side) * 0.3)
    steps = 8
    left_edge, right_edge = [], []
    for k in range(steps + 1):
        t = k / steps
        x = start[0] + (bottom_x - start[0]) * t + math.sin(t * math.pi) * frame.px(120)
        y = start[1] + frame.px(20) + (frame.content_bottom - start[1]) * t
        half = frame.px(14) + frame.px(170) * t * t
        left_edge.append((x - half, y))
        right_edge.append((x + half, y))
    draw.polygon([*left_edge, *reversed(right_edge)], fill=hsl(0.09, 0.35, 0.58))


def _lake(
    draw: ImageDraw.ImageDraw, frame: Frame, ridge: Ridge, sky: Sky, ground: tuple[int, int, int]
) -> float:
    """Still water across the valley floor, the sky mirrored in it, with ripples, and
    the near shore below it. Returns where the shore starts."""
    top = max(y for _, y in ridge) + frame.px(20)
    shore = top + (frame.content_bottom - top) * 0.5
    w = frame.width
    water = mix(mix(sky.top, sky.bottom, 0.6), (0, 0, 0), 0.08)
    draw.rectangle((0, top, w, shore + frame.px(40)), fill=water)
    ripple = mix(water, (255, 255, 255), 0.35)
    y = top + frame.px(14)
    row = 0
    while y < shore - frame.px(6):
        for k in range(7):
            x = w * (k + 0.5 * (row % 2)) / 7 + frame.px(20)
            draw.line((x, y, x + frame.px(50 + 14 * row), y), fill=ripple, width=frame.px(3))
        y += frame.px(16 + 6 * row)
        row += 1
    # The near shore: a gentle curve of grass in front of the water.
    step = max(1, w // 48)
    edge = [
        (float(x), shore + frame.px(30) * math.sin(x / w * math.pi * 1.5))
        for x in range(0, w + step, step)
    ]
    draw.polygon([*edge, (w, frame.height), (0, frame.height)], fill=ground)
    return shore + frame.px(30)


def _fields(
    draw: ImageDraw.ImageDraw, frame: Frame, ridge: Ridge, base: tuple[int, int, int]
) -> None:
    """Crop rows running to a vanishing point on the horizon: strong perspective lines."""
    top = max(y for _, y in ridge) + frame.px(10)
    vanish_x = frame.width * 0.5
    rows = 14
    for k in range(-rows, rows + 1):
        if k % 2:
            continue
        x0 = vanish_x + k * frame.width * 0.09
        x1 = vanish_x + (k + 1) * frame.width * 0.09
        spread = (frame.content_bottom - top) / max(1.0, frame.height * 0.1)
        draw.polygon(
            [(vanish_x + (x0 - vanish_x) * 0.15, top), (vanish_x + (x1 - vanish_x) * 0.15, top),
             (vanish_x + (x1 - vanish_x) * spread, frame.content_bottom),
             (vanish_x + (x0 - vanish_x) * spread, frame.content_bottom)],
            fill=mix(base, (255, 255, 255), 0.1),
        )  # fmt: skip


def _big_tree(
    draw: ImageDraw.ImageDraw, frame: Frame, side: float, leaf: tuple[int, int, int]
) -> None:
    """A near tree at the frame's edge, its crown cut by the top: it frames the view."""
    x = frame.width * (0.06 if side > 0.5 else 0.94)
    trunk = (84, 58, 40)
    draw.polygon(
        [(x - frame.px(40), frame.content_bottom), (x - frame.px(24), frame.height * 0.3),
         (x + frame.px(24), frame.height * 0.3), (x + frame.px(40), frame.content_bottom)],
        fill=trunk,
    )  # fmt: skip
    for dx, dy, r in ((0, 0.05, 0.3), (-0.12, 0.2, 0.2), (0.12, 0.22, 0.2), (0.0, 0.32, 0.16)):
        cx, cy, rr = x + dx * frame.width, frame.height * dy, frame.height * r
        draw.ellipse(
            (cx - rr, cy - rr, cx + rr, cy + rr), fill=mix(leaf, (255, 255, 255), 0.06 * (dy > 0.1))
        )


def paint_landscape(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: Frame, ask: Ask
) -> None:
    horizon = frame.content_bottom * ask.pick((0.5, 0.62, 0.4), salt=2)
    sky = paint_sky(draw, image, rng, frame, ask, horizon)
    land_hue = ask.pick((0.27, 0.31, 0.12, 0.36), salt=3)  # as ground_colour()
    ridge = paint_hills(draw, rng, frame, sky, land_hue)
    side = ask.pick((0.25, 0.75, 0.5), salt=4)
    foreground = ask.pick(("tree", "lake", "fields"), salt=6)
    ground = ground_colour(ask)
    if foreground == "fields":
        _fields(draw, frame, ridge, ground)
    meadow_top = max(y for _, y in ridge)
    if foreground == "lake":
        meadow_top = _lake(draw, frame, ridge, sky, ground)
    elif ask.has("house"):
        _path(draw, frame, ridge, side)
    meadow(draw, rng, frame, meadow_top, ground)
    leaf = hsl(land_hue, 0.5, 0.2)
    for _ in range(rng.randint(6, 10)):
        point = _at(ridge, min(0.98, max(0.02, rng.gauss(side, 0.2))))
        size = frame.px(rng.uniform(70, 140))
        tree(draw, point[0], point[1] + frame.px(12), size, leaf, rng.random() < 0.5)
    if ask.has("house"):
        walls = ((236, 226, 204), (222, 196, 160), (240, 240, 236))
        roofs = ((170, 70, 50), (120, 60, 50), (90, 90, 100))
        for index in range(rng.randint(3, 5)):
            point = _at(ridge, min(0.95, max(0.05, 1 - side + (index - 2) * 0.12)))
            size = frame.px(rng.uniform(110, 170))
            house(
                draw, point[0], point[1] + frame.px(30), size, rng.choice(walls), rng.choice(roofs)
            )
    if foreground == "tree":
        _big_tree(draw, frame, side, mix(leaf, (0, 0, 0), 0.15))
