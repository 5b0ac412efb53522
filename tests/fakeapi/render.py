"""Textured, varied images for the fake, and the defects a test can script into them.

Every image is drawn from a seed (the fake derives it from the prompt and how many images
it already made for that prompt): a scene (landscape, city, room, sea or portrait) with a
sky or wall gradient, hard-edged shapes, a subject, lighting and film grain. Deterministic
image checks (standard deviation, edge energy, perceptual hashes) therefore see real-looking
images that differ from each other, and a run is reproducible given the same requests.

Speed: the picture is an 8-bit palette image. A shape layer holds a ramp number per pixel
(ramp * 32), a shading layer (low-resolution lighting upscaled, plus grain cut from a
noise field cached per size) holds 0-31, and their sum indexes a palette of 7 shaded colour
ramps plus a few fixed colours. Palette PNGs are a third of the bytes of RGB ones, which is
what makes encoding cheap. Measured on the 2-core development machine (Pillow 13, one
thread, load average ~4 from other jobs, medians of 20, CPU time): a 1536x1024 image
renders in ~8.5 ms and encodes (PNG, compress_level 1) in ~5.5 ms: ~15 ms in all (wall
~15 ms), ~0.12 MB. The first image of a size adds ~15 ms (its grain field); the registry's
fingerprints add ~5 ms. Defects: blank ~8 ms, cropped ~14, dark ~14, garbled_text ~17,
blurry ~52 (blurred in RGB, quantized back to a palette). JPEG output +6 ms, WebP +35.
For comparison, a solid colour fill of that size took ~13 ms to encode at level 1.

Swatch: the top-left 16x16 pixels of a non-defective image are exactly
``prompt_colour(prompt, index)``, so a test can still tell prompts apart by one pixel.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

RGB = tuple[int, int, int]

DEFECTS = ("blank", "cropped", "garbled_text", "dark", "blurry")

# Palette layout: 7 ramps of 32 shades (indices 0-223), then fixed colours.
RAMPS = 7
SHADES = 32
SWATCH = 224
INK = 225
PAPER = 226
BAND = 227
SWATCH_SIZE = 16
# How much of the 0-31 shade range lighting may use; grain adds up to GRAIN_MAX on top.
LIGHT_MAX = 23
# Grain: 3 shade steps (~6% brightness) in 8x8 blocks, a mottle like canvas. Finer grain
# makes imagegen's own re-encode of every image much slower (per-pixel grain: about 3x,
# 4x4 blocks +57%, 8x8 blocks +18% against a flat fill), which upsets its timing tests.
GRAIN_MAX = 3
GRAIN_BLOCK = 8

_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/truetype",
)


@dataclass(frozen=True)
class Drawn:
    """A rendered image and the text drawn on it (garbled_text rows, else empty)."""

    image: Image.Image  # mode "P"
    text: tuple[str, ...] = ()


def seed_for(prompt: str, occurrence: int, index: int = 0) -> bytes:
    """The seed of the ``occurrence``-th image the fake makes for ``prompt``."""
    return hashlib.sha256(f"{prompt}\0{occurrence}\0{index}".encode()).digest()


def render(
    seed: bytes, width: int, height: int, defect: str | None = None, swatch: RGB | None = None
) -> Drawn:
    """Draw one image. ``swatch`` is the top-left colour (ignored for defective images)."""
    if defect is not None and defect not in DEFECTS:
        raise ValueError(f"unknown defect {defect!r}; known: {', '.join(DEFECTS)}")
    rng = random.Random(seed)
    ramps = _ramp_colours(rng)
    if defect == "blank":
        return Drawn(_blank(rng, width, height, ramps))
    shapes = Image.new("L", (width, height), 0)
    scene = rng.choice(_SCENES)
    scene(ImageDraw.Draw(shapes), rng, width, height, cut_off=defect == "cropped")
    index = ImageChops.add(shapes, _shading(rng, width, height))
    text: tuple[str, ...] = ()
    if defect == "cropped":
        _empty_band(index, rng)
    elif defect == "garbled_text":
        text = _garbled_rows(rng)
        _draw_text(index, text)
    elif defect is None and swatch is not None:
        index.paste(SWATCH, (0, 0, min(SWATCH_SIZE, width), min(SWATCH_SIZE, height)))
    palette = _palette(ramps, swatch or (0, 0, 0), rng)
    if defect == "dark":
        # Exposure crushed: everything scaled down hard and the shadows clipped to 0.
        palette = [max(0, round(value * 0.22) - 10) for value in palette]
    index.putpalette(palette)
    if defect == "blurry":
        return Drawn(_blur(index))
    return Drawn(index, text)


def encode(image: Image.Image, fmt: str = "png") -> bytes:
    """PNG (compress_level 1), JPEG (quality 90) or WebP (quality 80, fastest method)."""
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, "PNG", compress_level=1)
    elif fmt == "jpeg":
        image.convert("RGB").save(buffer, "JPEG", quality=90)
    elif fmt == "webp":
        image.convert("RGB").save(buffer, "WEBP", quality=80, method=0)
    else:
        raise ValueError(f"unknown image format {fmt!r}")
    return buffer.getvalue()


# ---------------------------------------------------------------- colours


def _hsv(hue: float, saturation: float, value: float) -> RGB:
    import colorsys

    r, g, b = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(r * 255), round(g * 255), round(b * 255)


def _ramp_colours(rng: random.Random) -> list[RGB]:
    """Seven base colours: 0 sky/wall, 1 light (sun, windows), 2-3 masses, 4 ground,
    5 subject, 6 subject detail. Lightness alternates so shapes stand out in grey too."""
    hue = rng.random()
    scheme = rng.choice((0.08, 0.33, 0.5, 0.6))  # analogous .. complementary spread
    return [
        _hsv(hue + 0.55, rng.uniform(0.25, 0.6), rng.uniform(0.75, 1.0)),
        _hsv(hue + 0.12, rng.uniform(0.1, 0.5), 1.0),
        _hsv(hue + scheme, rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.55)),
        _hsv(hue + scheme * 1.5, rng.uniform(0.3, 0.7), rng.uniform(0.2, 0.4)),
        _hsv(hue + 0.25, rng.uniform(0.4, 0.8), rng.uniform(0.45, 0.7)),
        _hsv(hue, rng.uniform(0.6, 1.0), rng.uniform(0.6, 0.95)),
        _hsv(hue + 0.45, rng.uniform(0.5, 0.9), rng.uniform(0.15, 0.35)),
    ]


def _palette(ramps: list[RGB], swatch: RGB, rng: random.Random) -> list[int]:
    palette: list[int] = []
    for colour in ramps:
        for shade in range(SHADES):
            factor = 0.45 + 0.7 * shade / (SHADES - 1)
            palette.extend(min(255, round(channel * factor)) for channel in colour)
    band = _hsv(rng.random(), 0.15, rng.uniform(0.55, 0.85))
    palette.extend([*swatch, 20, 18, 16, 244, 240, 228, *band])
    palette.extend([0] * (768 - len(palette)))
    return palette


# ---------------------------------------------------------------- shading and grain


@lru_cache(maxsize=8)
def _grain(width: int, height: int) -> Image.Image:
    """Film grain (0..GRAIN_MAX-1), larger than the frame so each image cuts its own window.
    Cached per size: making it costs ~40 ms at 1536x1024."""
    size = ((width + 64) // GRAIN_BLOCK + 1, (height + 64) // GRAIN_BLOCK + 1)
    noise = Image.effect_noise(size, 48)
    if GRAIN_BLOCK > 1:
        noise = noise.resize(
            (size[0] * GRAIN_BLOCK, size[1] * GRAIN_BLOCK), Image.Resampling.NEAREST
        )
    return noise.point(lambda v: max(0, min(GRAIN_MAX - 1, (v - 128 + 96) * GRAIN_MAX // 192)))


def _shading(rng: random.Random, width: int, height: int) -> Image.Image:
    """Lighting (a tilted gradient with a soft hot spot) plus grain, 0..31 per pixel."""
    cols, rows = 24, 16
    angle_x, angle_y = rng.uniform(-1, 1), rng.uniform(-1, 1)
    spot_x, spot_y = rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.6)
    values: list[int] = []
    for y in range(rows):
        for x in range(cols):
            u, v = x / (cols - 1), y / (rows - 1)
            tilt = 0.5 + 0.35 * (angle_x * (u - 0.5) + angle_y * (v - 0.5))
            spot = max(0.0, 1.0 - ((u - spot_x) ** 2 + (v - spot_y) ** 2) * 3.0)
            level = min(1.0, max(0.0, 0.75 * tilt + 0.35 * spot))
            values.append(round(level * LIGHT_MAX))
    light = Image.new("L", (cols, rows))
    light.putdata(values)
    light = light.resize((width, height), Image.Resampling.BILINEAR)
    grain = _grain(width, height)
    dx, dy = rng.randrange(64), rng.randrange(64)
    return ImageChops.add(light, grain.crop((dx, dy, dx + width, dy + height)))


def _blank(rng: random.Random, width: int, height: int, ramps: list[RGB]) -> Image.Image:
    """Near-uniform: one colour with a one-step flicker of grain (std dev ~1)."""
    grain = _grain(width, height)
    dx, dy = rng.randrange(64), rng.randrange(64)
    flicker = grain.crop((dx, dy, dx + width, dy + height)).point(
        lambda v: SHADES // 2 + (1 if v >= GRAIN_MAX // 2 else 0)
    )
    flicker.putpalette(_palette(ramps, (0, 0, 0), rng))
    return flicker


def _blur(index: Image.Image) -> Image.Image:
    """Heavy blur: an eighth of the size, blurred, scaled back up, and re-quantized to a
    palette (a smooth RGB PNG costs twice as much to encode)."""
    rgb = index.convert("RGB")
    width, height = rgb.size
    small = rgb.reduce(8).filter(ImageFilter.GaussianBlur(1.5))
    big = small.resize((width, height), Image.Resampling.BILINEAR)
    return big.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)


# ---------------------------------------------------------------- scenes

Scene = Callable[[ImageDraw.ImageDraw, random.Random, int, int, bool], None]


def _ramp(number: int) -> int:
    return number * SHADES


def _subject_x(rng: random.Random, width: int, cut_off: bool) -> float:
    """Where the subject stands; a cropped image puts it half outside the frame."""
    if cut_off:
        return rng.choice((-0.02, 1.02)) * width
    return rng.uniform(0.25, 0.75) * width


def _ridge(
    rng: random.Random, width: int, base: float, amplitude: float
) -> list[tuple[float, float]]:
    points = [(0.0, base)]
    steps = rng.randint(4, 9)
    for step in range(1, steps):
        points.append((width * step / steps, base - rng.uniform(0.1, 1.0) * amplitude))
    points.append((float(width), base - rng.uniform(0, 0.5) * amplitude))
    return points


def _landscape(
    draw: ImageDraw.ImageDraw, rng: random.Random, width: int, height: int, cut_off: bool
) -> None:
    horizon = height * rng.uniform(0.5, 0.72)
    sun_x, sun_y, sun_r = (
        width * rng.uniform(0.1, 0.9),
        height * rng.uniform(0.1, 0.3),
        height * 0.08,
    )
    draw.ellipse((sun_x - sun_r, sun_y - sun_r, sun_x + sun_r, sun_y + sun_r), fill=_ramp(1))
    for _ in range(rng.randint(1, 4)):
        cx, cy = width * rng.random(), height * rng.uniform(0.08, 0.35)
        draw.ellipse(
            (cx - width * 0.08, cy - height * 0.03, cx + width * 0.08, cy + height * 0.03),
            fill=_ramp(1),
        )
    far = _ridge(rng, width, horizon, height * 0.3)
    draw.polygon([*far, (width, height), (0, height)], fill=_ramp(3))
    near = _ridge(rng, width, horizon + height * 0.1, height * 0.15)
    draw.polygon([*near, (width, height), (0, height)], fill=_ramp(2))
    draw.rectangle((0, horizon + height * 0.18, width, height), fill=_ramp(4))
    x = _subject_x(rng, width, cut_off)
    ground = horizon + height * 0.2
    if rng.random() < 0.5:  # a house
        w, h = width * 0.22, height * 0.22
        draw.rectangle((x - w / 2, ground - h, x + w / 2, ground), fill=_ramp(5))
        draw.polygon(
            [(x - w * 0.6, ground - h), (x, ground - h * 1.8), (x + w * 0.6, ground - h)],
            fill=_ramp(6),
        )
        for column in (-0.3, 0.1):
            left = x + w * column
            draw.rectangle(
                (left, ground - h * 0.7, left + w * 0.18, ground - h * 0.4), fill=_ramp(1)
            )
        draw.rectangle((x - w * 0.06, ground - h * 0.45, x + w * 0.06, ground), fill=_ramp(6))
    else:  # a tree
        trunk = width * 0.025
        draw.rectangle((x - trunk, ground - height * 0.3, x + trunk, ground), fill=_ramp(6))
        for _ in range(5):
            cx = x + rng.uniform(-1, 1) * width * 0.06
            cy = ground - height * rng.uniform(0.3, 0.5)
            r = height * rng.uniform(0.09, 0.15)
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_ramp(5))
    for _ in range(rng.randint(10, 30)):  # grass tufts: small hard edges near the front
        gx, gy = width * rng.random(), height * rng.uniform(0.85, 1.0)
        draw.line((gx, gy, gx + rng.uniform(-8, 8), gy - height * 0.04), fill=_ramp(2), width=3)


def _city(
    draw: ImageDraw.ImageDraw, rng: random.Random, width: int, height: int, cut_off: bool
) -> None:
    moon_x, moon_r = width * rng.uniform(0.1, 0.9), height * 0.06
    draw.ellipse(
        (moon_x - moon_r, height * 0.1, moon_x + moon_r, height * 0.1 + 2 * moon_r), fill=_ramp(1)
    )
    street = height * rng.uniform(0.8, 0.9)
    x = 0.0
    while x < width:
        w = width * rng.uniform(0.05, 0.12)
        top = height * rng.uniform(0.3, 0.65)
        ramp = rng.choice((2, 3))
        draw.rectangle((x, top, x + w, street), fill=_ramp(ramp))
        step = max(8, int(height * 0.035))
        for wy in range(int(top + step), int(street - step), step):
            for wx in range(int(x + step / 2), int(x + w - step), step):
                if rng.random() < 0.45:
                    draw.rectangle((wx, wy, wx + step * 0.45, wy + step * 0.55), fill=_ramp(1))
        x += w + width * rng.uniform(0, 0.02)
    tower_x = _subject_x(rng, width, cut_off)
    tw = width * 0.09
    tower_top = height * rng.uniform(0.12, 0.22)
    draw.rectangle((tower_x - tw / 2, tower_top, tower_x + tw / 2, street), fill=_ramp(5))
    draw.line(
        (tower_x, tower_top, tower_x, tower_top - height * 0.1),
        fill=_ramp(6),
        width=max(2, width // 300),
    )
    for band in range(1, 6):
        y = tower_top + (street - tower_top) * band / 6
        draw.rectangle((tower_x - tw / 2, y, tower_x + tw / 2, y + height * 0.01), fill=_ramp(6))
    draw.rectangle((0, street, width, height), fill=_ramp(4))
    for lane in range(0, width, max(40, width // 12)):
        draw.rectangle(
            (
                lane,
                street + (height - street) / 2,
                lane + width // 30,
                street + (height - street) / 2 + 4,
            ),
            fill=_ramp(1),
        )


def _room(
    draw: ImageDraw.ImageDraw, rng: random.Random, width: int, height: int, cut_off: bool
) -> None:
    stripe = max(12, int(width * rng.uniform(0.02, 0.05)))
    for left in range(0, width, stripe * 2):
        draw.rectangle(
            (left, 0, left + stripe - 1, height),
            fill=_ramp(rng.choice((0, 0, 3))) if rng.random() < 0.1 else _ramp(0),
        )
        draw.rectangle(
            (left + stripe, 0, left + stripe * 2 - 1, height),
            fill=_ramp(2) if rng.random() < 0.5 else _ramp(0),
        )
    floor = height * rng.uniform(0.7, 0.8)
    draw.rectangle((0, floor, width, height), fill=_ramp(6))
    fx, fy = width * rng.uniform(0.05, 0.6), height * rng.uniform(0.08, 0.2)
    fw, fh = width * rng.uniform(0.2, 0.3), height * rng.uniform(0.2, 0.3)
    draw.rectangle((fx, fy, fx + fw, fy + fh), fill=_ramp(3))
    draw.rectangle((fx + fw * 0.08, fy + fh * 0.1, fx + fw * 0.92, fy + fh * 0.9), fill=_ramp(1))
    draw.polygon(
        [
            (fx + fw * 0.1, fy + fh * 0.88),
            (fx + fw * 0.4, fy + fh * 0.3),
            (fx + fw * 0.9, fy + fh * 0.88),
        ],
        fill=_ramp(4),
    )
    table_top = floor - height * 0.15
    draw.rectangle(
        (width * 0.15, table_top, width * 0.85, table_top + height * 0.04), fill=_ramp(4)
    )
    for leg in (0.18, 0.8):
        draw.rectangle(
            (width * leg, table_top, width * leg + width * 0.02, floor + height * 0.05),
            fill=_ramp(4),
        )
    x = _subject_x(rng, width, cut_off)
    vase_w, vase_h = width * 0.1, height * 0.28
    draw.ellipse((x - vase_w / 2, table_top - vase_h, x + vase_w / 2, table_top), fill=_ramp(5))
    for _ in range(rng.randint(3, 6)):
        angle = rng.uniform(-0.6, 0.6)
        tip = (x + angle * width * 0.15, table_top - vase_h - height * rng.uniform(0.1, 0.2))
        draw.line((x, table_top - vase_h * 0.8, *tip), fill=_ramp(6), width=max(3, width // 250))
        r = height * 0.03
        draw.ellipse((tip[0] - r, tip[1] - r, tip[0] + r, tip[1] + r), fill=_ramp(1))


def _sea(
    draw: ImageDraw.ImageDraw, rng: random.Random, width: int, height: int, cut_off: bool
) -> None:
    horizon = height * rng.uniform(0.4, 0.6)
    sun_x, sun_r = width * rng.uniform(0.15, 0.85), height * rng.uniform(0.06, 0.12)
    draw.ellipse(
        (sun_x - sun_r, horizon - sun_r * 1.2, sun_x + sun_r, horizon + sun_r * 0.8), fill=_ramp(1)
    )
    draw.rectangle((0, horizon, width, height), fill=_ramp(2))
    wave = max(10, int(height * 0.03))
    for y in range(int(horizon + wave), height, wave):
        offset = rng.uniform(0, width * 0.1)
        for x in range(int(-offset), width, int(width * 0.08)):
            draw.arc((x, y, x + width * 0.06, y + wave), 200, 340, fill=_ramp(3), width=3)
    x = _subject_x(rng, width, cut_off)
    hull_y = horizon + (height - horizon) * rng.uniform(0.3, 0.5)
    hw = width * 0.18
    draw.polygon(
        [
            (x - hw / 2, hull_y),
            (x + hw / 2, hull_y),
            (x + hw * 0.35, hull_y + height * 0.07),
            (x - hw * 0.35, hull_y + height * 0.07),
        ],
        fill=_ramp(6),
    )
    draw.line((x, hull_y, x, hull_y - height * 0.35), fill=_ramp(6), width=max(3, width // 300))
    draw.polygon(
        [
            (x + 4, hull_y - height * 0.33),
            (x + 4, hull_y - height * 0.03),
            (x + hw * 0.45, hull_y - height * 0.03),
        ],
        fill=_ramp(5),
    )
    draw.polygon(
        [
            (x - 4, hull_y - height * 0.28),
            (x - 4, hull_y - height * 0.04),
            (x - hw * 0.3, hull_y - height * 0.04),
        ],
        fill=_ramp(1),
    )
    cliff_left = rng.random() < 0.5
    edge = width * rng.uniform(0.1, 0.2)
    points = [
        (0, horizon - height * 0.1),
        (edge, horizon - height * 0.05),
        (edge * 1.3, height),
        (0, height),
    ]
    if not cliff_left:
        points = [(width - px, py) for px, py in points]
    draw.polygon(points, fill=_ramp(4))


def _portrait(
    draw: ImageDraw.ImageDraw, rng: random.Random, width: int, height: int, cut_off: bool
) -> None:
    for ring in range(6, 0, -1):  # a halo of rings behind the figure
        r = height * 0.11 * ring
        cx, cy = width * 0.5, height * 0.45
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_ramp(0) if ring % 2 else _ramp(3))
    x = _subject_x(rng, width, cut_off)
    head_r = height * rng.uniform(0.11, 0.15)
    head_y = height * rng.uniform(0.3, 0.4)
    draw.ellipse(
        (x - width * 0.2, head_y + head_r * 1.4, x + width * 0.2, height * 1.3), fill=_ramp(6)
    )
    draw.rectangle(
        (x - head_r * 0.35, head_y + head_r * 0.8, x + head_r * 0.35, head_y + head_r * 1.6),
        fill=_ramp(5),
    )
    draw.ellipse((x - head_r, head_y - head_r, x + head_r, head_y + head_r), fill=_ramp(5))
    draw.chord(
        (x - head_r * 1.05, head_y - head_r * 1.15, x + head_r * 1.05, head_y + head_r * 0.5),
        180,
        360,
        fill=_ramp(2),
    )
    for eye in (-0.35, 0.35):
        ex = x + head_r * eye
        draw.ellipse(
            (ex - head_r * 0.1, head_y - head_r * 0.05, ex + head_r * 0.1, head_y + head_r * 0.15),
            fill=_ramp(3),
        )
    draw.arc(
        (x - head_r * 0.35, head_y + head_r * 0.2, x + head_r * 0.35, head_y + head_r * 0.6),
        20,
        160,
        fill=_ramp(3),
        width=4,
    )


_SCENES: tuple[Scene, ...] = (_landscape, _city, _room, _sea, _portrait)


# ---------------------------------------------------------------- defects


def _empty_band(index: Image.Image, rng: random.Random) -> None:
    """About half the frame one flat colour, as if the picture were shifted off-canvas."""
    width, height = index.size
    share = rng.uniform(0.45, 0.55)
    side = rng.choice(("left", "right", "top", "bottom"))
    box = {
        "left": (0, 0, round(width * share), height),
        "right": (round(width * (1 - share)), 0, width, height),
        "top": (0, 0, width, round(height * share)),
        "bottom": (0, round(height * (1 - share)), width, height),
    }[side]
    index.paste(BAND, box)


_CONSONANTS = "bcdfghjklmnpqrstvwxzBCDFGHJKLMNPQRSTVWXZ"
_VOWELS = "aeiouy"


def _word(rng: random.Random) -> str:
    letters = [rng.choice(_CONSONANTS).upper()]
    for position in range(rng.randint(3, 6)):
        pool = _VOWELS if position % 2 == 0 and rng.random() < 0.6 else _CONSONANTS.lower()
        letters.append(rng.choice(pool))
    return "".join(letters)


def _garbled_rows(rng: random.Random) -> tuple[str, ...]:
    return tuple(" ".join(_word(rng) for _ in range(3)) for _ in range(rng.randint(2, 3)))


_fonts = threading.local()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A bold font of ``size`` px, per thread (FreeType faces are not thread-safe)."""
    cache: dict[int, ImageFont.FreeTypeFont | ImageFont.ImageFont] = _fonts.__dict__.setdefault(
        "cache", {}
    )
    if size not in cache:
        for directory in _FONT_DIRS:
            path = os.path.join(directory, "DejaVuSans-Bold.ttf")
            if os.path.isfile(path):
                cache[size] = ImageFont.truetype(path, size)
                break
        else:
            cache[size] = ImageFont.load_default(size)
    return cache[size]


def _draw_text(index: Image.Image, rows: tuple[str, ...]) -> None:
    """Dark letters on a light sign across the middle: large and crisp enough for OCR."""
    width, height = index.size
    size = max(12, min(height // 9, width // 14))
    font = _font(size)
    draw = ImageDraw.Draw(index)
    draw.fontmode = "1"  # no antialiasing: a blended index would be a random colour
    line_height = round(size * 1.35)
    top = (height - line_height * len(rows)) // 2
    widths = [draw.textlength(row, font=font) for row in rows]
    sign_width = max(widths) + size
    left = (width - sign_width) / 2
    draw.rectangle(
        (left, top - size * 0.4, left + sign_width, top + line_height * len(rows) + size * 0.2),
        fill=PAPER,
    )
    for number, row in enumerate(rows):
        x = (width - widths[number]) / 2
        draw.text((x, top + number * line_height), row, font=font, fill=INK)
