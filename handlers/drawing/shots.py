"""Storyboard frames without a model: the start and the end of one shot.

Both frames of a clip are cut from one scene, painted half as large again as the frame
from the clip's scene text (the same for both frames) in one look; the start frame
shows the camera's first window on it, the end frame the window after the camera move
(a push in is a smaller window at the centre, a pan right the same window moved right,
a tilt up moved up). The start frame carries what a storyboard artist would draw on
it: where the end frame's window lies, dashed, and an arrow for the move. A badge names
the frame and the move, so a strip of frames reads as clips.

Title cards and talking heads get their templates (cards.py) painted the same way."""

from __future__ import annotations

import random
from collections.abc import Callable

from PIL import Image, ImageDraw

from handlers.drawing.cards import render_talking_head, render_title_card
from handlers.drawing.keywords import ask_for
from handlers.drawing.scene import (
    PAINTERS,
    canvas_size,
    offline_label,
    paint_abstract,
    stable,
    title_band,
)
from handlers.drawing.shapes import Frame
from handlers.drawing.text import load_font
from handlers.providers.base import ImageRequest

# How much larger than the frame the scene is painted: room for the camera to move.
ZOOM = 1.5
# A window on the scene: centre x, centre y (fractions of the canvas), and its width as
# a fraction of the canvas width (its height follows: the canvas has the frame's aspect).
Window = tuple[float, float, float]
MOVES: dict[str, tuple[Window, Window]] = {
    "push in": ((0.5, 0.5, 1.0), (0.5, 0.47, 0.55)),
    "pull out": ((0.5, 0.47, 0.55), (0.5, 0.5, 1.0)),
    "pan left": ((0.64, 0.5, 0.72), (0.36, 0.5, 0.72)),
    "pan right": ((0.36, 0.5, 0.72), (0.64, 0.5, 0.72)),
    "truck left": ((0.66, 0.52, 0.68), (0.34, 0.52, 0.68)),
    "truck right": ((0.34, 0.52, 0.68), (0.66, 0.52, 0.68)),
    "tilt up": ((0.5, 0.64, 0.72), (0.5, 0.36, 0.72)),
    "tilt down": ((0.5, 0.36, 0.72), (0.5, 0.64, 0.72)),
    "crane up": ((0.5, 0.62, 0.62), (0.5, 0.48, 0.96)),
    "crane down": ((0.5, 0.48, 0.96), (0.5, 0.62, 0.62)),
    "static": ((0.5, 0.5, 0.8), (0.5, 0.5, 0.8)),
}
# An end frame's candidates: the move carried this far (1.0: as planned), so that each
# is a different framing of the same end.
END_AMOUNTS = (1.0, 0.8, 0.6, 0.9, 0.7)
# Templates move less: a title card's text stays whole at both ends.
TEMPLATE_STRENGTH = 0.45
BADGE_COLOURS = {"start": (38, 132, 74), "end": (176, 58, 46)}
MARK = (255, 255, 255)
MARK_SHADOW = (20, 20, 20)


def windows(camera: str, amount: float = 1.0, strength: float = 1.0) -> tuple[Window, Window]:
    """The start and end windows of a move (an unknown one is a push in), the end
    carried `amount` of the way; `strength` below 1 makes the whole move gentler (a
    title card's text must stay whole in both frames)."""
    start, end = (_towards_whole(w, strength) for w in MOVES.get(camera, MOVES["push in"]))
    moved = tuple(s + (e - s) * amount for s, e in zip(start, end, strict=True))
    return start, (moved[0], moved[1], moved[2])


def _towards_whole(window: Window, strength: float) -> Window:
    whole = (0.5, 0.5, 1.0)
    x, y, w = (a + (b - a) * strength for a, b in zip(whole, window, strict=True))
    return x, y, w


