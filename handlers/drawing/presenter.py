"""The talking-head placeholder's studio: a presenter (hair, face, neck, shirt and
jacket) behind a desk, in front of a wall with a bookshelf, a framed picture and a
plant.

Drawn in 1920x1080 design units and scaled to cover the frame, so a portrait or tiny
frame shows the same scene. The same presenter in every chapter, as on a real
channel: nothing here depends on the title.
"""

from __future__ import annotations

import math

from PIL import ImageDraw

from handlers.drawing.text import RGB, mix

SKIN: RGB = (224, 172, 134)
HAIR: RGB = (52, 36, 28)
JACKET: RGB = (44, 60, 98)
SHIRT: RGB = (222, 232, 244)
WOOD: RGB = (120, 80, 52)
BOOKS: tuple[RGB, ...] = (
    (176, 60, 50), (60, 100, 150), (220, 170, 60), (70, 130, 90), (150, 90, 140),
    (230, 226, 214), (90, 90, 96), (200, 110, 60),
)  # fmt: skip


class Studio:
    """Maps design coordinates (1920x1080) onto the frame so the scene covers it,
    centred: a portrait frame crops the shelf and the plant, never the presenter."""

    def __init__(self, draw: ImageDraw.ImageDraw, width: int, height: int) -> None:
        self.draw = draw
        self.k = max(width / 1920, height / 1080)
        self.dx = width / 2 - 960 * self.k
        self.dy = height / 2 - 540 * self.k

    def box(self, x0: float, y0: float, x1: float, y1: float) -> tuple[float, float, float, float]:
        k = self.k
        return self.dx + x0 * k, self.dy + y0 * k, self.dx + x1 * k, self.dy + y1 * k

    def points(self, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        return [(self.dx + x * self.k, self.dy + y * self.k) for x, y in points]

    def width(self, value: float) -> int:
        return max(1, round(value * self.k))

    def rect(self, x0: float, y0: float, x1: float, y1: float, fill: RGB) -> None:
        self.draw.rectangle(self.box(x0, y0, x1, y1), fill=fill)

    def oval(self, x0: float, y0: float, x1: float, y1: float, fill: RGB) -> None:
        self.draw.ellipse(self.box(x0, y0, x1, y1), fill=fill)

    def poly(self, points: list[tuple[float, float]], fill: RGB) -> None:
        self.draw.polygon(self.points(points), fill=fill)

    def line(self, points: list[tuple[float, float]], fill: RGB, width: float) -> None:
        self.draw.line(self.points(points), fill=fill, width=self.width(width), joint="curve")

    def round_rect(
        self, x0: float, y0: float, x1: float, y1: float, radius: float, fill: RGB
    ) -> None:
        box = self.box(x0, y0, x1, y1)
        if box[2] - box[0] >= 1 and box[3] - box[1] >= 1:
            r = min(self.width(radius), int((box[2] - box[0]) / 2), int((box[3] - box[1]) / 2))
            self.draw.rounded_rectangle(box, radius=r, fill=fill)


def _wall(s: Studio, wall: RGB) -> None:
    """Panel seams, a soft light behind the presenter, shelf, picture and plant."""
    seam = mix(wall, (0, 0, 0), 0.1)
    for seam_x in range(-360, 2300, 240):
        s.rect(seam_x, -2000, seam_x + 5, 935, seam)
    for ring, share in ((430, 0.05), (360, 0.09), (290, 0.13)):
        s.oval(
            960 - ring * 1.2,
            470 - ring,
            960 + ring * 1.2,
            470 + ring,
            mix(wall, (255, 255, 255), share),
        )

    # Bookshelf on the left: frame, three shelves, books of varied height and colour.
    frame = mix(WOOD, (0, 0, 0), 0.2)
    s.rect(150, 200, 560, 935, frame)
    s.rect(170, 220, 540, 935, mix(wall, (0, 0, 0), 0.35))
    for shelf in range(3):
        base = 420 + shelf * 200
        s.rect(170, base, 540, base + 18, WOOD)
        x = 186.0
        index = shelf * 3
        while x < 500:
            width = 22 + (index * 7) % 18
            tall = 120 + (index * 13) % 55
            s.rect(x, base - tall, x + width, base, BOOKS[index % len(BOOKS)])
            x += width + 4
            index += 1

    # Framed picture on the right: a small landscape print.
    s.rect(1420, 170, 1780, 440, (60, 46, 38))
    s.rect(1440, 190, 1760, 420, (176, 206, 226))
    s.poly(
        [(1440, 420), (1530, 300), (1610, 380), (1680, 320), (1760, 400), (1760, 420)],
        (96, 140, 96),
    )
    s.oval(1660, 220, 1710, 270, (246, 214, 120))

    # Plant on a stand at the right.
    leaf = (70, 120, 70)
    for k, (x, y) in enumerate(
        ((1660, 560), (1720, 520), (1780, 570), (1690, 640), (1760, 650), (1720, 600))
    ):
        s.oval(x - 55, y - 90, x + 55, y + 90, mix(leaf, (255, 255, 255), 0.08 * (k % 3)))
    s.poly([(1650, 700), (1790, 700), (1770, 850), (1670, 850)], (196, 110, 76))
    s.rect(1690, 850, 1750, 935, frame)


def _shoulder_line(cx: float, side: int) -> list[tuple[float, float]]:
    """From the base of the neck over the shoulder and down the arm: a quarter ellipse,
    so the shoulder is round without looking padded."""
    points = []
    for step in range(9):
        angle = step / 8 * math.pi / 2
        points.append((cx + side * (88 + 172 * math.sin(angle)), 628 + 96 * (1 - math.cos(angle))))
    points.append((cx + side * 282, 1100))
    return points


def _presenter(s: Studio) -> None:
    cx = 960.0
    # Jacket: shoulders about 2.5 head widths across, arms marked by a darker seam.
    left, right = _shoulder_line(cx, -1), _shoulder_line(cx, 1)
    s.poly([*left, *reversed(right)], JACKET)
    seam = mix(JACKET, (0, 0, 0), 0.3)
    for side in (-1, 1):
        s.line([(cx + side * 200, 690), (cx + side * 214, 800), (cx + side * 222, 1100)], seam, 6)
    # Shirt in the opening of the jacket, then lapels over it.
    s.poly([(cx - 88, 628), (cx + 88, 628), (cx + 40, 900), (cx - 40, 900)], SHIRT)
    lapel = mix(JACKET, (0, 0, 0), 0.25)
    for side in (-1, 1):
        s.poly(
            [(cx + side * 92, 626), (cx + side * 20, 880), (cx + side * 55, 880),
             (cx + side * 150, 700), (cx + side * 118, 688)],
            lapel,
        )  # fmt: skip
    # Neck with the shadow the chin casts, and the collar points.
    s.rect(cx - 52, 520, cx + 52, 650, mix(SKIN, (0, 0, 0), 0.1))
    s.oval(cx - 46, 556, cx + 46, 606, mix(SKIN, (0, 0, 0), 0.2))
    collar = (246, 248, 252)
    for side in (-1, 1):
        s.poly(
            [(cx + side * 70, 615), (cx, 672), (cx + side * 36, 700), (cx + side * 92, 640)], collar
        )

    # Head: hair mass, ears, face, then the fringe sweeping down from a side parting.
    s.oval(cx - 112, 282, cx + 112, 452, HAIR)
    for side in (-1, 1):
        s.oval(cx + side * 105 - 17, 412, cx + side * 105 + 17, 486, mix(SKIN, (0, 0, 0), 0.08))
    s.oval(cx - 104, 380, cx + 104, 578, SKIN)
    s.poly(
        [(cx - 106, 410), (cx - 62, 330), (cx + 40, 318), (cx + 112, 376), (cx + 82, 356),
         (cx + 10, 390), (cx - 92, 436)],
        HAIR,
    )  # fmt: skip

    ink = (52, 34, 28)
    for side in (-1, 1):
        ex = cx + side * 42
        s.line([(ex - 26, 430), (ex, 422), (ex + 26, 430)], HAIR, 9)
        s.oval(ex - 17, 448, ex + 17, 466, (248, 246, 242))
        s.oval(ex - 9, 448, ex + 9, 466, ink)
    shade = mix(SKIN, (0, 0, 0), 0.22)
    s.line([(cx + 2, 466), (cx + 6, 494)], shade, 5)
    s.oval(cx - 16, 496, cx + 16, 510, shade)
    s.draw.arc(s.box(cx - 40, 500, cx + 40, 548), 25, 155, fill=(160, 80, 76), width=s.width(7))


def _desk(s: Studio) -> None:
    """Desk across the bottom with the presenter's hands, a laptop and a mug on it."""
    s.rect(-2000, 935, 4000, 968, mix(WOOD, (255, 255, 255), 0.25))
    s.rect(-2000, 968, 4000, 1200, WOOD)
    for y in (1000, 1040, 1075):
        s.rect(-2000, y, 4000, y + 3, mix(WOOD, (0, 0, 0), 0.2))
    # Forearms resting on the desk and the hands clasped in front.
    s.poly([(712, 780), (800, 760), (930, 930), (850, 960)], JACKET)
    s.poly([(1208, 780), (1120, 760), (990, 930), (1070, 960)], JACKET)
    s.oval(880, 900, 990, 962, SKIN)
    s.oval(930, 895, 1040, 958, mix(SKIN, (0, 0, 0), 0.06))
    # Laptop seen from behind, and a mug.
    s.round_rect(1330, 770, 1640, 945, 16, (190, 194, 202))
    s.oval(1470, 840, 1500, 870, (236, 238, 242))
    s.rect(1300, 935, 1670, 950, (150, 154, 162))
    s.round_rect(330, 860, 410, 950, 10, (230, 90, 60))
    s.draw.arc(s.box(395, 880, 440, 930), 270, 90, fill=(230, 90, 60), width=s.width(10))


def paint_studio(draw: ImageDraw.ImageDraw, width: int, height: int, wall: RGB) -> None:
    """The whole scene over a frame already filled with the wall colour."""
    s = Studio(draw, width, height)
    _wall(s, wall)
    _presenter(s)
    _desk(s)
