"""The offline renderer's diagram: boxes joined by arrows, in one of several layouts
(flow, hub, stacked, comparison, timeline), with icons for the things the text names."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from PIL import Image, ImageDraw

from handlers.drawing.icons import Icon, dot, icons_for
from handlers.drawing.keywords import LAYOUTS, Ask
from handlers.drawing.layouts import LAYOUT_PLANS, transposed
from handlers.drawing.shapes import Box, Frame, bar, hsl, rounded
from handlers.drawing.text import RGB, mix


@dataclass(frozen=True)
class Palette:
    background: RGB
    pattern: RGB
    line: RGB
    dark: bool


def _palette(hue: float, variant: int) -> Palette:
    # The first candidate is always light (a diagram's usual look, and what a viewer
    # expects first); the second is dark; the third light with a dot pattern.
    if variant % 3 == 1:
        return Palette(hsl(hue, 0.35, 0.19), hsl(hue, 0.3, 0.27), hsl(hue, 0.5, 0.72), True)
    return Palette(hsl(hue, 0.3, 0.9), hsl(hue, 0.25, 0.82), hsl(hue, 0.35, 0.33), False)


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


def _node(
    draw: ImageDraw.ImageDraw,
    box: Box,
    rng: random.Random,
    frame: Frame,
    hue: float,
    palette: Palette,
    icon: Icon,
    strong: bool,
) -> None:
    x0, y0, x1, y1 = box
    if palette.dark:
        fill = hsl(hue, 0.45, 0.42 if strong else 0.3)
        edge = hsl(hue, 0.75, 0.66)
        ink = hsl(hue, 0.3, 0.9)
    else:
        fill = hsl(hue, 0.6, 0.72 if strong else 0.84)
        edge = hsl(hue, 0.5, 0.4)
        ink = hsl(hue, 0.4, 0.26)
    # A drop shadow lifts the cards off the patterned background.
    shadow = frame.px(8)
    rounded(
        draw,
        (x0 + shadow, y0 + shadow, x1 + shadow, y1 + shadow),
        frame.px(24),
        fill=mix(palette.background, (0, 0, 0), 0.18),
    )
    rounded(draw, box, frame.px(24), fill=fill, outline=edge, width=frame.px(4))
    box_w, box_h = x1 - x0, y1 - y0
    icon_size = min(box_h * 0.7, box_w * 0.32)
    pad = (box_h - icon_size) / 2
    # Wide boxes: icon on the left, text lines to its right. Tall ones: icon above.
    if box_w >= box_h * 1.5:
        icon_cx, icon_cy = x0 + pad + icon_size / 2, (y0 + y1) / 2
        text_x, text_top, text_bottom = icon_cx + icon_size / 2 + box_h * 0.14, float(y0), float(y1)
    else:
        icon_size = min(box_h * 0.45, box_w * 0.5)
        icon_cx, icon_cy = (x0 + x1) / 2, y0 + box_h * 0.08 + icon_size / 2
        text_x, text_top, text_bottom = x0 + box_w * 0.15, icon_cy + icon_size / 2, y1
    if icon_size >= 4:
        disc = icon_size * 0.62
        draw.ellipse(
            (icon_cx - disc, icon_cy - disc, icon_cx + disc, icon_cy + disc),
            fill=mix(fill, (255, 255, 255), 0.55),
        )
        icon(draw, icon_cx, icon_cy, icon_size, edge, mix(fill, (255, 255, 255), 0.7))
    room = x1 - text_x - box_h * 0.16
    thick = frame.px(14)
    lines = 2 if text_bottom - text_top < thick * 6 else 3
    line_gap = thick * 1.9
    top = (text_top + text_bottom) / 2 - (line_gap * (lines - 1) + thick) / 2
    for index in range(lines):
        share = 0.95 if index == 0 else rng.uniform(0.45, 0.85)
        colour = ink if index == 0 else mix(ink, fill, 0.4)
        bar(draw, text_x, top + index * line_gap, room * share, thick, colour)


def _versus(
    draw: ImageDraw.ImageDraw, frame: Frame, centre: tuple[float, float], fill: RGB, ink: RGB
) -> None:
    """A round badge with a "not equal" sign between a comparison's two columns."""
    x, y = centre
    r = frame.px(44)
    draw.ellipse((x - r, y - r, x + r, y + r), fill=fill, outline=ink, width=frame.px(6))
    stroke = frame.px(7)
    for dy in (-0.22, 0.22):
        draw.line((x - r * 0.45, y + dy * r, x + r * 0.45, y + dy * r), fill=ink, width=stroke)
    draw.line((x + r * 0.28, y - r * 0.55, x - r * 0.28, y + r * 0.55), fill=ink, width=stroke)