def box(window: Window, width: int, height: int) -> tuple[float, float, float, float]:
    """The window in canvas pixels, kept inside the canvas."""
    cx, cy, scale = window
    scale = min(1.0, max(0.2, scale))
    w, h = width * scale, height * scale
    x0 = min(max(0.0, cx * width - w / 2), width - w)
    y0 = min(max(0.0, cy * height - h / 2), height - h)
    return x0, y0, x0 + w, y0 + h


def render_shot(request: ImageRequest, bold_font: str, regular_font: str) -> Image.Image:
    """One storyboard frame of `request.shot`; same request, same pixels."""
    shot = request.shot
    assert shot is not None
    base = stable(f"{shot.scene}\x00{request.visual_type}\x00{request.seed}")
    # A start frame's candidates each take their own look; the end frame keeps the look
    # of the start frame chosen, and its candidates vary how far the move goes.
    look = shot.look if shot.moment == "end" and shot.look else request.candidate
    variant = max(0, look - 1)
    hue = ((base % 1000) / 1000 + variant * 0.37) % 1.0
    frame = Frame(max(1, request.width), max(1, request.height), hue)
    ask = ask_for(request.title, shot.scene, variant, base)
    rng = random.Random(stable(f"{base}\x00{look}"))
    painter = PAINTERS.get(request.visual_type, paint_abstract)

    def paint(width: int, height: int) -> Image.Image:
        canvas = Frame(width, height, hue)
        image = Image.new("RGB", (width, height))
        painter(ImageDraw.Draw(image), image, rng, canvas, ask)
        return image

    amount = 1.0 if shot.moment == "start" else END_AMOUNTS[(request.candidate - 1) % 5]
    image = _cut(paint, frame, shot.camera_movement, shot.moment, amount, 1.0)
    title_band(image, request.title, frame, bold_font)
    offline_label(image, frame, regular_font)
    _badge(image, frame, shot.moment, shot.camera_movement, regular_font)
    return image


def render_template_shot(
    visual_type: str,
    title: str,
    episode_title: str,
    width: int,
    height: int,
    *,
    camera: str,
    moment: str,
    color: str,
    font_path: str | None,
) -> Image.Image:
    """A title card's or talking head's frame: its template, painted larger, cut as
    `render_shot` cuts a scene."""
    frame = Frame(max(1, width), max(1, height), 0.0)

    def paint(w: int, h: int) -> Image.Image:
        if visual_type == "title_card":
            card = render_title_card(title, episode_title, w, h, color=color, font_path=font_path)
        else:
            card = render_talking_head(title, w, h, color=color, font_path=font_path)
        return card.image

    from handlers.drawing.text import find_font

    image = _cut(paint, frame, camera, moment, 1.0, TEMPLATE_STRENGTH)
    _badge(image, frame, moment, camera, find_font(False, font_path))
    return image


def _cut(
    paint: Callable[[int, int], Image.Image],
    frame: Frame,
    camera: str,
    moment: str,
    amount: float,
    strength: float,
) -> Image.Image:
    """Paint the scene large, and cut the moment's window out at the frame's size."""
    width, height = canvas_size(round(frame.width * ZOOM), round(frame.height * ZOOM))
    scene = paint(width, height)
    start, end = windows(camera, amount, strength)
    own = box(start if moment == "start" else end, width, height)
    image = scene.resize((frame.width, frame.height), Image.Resampling.LANCZOS, box=own)
    if moment == "start":
        _mark_move(image, frame, own, box(end, width, height))
    return image


