"""Offline image provider: deterministic placeholder art drawn with Pillow.

Used when no image API is configured (or for tests and dry runs). It draws what the
chapter's title and visual description name (keywords.py: a market, people, a city,
a phone...), and each candidate of a chapter takes a different layout, palette and
composition. Every image carries an "offline render" label and the title band, so
nobody mistakes it for a generated picture.
"""

from __future__ import annotations

import hashlib
import random

from PIL import Image, ImageDraw

from handlers.drawing.broll import paint_b_roll
from handlers.drawing.diagram import paint_diagram
from handlers.drawing.keywords import Ask, ask_for
from handlers.drawing.screen import paint_screen_share
from handlers.drawing.shapes import Frame, Painter, hsl, rounded
from handlers.drawing.text import draw_text_block, find_font, load_font
from handlers.providers.base import GeneratedImage, ImageRequest

MODEL = "offline-pillow-1"
LABEL = "offline render"


def _stable(key: str) -> int:
    """Stable 64-bit number; Python's hash() is salted per process, so sha256 instead."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def chapter_seed(request: ImageRequest) -> int:
    """The same for every candidate of a chapter: where the rotations of layout,
    palette and composition start."""
    return _stable(
        f"{request.prompt}\x00{request.visual_type}\x00{request.seed}\x00{request.description}"
    )


def request_seed(request: ImageRequest) -> int:
    """Seed of one candidate's details (counts, sizes, positions)."""
    return _stable(f"{chapter_seed(request)}\x00{request.candidate}")


# --- anything else -----------------------------------------------------------------


def _paint_abstract(
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


_PAINTERS: dict[str, Painter] = {
    "diagram": paint_diagram,
    "b_roll": paint_b_roll,
    "screen_share": paint_screen_share,
}


def _title_band(image: Image.Image, title: str, frame: Frame, font_path: str) -> None:
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


def _offline_label(image: Image.Image, frame: Frame, font_path: str) -> None:
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


def _canvas_size(width: int, height: int) -> tuple[int, int]:
    aspect = width / height
    if width >= MIN_SCENE[0] and height >= MIN_SCENE[1] and 1 / MAX_ASPECT <= aspect <= MAX_ASPECT:
        return width, height
    aspect = min(MAX_ASPECT, max(1 / MAX_ASPECT, aspect))
    canvas_height = max(MIN_SCENE[1], MIN_SCENE[0] / aspect)
    return round(canvas_height * aspect), round(canvas_height)


def render_offline(request: ImageRequest, bold_font: str, regular_font: str) -> Image.Image:
    """Draw the placeholder image for one request; same request, same pixels."""
    base = chapter_seed(request)
    variant = max(0, request.candidate - 1)
    ask = ask_for(request.title, request.description, variant, base)
    rng = random.Random(request_seed(request))
    # Candidates step round the colour wheel by about a third: different hue families.
    hue = (base % 1000) / 1000 + variant * 0.37
    frame = Frame(max(1, request.width), max(1, request.height), hue % 1.0)
    canvas = Frame(*_canvas_size(frame.width, frame.height), frame.hue)
    image = Image.new("RGB", (canvas.width, canvas.height))
    painter = _PAINTERS.get(request.visual_type, _paint_abstract)
    painter(ImageDraw.Draw(image), image, rng, canvas, ask)
    if canvas.width != frame.width or canvas.height != frame.height:
        image = image.resize((frame.width, frame.height), Image.Resampling.LANCZOS)
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
