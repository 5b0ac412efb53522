"""The offline renderer's mobile screen share: a portrait phone with an app on its
screen (a wallet's send screen when money is named, else a feed), a tap marker, and
callout cards beside it that zoom into the step being shown."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from handlers.drawing.icons import coin
from handlers.drawing.keywords import Ask
from handlers.drawing.shapes import Frame, bar, hsl, rounded, vertical_gradient
from handlers.drawing.text import RGB, mix

Box4 = tuple[float, float, float, float]
# App colours per theme; the accent comes from the frame's hue.
LIGHT: dict[str, RGB] = {
    "bg": (246, 247, 250), "ink": (40, 44, 52), "soft": (170, 176, 186), "card": (232, 235, 241),
}  # fmt: skip
DARK: dict[str, RGB] = {
    "bg": (22, 24, 30), "ink": (236, 238, 242), "soft": (120, 126, 138), "card": (44, 48, 58),
}  # fmt: skip


def _status_bar(draw: ImageDraw.ImageDraw, screen: Box4, s: float, ink: RGB) -> None:
    """Clock on the left, signal and battery on the right, clear of the camera island."""
    x0, y0, x1, _ = screen
    bar(draw, x0 + s * 0.05, y0 + s * 0.035, s * 0.08, round(s * 0.026), ink)
    battery = (x1 - s * 0.1, y0 + s * 0.034, x1 - s * 0.05, y0 + s * 0.06)
    rounded(draw, battery, round(s * 0.008), outline=ink, width=max(1, round(s * 0.005)))
    draw.rectangle(
        (
            battery[0] + s * 0.006,
            battery[1] + s * 0.006,
            battery[2] - s * 0.018,
            battery[3] - s * 0.006,
        ),
        fill=ink,
    )
    for k in range(3):
        bx = x1 - s * (0.15 - 0.014 * k)
        draw.rectangle((bx, y0 + s * (0.052 - 0.008 * k), bx + s * 0.009, y0 + s * 0.06), fill=ink)


def _wallet_screen(
    draw: ImageDraw.ImageDraw, rng: random.Random, screen: Box4, s: float, theme: dict[str, RGB]
) -> tuple[float, float]:
    """Send screen: balance card, recipient field, the amount with quick-pick chips, the
    fee line and a send button. Returns the button's centre, where the tap goes."""
    x0, y0, x1, y1 = screen
    pad = s * 0.035
    inner = x1 - x0 - 2 * pad
    ink, soft, card, accent = theme["ink"], theme["soft"], theme["card"], theme["accent"]
    stroke = max(1, round(s * 0.006))
    y = y0 + s * 0.1
    # Title row: back chevron and the screen's title.
    draw.line(
        (x0 + pad + s * 0.025, y, x0 + pad, y + s * 0.025, x0 + pad + s * 0.025, y + s * 0.05),
        fill=ink,
        width=stroke,
    )
    bar(draw, x0 + pad + s * 0.06, y + s * 0.013, inner * 0.45, round(s * 0.026), ink)
    y += s * 0.08
    # Balance card with the coin.
    balance = (x0 + pad, y, x1 - pad, y + s * 0.16)
    rounded(draw, balance, round(s * 0.025), fill=accent)
    coin(draw, balance[0] + s * 0.075, y + s * 0.085, s * 0.11, accent, card)
    text_x = balance[0] + s * 0.15
    bar(
        draw,
        text_x,
        y + s * 0.045,
        (balance[2] - text_x) * 0.5,
        round(s * 0.018),
        mix(accent, (255, 255, 255), 0.6),
    )
    bar(draw, text_x, y + s * 0.078, (balance[2] - text_x) * 0.8, round(s * 0.04), (250, 250, 250))
    y = balance[3] + s * 0.035
    # Recipient address field.
    bar(draw, x0 + pad, y, inner * 0.35, round(s * 0.018), soft)
    y += s * 0.03
    rounded(
        draw,
        (x0 + pad, y, x1 - pad, y + s * 0.065),
        round(s * 0.018),
        fill=card,
        outline=soft,
        width=stroke,
    )
    bar(draw, x0 + pad + s * 0.025, y + s * 0.024, inner * 0.72, round(s * 0.018), ink)
    y += s * 0.1
    # The amount, large and centred, with quick-pick chips under it.
    cx = (x0 + x1) / 2
    bar(draw, cx - inner * 0.3, y, inner * 0.6, round(s * 0.05), ink)
    bar(draw, cx - inner * 0.15, y + s * 0.07, inner * 0.3, round(s * 0.018), soft)
    y += s * 0.12
    chip_w = (inner - 2 * s * 0.02) / 3
    for k in range(3):
        chip_x = x0 + pad + k * (chip_w + s * 0.02)
        chosen = k == rng.randrange(3)
        rounded(
            draw,
            (chip_x, y, chip_x + chip_w, y + s * 0.05),
            round(s * 0.025),
            fill=mix(accent, card, 0.5) if chosen else card,
            outline=soft,
            width=stroke,
        )
        bar(draw, chip_x + chip_w * 0.3, y + s * 0.018, chip_w * 0.4, round(s * 0.016), ink)
    y += s * 0.09
    # Network fee: a label and a value across a hairline.
    draw.line((x0 + pad, y, x1 - pad, y), fill=soft, width=stroke)
    bar(draw, x0 + pad, y + s * 0.025, inner * 0.3, round(s * 0.018), soft)
    bar(draw, x1 - pad - inner * 0.25, y + s * 0.025, inner * 0.25, round(s * 0.018), ink)
    button = (x0 + pad, y1 - s * 0.12, x1 - pad, y1 - s * 0.055)
    rounded(draw, button, round(s * 0.03), fill=accent)
    bar(
        draw,
        cx - inner * 0.2,
        button[1] + s * 0.022,
        inner * 0.4,
        round(s * 0.022),
        (250, 250, 250),
    )
    return cx + inner * 0.15, (button[1] + button[3]) / 2


