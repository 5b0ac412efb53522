"""The offline renderer's still life for b-roll about objects (coins, a phone, a
laptop, a chart, a map): a desk against a wall, with the named things on it."""

from __future__ import annotations

import random
from collections.abc import Callable

from PIL import Image, ImageDraw

from handlers.drawing.icons import GOLD, ICONS
from handlers.drawing.keywords import Ask
from handlers.drawing.landscape import cloud
from handlers.drawing.shapes import Frame, hsl, rounded, vertical_gradient
from handlers.drawing.text import RGB, mix

# Something on the desk: draw(draw, rng, centre_x, desk_y, scale, ink).
Prop = Callable[[ImageDraw.ImageDraw, random.Random, float, float, float, RGB], None]


def _laptop(
    draw: ImageDraw.ImageDraw, rng: random.Random, x: float, y: float, s: float, ink: RGB
) -> None:
    """Open laptop seen from the front; a chart or the accent icon on its screen."""
    w, h = s * 2.4, s * 1.5
    body = (54, 58, 66)
    rounded(draw, (x - w / 2, y - h - s * 0.1, x + w / 2, y - s * 0.1), round(s * 0.08), fill=body)
    screen = (x - w / 2 + s * 0.1, y - h, x + w / 2 - s * 0.1, y - s * 0.22)
    draw.rectangle(screen, fill=(238, 242, 248))
    points = []
    for k in range(8):
        px = screen[0] + (screen[2] - screen[0]) * (0.08 + 0.12 * k)
        py = screen[3] - (screen[3] - screen[1]) * (0.2 + 0.08 * k + rng.uniform(-0.08, 0.08))
        points.append((px, py))
    for k, (px, py) in enumerate(points[:-1]):
        draw.rectangle(
            (px - s * 0.05, py, px + s * 0.05, screen[3] - s * 0.04),
            fill=mix(ink, (255, 255, 255), 0.6 - 0.04 * k),
        )
    draw.line(points, fill=ink, width=max(1, round(s * 0.04)), joint="curve")
    draw.polygon(
        [
            (x - w / 2 - s * 0.2, y - s * 0.12),
            (x + w / 2 + s * 0.2, y - s * 0.12),
            (x + w / 2 + s * 0.32, y),
            (x - w / 2 - s * 0.32, y),
        ],
        fill=(150, 154, 162),
    )


def _phone(
    draw: ImageDraw.ImageDraw, rng: random.Random, x: float, y: float, s: float, ink: RGB
) -> None:
    """A phone on a small stand, screen lit with an app."""
    w, h = s * 0.7, s * 1.4
    draw.polygon(
        [
            (x - w * 0.5, y),
            (x + w * 0.5, y),
            (x + w * 0.2, y - s * 0.2),
            (x - w * 0.2, y - s * 0.2),
        ],
        fill=(80, 80, 88),
    )
    top = y - s * 0.12 - h
    rounded(draw, (x - w / 2, top, x + w / 2, y - s * 0.12), round(s * 0.12), fill=(30, 32, 38))
    rounded(
        draw,
        (x - w / 2 + s * 0.05, top + s * 0.06, x + w / 2 - s * 0.05, y - s * 0.18),
        round(s * 0.08),
        fill=mix(ink, (255, 255, 255), 0.82),
    )
    draw.rectangle((x - w * 0.3, top + s * 0.2, x + w * 0.3, top + s * 0.45), fill=ink)
    for k in range(3):
        ry = top + s * (0.58 + 0.2 * k)
        draw.rectangle(
            (x - w * 0.3, ry, x + w * (0.3 - 0.1 * k), ry + s * 0.08),
            fill=mix(ink, (255, 255, 255), 0.45),
        )


def _coins(
    draw: ImageDraw.ImageDraw, rng: random.Random, x: float, y: float, s: float, ink: RGB
) -> None:
    """Stacks of coins of different heights, each coin an ellipse over its edge."""
    rim = mix(GOLD, (90, 50, 0), 0.45)
    r, t = s * 0.32, s * 0.08
    for k in range(3):
        cx = x + (k - 1) * r * 2.3
        n = rng.randint(4, 11)
        for c in range(n):
            cy = y - r * 0.35 - c * t
            draw.rectangle((cx - r, cy, cx + r, cy + t), fill=rim)
            draw.ellipse(
                (cx - r, cy - r * 0.35, cx + r, cy + r * 0.35),
                fill=GOLD,
                outline=rim,
                width=max(1, round(s * 0.015)),
            )


def _mug(
    draw: ImageDraw.ImageDraw, rng: random.Random, x: float, y: float, s: float, ink: RGB
) -> None:
    colour = hsl(rng.random(), 0.5, 0.55)
    draw.arc(
        (x + s * 0.15, y - s * 0.62, x + s * 0.55, y - s * 0.22),
        270,
        90,
        fill=colour,
        width=max(1, round(s * 0.08)),
    )
    rounded(draw, (x - s * 0.3, y - s * 0.75, x + s * 0.32, y), round(s * 0.08), fill=colour)


