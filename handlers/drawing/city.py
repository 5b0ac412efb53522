"""The offline renderer's city: a skyline of buildings with window grids, a street
with pedestrians, and a classical bank building when the text names a bank."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from handlers.drawing.keywords import Ask
from handlers.drawing.landscape import Sky, paint_sky, tree
from handlers.drawing.people import draw_crowd
from handlers.drawing.shapes import Frame, hsl
from handlers.drawing.text import RGB, mix


def _windows(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    box: tuple[float, float, float, float],
    cell: float,
    lit: RGB,
    dark: RGB,
    lit_share: float,
) -> None:
    """A grid of windows inside a facade; a share of them lit."""
    x0, y0, x1, y1 = box
    columns = max(1, int((x1 - x0) / cell))
    rows = max(1, int((y1 - y0) / (cell * 1.4)))
    gap_x = (x1 - x0) / columns
    gap_y = (y1 - y0) / rows
    win_w, win_h = gap_x * 0.55, gap_y * 0.55
    for row in range(rows):
        wy = y0 + row * gap_y + (gap_y - win_h) / 2
        for column in range(columns):
            wx = x0 + column * gap_x + (gap_x - win_w) / 2
            colour = lit if rng.random() < lit_share else dark
            draw.rectangle((wx, wy, wx + win_w, wy + win_h), fill=colour)


def _skyline(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    frame: Frame,
    sky: Sky,
    ground: float,
    hue: float,
    near: bool,
) -> None:
    """One row of buildings standing on ``ground``; the far row is hazy and plain."""
    w = frame.width
    x = -frame.px(rng.uniform(0, 80))
    lit = hsl(0.13, 0.9, 0.75)
    while x < w:
        bw = frame.px(rng.uniform(120, 240) if near else rng.uniform(80, 170))
        tall = (ground - frame.px(40)) * (
            rng.uniform(0.35, 0.85) if near else rng.uniform(0.45, 0.95)
        )
        top = ground - tall
        if near:
            wall = hsl(
                hue + rng.uniform(-0.05, 0.05), rng.uniform(0.08, 0.25), rng.uniform(0.3, 0.5)
            )
            draw.rectangle((x, top, x + bw, ground), fill=wall)
            # A lit edge on one side gives the blocks volume.
            draw.rectangle((x, top, x + bw * 0.08, ground), fill=mix(wall, (255, 255, 255), 0.18))
            if rng.random() < 0.35:
                draw.rectangle(
                    (x + bw * 0.15, top - frame.px(26), x + bw * 0.85, top),
                    fill=mix(wall, (0, 0, 0), 0.15),
                )
            _windows(
                draw, rng,
                (x + bw * 0.14, top + frame.px(22), x + bw * 0.94, ground - frame.px(24)),
                frame.px(rng.choice((26, 32, 40))), lit, mix(wall, (10, 20, 40), 0.45),
                rng.uniform(0.25, 0.6),
            )  # fmt: skip
        else:
            wall = mix(sky.bottom, hsl(hue, 0.2, 0.35), 0.45)
            draw.rectangle((x, top, x + bw, ground), fill=wall)
            if rng.random() < 0.25:
                mast = x + bw / 2
                draw.rectangle(
                    (mast - frame.px(3), top - frame.px(70), mast + frame.px(3), top), fill=wall
                )
        x += bw + frame.px(rng.uniform(0, 14))


def _bank(draw: ImageDraw.ImageDraw, frame: Frame, cx: float, ground: float, size: float) -> None:
    """A classical bank: steps, columns, a pediment with a round emblem."""
    stone = (226, 220, 206)
    shade = (176, 168, 152)
    half = size * 0.55
    top = ground - size * 0.78
    for step in range(3):
        inset = step * size * 0.025
        sy = ground - (step + 1) * size * 0.03
        draw.rectangle(
            (
                cx - half - size * 0.08 + inset,
                sy,
                cx + half + size * 0.08 - inset,
                sy + size * 0.03,
            ),
            fill=shade if step % 2 else stone,
        )
    body_bottom = ground - size * 0.09
    draw.rectangle((cx - half, top, cx + half, body_bottom), fill=mix(stone, (0, 0, 0), 0.2))
    columns = 6
    col_w = size * 0.07
    for index in range(columns):
        colx = cx - half + size * 0.05 + index * (2 * half - size * 0.1 - col_w) / (columns - 1)
        draw.rectangle((colx, top + size * 0.05, colx + col_w, body_bottom), fill=stone)
        draw.line(
            (colx + col_w * 0.5, top + size * 0.08, colx + col_w * 0.5, body_bottom - size * 0.02),
            fill=shade,
            width=max(1, round(col_w * 0.12)),
        )
    draw.rectangle(
        (cx - half - size * 0.04, top - size * 0.02, cx + half + size * 0.04, top + size * 0.06),
        fill=stone,
    )
    peak = top - size * 0.28
    draw.polygon(
        [
            (cx - half - size * 0.06, top - size * 0.02),
            (cx, peak),
            (cx + half + size * 0.06, top - size * 0.02),
        ],
        fill=stone,
    )
    draw.polygon(
        [
            (cx - half * 0.7, top - size * 0.05),
            (cx, peak + size * 0.06),
            (cx + half * 0.7, top - size * 0.05),
        ],
        fill=shade,
    )
    r = size * 0.06
    ey = top - size * 0.1
    draw.ellipse((cx - r, ey - r, cx + r, ey + r), fill=hsl(0.12, 0.8, 0.55))


def _car(draw: ImageDraw.ImageDraw, x: float, road_y: float, length: float, colour: RGB) -> None:
    """A side-on car, ``x`` its left end, wheels on ``road_y``."""
    h = length * 0.2
    wheel = length * 0.09
    body_top = road_y - wheel - h
    draw.rounded_rectangle(
        (x, body_top, x + length, road_y - wheel * 0.6), radius=max(1, round(h * 0.4)), fill=colour
    )
    draw.polygon(
        [(x + length * 0.22, body_top + 1), (x + length * 0.32, body_top - h * 0.75),
         (x + length * 0.7, body_top - h * 0.75), (x + length * 0.82, body_top + 1)],
        fill=colour,
    )  # fmt: skip
    glass = (170, 200, 220)
    draw.polygon(
        [(x + length * 0.27, body_top), (x + length * 0.34, body_top - h * 0.6),
         (x + length * 0.5, body_top - h * 0.6), (x + length * 0.5, body_top)],
        fill=glass,
    )  # fmt: skip
    draw.polygon(
        [(x + length * 0.53, body_top), (x + length * 0.53, body_top - h * 0.6),
         (x + length * 0.68, body_top - h * 0.6), (x + length * 0.77, body_top)],
        fill=glass,
    )  # fmt: skip
    draw.rectangle(
        (x + length * 0.93, body_top + h * 0.2, x + length, body_top + h * 0.45),
        fill=(250, 236, 170),
    )
    for wx in (x + length * 0.22, x + length * 0.78):
        draw.ellipse((wx - wheel, road_y - 2 * wheel, wx + wheel, road_y), fill=(30, 30, 34))
        hub = wheel * 0.45
        draw.ellipse(
            (wx - hub, road_y - wheel - hub, wx + hub, road_y - wheel + hub), fill=(170, 170, 176)
        )


def paint_city(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: Frame, ask: Ask
) -> None:
    """Skyline over a street; pedestrians when people are named, a bank in front when a
    bank is. The camera height and where the bank stands change per candidate."""
    w = frame.width
    street_y = frame.content_bottom * ask.pick((0.72, 0.8, 0.64), salt=2)
    sky = paint_sky(draw, image, rng, frame, ask, street_y * 0.8)
    hue = ask.pick((0.6, 0.08, 0.75), salt=3)
    _skyline(draw, rng, frame, sky, street_y - frame.px(30), hue, near=False)
    # The far row stands a little higher: fill below it so gaps in the near row show
    # more city, not the empty canvas.
    draw.rectangle(
        (0, street_y - frame.px(40), w, street_y), fill=mix(sky.bottom, hsl(hue, 0.2, 0.3), 0.6)
    )
    _skyline(draw, rng, frame, sky, street_y, hue, near=True)

    # Pavement, kerb and road; lane marks give the foreground edges and depth.
    pavement = (176, 170, 160)
    draw.rectangle((0, street_y, w, street_y + frame.px(70)), fill=pavement)
    for x in range(-frame.px(20), w, frame.px(90)):
        draw.line(
            (x, street_y, x + frame.px(30), street_y + frame.px(70)),
            fill=mix(pavement, (0, 0, 0), 0.12),
            width=frame.px(2),
        )
    draw.rectangle((0, street_y + frame.px(70), w, street_y + frame.px(82)), fill=(120, 118, 114))
    draw.rectangle((0, street_y + frame.px(82), w, frame.height), fill=(70, 72, 78))
    road_top = street_y + frame.px(82)
    lane_y = road_top + (frame.content_bottom - road_top) * 0.45
    for x in range(frame.px(30), w, frame.px(220)):
        draw.rectangle((x, lane_y, x + frame.px(120), lane_y + frame.px(10)), fill=(236, 232, 214))

    side = ask.pick((0.3, 0.7, 0.5), salt=4)
    if ask.has("bank"):
        _bank(draw, frame, w * side, street_y + frame.px(10), frame.px(430))
    leaf = hsl(0.3, 0.45, 0.3)
    for tx in (w * (1 - side) - frame.px(260), w * (1 - side) + frame.px(260)):
        tree(draw, tx, street_y + frame.px(8), frame.px(170), leaf, True)
    count = rng.randint(6, 9) if ask.has("people") else rng.randint(2, 4)
    draw_crowd(
        draw,
        rng,
        frame.px(60),
        w - frame.px(60),
        street_y + frame.px(66),
        frame.px(230),
        count,
        pavement,
    )
    # Traffic after the pedestrians: the road is nearer the camera than the pavement.
    # A car is about 0.45 of its length tall, so each lane's cars fit between its
    # wheel line and the line behind it.
    lanes = ((road_top, lane_y - frame.px(4)), (lane_y, frame.content_bottom - frame.px(8)))
    for back, wheels in lanes:
        length = min(frame.px(360), (wheels - back) / 0.45)
        car_x: float = -frame.px(rng.uniform(0, 300))
        while car_x < w and length > frame.px(40):
            colour = hsl(rng.random(), rng.uniform(0.4, 0.7), rng.uniform(0.35, 0.55))
            _car(draw, car_x, wheels, length, colour)
            car_x += length + frame.px(rng.uniform(260, 700))
