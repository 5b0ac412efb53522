"""Small flat icons for the things a description names: coins, blocks, people, a
bank, a phone, a laptop, a chart, a house, a map, a network, a market, a city.

Each icon fits the square of side ``s`` centred on (cx, cy), in the given ink with
``paper`` for cut-outs, so it sits on a diagram node or a desk alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from PIL import ImageDraw

from handlers.drawing.shapes import rounded
from handlers.drawing.text import RGB, mix

GOLD: RGB = (238, 170, 40)
Icon = Callable[[ImageDraw.ImageDraw, float, float, float, RGB, RGB], None]


def _w(s: float, k: float) -> int:
    return max(1, round(s * k))


def coin(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB) -> None:
    """A small stack of coins behind one coin facing the viewer."""
    rim = mix(GOLD, (90, 50, 0), 0.45)
    for k in range(3):
        y = cy + s * 0.36 - k * s * 0.07
        draw.ellipse(
            (cx - s * 0.46, y - s * 0.1, cx + s * 0.06, y + s * 0.1),
            fill=GOLD,
            outline=rim,
            width=_w(s, 0.02),
        )
    r = s * 0.3
    fx, fy = cx + s * 0.14, cy - s * 0.06
    draw.ellipse((fx - r, fy - r, fx + r, fy + r), fill=GOLD, outline=rim, width=_w(s, 0.035))
    inner = r * 0.7
    draw.ellipse((fx - inner, fy - inner, fx + inner, fy + inner), outline=rim, width=_w(s, 0.025))
    # A "B" with its two strokes through it, the sign people read as bitcoin.
    bw = r * 0.5
    stroke = _w(s, 0.03)
    draw.line((fx - bw * 0.4, fy - r * 0.45, fx - bw * 0.4, fy + r * 0.45), fill=rim, width=stroke)
    for top, bottom in ((fy - r * 0.45, fy), (fy, fy + r * 0.45)):
        draw.arc((fx - bw * 0.6, top, fx + bw * 0.55, bottom), 270, 90, fill=rim, width=stroke)
        draw.line((fx - bw * 0.4, top, fx, top), fill=rim, width=stroke)
    draw.line((fx - bw * 0.4, fy + r * 0.45, fx, fy + r * 0.45), fill=rim, width=stroke)


def block(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB) -> None:
    """An isometric cube: top, left and right faces in three shades of the ink."""
    a = s * 0.4
    top = [(cx, cy - a), (cx + a * 0.87, cy - a * 0.5), (cx, cy), (cx - a * 0.87, cy - a * 0.5)]
    left = [(cx - a * 0.87, cy - a * 0.5), (cx, cy), (cx, cy + a), (cx - a * 0.87, cy + a * 0.5)]
    right = [(cx, cy), (cx + a * 0.87, cy - a * 0.5), (cx + a * 0.87, cy + a * 0.5), (cx, cy + a)]
    draw.polygon(top, fill=mix(ink, (255, 255, 255), 0.45))
    draw.polygon(left, fill=ink)
    draw.polygon(right, fill=mix(ink, (0, 0, 0), 0.3))
    # Lines on the left face stand for the records a block holds.
    for k in (0.35, 0.6):
        draw.line(
            (cx - a * 0.7, cy - a * 0.4 + a * k * 1.2, cx - a * 0.15, cy - a * 0.1 + a * k * 1.2),
            fill=paper,
            width=_w(s, 0.03),
        )


def person(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB) -> None:
    r = s * 0.17
    draw.ellipse((cx - r, cy - s * 0.36, cx + r, cy - s * 0.36 + 2 * r), fill=ink)
    rounded(
        draw,
        (cx - s * 0.32, cy + s * 0.04, cx + s * 0.32, cy + s * 0.44),
        round(s * 0.16),
        fill=ink,
    )


def people(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB) -> None:
    back = mix(ink, paper, 0.35)
    person(draw, cx - s * 0.24, cy - s * 0.04, s * 0.7, back, paper)
    person(draw, cx + s * 0.24, cy - s * 0.04, s * 0.7, back, paper)
    person(draw, cx, cy + s * 0.04, s * 0.8, ink, paper)


def bank(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB) -> None:
    half = s * 0.42
    draw.polygon(
        [(cx - half, cy - s * 0.18), (cx, cy - s * 0.42), (cx + half, cy - s * 0.18)], fill=ink
    )
    draw.rectangle((cx - half, cy + s * 0.3, cx + half, cy + s * 0.4), fill=ink)
    for k in range(4):
        x = cx - half + s * 0.06 + k * (2 * half - s * 0.2) / 3
        draw.rectangle((x, cy - s * 0.12, x + s * 0.08, cy + s * 0.26), fill=ink)


def phone(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB) -> None:
    rounded(
        draw,
        (cx - s * 0.24, cy - s * 0.44, cx + s * 0.24, cy + s * 0.44),
        round(s * 0.08),
        fill=ink,
    )
    rounded(
        draw,
        (cx - s * 0.19, cy - s * 0.36, cx + s * 0.19, cy + s * 0.32),
        round(s * 0.03),
        fill=paper,
    )
    for k in range(3):
        y = cy - s * 0.26 + k * s * 0.14
        draw.rectangle(
            (cx - s * 0.13, y, cx + s * (0.13 - 0.05 * k), y + s * 0.06), fill=mix(ink, paper, 0.5)
        )
    draw.ellipse((cx - s * 0.03, cy + s * 0.35, cx + s * 0.03, cy + s * 0.41), fill=paper)


def laptop(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB) -> None:
    rounded(
        draw,
        (cx - s * 0.36, cy - s * 0.34, cx + s * 0.36, cy + s * 0.16),
        round(s * 0.04),
        fill=ink,
    )
    draw.rectangle((cx - s * 0.3, cy - s * 0.28, cx + s * 0.3, cy + s * 0.1), fill=paper)
    line = [
        (cx - s * 0.26, cy + s * 0.04),
        (cx - s * 0.1, cy - s * 0.06),
        (cx + s * 0.04, cy),
        (cx + s * 0.24, cy - s * 0.2),
    ]
    draw.line(line, fill=ink, width=_w(s, 0.035))
    draw.polygon(
        [
            (cx - s * 0.42, cy + s * 0.2),
            (cx + s * 0.42, cy + s * 0.2),
            (cx + s * 0.48, cy + s * 0.3),
            (cx - s * 0.48, cy + s * 0.3),
        ],
        fill=ink,
    )


def chart(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB) -> None:
    x0, y0, x1, y1 = cx - s * 0.4, cy - s * 0.4, cx + s * 0.4, cy + s * 0.36
    stroke = _w(s, 0.04)
    draw.line((x0, y0, x0, y1, x1, y1), fill=ink, width=stroke)
    for k, share in enumerate((0.3, 0.5, 0.42, 0.75)):
        bx = x0 + s * 0.1 + k * s * 0.17
        draw.rectangle(
            (bx, y1 - (y1 - y0) * share, bx + s * 0.11, y1 - stroke), fill=mix(ink, paper, 0.35)
        )
    points = [
        (x0 + s * 0.15 + k * s * 0.17, y1 - (y1 - y0) * v)
        for k, v in enumerate((0.45, 0.62, 0.58, 0.92))
    ]
    draw.line(points, fill=ink, width=stroke, joint="curve")


def house(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB) -> None:
    draw.polygon(
        [(cx - s * 0.42, cy - s * 0.02), (cx, cy - s * 0.42), (cx + s * 0.42, cy - s * 0.02)],
        fill=ink,
    )
    draw.rectangle((cx - s * 0.3, cy - s * 0.06, cx + s * 0.3, cy + s * 0.38), fill=ink)
    draw.rectangle((cx - s * 0.08, cy + s * 0.12, cx + s * 0.08, cy + s * 0.38), fill=paper)


def world_map(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB
) -> None:
    """A folded map in three panels with a location pin."""
    xs = [cx - s * 0.42 + k * s * 0.28 for k in range(4)]
    for k in range(3):
        dy = s * 0.06 if k % 2 else -s * 0.06
        shade = mix(ink, paper, 0.25 if k % 2 else 0.5)
        draw.polygon(
            [
                (xs[k], cy - s * 0.3 - dy),
                (xs[k + 1], cy - s * 0.3 + dy),
                (xs[k + 1], cy + s * 0.34 + dy),
                (xs[k], cy + s * 0.34 - dy),
            ],
            fill=shade,
        )
    r = s * 0.1
    px, py = cx + s * 0.05, cy - s * 0.1
    draw.polygon(
        [(px - r * 0.9, py + r * 0.3), (px, py + r * 2.4), (px + r * 0.9, py + r * 0.3)],
        fill=(220, 60, 50),
    )
    draw.ellipse((px - r, py - r, px + r, py + r), fill=(220, 60, 50))
    draw.ellipse((px - r * 0.4, py - r * 0.4, px + r * 0.4, py + r * 0.4), fill=paper)


def network(
    draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB
) -> None:
    points = [(cx, cy)]
    for k in range(5):
        angle = -math.pi / 2 + k * math.tau / 5
        points.append((cx + math.cos(angle) * s * 0.34, cy + math.sin(angle) * s * 0.34))
    stroke = _w(s, 0.03)
    for k in range(1, 6):
        draw.line((points[0], points[k]), fill=ink, width=stroke)
        draw.line((points[k], points[k % 5 + 1]), fill=mix(ink, paper, 0.4), width=stroke)
    for k, (x, y) in enumerate(points):
        r = s * (0.1 if k == 0 else 0.07)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=ink)


def market(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB) -> None:
    top = cy - s * 0.36
    for k in range(5):
        x = cx - s * 0.4 + k * s * 0.16
        fill = ink if k % 2 == 0 else mix(ink, paper, 0.6)
        draw.rectangle((x, top, x + s * 0.16, top + s * 0.2), fill=fill)
        draw.pieslice((x, top + s * 0.12, x + s * 0.16, top + s * 0.28), 0, 180, fill=fill)
    draw.rectangle((cx - s * 0.36, cy - s * 0.1, cx - s * 0.3, cy + s * 0.4), fill=ink)
    draw.rectangle((cx + s * 0.3, cy - s * 0.1, cx + s * 0.36, cy + s * 0.4), fill=ink)
    draw.rectangle((cx - s * 0.4, cy + s * 0.12, cx + s * 0.4, cy + s * 0.24), fill=ink)


def city(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB) -> None:
    for x0, x1, top in ((-0.42, -0.14, -0.1), (-0.12, 0.14, -0.42), (0.16, 0.42, -0.24)):
        draw.rectangle((cx + s * x0, cy + s * top, cx + s * x1, cy + s * 0.4), fill=ink)
        y = cy + s * top + s * 0.08
        while y < cy + s * 0.3:
            draw.rectangle(
                (cx + s * (x0 + 0.06), y, cx + s * (x1 - 0.06), y + s * 0.04), fill=paper
            )
            y += s * 0.1


def dot(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, ink: RGB, paper: RGB) -> None:
    r = s * 0.3
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=ink)


ICONS: dict[str, Icon] = {
    "coin": coin,
    "block": block,
    "people": people,
    "bank": bank,
    "phone": phone,
    "computer": laptop,
    "chart": chart,
    "house": house,
    "map": world_map,
    "network": network,
    "market": market,
    "city": city,
}


def icons_for(subjects: tuple[str, ...]) -> list[Icon]:
    """Icons for the named subjects that have one, in the order they were named."""
    return [ICONS[name] for name in subjects if name in ICONS]
