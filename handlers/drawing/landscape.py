"""The offline renderer's outdoor pieces: a sky with sun and clouds, rolling hills, a
meadow, trees and cottages. countryside.py composes them into scenes."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from handlers.drawing.keywords import Ask
from handlers.drawing.shapes import Frame, hsl, vertical_gradient
from handlers.drawing.text import RGB, mix


@dataclass(frozen=True)
class Sky:
    top: RGB
    bottom: RGB
    horizon: float  # y where the sky meets the land

    def at(self, y: float) -> RGB:
        return mix(self.top, self.bottom, max(0.0, min(1.0, y / max(1.0, self.horizon))))


# (top, bottom) of the sky per time of day: clear day, golden hour, dusk. Dusk stays
# light enough near the horizon that the frame is never underexposed.
SKIES: tuple[tuple[RGB, RGB], ...] = (
    (hsl(0.585, 0.6, 0.5), hsl(0.56, 0.55, 0.86)),
    (hsl(0.6, 0.45, 0.55), hsl(0.1, 0.8, 0.8)),
    (hsl(0.7, 0.4, 0.3), hsl(0.04, 0.75, 0.68)),
)


def paint_sky(
    draw: ImageDraw.ImageDraw,
    image: Image.Image,
    rng: random.Random,
    frame: Frame,
    ask: Ask,
    horizon: float,
) -> Sky:
    """Gradient sky down to ``horizon`` with a sun and clouds. A cloud always sits in
    the upper fifth so no flat band of sky runs along the top edge."""
    w = frame.width
    top, bottom = ask.pick(SKIES, salt=1)
    sky = Sky(top, bottom, horizon)
    height = max(1, round(horizon))
    image.paste(vertical_gradient(w, height, top, bottom), (0, 0))
    # Below the horizon the haze colour, so a gap in whatever stands there never shows
    # the empty canvas.
    draw.rectangle((0, height, w, frame.height), fill=bottom)

    sun_r = frame.px(rng.uniform(50, 80))
    sun_x = rng.uniform(0.1, 0.9) * w
    sun_y = rng.uniform(0.25, 0.55) * horizon
    sun = hsl(rng.uniform(0.1, 0.15), 0.95, 0.78)
    for ring, strength in ((2.2, 0.15), (1.6, 0.35), (1.25, 0.6), (1.0, 1.0)):
        r = sun_r * ring
        draw.ellipse(
            (sun_x - r, sun_y - r, sun_x + r, sun_y + r), fill=mix(sky.at(sun_y), sun, strength)
        )

    count = rng.randint(3, 5)
    for index in range(count):
        cx = (index + rng.uniform(0.1, 0.9)) / count * w
        cy = (
            rng.uniform(0.04, 0.16) * frame.height
            if index == 0
            else rng.uniform(0.08, 0.6) * horizon
        )
        cloud(
            draw, rng, cx, cy, frame.px(rng.uniform(40, 75)), mix(sky.at(cy), (255, 255, 255), 0.7)
        )
    for _ in range(rng.randint(2, 5)):
        bx, by = rng.uniform(0.1, 0.9) * w, rng.uniform(0.15, 0.7) * horizon
        span = frame.px(rng.uniform(10, 18))
        draw.line(
            [(bx - span, by - span * 0.5), (bx, by), (bx + span, by - span * 0.5)],
            fill=mix(sky.top, (20, 20, 30), 0.7),
            width=frame.px(3),
        )
    return sky


def cloud(
    draw: ImageDraw.ImageDraw, rng: random.Random, cx: float, cy: float, size: float, colour: RGB
) -> None:
    """A cumulus of overlapping ellipses with a flat-ish base."""
    for _ in range(rng.randint(4, 6)):
        ox = rng.uniform(-2.0, 2.0) * size
        oy = rng.uniform(-0.5, 0.2) * size
        rx, ry = size * rng.uniform(0.9, 1.5), size * rng.uniform(0.55, 0.85)
        draw.ellipse((cx + ox - rx, cy + oy - ry, cx + ox + rx, cy + oy + ry), fill=colour)


def paint_hills(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    frame: Frame,
    sky: Sky,
    land_hue: float,
    layers: int = 3,
) -> list[tuple[float, float]]:
    """Ridges from far (hazy, sky-tinted) to near; returns the nearest ridge line."""
    w, h = frame.width, frame.height
    near: list[tuple[float, float]] = []
    for layer in range(layers):
        depth = layer / max(1, layers - 1)  # 0 far, 1 near
        base = sky.horizon + h * 0.09 * depth
        amplitude = h * (0.06 - 0.02 * depth)
        colour = mix(
            sky.bottom, hsl(land_hue, 0.45, 0.26 + 0.12 * (1 - depth)), 0.45 + 0.55 * depth
        )
        waves = [
            (rng.uniform(1.0, 2.5) * math.tau / w, rng.uniform(0, math.tau), 1.0),
            (rng.uniform(3.0, 6.0) * math.tau / w, rng.uniform(0, math.tau), 0.35),
        ]
        step = max(1, w // 96)
        near = [
            (float(x), base - amplitude * sum(a * math.sin(f * x + p) for f, p, a in waves))
            for x in range(0, w + step, step)
        ]
        draw.polygon([*near, (w, h), (0, h)], fill=colour)
    return near


def meadow(
    draw: ImageDraw.ImageDraw, rng: random.Random, frame: Frame, top: float, ground: RGB
) -> None:
    """Grass tufts and a few flowers in rows from ``top`` down to the title band,
    larger towards the camera: the near field gets texture and depth."""
    blade = mix(ground, (0, 0, 0), 0.25)
    light = mix(ground, (255, 255, 255), 0.15)
    y = top + frame.px(10)
    size = frame.px(7)
    while y < frame.content_bottom:
        x = rng.uniform(0, frame.px(90))
        while x < frame.width:
            colour = blade if rng.random() < 0.7 else light
            width = max(1, size // 4)
            for lean in (-0.6, 0.0, 0.6):
                draw.line(
                    (x, y, x + lean * size, y - size * (1.4 - abs(lean) * 0.5)),
                    fill=colour,
                    width=width,
                )
            if rng.random() < 0.08:
                r = max(1, size // 3)
                petal = rng.choice(((250, 240, 240), (250, 210, 80), (230, 90, 110)))
                draw.ellipse((x - r, y - size * 1.6 - r, x + r, y - size * 1.6 + r), fill=petal)
            x += frame.px(rng.uniform(50, 130)) * (1 + size / frame.px(20))
        y += size * 2.6
        size = max(size + 1, round(size * 1.18))


def tree(
    draw: ImageDraw.ImageDraw, x: float, ground: float, size: float, leaf: RGB, round_top: bool
) -> None:
    trunk = (92, 62, 40)
    draw.rectangle((x - size * 0.05, ground - size * 0.3, x + size * 0.05, ground), fill=trunk)
    if round_top:
        r = size * 0.33
        for ox, oy, k in ((-0.45, 0.1, 0.8), (0.45, 0.1, 0.8), (0.0, -0.25, 1.0)):
            rr = r * k
            cx, cy = x + ox * r, ground - size * 0.62 + oy * r
            draw.ellipse((cx - rr, cy - rr, cx + rr, cy + rr), fill=leaf)
    else:
        half = size * 0.3
        draw.polygon(
            [(x, ground - size), (x - half, ground - size * 0.2), (x + half, ground - size * 0.2)],
            fill=leaf,
        )


def house(
    draw: ImageDraw.ImageDraw, x: float, ground: float, size: float, wall: RGB, roof: RGB
) -> None:
    """A cottage: wall, pitched roof, door and a window; ``x`` is its centre."""
    half = size * 0.5
    top = ground - size * 0.62
    draw.rectangle((x - half, top, x + half, ground), fill=wall)
    draw.polygon(
        [(x - half * 1.2, top + 1), (x, ground - size * 1.08), (x + half * 1.2, top + 1)], fill=roof
    )
    door = mix(roof, (30, 20, 15), 0.4)
    draw.rectangle((x - size * 0.1, ground - size * 0.34, x + size * 0.1, ground), fill=door)
    glass = (250, 228, 150)
    for side in (-1, 1):
        wx = x + side * size * 0.3
        draw.rectangle(
            (wx - size * 0.08, top + size * 0.12, wx + size * 0.08, top + size * 0.28), fill=glass
        )
        draw.line(
            (wx, top + size * 0.12, wx, top + size * 0.28),
            fill=door,
            width=max(1, round(size * 0.015)),
        )


def ground_colour(ask: Ask) -> RGB:
    """The near field's colour: grass for most candidates, dry grass for one."""
    return hsl(ask.pick((0.27, 0.31, 0.12, 0.36), salt=3), 0.45, 0.26)