def _plant(
    draw: ImageDraw.ImageDraw, rng: random.Random, x: float, y: float, s: float, ink: RGB
) -> None:
    leaf = hsl(0.32, 0.45, 0.34)
    for k in range(7):
        lx = x + (k - 3) * s * 0.16
        ly = y - s * (0.9 + 0.5 * (1 - abs(k - 3) / 3))
        draw.ellipse(
            (lx - s * 0.16, ly - s * 0.32, lx + s * 0.16, ly + s * 0.32),
            fill=mix(leaf, (255, 255, 255), 0.1 * (k % 2)),
        )
    draw.polygon(
        [
            (x - s * 0.4, y - s * 0.7),
            (x + s * 0.4, y - s * 0.7),
            (x + s * 0.3, y),
            (x - s * 0.3, y),
        ],
        fill=(190, 100, 70),
    )


def _frame_on_wall(
    draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], subject: str, ink: RGB
) -> None:
    """A framed print of the map or chart, drawn as its icon on paper."""
    x0, y0, x1, y1 = box
    draw.rectangle((x0, y0, x1, y1), fill=(70, 52, 40))
    pad = (x1 - x0) * 0.06
    paper = (246, 242, 232)
    draw.rectangle((x0 + pad, y0 + pad, x1 - pad, y1 - pad), fill=paper)
    ICONS[subject](draw, (x0 + x1) / 2, (y0 + y1) / 2, min(x1 - x0, y1 - y0) * 0.8, ink, paper)


def _window(
    draw: ImageDraw.ImageDraw,
    image: Image.Image,
    rng: random.Random,
    box: tuple[int, int, int, int],
) -> None:
    x0, y0, x1, y1 = box
    image.paste(
        vertical_gradient(x1 - x0, y1 - y0, hsl(0.58, 0.6, 0.55), hsl(0.55, 0.5, 0.88)), (x0, y0)
    )
    cloud(draw, rng, x0 + (x1 - x0) * 0.4, y0 + (y1 - y0) * 0.35, (x1 - x0) * 0.09, (250, 250, 252))
    frame_w = max(2, (x1 - x0) // 30)
    wood = (236, 232, 222)
    draw.rectangle(box, outline=wood, width=frame_w)
    draw.line(((x0 + x1) / 2, y0, (x0 + x1) / 2, y1), fill=wood, width=frame_w)
    draw.line((x0, (y0 + y1) / 2, x1, (y0 + y1) / 2), fill=wood, width=frame_w)


def paint_desk(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: Frame, ask: Ask
) -> None:
    """Wall with a window and a framed print, a desk with the named objects. Candidates
    change the wall colour, the desk height and the order of things."""
    w = frame.width
    p = frame.px
    desk_y = frame.content_bottom * ask.pick((0.64, 0.78, 0.54), salt=2)
    wall_hue = frame.hue
    # Light, dark (an evening room) and mid walls: the candidates' overall tone differs.
    wall_top = hsl(wall_hue, 0.25, ask.pick((0.8, 0.3, 0.6), salt=3))
    image.paste(
        vertical_gradient(w, round(desk_y), wall_top, mix(wall_top, (255, 255, 255), 0.25)), (0, 0)
    )
    # Panelling: thin vertical seams so the wall is not one flat field.
    seam = mix(wall_top, (0, 0, 0), 0.08)
    for seam_x in range(p(60), w, p(160)):
        draw.line((seam_x, 0, seam_x, desk_y), fill=seam, width=p(3))

    mirror = ask.pick((False, True, False), salt=4)
    ink = hsl(frame.hue + 0.5, 0.6, 0.45)
    window = (p(140), p(70), p(640), round(desk_y - p(120)))
    poster = (w - p(620), p(90), w - p(180), round(min(desk_y - p(160), p(90) + p(440) * 0.8)))
    if mirror:
        window = (w - window[2], window[1], w - window[0], window[3])
        poster = (w - poster[2], poster[1], w - poster[0], poster[3])
    if window[3] - window[1] > p(80):
        _window(draw, image, rng, window)
    wall_print = "map" if ask.has("map") else "chart"
    if poster[3] - poster[1] > p(80):
        _frame_on_wall(draw, poster, wall_print, ink)

    # Desk: a lit top edge, then the front with wood grain lines.
    wood = hsl(0.07, 0.45, ask.pick((0.42, 0.3, 0.5), salt=5))
    draw.rectangle((0, desk_y, w, desk_y + p(36)), fill=mix(wood, (255, 255, 255), 0.25))
    draw.rectangle((0, desk_y + p(36), w, frame.height), fill=wood)
    grain = mix(wood, (0, 0, 0), 0.15)
    y = desk_y + p(60)
    while y < frame.height:
        draw.line((0, y, w, y + p(rng.uniform(-8, 8))), fill=grain, width=p(2))
        y += p(rng.uniform(22, 46))

    # (prop, its width in units of the scale), for centring the row before drawing it.
    props: list[tuple[Prop, float]] = []
    if ask.has("computer", "chart", "network", "block"):
        props.append((_laptop, 3.0))
    if ask.has("phone"):
        props.append((_phone, 1.3))
    if ask.has("coin"):
        props.append((_coins, 2.4))
    props += [(_mug, 1.2), (_plant, 1.0)]
    if mirror:
        props.reverse()
    spacing = p(60)
    total = sum(share for _, share in props)
    room = w - p(160) - spacing * (len(props) - 1)
    scale = min(p(ask.pick((200, 170, 230), salt=6)), room / total)
    x = (w - total * scale - spacing * (len(props) - 1)) / 2
    for prop, share in props:
        prop(draw, rng, x + share * scale / 2, desk_y + p(22), scale, ink)
        x += share * scale + spacing