def _feed_screen(
    draw: ImageDraw.ImageDraw, rng: random.Random, screen: Box4, s: float, theme: dict[str, RGB]
) -> tuple[float, float]:
    """A generic app: header, a hero card, a list with avatars and a tab bar."""
    x0, y0, x1, y1 = screen
    pad = s * 0.05
    ink, soft, card, accent = theme["ink"], theme["soft"], theme["card"], theme["accent"]
    y = y0 + s * 0.12
    bar(draw, x0 + pad, y, s * 0.26, round(s * 0.04), ink)
    draw.ellipse((x1 - pad - s * 0.06, y - s * 0.01, x1 - pad, y + s * 0.05), fill=accent)
    y += s * 0.09
    hero = (x0 + pad, y, x1 - pad, y + s * 0.26)
    rounded(draw, hero, round(s * 0.03), fill=mix(accent, card, 0.25))
    draw.polygon(
        [
            (hero[0] + s * 0.04, hero[3] - s * 0.03),
            (hero[0] + s * 0.16, hero[1] + s * 0.08),
            (hero[0] + s * 0.26, hero[3] - s * 0.03),
        ],
        fill=mix(accent, (0, 0, 0), 0.25),
    )
    y = hero[3] + s * 0.04
    target = ((x0 + x1) / 2, y)
    row = 0
    while y + s * 0.1 < y1 - s * 0.14:
        rounded(draw, (x0 + pad, y, x1 - pad, y + s * 0.09), round(s * 0.02), fill=card)
        draw.ellipse(
            (x0 + pad + s * 0.02, y + s * 0.015, x0 + pad + s * 0.08, y + s * 0.075),
            fill=hsl(rng.random(), 0.5, 0.6),
        )
        bar(
            draw,
            x0 + pad + s * 0.11,
            y + s * 0.022,
            s * rng.uniform(0.14, 0.24),
            round(s * 0.02),
            ink,
        )
        bar(
            draw,
            x0 + pad + s * 0.11,
            y + s * 0.052,
            s * rng.uniform(0.08, 0.18),
            round(s * 0.016),
            soft,
        )
        if row == 1:
            target = ((x0 + x1) / 2, y + s * 0.045)
        y += s * 0.11
        row += 1
    tabs_y = y1 - s * 0.08
    draw.line(
        (x0, tabs_y - s * 0.03, x1, tabs_y - s * 0.03), fill=soft, width=max(1, round(s * 0.003))
    )
    for k in range(4):
        tx = x0 + (x1 - x0) * (k + 0.5) / 4
        colour = accent if k == 0 else soft
        rounded(
            draw,
            (tx - s * 0.022, tabs_y - s * 0.01, tx + s * 0.022, tabs_y + s * 0.034),
            round(s * 0.008),
            fill=colour,
        )
    return target


def _callout(
    draw: ImageDraw.ImageDraw, box: Box4, s: float, theme: dict[str, RGB], shadow: RGB, done: bool
) -> None:
    """A floating card explaining a step: a badge (a tick once done, a dot for the step
    in progress) and two lines of text."""
    x0, y0, x1, y1 = box
    radius = round(s * 0.03)
    rounded(
        draw, (x0 + s * 0.01, y0 + s * 0.014, x1 + s * 0.01, y1 + s * 0.014), radius, fill=shadow
    )
    rounded(draw, box, radius, fill=theme["card"])
    r = s * 0.035
    cx, cy = x0 + s * 0.07, (y0 + y1) / 2
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=theme["accent"])
    white = (250, 250, 250)
    if done:
        tick = [(cx - r * 0.45, cy), (cx - r * 0.1, cy + r * 0.35), (cx + r * 0.5, cy - r * 0.35)]
        draw.line(tick, fill=white, width=max(1, round(r * 0.22)), joint="curve")
    else:
        draw.ellipse((cx - r * 0.35, cy - r * 0.35, cx + r * 0.35, cy + r * 0.35), fill=white)
    bar(draw, x0 + s * 0.13, cy - s * 0.04, (x1 - x0) * 0.6, round(s * 0.028), theme["ink"])
    bar(draw, x0 + s * 0.13, cy + s * 0.015, (x1 - x0) * 0.45, round(s * 0.02), theme["soft"])


