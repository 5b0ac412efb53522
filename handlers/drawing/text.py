"""Shared Pillow helpers: finding a font with Turkish glyphs, fitting and drawing text.

Text is drawn exactly as given. Never upper-case it with str.upper(): Python maps
Turkish "i" to "I" (not "İ") and "ı" to "I", which changes the words.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Literal

from PIL import ImageDraw, ImageFont

from handlers.errors import ImagegenError

MAX_DRAWN_CHARS = 300

RGB = tuple[int, int, int]
Color = str | RGB
Align = Literal["center", "left"]

# Debian's fonts-dejavu-core first, then the layouts other distributions use.
_FONT_DIRS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/truetype",
    "/usr/local/share/fonts",
    "/Library/Fonts",
)

ELLIPSIS = "…"


def mix(a: RGB, b: RGB, t: float) -> RGB:
    """The colour t of the way from a to b: blend a flat colour once, not per pixel."""
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


@lru_cache(maxsize=16)
def find_font(bold: bool = True, path: str | None = None) -> str:
    """Return the path of a TrueType font that has Turkish glyphs.

    An explicit ``path`` (the setting ``brand.font_path``) wins and is used for both
    weights; otherwise DejaVu Sans Bold / DejaVu Sans is looked up in standard places.
    """
    if path is not None:
        if not os.path.isfile(path):
            raise ImagegenError(
                f"font file {path!r} (setting brand.font_path) does not exist or is not a "
                "file; point brand.font_path at a .ttf with Turkish glyphs, or unset it "
                "to use DejaVu Sans from the Debian package fonts-dejavu-core"
            )
        return path
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for directory in _FONT_DIRS:
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate):
            return candidate
    raise ImagegenError(
        f"font {name} not found in {', '.join(_FONT_DIRS)}; install the Debian package "
        "fonts-dejavu-core (apt-get install fonts-dejavu-core) or set brand.font_path "
        "to a .ttf file with Turkish glyphs"
    )


_per_thread = threading.local()


def load_font(size: int, bold: bool = True, path: str | None = None) -> ImageFont.FreeTypeFont:
    """Load (once per thread) the font of ``find_font(bold, path)`` at ``size`` pixels.

    One cache per thread: a FreeType face is not safe to use from two threads at
    once, and chapters render in parallel.
    """
    cache: dict[tuple[int, bool, str | None], ImageFont.FreeTypeFont]
    cache = getattr(_per_thread, "fonts", None) or {}
    _per_thread.fonts = cache
    key = (size, bold, path)
    font = cache.get(key)
    if font is None:
        if len(cache) > 256:
            cache.clear()
        font = cache[key] = ImageFont.truetype(find_font(bold, path), max(1, size))
    return font


def _line_width(font: ImageFont.FreeTypeFont, text: str, stroke_width: int) -> float:
    return font.getlength(text) + 2 * stroke_width


def _break_word(
    font: ImageFont.FreeTypeFont, word: str, max_width: int, stroke_width: int
) -> list[str]:
    """Split one word into pieces no wider than max_width (at least one char each)."""
    pieces: list[str] = []
    current = ""
    for char in word:
        candidate = current + char
        if current and _line_width(font, candidate, stroke_width) > max_width:
            pieces.append(current)
            current = char
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


def _wrap(
    font: ImageFont.FreeTypeFont,
    text: str,
    max_width: int,
    stroke_width: int,
    break_words: bool,
) -> list[str] | None:
    """Greedy word wrap; None if a word is too wide and break_words is False."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split():
            if _line_width(font, word, stroke_width) > max_width:
                if not break_words:
                    return None
                pieces = _break_word(font, word, max_width, stroke_width)
                if current:
                    lines.append(current)
                lines.extend(pieces[:-1])
                current = pieces[-1]
                continue
            candidate = f"{current} {word}" if current else word
            if _line_width(font, candidate, stroke_width) <= max_width:
                current = candidate
            else:
                lines.append(current)
                current = word
        if current:
            lines.append(current)
    return lines


def _line_height(font: ImageFont.FreeTypeFont, line_spacing: float) -> int:
    ascent, descent = font.getmetrics()
    return max(1, round((ascent + descent) * line_spacing))


def _block_height(
    font: ImageFont.FreeTypeFont, n_lines: int, line_spacing: float, stroke_width: int
) -> int:
    if n_lines == 0:
        return 0
    ascent, descent = font.getmetrics()
    advance = _line_height(font, line_spacing)
    return advance * (n_lines - 1) + ascent + descent + 2 * stroke_width


def _try_size(
    text: str,
    font_path: str,
    size: int,
    max_width: int,
    max_height: int,
    line_spacing: float,
    stroke_width: int,
    break_words: bool,
) -> tuple[ImageFont.FreeTypeFont, list[str]] | None:
    font = load_font(size, path=font_path)
    lines = _wrap(font, text, max_width, stroke_width, break_words)
    if lines is None:
        return None
    if _block_height(font, len(lines), line_spacing, stroke_width) > max_height:
        return None
    return font, lines


