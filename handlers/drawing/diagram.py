"""The offline renderer's diagram: boxes joined by arrows, in a flow or around a hub."""

from __future__ import annotations

import itertools
import math
import random

from PIL import Image, ImageDraw

from handlers.drawing.shapes import Box, Frame, bar, hsl, rounded
from handlers.drawing.text import RGB, mix


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
    draw: ImageDraw.ImageDraw, box: Box, rng: random.Random, frame: Frame, hue: float
) -> None:
    x0, y0, x1, y1 = box
    fill = hsl(hue, 0.55, 0.88)
    edge = hsl(hue, 0.5, 0.42)
    ink = hsl(hue, 0.35, 0.3)
    rounded(draw, box, frame.px(24), fill=fill, outline=edge, width=frame.px(4))
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
        bar(draw, text_x, top + index * line_gap, room * share, thick, colour)


def paint_diagram(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: Frame
) -> None:
    hue = frame.hue
    draw.rectangle((0, 0, frame.width, frame.height), fill=hsl(hue, 0.3, 0.965))
    grid = hsl(hue, 0.25, 0.915)
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

    arrow_colour = hsl(hue, 0.35, 0.33)
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