def _mark_move(
    image: Image.Image,
    frame: Frame,
    start: tuple[float, float, float, float],
    end: tuple[float, float, float, float],
) -> None:
    """On the start frame: the end frame's window, dashed, where it lies inside this
    one, and an arrow from this frame's centre to the end frame's."""
    scale = frame.width / (start[2] - start[0])

    def to_frame(x: float, y: float) -> tuple[float, float]:
        return (x - start[0]) * scale, (y - start[1]) * scale

    x0, y0 = to_frame(end[0], end[1])
    x1, y1 = to_frame(end[2], end[3])
    draw = ImageDraw.Draw(image)
    width = max(2, frame.px(7))
    inside = x0 >= -1 and y0 >= -1 and x1 <= frame.width + 1 and y1 <= frame.height + 1
    if inside and (x1 - x0) < frame.width * 0.98:
        _dashed_box(draw, (x0, y0, x1, y1), width, frame.px(28))
    ax, ay = frame.width / 2, frame.height / 2
    bx, by = (x0 + x1) / 2, (y0 + y1) / 2
    if abs(bx - ax) + abs(by - ay) > frame.px(120):  # the camera travels: which way
        _arrow(draw, (ax, ay), (bx, by), width, frame.px(44))
    elif not inside:  # pulling out or craning back: arrows out of the corners
        for cx, cy in ((0.2, 0.2), (0.8, 0.2), (0.2, 0.8), (0.8, 0.8)):
            a = (frame.width * (0.5 + (cx - 0.5) * 0.55), frame.height * (0.5 + (cy - 0.5) * 0.55))
            b = (frame.width * cx, frame.height * cy)
            _arrow(draw, a, b, width, frame.px(30))


def _dashed_box(
    draw: ImageDraw.ImageDraw, rect: tuple[float, float, float, float], width: int, dash: int
) -> None:
    x0, y0, x1, y1 = rect
    edges = (((x0, y0), (x1, y0)), ((x1, y0), (x1, y1)), ((x1, y1), (x0, y1)), ((x0, y1), (x0, y0)))
    for (ax, ay), (bx, by) in edges:
        length = max(abs(bx - ax), abs(by - ay))
        steps = max(1, int(length // (2 * dash)))
        for i in range(steps + 1):
            t0, t1 = (2 * i * dash) / length, min(1.0, (2 * i + 1) * dash / length)
            if t0 >= 1.0:
                break
            p = (ax + (bx - ax) * t0, ay + (by - ay) * t0)
            q = (ax + (bx - ax) * t1, ay + (by - ay) * t1)
            draw.line((p, q), fill=MARK_SHADOW, width=width + 4)
            draw.line((p, q), fill=MARK, width=width)


def _arrow(
    draw: ImageDraw.ImageDraw,
    a: tuple[float, float],
    b: tuple[float, float],
    width: int,
    head: int,
) -> None:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length = max(1e-6, (dx * dx + dy * dy) ** 0.5)
    ux, uy = dx / length, dy / length
    left = (b[0] - ux * head - uy * head * 0.6, b[1] - uy * head + ux * head * 0.6)
    right = (b[0] - ux * head + uy * head * 0.6, b[1] - uy * head - ux * head * 0.6)
    for fill, extra in ((MARK_SHADOW, 4), (MARK, 0)):
        draw.line(
            (a, (b[0] - ux * head * 0.5, b[1] - uy * head * 0.5)), fill=fill, width=width + extra
        )
        draw.polygon((b, left, right), fill=fill, outline=fill)


def _badge(image: Image.Image, frame: Frame, moment: str, camera: str, font_path: str) -> None:
    """Top left: "START · pan right", "END · after pan right"."""
    text = f"START · {camera}" if moment == "start" else f"END · after {camera}"
    font = load_font(max(6, frame.px(26)), path=font_path)
    pad_x, pad_y, margin = frame.px(14), frame.px(8), frame.px(18)
    ascent, descent = font.getmetrics()
    box_ = (
        margin,
        margin,
        margin + round(font.getlength(text)) + 2 * pad_x,
        margin + ascent + descent + 2 * pad_y,
    )
    if box_[2] > frame.width or box_[3] > frame.height:
        return
    draw = ImageDraw.Draw(image)
    draw.rectangle(box_, fill=BADGE_COLOURS.get(moment, (60, 60, 60)))
    draw.text((box_[0] + pad_x, box_[1] + pad_y), text, font=font, fill=(255, 255, 255))
