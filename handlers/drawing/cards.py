"""Template images for routes that are not generated: title cards and talking heads.

Plain deterministic drawings; sizes are fractions of the frame so any resolution works.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageColor, ImageDraw

from handlers.drawing.presenter import paint_studio
from handlers.drawing.shapes import Box
from handlers.drawing.text import RGB, draw_text_block, find_font, mix
from handlers.errors import ImagegenError

WHITE: RGB = (255, 255, 255)
BLACK: RGB = (0, 0, 0)


def _rgb(color: str) -> RGB:
    try:
        value = ImageColor.getrgb(color)
    except ValueError as exc:
        raise ImagegenError(
            f"colour {color!r} is not a colour Pillow understands; use a hex value like "
            "'#F7931A' (check the brand colour settings)"
        ) from exc
    return value[0], value[1], value[2]


def _px(value: float, width: int, height: int) -> int:
    """A 1920x1080 design length scaled to the frame, never below 1 pixel."""
    return max(1, round(value * min(width / 1920, height / 1080)))


def _brand_pattern(draw: ImageDraw.ImageDraw, width: int, height: int, background: RGB) -> None:
    """Two large discs cut by the frame edge and fine diagonal pinstripes, in shades of
    the brand colour: the card stays one colour at a glance but has no flat field (the
    quality checks reject a near-uniform band along an edge). The corners and a
    margin round the frame keep the exact brand colour."""
    h = height
    for cx, cy, r, shade in (
        (width * 0.74, -h * 0.1, h * 0.38, mix(background, BLACK, 0.42)),
        (width * 0.24, h * 1.1, h * 0.36, mix(background, WHITE, 0.38)),
    ):
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=shade)
        inner = r * 0.72
        draw.ellipse(
            (cx - inner, cy - inner, cx + inner, cy + inner),
            outline=background,
            width=_px(6, width, height),
        )
    # Lines x - y = c, clipped by hand to the inset box (Pillow draws no clip paths).
    inset = _px(40, width, height)
    left, top, right, bottom = inset, inset, width - inset, height - inset
    stripe = mix(background, BLACK, 0.08)
    step = _px(44, width, height)
    line_width = _px(3, width, height)
    for c in range(left - bottom, right - top, step):
        y0, y1 = max(top, left - c), min(bottom, right - c)
        if y1 > y0:
            draw.line((y0 + c, y0, y1 + c, y1), fill=stripe, width=line_width)


@dataclass(frozen=True)
class Card:
    image: Image.Image
    # Where the words were drawn: OCR reads these boxes alone (the patterned background
    # costs Tesseract more time than the words, and reads as nothing).
    text_boxes: tuple[Box, ...]


def render_title_card(
    title: str,
    subtitle: str | None,
    width: int,
    height: int,
    color: str = "#F7931A",
    font_path: str | None = None,
) -> Card:
    """Brand-colour card: big white title in the middle, optional episode title above it."""
    width, height = max(1, width), max(1, height)
    background = _rgb(color)
    bold = find_font(True, font_path)
    regular = find_font(False, font_path)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)

    def px(value: float) -> int:
        return _px(value, width, height)

    _brand_pattern(draw, width, height, background)

    margin_x = round(width * 0.1)
    title_box = (margin_x, round(height * 0.32), width - margin_x, round(height * 0.74))
    # White on orange is low-contrast; a soft darker shadow keeps the title crisp.
    shadow = mix(background, BLACK, 0.22)
    offset = px(4)
    shadow_box = (
        title_box[0] + offset,
        title_box[1] + offset,
        title_box[2] + offset,
        title_box[3] + offset,
    )

    def draw_title(box: Box, fill: RGB) -> Box:
        return draw_text_block(
            draw, title, box, fill, bold, max_size=px(120), min_size=max(6, px(40))
        )

    draw_title(shadow_box, shadow)
    drawn = draw_title(title_box, WHITE)

    line_half = round(width * 0.06)
    line_top = drawn[3] + px(34)
    centre = width // 2
    draw.rectangle(
        (centre - line_half, line_top, centre + line_half, line_top + px(8) - 1),
        fill=mix(background, WHITE, 0.55),
    )

    boxes = [drawn]
    if subtitle and subtitle.strip():
        subtitle_bottom = drawn[1] - px(30)
        subtitle_top = max(px(40), subtitle_bottom - px(130))
        if subtitle_bottom > subtitle_top:
            sub = draw_text_block(
                draw,
                subtitle,
                (margin_x, subtitle_top, width - margin_x, subtitle_bottom),
                mix(background, WHITE, 0.85),
                regular,
                max_size=px(52),
                min_size=max(6, px(26)),
            )
            boxes.insert(0, sub)
    return Card(image, tuple(boxes))


def render_talking_head(
    title: str,
    width: int,
    height: int,
    color: str = "#8A8A8A",
    font_path: str | None = None,
) -> Card:
    """Presenter shot placeholder: a presenter at a desk in a grey studio, and a
    lower-third with the title drawn exactly as given."""
    width, height = max(1, width), max(1, height)
    background = _rgb(color)
    bold = find_font(True, font_path)
    image = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(image)

    def px(value: float) -> int:
        return _px(value, width, height)

    paint_studio(draw, width, height, background)

    band = (round(width * 0.06), round(height * 0.76), round(width * 0.7), round(height * 0.9))
    draw.rectangle(band, fill=mix(background, BLACK, 0.72))
    draw.rectangle((band[0], band[1], band[0] + px(12) - 1, band[3]), fill=WHITE)
    padding = px(36)
    drawn = draw_text_block(
        draw,
        title,
        (band[0] + px(12) + padding, band[1] + px(10), band[2] - padding, band[3] - px(10)),
        WHITE,
        bold,
        max_size=px(64),
        min_size=max(6, px(24)),
        align="left",
    )
    return Card(image, (drawn,))
