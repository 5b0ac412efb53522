"""Simple human figures for the offline renderer: head with hair and a face hint, a
torso in clothes, arms, legs and shoes, in varied skin tones and clothing.

Proportions follow the usual drawing canon (a head is about 1/7 of the height), which
is what makes a few ellipses and rounded boxes read as a person rather than a pin.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from PIL import ImageDraw

from handlers.drawing.shapes import hsl, rounded
from handlers.drawing.text import RGB, mix

SKIN: tuple[RGB, ...] = (
    (241, 203, 170),
    (224, 172, 134),
    (198, 140, 100),
    (160, 106, 70),
    (120, 78, 52),
    (88, 58, 40),
)
HAIR: tuple[RGB, ...] = (
    (40, 30, 26),
    (70, 46, 30),
    (112, 74, 42),
    (160, 120, 70),
    (128, 128, 132),
    (24, 22, 24),
)
TROUSERS: tuple[RGB, ...] = ((48, 56, 84), (70, 60, 50), (40, 40, 44), (96, 100, 110))
HAIR_STYLES = ("short", "long", "bun", "cap", "bald")


@dataclass(frozen=True)
class Look:
    skin: RGB
    hair: RGB
    hair_style: str
    top: RGB
    bottom: RGB
    dress: bool
    # How the arms hang: 0 both down, 1 right arm raised (waving, handing over goods),
    # 2 both bent forward (carrying, holding a basket).
    pose: int


def random_look(rng: random.Random) -> Look:
    """A varied look: skin, hair and clothes drawn from the seeded generator."""
    top = hsl(rng.random(), rng.uniform(0.35, 0.7), rng.uniform(0.35, 0.6))
    style = rng.choice(HAIR_STYLES)
    return Look(
        skin=rng.choice(SKIN),
        hair=rng.choice(HAIR),
        hair_style=style,
        top=top,
        bottom=rng.choice(TROUSERS),
        dress=style in ("long", "bun") and rng.random() < 0.4,
        pose=rng.choice((0, 0, 1, 2)),
    )


def _limb(
    draw: ImageDraw.ImageDraw,
    points: list[tuple[float, float]],
    colour: RGB,
    width: float,
) -> None:
    draw.line(points, fill=colour, width=max(1, round(width)), joint="curve")
    # Round caps: Pillow's lines end square, which makes elbows and knees look broken.
    r = width / 2
    for x, y in (points[0], points[-1]):
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)


def _hair_back(draw: ImageDraw.ImageDraw, look: Look, cx: float, cy: float, r: float) -> None:
    """Hair that falls behind the head and shoulders: drawn before the face."""
    if look.hair_style == "long":
        rounded(
            draw, (cx - r * 1.12, cy - r * 1.05, cx + r * 1.12, cy + r * 2.1), round(r), look.hair
        )
    elif look.hair_style == "bun":
        b = r * 0.5
        draw.ellipse(
            (cx - b, cy - r * 1.45 - b * 0.4, cx + b, cy - r * 1.45 + b * 1.2), fill=look.hair
        )


def _hair_front(draw: ImageDraw.ImageDraw, look: Look, cx: float, cy: float, r: float) -> None:
    """The hair line over the forehead: a cap of hair on the upper half of the head."""
    if look.hair_style == "bald":
        return
    if look.hair_style == "cap":
        draw.chord(
            (cx - r * 1.05, cy - r * 1.15, cx + r * 1.05, cy + r * 0.5), 180, 360, fill=look.top
        )
        draw.rectangle(
            (cx - r * 0.2, cy - r * 0.45, cx + r * 1.45, cy - r * 0.3),
            fill=mix(look.top, (0, 0, 0), 0.3),
        )
        return
    draw.chord(
        (cx - r * 1.06, cy - r * 1.12, cx + r * 1.06, cy + r * 0.55), 180, 360, fill=look.hair
    )
    # Side locks reach past the ears so the hair frames the face.
    side = r * 0.24
    radius = round(side / 2)
    rounded(
        draw, (cx - r * 1.04, cy - r * 0.4, cx - r * 1.04 + side, cy + r * 0.2), radius, look.hair
    )
    rounded(
        draw, (cx + r * 1.04 - side, cy - r * 0.4, cx + r * 1.04, cy + r * 0.2), radius, look.hair
    )


def _face(draw: ImageDraw.ImageDraw, look: Look, cx: float, cy: float, r: float) -> None:
    if r < 5:
        return  # too small for features: they would only smudge the head
    ink = mix(look.skin, (20, 14, 12), 0.75)
    eye = max(1.0, r * 0.11)
    for side in (-1, 1):
        ex, ey = cx + side * r * 0.38, cy + r * 0.12
        draw.ellipse((ex - eye, ey - eye, ex + eye, ey + eye), fill=ink)
    if r >= 9:
        mouth_w, mouth_y = r * 0.32, cy + r * 0.52
        draw.arc(
            (cx - mouth_w, mouth_y - r * 0.2, cx + mouth_w, mouth_y + r * 0.1),
            20,
            160,
            fill=mix(look.skin, (120, 40, 40), 0.6),
            width=max(1, round(r * 0.07)),
        )


def _arms(
    draw: ImageDraw.ImageDraw,
    look: Look,
    cx: float,
    shoulder_y: float,
    half_shoulder: float,
    arm_w: float,
    h: float,
) -> None:
    """Arms over the torso's edge with a hand at the end; pose 2 holds a basket of
    goods in front (shopping, bartering)."""
    hands = []
    for side in (-1, 1):
        sx = cx + side * (half_shoulder - arm_w * 0.45)
        sy = shoulder_y + arm_w * 0.5
        if look.pose == 1 and side == 1:
            elbow = (sx + h * 0.09, sy - h * 0.02)
            hand = (sx + h * 0.12, sy - h * 0.17)
        elif look.pose == 2:
            elbow = (sx + side * h * 0.03, sy + h * 0.15)
            hand = (sx - side * h * 0.06, sy + h * 0.2)
        else:
            elbow = (sx + side * h * 0.035, sy + h * 0.16)
            hand = (sx + side * h * 0.045, sy + h * 0.31)
        # Sleeves a shade darker than the body, so an arm reads against the torso.
        _limb(draw, [(sx, sy), elbow, hand], mix(look.top, (0, 0, 0), 0.14), arm_w)
        hands.append(hand)
    if look.pose == 2:
        y = hands[0][1]
        fruit = h * 0.03
        for k in range(3):
            fx = cx + (k - 1) * fruit * 1.8
            draw.ellipse(
                (fx - fruit, y - fruit * 1.6, fx + fruit, y + fruit * 0.4), fill=(226, 120, 40)
            )
        draw.chord(
            (cx - h * 0.09, y - h * 0.06, cx + h * 0.09, y + h * 0.07), 0, 180, fill=(170, 120, 64)
        )
    hr = arm_w * 0.52
    for x, y in hands:
        draw.ellipse((x - hr, y - hr, x + hr, y + hr), fill=look.skin)


def draw_person(
    draw: ImageDraw.ImageDraw, feet_x: float, feet_y: float, height: float, look: Look
) -> None:
    """A standing figure, facing the viewer, feet at (feet_x, feet_y)."""
    if height < 8:
        return
    h = height
    top = feet_y - h
    head_r = h * 0.068
    head_cy = top + head_r
    shoulder_y = top + h * 0.175
    hip_y = top + h * 0.52
    half_shoulder = h * 0.125
    half_hip = h * 0.1
    arm_w = h * 0.055
    leg_w = h * 0.075
    cx = feet_x

    _hair_back(draw, look, cx, head_cy, head_r)

    # Legs and shoes first: the torso (or a dress) overlaps their tops.
    shoe = mix(look.bottom, (10, 10, 10), 0.6)
    for side in (-1, 1):
        lx = cx + side * h * 0.05
        _limb(draw, [(lx, hip_y), (lx + side * h * 0.01, feet_y - h * 0.04)], look.bottom, leg_w)
        draw.ellipse(
            (lx - leg_w * 0.55 + side * h * 0.015, feet_y - h * 0.05,
             lx + leg_w * 0.75 + side * h * 0.015, feet_y),
            fill=shoe,
        )  # fmt: skip

    # Torso: shoulders wider than hips; a dress flares below the hips instead.
    body = [
        (cx - half_shoulder, shoulder_y + h * 0.02),
        (cx - half_shoulder * 0.82, shoulder_y - h * 0.008),
        (cx + half_shoulder * 0.82, shoulder_y - h * 0.008),
        (cx + half_shoulder, shoulder_y + h * 0.02),
        (cx + half_hip, hip_y),
        (cx - half_hip, hip_y),
    ]
    draw.polygon(body, fill=look.top)
    if look.dress:
        draw.polygon(
            [(cx - half_hip, hip_y - h * 0.02), (cx + half_hip, hip_y - h * 0.02),
             (cx + h * 0.15, top + h * 0.8), (cx - h * 0.15, top + h * 0.8)],
            fill=look.top,
        )  # fmt: skip
    else:
        draw.rectangle(
            (cx - half_hip, hip_y - h * 0.025, cx + half_hip, hip_y),
            fill=mix(look.bottom, (0, 0, 0), 0.3),
        )

    _arms(draw, look, cx, shoulder_y, half_shoulder, arm_w, h)

    # Neck, then the head over it.
    neck_w = head_r * 0.42
    draw.rectangle(
        (cx - neck_w, head_cy + head_r * 0.6, cx + neck_w, shoulder_y + h * 0.01),
        fill=mix(look.skin, (0, 0, 0), 0.12),
    )
    draw.ellipse(
        (cx - head_r, head_cy - head_r * 1.05, cx + head_r, head_cy + head_r * 1.05), fill=look.skin
    )
    _hair_front(draw, look, cx, head_cy, head_r)
    _face(draw, look, cx, head_cy, head_r)


def draw_bust(
    draw: ImageDraw.ImageDraw, cx: float, base_y: float, height: float, look: Look
) -> None:
    """Head and shoulders only, for a person behind a counter or in a small icon."""
    h = height
    head_r = h * 0.2
    head_cy = base_y - h + head_r * 1.05
    shoulder_y = head_cy + head_r * 1.5
    _hair_back(draw, look, cx, head_cy, head_r)
    rounded(
        draw,
        (cx - h * 0.36, shoulder_y, cx + h * 0.36, base_y + h * 0.3),
        round(h * 0.16),
        look.top,
    )
    neck_w = head_r * 0.42
    draw.rectangle(
        (cx - neck_w, head_cy + head_r * 0.6, cx + neck_w, shoulder_y + 1),
        fill=mix(look.skin, (0, 0, 0), 0.12),
    )
    draw.ellipse(
        (cx - head_r, head_cy - head_r * 1.05, cx + head_r, head_cy + head_r * 1.05), fill=look.skin
    )
    _hair_front(draw, look, cx, head_cy, head_r)
    _face(draw, look, cx, head_cy, head_r)


def draw_crowd(
    draw: ImageDraw.ImageDraw,
    rng: random.Random,
    left: float,
    right: float,
    ground_y: float,
    height: float,
    count: int,
    ground: RGB,
) -> None:
    """``count`` people spread between left and right, back row smaller and higher,
    drawn back to front so nearer people overlap farther ones. Each stands on a soft
    shadow in a darker shade of ``ground``, so nobody floats."""
    if count <= 0 or right <= left:
        return
    slots = [(left + (right - left) * (i + rng.uniform(0.25, 0.75)) / count) for i in range(count)]
    rng.shuffle(slots)
    placed = []
    for index, x in enumerate(slots):
        depth = 0.0 if index % 3 == 0 else rng.uniform(0.55, 1.0)
        placed.append((depth, x))
    for depth, x in sorted(placed, key=lambda item: item[0]):
        scale = 0.72 + 0.28 * depth
        y = ground_y - height * 0.14 * (1 - depth)
        tall = height * scale * rng.uniform(0.9, 1.05)
        shadow_w, shadow_h = tall * 0.16, tall * 0.025
        draw.ellipse(
            (x - shadow_w, y - shadow_h, x + shadow_w * 1.3, y + shadow_h),
            fill=mix(ground, (0, 0, 0), 0.3),
        )
        draw_person(draw, x, y, tall, random_look(rng))
