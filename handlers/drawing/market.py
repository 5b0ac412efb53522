"""The offline renderer's market: a row of stalls with striped awnings and goods on
the counters, sellers behind them and shoppers in front, under old-town houses."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from handlers.drawing.keywords import Ask
from handlers.drawing.landscape import paint_sky
from handlers.drawing.people import draw_bust, draw_crowd, random_look
from handlers.drawing.shapes import Frame, hsl
from handlers.drawing.text import RGB, mix

# Awning stripe pairs: red/cream, green/white, blue/sand, orange/white, purple/cream.
AWNINGS: tuple[tuple[RGB, RGB], ...] = (
    ((196, 52, 46), (246, 234, 214)),
    ((40, 130, 80), (240, 240, 232)),
    ((44, 86, 160), (232, 214, 170)),
    ((230, 126, 34), (250, 244, 230)),
    ((120, 60, 140), (240, 226, 200)),
)
# Fruit and vegetables: oranges, apples, lemons, aubergines, greens.
GOODS: tuple[RGB, ...] = (
    (240, 140, 30),
    (200, 40, 40),
    (240, 210, 50),
    (90, 50, 110),
    (90, 160, 60),
)
WOOD: RGB = (150, 100, 60)


def _awning(
    draw: ImageDraw.ImageDraw,
    x0: float,
    x1: float,
    top: float,
    depth: float,
    colours: tuple[RGB, RGB],
) -> None:
    """A striped awning seen from the front: slanted stripes and a scalloped hem."""
    stripes = 8
    width = (x1 - x0) / stripes
    slant = depth * 0.25
    for index in range(stripes):
        sx = x0 + index * width
        draw.polygon(
            [
                (sx + slant, top),
                (sx + width + slant, top),
                (sx + width, top + depth),
                (sx, top + depth),
            ],
            fill=colours[index % 2],
        )
        r = width / 2
        draw.pieslice(
            (sx, top + depth - r, sx + width, top + depth + r), 0, 180, fill=colours[index % 2]
        )


def _goods(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    x0: float,
    x1: float,
    counter_y: float,
    unit: float,
) -> None:
    """Baskets and crates heaped with fruit along the counter top."""
    x = x0 + unit * 0.4
    while x + unit * 2.2 < x1:
        span = unit * rng.uniform(1.6, 2.4)
        colour = rng.choice(GOODS)
        if rng.random() < 0.5:
            # Basket: a half ellipse with a rim.
            draw.chord(
                (x, counter_y - unit * 0.9, x + span, counter_y + unit * 0.2),
                0,
                180,
                fill=(176, 130, 70),
            )
            heap_base = counter_y - unit * 0.35
        else:
            draw.rectangle((x, counter_y - unit * 0.6, x + span, counter_y), fill=(190, 150, 100))
            draw.line(
                (x, counter_y - unit * 0.3, x + span, counter_y - unit * 0.3),
                fill=WOOD,
                width=max(1, round(unit * 0.06)),
            )
            heap_base = counter_y - unit * 0.6
        r = unit * 0.26
        for row in range(3):
            n = 4 - row
            for k in range(n):
                fx = x + span / 2 + (k - (n - 1) / 2) * r * 1.7
                fy = heap_base - row * r * 1.4
                shade = mix(colour, (255, 255, 255), 0.12 * ((k + row) % 2))
                draw.ellipse((fx - r, fy - r, fx + r, fy + r), fill=shade)
        x += span + unit * rng.uniform(0.3, 0.6)


def _stall(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    frame: Frame,
    x0: float,
    x1: float,
    ground: float,
    height: float,
    colours: tuple[RGB, RGB],
) -> None:
    unit = height * 0.1
    top = ground - height
    post = unit * 0.22
    for px in (x0 + post, x1 - post * 2):
        draw.rectangle((px, top + unit, px + post, ground), fill=mix(WOOD, (0, 0, 0), 0.25))
    # Back cloth behind the seller, in a shade of the awning so each stall reads as one.
    draw.rectangle(
        (x0 + post * 2, top + unit * 2, x1 - post * 2, ground - height * 0.35),
        fill=mix(colours[0], (40, 30, 20), 0.55),
    )
    counter_y = ground - height * 0.38
    draw_bust(
        draw,
        x0 + (x1 - x0) * rng.uniform(0.3, 0.7),
        counter_y + unit * 0.2,
        height * 0.36,
        random_look(rng),
    )
    _goods(draw, rng, x0 + post, x1 - post, counter_y, unit)
    # Counter front: planks.
    draw.rectangle((x0, counter_y, x1, ground - unit * 0.3), fill=WOOD)
    for k in range(1, 4):
        ly = counter_y + (ground - unit * 0.3 - counter_y) * k / 4
        draw.line((x0, ly, x1, ly), fill=mix(WOOD, (0, 0, 0), 0.3), width=frame.px(3))
    _awning(draw, x0 - unit * 0.4, x1 + unit * 0.4, top, unit * 1.8, colours)


def _old_town(draw: ImageDraw.ImageDraw, rng: random.Random, frame: Frame, ground: float) -> None:
    """Plastered houses with tiled roofs and small windows behind the stalls."""
    x = -frame.px(rng.uniform(0, 100))
    while x < frame.width:
        bw = frame.px(rng.uniform(180, 300))
        tall = frame.px(rng.uniform(180, 320))
        wall = hsl(rng.uniform(0.06, 0.12), rng.uniform(0.25, 0.5), rng.uniform(0.68, 0.82))
        draw.rectangle((x, ground - tall, x + bw, ground), fill=wall)
        roof = hsl(0.03, 0.5, rng.uniform(0.35, 0.45))
        draw.polygon(
            [
                (x - frame.px(10), ground - tall),
                (x + bw / 2, ground - tall - frame.px(60)),
                (x + bw + frame.px(10), ground - tall),
            ],
            fill=roof,
        )
        glass = mix(wall, (40, 50, 70), 0.6)
        for wy in range(2):
            for wx in range(3):
                px0 = x + bw * (0.15 + wx * 0.27)
                py0 = ground - tall + frame.px(40) + wy * frame.px(90)
                if py0 + frame.px(50) < ground - frame.px(20):
                    draw.rectangle((px0, py0, px0 + bw * 0.14, py0 + frame.px(50)), fill=glass)
        x += bw


def paint_market(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: Frame, ask: Ask
) -> None:
    """Stalls along a square. Candidates change the camera height, how many stalls fit
    and which side the shoppers gather on; more shoppers when the text names people."""
    w = frame.width
    ground = frame.content_bottom * ask.pick((0.78, 0.7, 0.86), salt=2)
    houses_ground = ground - frame.px(200)
    paint_sky(draw, image, rng, frame, ask, houses_ground)
    _old_town(draw, rng, frame, houses_ground)

    # Cobbled square: staggered stones over an earth base, smaller towards the back.
    earth = (170, 150, 120)
    draw.rectangle((0, houses_ground, w, frame.height), fill=earth)
    stone = mix(earth, (255, 255, 255), 0.22)
    y = houses_ground + frame.px(6)
    size = frame.px(22)
    row = 0
    # Stones stop at the title band: under it they would only cost PNG bytes.
    while y < frame.content_bottom:
        offset = (row % 2) * size
        for x in range(-size + offset, w, size * 2 + frame.px(6)):
            draw.ellipse((x, y, x + size * 2, y + size), fill=stone)
        y += size + frame.px(6)
        size = max(2, round(size * 1.12))
        row += 1

    stalls = ask.pick((3, 4, 2), salt=3)
    margin = frame.px(40)
    span = (w - 2 * margin) / stalls
    palette = list(AWNINGS)
    rng.shuffle(palette)
    stall_h = (ground - frame.px(40)) * 0.62
    for index in range(stalls):
        x0 = margin + index * span + frame.px(24)
        _stall(
            draw,
            rng,
            frame,
            x0,
            x0 + span - frame.px(48),
            ground,
            stall_h,
            palette[index % len(palette)],
        )

    side = ask.pick((0.3, 0.7, 0.5), salt=4)
    count = rng.randint(6, 9) if ask.has("people") else rng.randint(3, 5)
    spread = w * 0.55
    left = max(frame.px(40), w * side - spread / 2)
    draw_crowd(
        draw,
        rng,
        left,
        min(w - frame.px(40), left + spread),
        ground + frame.px(140),
        stall_h * 0.9,
        count,
        earth,
    )