def paint_phone(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: Frame, ask: Ask
) -> None:
    """Candidates move the phone (centre, left, right), switch the app between light
    and dark theme and change the backdrop's hue."""
    w = frame.width
    hue = frame.hue
    image.paste(
        vertical_gradient(w, frame.height, hsl(hue, 0.45, 0.3), hsl(hue + 0.08, 0.5, 0.55)), (0, 0)
    )
    # Soft rings behind the phone give the backdrop shape without noise.
    for k in range(6):
        r = frame.px(180 + 150 * k)
        cx, cy = w * rng.uniform(0.1, 0.9), frame.height * rng.uniform(0.1, 0.8)
        draw.ellipse(
            (cx - r, cy - r, cx + r, cy + r),
            outline=hsl(hue + 0.04, 0.45, 0.42 + 0.02 * k),
            width=frame.px(26),
        )

    place = ask.pick((0.5, 0.27, 0.73), salt=1)
    dark = ask.pick((False, True, False), salt=2)
    margin = frame.px(30)
    # The phone's height: the frame's content height, unless a narrow (portrait)
    # frame leaves too little width for a phone that tall.
    s = min((frame.content_bottom - frame.px(70)) / 0.98, (w - 2 * margin) / 0.49)
    phone_w = s * 0.49
    cx = min(max(w * place, phone_w / 2 + margin), w - phone_w / 2 - margin)
    top = frame.px(40)
    body = (cx - phone_w / 2, top, cx + phone_w / 2, top + s)
    shadow = mix(hsl(hue, 0.45, 0.3), (0, 0, 0), 0.4)
    rounded(
        draw,
        (body[0] + s * 0.02, body[1] + s * 0.025, body[2] + s * 0.02, body[3] + s * 0.025),
        round(s * 0.075),
        fill=shadow,
    )
    rounded(draw, body, round(s * 0.075), fill=(28, 30, 34))
    rounded(
        draw,
        (body[0] + s * 0.006, body[1] + s * 0.006, body[2] - s * 0.006, body[3] - s * 0.006),
        round(s * 0.07),
        outline=(92, 96, 104),
        width=max(1, round(s * 0.004)),
    )
    bezel = s * 0.018
    screen = (body[0] + bezel, body[1] + bezel, body[2] - bezel, body[3] - bezel)
    theme = {**(DARK if dark else LIGHT), "accent": hsl(hue + 0.5, 0.7, 0.5)}
    rounded(draw, screen, round(s * 0.058), fill=theme["bg"])
    # The camera island at the top of the screen.
    rounded(
        draw,
        (cx - s * 0.06, screen[1] + s * 0.025, cx + s * 0.06, screen[1] + s * 0.06),
        round(s * 0.018),
        fill=(10, 10, 12),
    )
    _status_bar(draw, screen, s, theme["ink"])
    paint_app = _wallet_screen if ask.has("coin") else _feed_screen
    tap_x, tap_y = paint_app(draw, rng, screen, s, theme)
    # Tap marker: where the demo's finger goes next.
    for ring, share in ((0.06, 0.25), (0.04, 0.5)):
        rr = s * ring
        draw.ellipse(
            (tap_x - rr, tap_y - rr, tap_x + rr, tap_y + rr),
            outline=mix(theme["accent"], (255, 255, 255), share),
            width=max(1, round(s * 0.008)),
        )

    # Callouts on the side with more room (both sides when the phone is centred).
    card_w, card_h = s * 0.5, s * 0.15
    sides = [-1, 1] if place == 0.5 else ([1] if place < 0.5 else [-1])
    step = 1
    for side in sides:
        for k in range(2 if len(sides) == 1 else 1):
            gap = s * 0.1
            x0 = body[2] + gap if side == 1 else body[0] - gap - card_w
            x0 = min(max(x0, margin), w - margin - card_w)
            if x0 < body[2] and x0 + card_w > body[0]:
                continue  # no room beside the phone (a narrow frame): leave the screen clear
            y0 = top + s * (0.2 + 0.35 * k) + (s * 0.2 if side == -1 else 0)
            _callout(draw, (x0, y0, x0 + card_w, y0 + card_h), s, theme, shadow, step == 1)
            step += 1
