"""What every offline picture shares: a stable seed, the painter of each visual type,
the canvas a small frame is painted on, and the overlays that mark it as a placeholder
(the title band, the "offline render" label). Used by the offline renderer
(offline.py) and its storyboard shots (shots.py)."""

from __future__ import annotations

import hashlib
import random

from PIL import Image, ImageDraw

from handlers.drawing.broll import paint_b_roll
from handlers.drawing.diagram import paint_diagram
from handlers.drawing.keywords import Ask
from handlers.drawing.screen import paint_screen_share
from handlers.drawing.shapes import Frame, Painter, hsl, rounded
from handlers.drawing.text import draw_text_block, load_font

LABEL = "offline render"


def stable(key: str) -> int:
    """Stable 64-bit number; Python's hash() is salted per process, so sha256 instead."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


# --- anything else -----------------------------------------------------------------


def paint_abstract(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: Frame, ask: Ask
) -> None:
    hue = frame.hue
    w, h = frame.width, frame.height
    draw.rectangle((0, 0, w, h), fill=hsl(hue, 0.08, 0.88))
    for _ in range(rng.randint(10, 16)):
        colour = hsl(hue + rng.uniform(-0.12, 0.12), rng.uniform(0.1, 0.3), rng.uniform(0.55, 0.8))
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        size = rng.uniform(0.06, 0.22) * min(w, h) * 2
        if rng.random() < 0.5:
            draw.ellipse((cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2), fill=colour)
        else:
            rounded(
                draw,
                (cx - size / 2, cy - size / 3, cx + size / 2, cy + size / 3),
                frame.px(30),
                fill=colour,
            )
    stripe = hsl(hue, 0.1, 0.8)
    for offset in range(-h, w, frame.px(160)):
        draw.line((offset, h, offset + h, 0), fill=stripe, width=frame.px(3))


PAINTERS: dict[str, Painter] = {
    "diagram": paint_diagram,
    "b_roll": paint_b_roll,
    "screen_share": paint_screen_share,
}


def title_band(image: Image.Image, title: str, frame: Frame, font_path: str) -> None:
    top = frame.content_bottom
    region = (0, top, frame.width, frame.height)
    band_colour = hsl(frame.hue, 0.35, 0.14)
    # Translucent band: blend once over the crop instead of per-pixel alpha drawing.
    shaded = Image.blend(
        image.crop(region), Image.new("RGB", (frame.width, frame.band_height), band_colour), 0.85
    )
    image.paste(shaded, (0, top))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, top, frame.width, top + frame.px(6) - 1), fill=hsl(frame.hue, 0.7, 0.55))
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


def offline_label(image: Image.Image, frame: Frame, font_path: str) -> None:
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


# Scenes are designed for video frames. A smaller or oddly shaped frame is painted on a
# canvas at least this large (aspect ratio clamped to 1:4..4:1) and scaled to fit:
# shapes drawn directly would shrink to nothing or to inverted boxes Pillow rejects.
MIN_SCENE = (480, 270)
MAX_ASPECT = 4.0


def canvas_size(width: int, height: int) -> tuple[int, int]:
    aspect = width / height
    if width >= MIN_SCENE[0] and height >= MIN_SCENE[1] and 1 / MAX_ASPECT <= aspect <= MAX_ASPECT:
        return width, height
    aspect = min(MAX_ASPECT, max(1 / MAX_ASPECT, aspect))
    canvas_height = max(MIN_SCENE[1], MIN_SCENE[0] / aspect)
    return round(canvas_height * aspect), round(canvas_height)
