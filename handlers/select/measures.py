"""Deterministic measures of one image, with Pillow and imagehash: how much contrast,
how much of it is clipped, how sharp its edges are, how much of it is flat at an
edge, and a perceptual hash to compare siblings. No model weights: plain arithmetic
on a downscaled copy, a few milliseconds per frame."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from PIL import Image, ImageFilter, ImageStat

if TYPE_CHECKING:
    import imagehash
    import numpy

# Edges are measured at this width: enough to tell a blurred frame from a sharp one,
# small enough to cost a few milliseconds.
EDGE_WIDTH = 960
# The flat-area grid: cells of this many pixels on a GRID_WIDTH-wide copy.
GRID_WIDTH = 192
CELL = 12
FLAT_CELL_STD = 2.0
# imagehash.phash's defaults: an 8x8 hash from the lowest frequencies of a 32x32 copy.
PHASH_BITS = 8
PHASH_HIGHFREQ = 4


@dataclass(frozen=True)
class Measures:
    width: int
    height: int
    std: float  # grayscale standard deviation, 0-127
    mean: float  # grayscale mean, 0-255
    edges: float  # edge strength of the strongest 0.2% of pixels at EDGE_WIDTH, 0-255
    black: float  # share of pixels at (almost) pure black
    white: float  # share of pixels at (almost) pure white
    flat_band: float  # largest share of the frame that is flat from one edge inwards
    flat: float  # share of the frame that is flat
    phash: imagehash.ImageHash


def measure(image: Image.Image) -> Measures:
    gray = image.convert("L")
    # Down only: an upscaled small frame would look blurred by the upscaling itself.
    small = gray
    if gray.width > EDGE_WIDTH:
        small = gray.resize(
            (EDGE_WIDTH, max(1, round(gray.height * EDGE_WIDTH / gray.width))),
            Image.Resampling.BILINEAR,
        )
    stat = ImageStat.Stat(small)
    histogram = small.histogram()
    pixels = max(1, small.width * small.height)
    grid = _flat_cells(gray)
    return Measures(
        width=image.width,
        height=image.height,
        std=float(stat.stddev[0]),
        mean=float(stat.mean[0]),
        edges=_edge_percentile(small, 0.998),
        black=sum(histogram[:5]) / pixels,
        white=sum(histogram[251:]) / pixels,
        flat_band=_flat_band(grid),
        flat=_flat_share(grid),
        phash=phash(small),
    )


def phash(image: Image.Image) -> imagehash.ImageHash:
    """imagehash.phash, bit for bit, with its 32x32 DCT as two small matrix products:
    imagehash computes it with scipy.fftpack, whose import alone costs about 30 MB and
    0.25 s of a process for a transform this size."""
    import imagehash
    import numpy

    side = PHASH_BITS * PHASH_HIGHFREQ
    pixels = numpy.asarray(
        image.convert("L").resize((side, side), Image.Resampling.LANCZOS), dtype=numpy.float64
    )
    basis = _dct_basis(side, PHASH_BITS)
    low = basis @ pixels @ basis.T  # the lowest frequencies of scipy's DCT-II, both axes
    return imagehash.ImageHash(low > numpy.median(low))


@cache
def _dct_basis(n: int, rows: int) -> numpy.ndarray:
    """The first `rows` rows of the unnormalised DCT-II matrix (scipy.fftpack.dct's)."""
    import numpy

    k = numpy.arange(rows)[:, None]
    i = numpy.arange(n)[None, :]
    return 2.0 * numpy.cos(math.pi * k * (2 * i + 1) / (2 * n))


def _edge_percentile(gray: Image.Image, share: float) -> float:
    """A sharp frame has some strong edges however flat its art; a blurred one has none."""
    edges = gray.filter(ImageFilter.FIND_EDGES)
    # FIND_EDGES leaves a one-pixel frame of garbage at the border.
    edges = edges.crop((1, 1, edges.width - 1, edges.height - 1))
    histogram = edges.histogram()
    total = sum(histogram)
    wanted = total * share
    running = 0
    for value, count in enumerate(histogram):
        running += count
        if running >= wanted:
            return float(value)
    return 255.0


def _flat_cells(gray: Image.Image) -> list[list[bool]]:
    small = gray.resize(
        (GRID_WIDTH, max(CELL, round(gray.height * GRID_WIDTH / gray.width))),
        Image.Resampling.BOX,
    )
    rows, cols = small.height // CELL, small.width // CELL
    grid = []
    for r in range(rows):
        row = []
        for c in range(cols):
            cell = small.crop((c * CELL, r * CELL, (c + 1) * CELL, (r + 1) * CELL))
            row.append(ImageStat.Stat(cell).stddev[0] < FLAT_CELL_STD)
        grid.append(row)
    return grid


def _flat_share(grid: list[list[bool]]) -> float:
    cells = sum(len(row) for row in grid)
    return sum(sum(row) for row in grid) / max(1, cells)


def _flat_band(grid: list[list[bool]]) -> float:
    """The deepest run of (almost) entirely flat rows or columns from any edge, as a
    share of the frame: a subject cut off, or half the frame left empty."""
    if not grid or not grid[0]:
        return 0.0
    rows = [sum(row) / len(row) >= 0.9 for row in grid]
    cols = [
        sum(grid[r][c] for r in range(len(grid))) / len(grid) >= 0.9 for c in range(len(grid[0]))
    ]

    def run(flags: list[bool]) -> int:
        n = 0
        for flag in flags:
            if not flag:
                break
            n += 1
        return n

    return max(
        run(rows) / len(rows),
        run(rows[::-1]) / len(rows),
        run(cols) / len(cols),
        run(cols[::-1]) / len(cols),
    )
