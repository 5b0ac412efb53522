"""The offline renderer's b-roll: a landscape under a sky."""

from __future__ import annotations

import math
import random

from PIL import Image, ImageDraw

from handlers.drawing.shapes import Frame, hsl, vertical_gradient
from handlers.drawing.text import mix


def paint_b_roll(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: Frame
) -> None:
    w, h = frame.width, frame.height
    # Sky hues people read as sky (day blue, dusk orange, violet), nudged by the seed.
    sky_hue = rng.choice([0.57, 0.6, 0.63, 0.06, 0.09, 0.76]) + rng.uniform(-0.02, 0.02)
    sky_top = hsl(sky_hue, 0.55, 0.5)
    sky_bottom = hsl(sky_hue + 0.04, 0.65, 0.86)
    image.paste(vertical_gradient(w, h, sky_top, sky_bottom), (0, 0))

    sun_r = frame.px(rng.uniform(60, 100))
    sun_x = rng.uniform(0.15, 0.85) * w
    sun_y = rng.uniform(0.14, 0.3) * h
    sun = hsl(rng.uniform(0.1, 0.15), 0.95, 0.72)
    sky_at_sun = mix(sky_top, sky_bottom, sun_y / h)
    for ring, strength in ((2.2, 0.18), (1.7, 0.35), (1.3, 0.6), (1.0, 1.0)):
        r = sun_r * ring
        draw.ellipse(
            (sun_x - r, sun_y - r, sun_x + r, sun_y + r), fill=mix(sky_at_sun, sun, strength)
        )

    for _ in range(rng.randint(2, 4)):
        cloud_x = rng.uniform(0.05, 0.95) * w
        cloud_y = rng.uniform(0.08, 0.35) * h
        cloud = mix(mix(sky_top, sky_bottom, cloud_y / h), (255, 255, 255), 0.8)
        size = frame.px(rng.uniform(50, 80))
        for _ in range(rng.randint(3, 5)):
            ox = rng.uniform(-2.0, 2.0) * size
            oy = rng.uniform(-0.4, 0.3) * size
            rx, ry = size * rng.uniform(0.9, 1.5), size * rng.uniform(0.6, 0.9)
            draw.ellipse(
                (cloud_x + ox - rx, cloud_y + oy - ry, cloud_x + ox + rx, cloud_y + oy + ry),
                fill=cloud,
            )

    for _ in range(rng.randint(2, 5)):
        bx, by = rng.uniform(0.1, 0.9) * w, rng.uniform(0.1, 0.4) * h
        span = frame.px(rng.uniform(12, 22))
        bird = mix(sky_top, (20, 20, 30), 0.7)
        draw.line(
            [(bx - span, by - span * 0.5), (bx, by), (bx + span, by - span * 0.5)],
            fill=bird,
            width=frame.px(3),
        )

    land_hue = rng.choice([0.27, 0.31, 0.36, 0.12]) + rng.uniform(-0.03, 0.03)
    layers = 3
    near_ridge: list[tuple[float, float]] = []
    for layer in range(layers):
        depth = layer / (layers - 1)  # 0 far, 1 near
        base = h * (0.55 + 0.12 * depth)
        amplitude = h * (0.07 - 0.02 * depth)
        colour = mix(sky_bottom, hsl(land_hue, 0.45, 0.28 + 0.1 * (1 - depth)), 0.45 + 0.55 * depth)
        waves = [
            (rng.uniform(1.0, 2.5) * math.tau / w, rng.uniform(0, math.tau), 1.0),
            (rng.uniform(3.0, 6.0) * math.tau / w, rng.uniform(0, math.tau), 0.35),
        ]
        step = max(1, w // 96)
        ridge = [
            (float(x), base - amplitude * sum(a * math.sin(f * x + p) for f, p, a in waves))
            for x in range(0, w + step, step)
        ]
        draw.polygon([*ridge, (w, h), (0, h)], fill=colour)
        near_ridge = ridge

    tree = hsl(land_hue, 0.5, 0.18)
    trunk = hsl(0.07, 0.4, 0.22)
    for _ in range(rng.randint(4, 8)):
        point = near_ridge[rng.randrange(len(near_ridge))]
        tx, ty = point[0], point[1] + frame.px(10)
        tree_h = frame.px(rng.uniform(70, 130))
        half = tree_h * 0.32
        draw.rectangle((tx - tree_h * 0.05, ty - tree_h * 0.2, tx + tree_h * 0.05, ty), fill=trunk)
        draw.polygon(
            [(tx, ty - tree_h), (tx - half, ty - tree_h * 0.15), (tx + half, ty - tree_h * 0.15)],
            fill=tree,
        )