def _largest_fit(
    text: str,
    font_path: str,
    max_width: int,
    max_height: int,
    max_size: int,
    min_size: int,
    line_spacing: float,
    stroke_width: int,
    break_words: bool,
) -> tuple[ImageFont.FreeTypeFont, list[str]] | None:
    # Binary search: fitting is (nearly) monotonic in size, and every accepted size was
    # checked, so the worst case is a slightly smaller font than strictly necessary.
    best: tuple[ImageFont.FreeTypeFont, list[str]] | None = None
    low, high = min_size, max_size
    while low <= high:
        mid = (low + high) // 2
        result = _try_size(
            text, font_path, mid, max_width, max_height, line_spacing, stroke_width, break_words
        )
        if result is None:
            high = mid - 1
        else:
            best = result
            low = mid + 1
    return best


def fit_text(
    text: str,
    font_path: str,
    max_width: int,
    max_height: int,
    max_size: int,
    min_size: int = 12,
    line_spacing: float = 1.1,
    stroke_width: int = 0,
) -> tuple[ImageFont.FreeTypeFont, list[str]]:
    """Wrap ``text`` and pick the largest font size (min_size..max_size) that fits the box.

    Words are only broken when no size fits without breaking (so a long title shrinks
    before it gets split mid-word). If even min_size with broken words is too tall, the
    lines that fit are kept and the last one ends with an ellipsis.
    Empty or whitespace-only text gives ``(font at max_size, [])``.
    """
    max_width = max(1, max_width)
    max_height = max(1, max_height)
    max_size = max(1, max_size)
    min_size = max(1, min(min_size, max_size))
    if len(text) > MAX_DRAWN_CHARS:
        # Fitting costs time per character; no frame shows more than this anyway, and a
        # hostile 5 MB title must not hold a worker for hours.
        text = text[:MAX_DRAWN_CHARS].rstrip() + "…"
    if not text.strip():
        return load_font(max_size, path=font_path), []
    for break_words in (False, True):
        result = _largest_fit(
            text,
            font_path,
            max_width,
            max_height,
            max_size,
            min_size,
            line_spacing,
            stroke_width,
            break_words,
        )
        if result is not None:
            return result
    font = load_font(min_size, path=font_path)
    lines = _wrap(font, text, max_width, stroke_width, break_words=True) or []
    return font, _truncate(font, lines, max_width, max_height, line_spacing, stroke_width)


def _truncate(
    font: ImageFont.FreeTypeFont,
    lines: list[str],
    max_width: int,
    max_height: int,
    line_spacing: float,
    stroke_width: int,
) -> list[str]:
    keep = len(lines)
    while keep > 1 and _block_height(font, keep, line_spacing, stroke_width) > max_height:
        keep -= 1
    kept = lines[:keep]
    if keep < len(lines):
        last = kept[-1]
        while last and _line_width(font, last + ELLIPSIS, stroke_width) > max_width:
            last = last[:-1]
        kept[-1] = last.rstrip() + ELLIPSIS
    return kept


def draw_text_block(
    draw: ImageDraw.ImageDraw,
    text: str,
    box: tuple[int, int, int, int],
    fill: Color,
    font_path: str,
    max_size: int,
    min_size: int = 12,
    align: Align = "center",
    line_spacing: float = 1.1,
    stroke_width: int = 0,
    stroke_fill: Color | None = None,
) -> tuple[int, int, int, int]:
    """Draw ``text`` wrapped and fitted into ``box`` (x0, y0, x1, y1), vertically centred.

    Returns the bounding box the text block actually occupies (the empty box at the
    centre for empty text), so callers can place decorations next to it.
    """
    x0, y0, x1, y1 = box
    max_width = x1 - x0
    max_height = y1 - y0
    font, lines = fit_text(
        text, font_path, max_width, max_height, max_size, min_size, line_spacing, stroke_width
    )
    block_height = _block_height(font, len(lines), line_spacing, stroke_width)
    top = y0 + (max_height - block_height) // 2
    if not lines:
        centre_x = (x0 + x1) // 2
        return centre_x, top, centre_x, top
    advance = _line_height(font, line_spacing)
    left_edge, right_edge = x1, x0
    y = top + stroke_width
    for line in lines:
        width = _line_width(font, line, stroke_width)
        x = x0 + (max_width - width) / 2 if align == "center" else float(x0)
        left_edge = min(left_edge, int(x))
        right_edge = max(right_edge, int(x + width))
        draw.text(
            (x + stroke_width, y),
            line,
            font=font,
            fill=fill,
            anchor="la",
            stroke_width=stroke_width,
            stroke_fill=stroke_fill,
        )
        y += advance
    return left_edge, top, right_edge, top + block_height