def _link(draw: ImageDraw.ImageDraw, frame: Frame, a: Box, b: Box, fill: RGB, ink: RGB) -> None:
    """Two interlocked chain links on a badge halfway between two boxes."""
    ax, ay = _edge_point(a, ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2))
    bx, by = _edge_point(b, ((a[0] + a[2]) / 2, (a[1] + a[3]) / 2))
    x, y = (ax + bx) / 2, (ay + by) / 2
    r = frame.px(30)
    if math.hypot(bx - ax, by - ay) < 2.4 * r:
        return  # no room between the boxes: the arrow alone says it
    draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    link_w, link_h = r * 0.62, r * 0.38
    stroke = frame.px(5)
    for dx in (-0.28, 0.28):
        cx = x + dx * r
        rounded(
            draw,
            (cx - link_w / 2, y - link_h / 2, cx + link_w / 2, y + link_h / 2),
            round(link_h / 2),
            outline=ink,
            width=stroke,
        )


def _background(draw: ImageDraw.ImageDraw, frame: Frame, palette: Palette, dots: bool) -> None:
    draw.rectangle((0, 0, frame.width, frame.height), fill=palette.background)
    step = frame.px(48)
    if dots:
        r = max(1, frame.px(3))
        for y in range(step // 2, frame.height, step):
            for x in range(step // 2, frame.width, step):
                draw.ellipse((x - r, y - r, x + r, y + r), fill=palette.pattern)
        return
    for x in range(0, frame.width, step):
        draw.line((x, 0, x, frame.height), fill=palette.pattern, width=1)
    for y in range(0, frame.height, step):
        draw.line((0, y, frame.width, y), fill=palette.pattern, width=1)


def paint_diagram(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: Frame, ask: Ask
) -> None:
    """Layout and palette rotate with the candidate; the first candidate takes the
    layout the text names ("akış" -> flow), if any."""
    hue = frame.hue
    palette = _palette(hue, ask.variant)
    _background(draw, frame, palette, dots=ask.variant % 3 == 2)

    first = LAYOUTS.index(ask.layout) if ask.layout else None
    layout = ask.pick(LAYOUTS, salt=1, first=first)
    count = rng.randint(3, 6)
    left, right = frame.px(110), frame.width - frame.px(110)
    top, bottom = frame.px(90), frame.content_bottom - frame.px(50)
    if layout in ("flow", "timeline") and bottom - top > right - left:
        # Portrait frame: lay the row out across the height, then turn it upright.
        plan = transposed(LAYOUT_PLANS[layout](count, top, left, bottom, right))
    else:
        plan = LAYOUT_PLANS[layout](count, left, top, right, bottom)

    connector = palette.line
    width, head, gap = frame.px(6), frame.px(26), frame.px(12)
    for x0, y0, x1, y1 in plan.lines:
        draw.line((x0, y0, x1, y1), fill=connector, width=frame.px(5))
    for a, b in plan.arrows:
        _arrow(draw, plan.boxes[a], plan.boxes[b], connector, width, head, gap)
    accent = hsl(hue + 0.5, 0.7, 0.55)
    for x, y in plan.dots:
        r = frame.px(18)
        draw.ellipse(
            (x - r, y - r, x + r, y + r), fill=accent, outline=palette.background, width=frame.px(5)
        )

    if plan.versus is not None:
        _versus(draw, frame, plan.versus, accent, palette.background)
    if ask.has("block"):
        # Blocks joined by hashes: a chain link on every connection.
        for a, b in plan.arrows:
            _link(draw, frame, plan.boxes[a], plan.boxes[b], connector, palette.background)

    icons = icons_for(ask.subjects) or [dot]
    for index, box in enumerate(plan.boxes):
        strong = index in plan.strong
        node_hue = hue if strong else hue + rng.uniform(-0.1, 0.1)
        group = plan.groups[index] if plan.groups else index
        _node(draw, box, rng, frame, node_hue, palette, icons[group % len(icons)], strong)
