"""Where a diagram's boxes go: flow, hub, stacked layers, a two-column comparison and
a timeline. Pure geometry; diagram.py draws what these plans place."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from handlers.drawing.shapes import Box

Line = tuple[float, float, float, float]


@dataclass
class Plan:
    boxes: list[Box]
    arrows: list[tuple[int, int]] = field(default_factory=list)
    # Plain connectors without heads (timeline stems and axis, comparison divider).
    lines: list[Line] = field(default_factory=list)
    # Round markers on the lines (timeline dates, the comparison's "versus" badge).
    dots: list[tuple[float, float]] = field(default_factory=list)
    # Boxes drawn stronger: the hub, the column heads, the top layer.
    strong: set[int] = field(default_factory=set)
    # Which of the named things each box stands for (comparison: one per column);
    # empty means box i takes the i-th, round robin.
    groups: list[int] = field(default_factory=list)
    # Centre of the "versus" badge between the two columns of a comparison.
    versus: tuple[float, float] | None = None


def _box(cx: float, cy: float, w: float, h: float) -> Box:
    return round(cx - w / 2), round(cy - h / 2), round(cx + w / 2), round(cy + h / 2)


def flow(count: int, left: int, top: int, right: int, bottom: int) -> Plan:
    """Boxes left to right; more than four snake onto a second row, right to left."""
    columns = count if count <= 4 else math.ceil(count / 2)
    rows = 1 if count <= 4 else 2
    cell_w = (right - left) / columns
    cell_h = (bottom - top) / rows
    box_w = cell_w * 0.74
    box_h = min(cell_h * 0.5, box_w * 0.6)
    boxes: list[Box] = []
    for index in range(count):
        row = 0 if index < columns else 1
        column = index if row == 0 else columns - 1 - (index - columns)
        boxes.append(_box(left + cell_w * (column + 0.5), top + cell_h * (row + 0.5), box_w, box_h))
    return Plan(boxes, [(i, i + 1) for i in range(count - 1)])


def hub(count: int, left: int, top: int, right: int, bottom: int) -> Plan:
    """First box in the centre, the others on an ellipse around it."""
    count = max(count, 4)
    cx, cy = (left + right) / 2, (top + bottom) / 2
    box_w = (right - left) * 0.22
    box_h = min((bottom - top) * 0.22, box_w * 0.55)
    radius_x = (right - left) / 2 - box_w / 2
    radius_y = (bottom - top) / 2 - box_h / 2
    boxes = [_box(cx, cy, box_w * 1.15, box_h * 1.15)]
    satellites = count - 1
    for index in range(satellites):
        angle = -math.pi / 2 + 2 * math.pi * (index + 0.5) / satellites
        x, y = cx + radius_x * math.cos(angle), cy + radius_y * math.sin(angle)
        boxes.append(_box(x, y, box_w, box_h))
    return Plan(boxes, [(0, i) for i in range(1, count)], strong={0})


def stacked(count: int, left: int, top: int, right: int, bottom: int) -> Plan:
    """Layers one above the other, widening downwards like a pyramid of foundations."""
    count = min(max(count, 3), 5)
    slot = (bottom - top) / count
    box_h = slot * 0.62
    cx = (left + right) / 2
    full = (right - left) * 0.82
    boxes = []
    for index in range(count):
        width = full * (0.55 + 0.45 * index / (count - 1))
        boxes.append(_box(cx, top + slot * (index + 0.5), width, box_h))
    return Plan(boxes, [(i + 1, i) for i in range(count - 1)], strong={0})


def comparison(count: int, left: int, top: int, right: int, bottom: int) -> Plan:
    """Two columns, a head box over each and items below, split by a divider."""
    per_column = 2 if count <= 4 else 3
    mid = (left + right) / 2
    column_w = (right - left) * 0.4
    head_h = (bottom - top) * 0.2
    boxes: list[Box] = []
    arrows: list[tuple[int, int]] = []
    strong: set[int] = set()
    for side in (-1, 1):
        cx = mid + side * (right - left) * 0.25
        head = len(boxes)
        boxes.append(_box(cx, top + head_h / 2, column_w, head_h))
        strong.add(head)
        slot = (bottom - top - head_h * 1.3) / per_column
        for k in range(per_column):
            cy = top + head_h * 1.3 + slot * (k + 0.5)
            boxes.append(_box(cx, cy, column_w * 0.86, min(slot * 0.72, head_h)))
            arrows.append((len(boxes) - 2 if k else head, len(boxes) - 1))
    divider = (mid, top, mid, bottom)
    groups = [0] * (per_column + 1) + [1] * (per_column + 1)
    return Plan(
        boxes,
        arrows,
        lines=[divider],
        dots=[(mid, (top + bottom) / 2)],
        strong=strong,
        groups=groups,
    )


def timeline(count: int, left: int, top: int, right: int, bottom: int) -> Plan:
    """An axis across the middle with dated dots; boxes alternate above and below."""
    count = min(max(count, 4), 6)
    axis_y = (top + bottom) / 2
    step = (right - left) / count
    box_w = min(step * 1.5, (right - left) * 0.3)
    box_h = (bottom - top) * 0.3
    boxes: list[Box] = []
    lines: list[Line] = [(left, axis_y, right, axis_y)]
    dots = []
    for index in range(count):
        x = left + step * (index + 0.5)
        above = index % 2 == 0
        cy = top + box_h / 2 if above else bottom - box_h / 2
        width = box_w * 0.92 if count > 4 else box_w * 0.8
        # The stem stays on the date; the end boxes shift inwards to stay in the frame.
        cx = min(max(x, left + width / 2), right - width / 2)
        boxes.append(_box(cx, cy, width, box_h))
        edge = cy + box_h / 2 if above else cy - box_h / 2
        lines.append((x, edge, x, axis_y))
        dots.append((x, axis_y))
    return Plan(boxes, lines=lines, dots=dots)


def transposed(plan: Plan) -> Plan:
    """The plan mirrored across the diagonal: a row becomes a column. Flow and
    timeline are laid out this way on portrait frames."""

    def flip(box: Box) -> Box:
        return box[1], box[0], box[3], box[2]

    return Plan(
        [flip(box) for box in plan.boxes],
        plan.arrows,
        lines=[(y0, x0, y1, x1) for x0, y0, x1, y1 in plan.lines],
        dots=[(y, x) for x, y in plan.dots],
        strong=plan.strong,
        groups=plan.groups,
        versus=(plan.versus[1], plan.versus[0]) if plan.versus else None,
    )


LAYOUT_PLANS = {
    "flow": flow,
    "hub": hub,
    "stacked": stacked,
    "comparison": comparison,
    "timeline": timeline,
}
