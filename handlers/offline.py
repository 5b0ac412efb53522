"""Offline image provider: deterministic placeholder art drawn with Pillow.

Used when no image API is configured (or for tests and dry runs). Every image carries
an "offline render" label so nobody mistakes it for a generated picture.
"""

from __future__ import annotations

import colorsys
import hashlib
import itertools
import math
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageOps

from handlers.drawing import RGB, draw_text_block, find_font, load_font, mix
from handlers.providers import GeneratedImage, ImageRequest

Box = tuple[int, int, int, int]

MODEL = "offline-pillow-1"
LABEL = "offline render"


def _hsl(hue: float, saturation: float, lightness: float) -> RGB:
    red, green, blue = colorsys.hls_to_rgb(hue % 1.0, lightness, saturation)
    return round(red * 255), round(green * 255), round(blue * 255)


def request_seed(request: ImageRequest) -> int:
    """Stable 64-bit seed; Python's hash() is salted per process, so sha256 instead."""
    key = f"{request.prompt}\x00{request.visual_type}\x00{request.seed}"
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


class _Frame:
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


Painter = Callable[[ImageDraw.ImageDraw, Image.Image, random.Random, _Frame], None]


def _rounded(
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


def _bar(
    draw: ImageDraw.ImageDraw, x: float, y: float, length: float, thick: int, fill: RGB
) -> None:
    """A pill standing in for a line of text."""
    _rounded(draw, (x, y, x + length, y + thick), thick // 2, fill=fill)


# --- diagram -----------------------------------------------------------------------


def _edge_point(box: Box, toward: tuple[float, float]) -> tuple[float, float]:
    """Where the ray from the box centre toward a point leaves the box."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    dx, dy = toward[0] - cx, toward[1] - cy
    half_w, half_h = (box[2] - box[0]) / 2, (box[3] - box[1]) / 2
    scales = [half_w / abs(dx) if dx else math.inf, half_h / abs(dy) if dy else math.inf]
    t = min(scales)
    if t == math.inf:
        return cx, cy
    return cx + dx * t, cy + dy * t


def _arrow(
    draw: ImageDraw.ImageDraw, a: Box, b: Box, color: RGB, width: int, head: int, gap: int
) -> None:
    centre_a = ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2)
    centre_b = ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    start = _edge_point(a, centre_b)
    end = _edge_point(b, centre_a)
    dx, dy = end[0] - start[0], end[1] - start[1]
    length = math.hypot(dx, dy)
    if length <= 2 * gap + head:
        return
    ux, uy = dx / length, dy / length
    sx, sy = start[0] + ux * gap, start[1] + uy * gap
    tip_x, tip_y = end[0] - ux * gap, end[1] - uy * gap
    base_x, base_y = tip_x - ux * head, tip_y - uy * head
    draw.line((sx, sy, base_x, base_y), fill=color, width=width)
    # Perpendicular (-uy, ux) spreads the two back corners of the arrow head.
    spread = head * 0.55
    draw.polygon(
        [
            (tip_x, tip_y),
            (base_x - uy * spread, base_y + ux * spread),
            (base_x + uy * spread, base_y - ux * spread),
        ],
        fill=color,
    )


def _diagram_node(
    draw: ImageDraw.ImageDraw, box: Box, rng: random.Random, frame: _Frame, hue: float
) -> None:
    x0, y0, x1, y1 = box
    fill = _hsl(hue, 0.55, 0.88)
    edge = _hsl(hue, 0.5, 0.42)
    ink = _hsl(hue, 0.35, 0.3)
    _rounded(draw, box, frame.px(24), fill=fill, outline=edge, width=frame.px(4))
    box_h = y1 - y0
    icon_r = box_h * 0.18
    icon_cx, icon_cy = x0 + box_h * 0.36, (y0 + y1) / 2
    if icon_r >= 1:
        draw.ellipse(
            (icon_cx - icon_r, icon_cy - icon_r, icon_cx + icon_r, icon_cy + icon_r),
            fill=edge,
        )
    text_x = icon_cx + icon_r + box_h * 0.16
    room = x1 - text_x - box_h * 0.18
    thick = frame.px(16)
    lines = rng.randint(2, 3)
    line_gap = thick * 1.9
    top = (y0 + y1) / 2 - (line_gap * (lines - 1) + thick) / 2
    for index in range(lines):
        share = 0.95 if index == 0 else rng.uniform(0.45, 0.85)
        colour = ink if index == 0 else mix(ink, fill, 0.45)
        _bar(draw, text_x, top + index * line_gap, room * share, thick, colour)


def _paint_diagram(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: _Frame
) -> None:
    hue = frame.hue
    draw.rectangle((0, 0, frame.width, frame.height), fill=_hsl(hue, 0.3, 0.965))
    grid = _hsl(hue, 0.25, 0.915)
    step = frame.px(48)
    for x in range(0, frame.width, step):
        draw.line((x, 0, x, frame.height), fill=grid, width=1)
    for y in range(0, frame.height, step):
        draw.line((0, y, frame.width, y), fill=grid, width=1)

    count = rng.randint(3, 6)
    left, right = frame.px(110), frame.width - frame.px(110)
    top, bottom = frame.px(110), frame.content_bottom - frame.px(50)
    hub = count >= 4 and rng.random() < 0.35
    layout = _hub_layout if hub else _flow_layout
    boxes = layout(count, left, top, right, bottom)

    arrow_colour = _hsl(hue, 0.35, 0.33)
    width, head, gap = frame.px(6), frame.px(26), frame.px(12)
    if hub:
        for box in boxes[1:]:
            _arrow(draw, boxes[0], box, arrow_colour, width, head, gap)
    else:
        for first, second in itertools.pairwise(boxes):
            _arrow(draw, first, second, arrow_colour, width, head, gap)
    for index, box in enumerate(boxes):
        node_hue = hue + (0.0 if hub and index == 0 else rng.uniform(-0.12, 0.12))
        _diagram_node(draw, box, rng, frame, node_hue)


def _flow_layout(count: int, left: int, top: int, right: int, bottom: int) -> list[Box]:
    """Boxes left to right; more than four snake onto a second row, right to left."""
    columns = count if count <= 4 else math.ceil(count / 2)
    rows = 1 if count <= 4 else 2
    cell_w = (right - left) / columns
    cell_h = (bottom - top) / rows
    box_w = cell_w * 0.7
    box_h = min(cell_h * 0.5, box_w * 0.55)
    boxes: list[Box] = []
    for index in range(count):
        row = 0 if index < columns else 1
        column = index if row == 0 else columns - 1 - (index - columns)
        cx = left + cell_w * (column + 0.5)
        cy = top + cell_h * (row + 0.5)
        boxes.append(
            (
                round(cx - box_w / 2),
                round(cy - box_h / 2),
                round(cx + box_w / 2),
                round(cy + box_h / 2),
            )
        )
    return boxes


def _hub_layout(count: int, left: int, top: int, right: int, bottom: int) -> list[Box]:
    """First box in the centre, the others on an ellipse around it."""
    cx, cy = (left + right) / 2, (top + bottom) / 2
    box_w = (right - left) * 0.2
    box_h = min((bottom - top) * 0.2, box_w * 0.55)
    radius_x = (right - left) / 2 - box_w / 2
    radius_y = (bottom - top) / 2 - box_h / 2
    centres = [(cx, cy)]
    satellites = count - 1
    for index in range(satellites):
        angle = -math.pi / 2 + 2 * math.pi * index / satellites
        centres.append((cx + radius_x * math.cos(angle), cy + radius_y * math.sin(angle)))
    return [
        (round(x - box_w / 2), round(y - box_h / 2), round(x + box_w / 2), round(y + box_h / 2))
        for x, y in centres
    ]


# --- b-roll ------------------------------------------------------------------------


def _vertical_gradient(width: int, height: int, top: RGB, bottom: RGB) -> Image.Image:
    # A one-pixel-wide column stretched sideways: no per-pixel Python, and constant rows
    # keep PNG encoding cheap.
    column = Image.linear_gradient("L").resize((1, max(1, height)), Image.Resampling.BILINEAR)
    return ImageOps.colorize(column, top, bottom).resize(
        (width, max(1, height)), Image.Resampling.NEAREST
    )


def _paint_b_roll(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: _Frame
) -> None:
    w, h = frame.width, frame.height
    # Sky hues people read as sky (day blue, dusk orange, violet), nudged by the seed.
    sky_hue = rng.choice([0.57, 0.6, 0.63, 0.06, 0.09, 0.76]) + rng.uniform(-0.02, 0.02)
    sky_top = _hsl(sky_hue, 0.55, 0.5)
    sky_bottom = _hsl(sky_hue + 0.04, 0.65, 0.86)
    image.paste(_vertical_gradient(w, h, sky_top, sky_bottom), (0, 0))

    sun_r = frame.px(rng.uniform(60, 100))
    sun_x = rng.uniform(0.15, 0.85) * w
    sun_y = rng.uniform(0.14, 0.3) * h
    sun = _hsl(rng.uniform(0.1, 0.15), 0.95, 0.72)
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
        colour = mix(
            sky_bottom, _hsl(land_hue, 0.45, 0.28 + 0.1 * (1 - depth)), 0.45 + 0.55 * depth
        )
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

    tree = _hsl(land_hue, 0.5, 0.18)
    trunk = _hsl(0.07, 0.4, 0.22)
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


# --- screen share ------------------------------------------------------------------


def _cursor(draw: ImageDraw.ImageDraw, x: float, y: float, unit: float) -> None:
    shape = [(0, 0), (0, 17), (4, 13), (7, 20), (9.5, 19), (6.5, 12), (12, 12)]
    points = [(x + px * unit, y + py * unit) for px, py in shape]
    draw.polygon(points, fill=(255, 255, 255), outline=(20, 20, 20), width=max(1, round(unit / 2)))


def _paint_screen_share(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: _Frame
) -> None:
    hue = frame.hue
    p = frame.px
    draw.rectangle((0, 0, frame.width, frame.height), fill=_hsl(hue, 0.35, 0.32))

    win = (p(110), p(70), frame.width - p(110), frame.content_bottom - p(36))
    shadow = (win[0] + p(10), win[1] + p(14), win[2] + p(10), win[3] + p(14))
    _rounded(draw, shadow, p(18), fill=_hsl(hue, 0.35, 0.2))
    _rounded(draw, win, p(18), fill=(250, 250, 252))

    accent = _hsl(hue + 0.5, 0.65, 0.5)
    line_ink = (205, 208, 214)
    dark_ink = (90, 96, 108)

    title_h = p(52)
    _rounded(draw, (win[0], win[1], win[2], win[1] + title_h + p(18)), p(18), fill=(228, 230, 235))
    draw.rectangle(
        (win[0], win[1] + title_h, win[2], win[1] + title_h + p(18)), fill=(228, 230, 235)
    )
    dot_r = p(10)
    for index, dot in enumerate(((255, 95, 87), (254, 188, 46), (40, 200, 64))):
        cx = win[0] + p(34) + index * p(32)
        cy = win[1] + title_h / 2
        draw.ellipse((cx - dot_r, cy - dot_r, cx + dot_r, cy + dot_r), fill=dot)
    centre = (win[0] + win[2]) / 2
    _bar(draw, centre - p(160), win[1] + title_h / 2 - p(8), p(320), p(16), (170, 174, 182))

    tool_top = win[1] + title_h
    tool_h = p(64)
    draw.rectangle((win[0], tool_top, win[2], tool_top + tool_h), fill=(241, 242, 245))
    draw.line((win[0], tool_top + tool_h, win[2], tool_top + tool_h), fill=line_ink, width=p(2))
    bx = win[0] + p(24)
    for _ in range(rng.randint(4, 6)):
        button_w = p(rng.uniform(70, 120))
        _rounded(
            draw,
            (bx, tool_top + p(14), bx + button_w, tool_top + tool_h - p(14)),
            p(8),
            fill=(255, 255, 255),
            outline=line_ink,
            width=p(2),
        )
        bx += button_w + p(14)
    search = (win[2] - p(380), tool_top + p(14), win[2] - p(24), tool_top + tool_h - p(14))
    _rounded(draw, search, p(18), fill=(255, 255, 255), outline=line_ink, width=p(2))

    body_top = tool_top + tool_h
    sidebar_right = win[0] + p(300)
    draw.rectangle((win[0], body_top, sidebar_right, win[3] - p(18)), fill=_hsl(hue, 0.2, 0.94))
    _rounded(
        draw, (win[0], win[3] - p(40), sidebar_right, win[3]), p(18), fill=_hsl(hue, 0.2, 0.94)
    )
    draw.rectangle(
        (win[0] + p(20), win[3] - p(40), sidebar_right, win[3]), fill=_hsl(hue, 0.2, 0.94)
    )
    active = rng.randrange(7)
    row_h = p(54)
    for index in range(9):
        ry = body_top + p(24) + index * row_h
        if ry + row_h > win[3] - p(20):
            break
        if index == active:
            _rounded(
                draw,
                (win[0] + p(12), ry, sidebar_right - p(12), ry + row_h - p(8)),
                p(10),
                fill=accent,
            )
        ink = (255, 255, 255) if index == active else dark_ink
        icon = p(22)
        iy = ry + (row_h - p(8) - icon) / 2
        _rounded(draw, (win[0] + p(30), iy, win[0] + p(30) + icon, iy + icon), p(5), fill=ink)
        _bar(draw, win[0] + p(68), iy + p(5), p(rng.uniform(110, 190)), p(12), ink)

    content_left = sidebar_right + p(40)
    content_right = win[2] - p(40)
    ty = body_top + p(34)
    _bar(draw, content_left, ty, p(rng.uniform(360, 520)), p(26), (60, 64, 74))
    _bar(draw, content_left, ty + p(44), p(rng.uniform(500, 760)), p(14), (160, 164, 172))

    columns, rows = 3, 2
    grid_top = ty + p(90)
    grid_bottom = win[3] - p(36)
    gap = p(28)
    card_w = (content_right - content_left - gap * (columns - 1)) / columns
    card_h = (grid_bottom - grid_top - gap * (rows - 1)) / rows
    chart_card = rng.randrange(columns * rows)
    cards: list[tuple[float, float, float, float]] = []
    for index in range(columns * rows):
        cx0 = content_left + (index % columns) * (card_w + gap)
        cy0 = grid_top + (index // columns) * (card_h + gap)
        card = (cx0, cy0, cx0 + card_w, cy0 + card_h)
        cards.append(card)
        _rounded(draw, card, p(14), fill=(255, 255, 255), outline=line_ink, width=p(2))
        strip_colour = accent if index == chart_card else _hsl(hue + index * 0.08, 0.45, 0.8)
        _rounded(
            draw, (cx0 + p(20), cy0 + p(20), cx0 + p(64), cy0 + p(64)), p(10), fill=strip_colour
        )
        _bar(draw, cx0 + p(80), cy0 + p(26), card_w * 0.45, p(14), dark_ink)
        _bar(draw, cx0 + p(80), cy0 + p(48), card_w * 0.3, p(10), line_ink)
        inner_top = cy0 + p(88)
        inner_bottom = cy0 + card_h - p(22)
        if index == chart_card:
            bars = 7
            slot = (card_w - p(40)) / bars
            for bar in range(bars):
                bar_h = (inner_bottom - inner_top) * rng.uniform(0.25, 1.0)
                bx0 = cx0 + p(20) + bar * slot + slot * 0.18
                draw.rectangle(
                    (bx0, inner_bottom - bar_h, bx0 + slot * 0.64, inner_bottom), fill=accent
                )
        else:
            ly = inner_top
            while ly + p(12) <= inner_bottom:
                _bar(
                    draw, cx0 + p(20), ly, (card_w - p(40)) * rng.uniform(0.5, 1.0), p(12), line_ink
                )
                ly += p(30)

    target = cards[rng.randrange(len(cards))]
    _cursor(
        draw,
        target[0] + (target[2] - target[0]) * rng.uniform(0.3, 0.7),
        target[1] + (target[3] - target[1]) * rng.uniform(0.3, 0.6),
        max(1.0, 2.6 * frame.scale),
    )


# --- anything else -----------------------------------------------------------------


def _paint_abstract(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: _Frame
) -> None:
    hue = frame.hue
    w, h = frame.width, frame.height
    draw.rectangle((0, 0, w, h), fill=_hsl(hue, 0.08, 0.88))
    for _ in range(rng.randint(10, 16)):
        colour = _hsl(hue + rng.uniform(-0.12, 0.12), rng.uniform(0.1, 0.3), rng.uniform(0.55, 0.8))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        size = rng.uniform(0.06, 0.22) * min(w, h) * 2
        if rng.random() < 0.5:
            draw.ellipse((cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2), fill=colour)
        else:
            _rounded(
                draw,
                (cx - size / 2, cy - size / 3, cx + size / 2, cy + size / 3),
                frame.px(30),
                fill=colour,
            )
    stripe = _hsl(hue, 0.1, 0.8)
    for offset in range(-h, w, frame.px(160)):
        draw.line((offset, h, offset + h, 0), fill=stripe, width=frame.px(3))


_PAINTERS: dict[str, Painter] = {
    "diagram": _paint_diagram,
    "b_roll": _paint_b_roll,
    "screen_share": _paint_screen_share,
}


def _title_band(image: Image.Image, title: str, frame: _Frame, font_path: str) -> None:
    top = frame.content_bottom
    region = (0, top, frame.width, frame.height)
    band_colour = _hsl(frame.hue, 0.35, 0.14)
    # Translucent band: blend once over the crop instead of per-pixel alpha drawing.
    shaded = Image.blend(
        image.crop(region), Image.new("RGB", (frame.width, frame.band_height), band_colour), 0.85
    )
    image.paste(shaded, (0, top))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, top, frame.width, top + frame.px(6) - 1), fill=_hsl(frame.hue, 0.7, 0.55))
    margin_x = frame.px(80)
    draw_text_block(
        draw,
        title,
        (margin_x, top + frame.px(18), frame.width - margin_x, frame.height - frame.px(12)),
        fill=(255, 255, 255),
        font_path=font_path,
        max_size=frame.px(64),
        min_size=max(6, frame.px(22)),
    )


def _offline_label(image: Image.Image, frame: _Frame, font_path: str) -> None:
    font = load_font(max(6, frame.px(20)), path=font_path)
    pad_x, pad_y, margin = frame.px(12), frame.px(6), frame.px(16)
    ascent, descent = font.getmetrics()
    text_w = round(font.getlength(LABEL))
    box = (
        frame.width - margin - text_w - 2 * pad_x,
        margin,
        frame.width - margin,
        margin + ascent + descent + 2 * pad_y,
    )
    if box[0] < 0 or box[3] > frame.height:
        return
    # Darken whatever is behind so the label stays readable yet quiet on any background.
    patch = image.crop(box)
    image.paste(Image.blend(patch, Image.new("RGB", patch.size, (0, 0, 0)), 0.45), box[:2])
    ImageDraw.Draw(image).text(
        (box[0] + pad_x, box[1] + pad_y), LABEL, font=font, fill=(230, 230, 230), anchor="la"
    )


def render_offline(request: ImageRequest, bold_font: str, regular_font: str) -> Image.Image:
    """Draw the placeholder image for one request; same request, same pixels."""
    rng = random.Random(request_seed(request))
    frame = _Frame(max(1, request.width), max(1, request.height), rng.random())
    image = Image.new("RGB", (frame.width, frame.height))
    painter = _PAINTERS.get(request.visual_type, _paint_abstract)
    painter(ImageDraw.Draw(image), image, rng, frame)
    _title_band(image, request.title, frame, bold_font)
    _offline_label(image, frame, regular_font)
    return image


class OfflineRenderer:
    """ImageProvider that needs no network, no key and costs nothing."""

    name = "offline"

    def __init__(self, font_path: str | None = None) -> None:
        # Resolve fonts now so a missing font fails at start-up, not mid-episode.
        self._bold_font = find_font(True, font_path)
        self._regular_font = find_font(False, font_path)

    def generate(self, request: ImageRequest) -> GeneratedImage:
        return GeneratedImage(
            image=render_offline(request, self._bold_font, self._regular_font),
            provider=self.name,
            model=MODEL,
            generation_method="offline",
            cost_usd=0.0,
        )
