"""The offline renderer's screen share: an application window (a dashboard of cards,
a dark chart view, or a list beside a detail pane) with the mouse pointer; a phone
with an app instead when the text says mobile."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from handlers.drawing.keywords import Ask
from handlers.drawing.phone import paint_phone
from handlers.drawing.shapes import Frame, bar, hsl, rounded, vertical_gradient
from handlers.drawing.text import RGB, mix

Box4 = tuple[float, float, float, float]
# Window colours per theme: frame chrome, toolbar, body, card, lines, ink.
LIGHT: dict[str, RGB] = {
    "chrome": (228, 230, 235), "tool": (241, 242, 245), "body": (250, 250, 252),
    "card": (252, 252, 253), "line": (205, 208, 214), "ink": (90, 96, 108), "head": (60, 64, 74),
}  # fmt: skip
DARK: dict[str, RGB] = {
    "chrome": (46, 48, 56), "tool": (36, 38, 45), "body": (28, 30, 36),
    "card": (40, 43, 51), "line": (70, 74, 86), "ink": (176, 182, 196), "head": (230, 232, 238),
}  # fmt: skip


def _cursor(draw: ImageDraw.ImageDraw, x: float, y: float, unit: float) -> None:
    shape = [(0, 0), (0, 17), (4, 13), (7, 20), (9.5, 19), (6.5, 12), (12, 12)]
    points = [(x + px * unit, y + py * unit) for px, py in shape]
    draw.polygon(points, fill=(250, 250, 250), outline=(20, 20, 20), width=max(1, round(unit / 2)))


def _chrome(
    draw: ImageDraw.ImageDraw, frame: Frame, win: Box4, theme: dict[str, RGB], rng: random.Random
) -> float:
    """Title bar with the three window buttons and a toolbar; returns the body's top."""
    p = frame.px
    title_h = p(52)
    rounded(draw, (win[0], win[1], win[2], win[1] + title_h + p(18)), p(18), fill=theme["chrome"])
    draw.rectangle(
        (win[0], win[1] + title_h, win[2], win[1] + title_h + p(18)), fill=theme["chrome"]
    )
    dot_r = p(10)
    for index, dot in enumerate(((255, 95, 87), (254, 188, 46), (40, 200, 64))):
        cx = win[0] + p(34) + index * p(32)
        cy = win[1] + title_h / 2
        draw.ellipse((cx - dot_r, cy - dot_r, cx + dot_r, cy + dot_r), fill=dot)
    centre = (win[0] + win[2]) / 2
    bar(
        draw,
        centre - p(160),
        win[1] + title_h / 2 - p(8),
        p(320),
        p(16),
        mix(theme["chrome"], theme["ink"], 0.6),
    )

    tool_top = win[1] + title_h
    tool_h = p(64)
    draw.rectangle((win[0], tool_top, win[2], tool_top + tool_h), fill=theme["tool"])
    draw.line(
        (win[0], tool_top + tool_h, win[2], tool_top + tool_h), fill=theme["line"], width=p(2)
    )
    bx = win[0] + p(24)
    for _ in range(rng.randint(4, 6)):
        button_w = p(rng.uniform(70, 120))
        rounded(
            draw,
            (bx, tool_top + p(14), bx + button_w, tool_top + tool_h - p(14)),
            p(8),
            fill=theme["card"],
            outline=theme["line"],
            width=p(2),
        )
        bx += button_w + p(14)
    search = (win[2] - p(380), tool_top + p(14), win[2] - p(24), tool_top + tool_h - p(14))
    rounded(draw, search, p(18), fill=theme["card"], outline=theme["line"], width=p(2))
    return tool_top + tool_h


def _bars_chart(
    draw: ImageDraw.ImageDraw, rng: random.Random, box: Box4, accent: RGB, bars: int
) -> None:
    x0, y0, x1, y1 = box
    slot = (x1 - x0) / bars
    for column in range(bars):
        bar_h = (y1 - y0) * rng.uniform(0.25, 1.0)
        bx0 = x0 + column * slot + slot * 0.18
        draw.rectangle((bx0, y1 - bar_h, bx0 + slot * 0.64, y1), fill=accent)


def _card(
    draw: ImageDraw.ImageDraw,
    frame: Frame,
    rng: random.Random,
    card: Box4,
    theme: dict[str, RGB],
    swatch: RGB,
    chart: RGB | None,
) -> None:
    p = frame.px
    cx0, cy0, cx1, cy1 = card
    rounded(draw, card, p(14), fill=theme["card"], outline=theme["line"], width=p(2))
    rounded(draw, (cx0 + p(20), cy0 + p(20), cx0 + p(64), cy0 + p(64)), p(10), fill=swatch)
    bar(draw, cx0 + p(80), cy0 + p(26), (cx1 - cx0) * 0.45, p(14), theme["ink"])
    bar(draw, cx0 + p(80), cy0 + p(48), (cx1 - cx0) * 0.3, p(10), theme["line"])
    inner = (cx0 + p(20), cy0 + p(88), cx1 - p(20), cy1 - p(22))
    if chart is not None:
        _bars_chart(draw, rng, inner, chart, 7)
        return
    ly = inner[1]
    while ly + p(12) <= inner[3]:
        bar(draw, inner[0], ly, (inner[2] - inner[0]) * rng.uniform(0.5, 1.0), p(12), theme["line"])
        ly += p(30)


def _dashboard(
    draw: ImageDraw.ImageDraw,
    frame: Frame,
    rng: random.Random,
    win: Box4,
    top: float,
    theme: dict[str, RGB],
    hue: float,
    accent: RGB,
) -> Box4:
    """Sidebar of sections and a grid of cards, one of them a bar chart."""
    p = frame.px
    side_right = win[0] + p(300)
    panel = mix(theme["body"], hsl(hue, 0.3, 0.5), 0.08)
    draw.rectangle((win[0], top, side_right, win[3] - p(18)), fill=panel)
    rounded(draw, (win[0], win[3] - p(40), side_right, win[3]), p(18), fill=panel)
    draw.rectangle((win[0] + p(20), win[3] - p(40), side_right, win[3]), fill=panel)
    active = rng.randrange(7)
    row_h = p(54)
    for index in range(9):
        ry = top + p(24) + index * row_h
        if ry + row_h > win[3] - p(20):
            break
        if index == active:
            rounded(
                draw,
                (win[0] + p(12), ry, side_right - p(12), ry + row_h - p(8)),
                p(10),
                fill=accent,
            )
        ink = (250, 250, 250) if index == active else theme["ink"]
        icon = p(22)
        iy = ry + (row_h - p(8) - icon) / 2
        rounded(draw, (win[0] + p(30), iy, win[0] + p(30) + icon, iy + icon), p(5), fill=ink)
        bar(draw, win[0] + p(68), iy + p(5), p(rng.uniform(110, 190)), p(12), ink)

    left, right = side_right + p(40), win[2] - p(40)
    ty = top + p(34)
    bar(draw, left, ty, p(rng.uniform(360, 520)), p(26), theme["head"])
    bar(draw, left, ty + p(44), p(rng.uniform(500, 760)), p(14), theme["line"])
    columns, rows, gap = 3, 2, p(28)
    grid_top, grid_bottom = ty + p(90), win[3] - p(36)
    card_w = (right - left - gap * (columns - 1)) / columns
    card_h = (grid_bottom - grid_top - gap * (rows - 1)) / rows
    chart_card = rng.randrange(columns * rows)
    cards = []
    for index in range(columns * rows):
        cx0 = left + (index % columns) * (card_w + gap)
        cy0 = grid_top + (index // columns) * (card_h + gap)
        card = (cx0, cy0, cx0 + card_w, cy0 + card_h)
        cards.append(card)
        swatch = accent if index == chart_card else hsl(hue + index * 0.08, 0.45, 0.72)
        _card(draw, frame, rng, card, theme, swatch, accent if index == chart_card else None)
    return cards[rng.randrange(len(cards))]


def _chart_view(
    draw: ImageDraw.ImageDraw,
    frame: Frame,
    rng: random.Random,
    win: Box4,
    top: float,
    theme: dict[str, RGB],
    hue: float,
    accent: RGB,
) -> Box4:
    """Three figures across the top, a large line chart, and a table below it."""
    p = frame.px
    left, right = win[0] + p(40), win[2] - p(40)
    y = top + p(30)
    gap = p(28)
    stat_w = (right - left - 2 * gap) / 3
    for k in range(3):
        sx = left + k * (stat_w + gap)
        rounded(draw, (sx, y, sx + stat_w, y + p(110)), p(14), fill=theme["card"])
        bar(draw, sx + p(24), y + p(24), stat_w * 0.35, p(12), theme["ink"])
        bar(draw, sx + p(24), y + p(52), stat_w * 0.55, p(30), hsl(hue + 0.5 + k * 0.12, 0.6, 0.6))
    y += p(140)
    chart_bottom = y + (win[3] - y) * 0.58
    chart = (left, y, right, chart_bottom)
    rounded(draw, chart, p(14), fill=theme["card"])
    for k in range(1, 5):
        gy = y + (chart_bottom - y) * k / 5
        draw.line((left + p(20), gy, right - p(20), gy), fill=theme["line"], width=p(1))
    points = []
    level = 0.5
    steps = 24
    for k in range(steps + 1):
        level = min(0.92, max(0.08, level + rng.uniform(-0.12, 0.14)))
        points.append(
            (
                left + p(30) + (right - left - p(60)) * k / steps,
                chart_bottom - p(20) - (chart_bottom - y - p(40)) * level,
            )
        )
    draw.polygon(
        [*points, (points[-1][0], chart_bottom - p(14)), (points[0][0], chart_bottom - p(14))],
        fill=mix(theme["card"], accent, 0.3),
    )
    draw.line(points, fill=accent, width=p(6), joint="curve")
    row_y = chart_bottom + p(26)
    while row_y + p(40) < win[3] - p(20):
        draw.line((left, row_y + p(40), right, row_y + p(40)), fill=theme["line"], width=p(2))
        for k, share in enumerate((0.0, 0.3, 0.55, 0.8)):
            bar(
                draw,
                left + (right - left) * share + p(10),
                row_y + p(14),
                p(rng.uniform(90, 200)),
                p(12),
                theme["ink"] if k == 0 else theme["line"],
            )
        row_y += p(54)
    return chart


def _list_detail(
    draw: ImageDraw.ImageDraw,
    frame: Frame,
    rng: random.Random,
    win: Box4,
    top: float,
    theme: dict[str, RGB],
    hue: float,
    accent: RGB,
) -> Box4:
    """A list of items on the left, the selected one open in a detail pane."""
    p = frame.px
    split = win[0] + (win[2] - win[0]) * 0.38
    draw.line((split, top, split, win[3] - p(18)), fill=theme["line"], width=p(2))
    selected = rng.randrange(4)
    y = top + p(20)
    row_h = p(96)
    index = 0
    while y + row_h < win[3] - p(20):
        if index == selected:
            rounded(
                draw,
                (win[0] + p(14), y, split - p(14), y + row_h - p(10)),
                p(12),
                fill=mix(theme["body"], accent, 0.22),
            )
        draw.ellipse(
            (win[0] + p(34), y + p(18), win[0] + p(84), y + p(68)),
            fill=hsl(hue + index * 0.13, 0.5, 0.6),
        )
        bar(draw, win[0] + p(104), y + p(22), p(rng.uniform(160, 300)), p(14), theme["head"])
        bar(draw, win[0] + p(104), y + p(48), p(rng.uniform(200, 360)), p(11), theme["line"])
        y += row_h
        index += 1
    left, right = split + p(48), win[2] - p(48)
    dy = top + p(40)
    rounded(draw, (left, dy, left + p(110), dy + p(110)), p(55), fill=accent)
    bar(draw, left + p(140), dy + p(24), p(rng.uniform(300, 460)), p(28), theme["head"])
    bar(draw, left + p(140), dy + p(70), p(rng.uniform(200, 320)), p(14), theme["line"])
    image_box = (left, dy + p(150), right, dy + p(150) + (win[3] - dy) * 0.36)
    rounded(draw, image_box, p(16), fill=mix(theme["card"], accent, 0.18))
    _bars_chart(
        draw,
        rng,
        (image_box[0] + p(30), image_box[1] + p(30), image_box[2] - p(30), image_box[3] - p(20)),
        accent,
        12,
    )
    ly = image_box[3] + p(30)
    while ly + p(14) < win[3] - p(90):
        bar(draw, left, ly, (right - left) * rng.uniform(0.6, 1.0), p(13), theme["line"])
        ly += p(32)
    button = (right - p(240), win[3] - p(80), right, win[3] - p(28))
    rounded(draw, button, p(12), fill=accent)
    return button


def _back_window(
    draw: ImageDraw.ImageDraw,
    frame: Frame,
    rng: random.Random,
    box: Box4,
    theme: dict[str, RGB],
    hue: float,
) -> None:
    """A window behind the main one: title bar and a column of text lines."""
    p = frame.px
    rounded(
        draw,
        (box[0] + p(10), box[1] + p(14), box[2] + p(10), box[3] + p(14)),
        p(18),
        fill=hsl(hue, 0.35, 0.16),
    )
    rounded(draw, box, p(18), fill=theme["body"])
    rounded(draw, (box[0], box[1], box[2], box[1] + p(52)), p(18), fill=theme["chrome"])
    draw.rectangle((box[0], box[1] + p(30), box[2], box[1] + p(52)), fill=theme["chrome"])
    y = box[1] + p(90)
    while y + p(14) < box[3] - p(30):
        bar(
            draw,
            box[0] + p(40),
            y,
            (box[2] - box[0] - p(80)) * rng.uniform(0.4, 0.9),
            p(14),
            theme["line"],
        )
        y += p(36)


def paint_screen_share(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: Frame, ask: Ask
) -> None:
    """Desktop window by default; the phone when the text names a phone or an app.
    Candidates rotate the window's content and its light/dark theme."""
    if ask.has("phone"):
        paint_phone(draw, image, rng, frame, ask)
        return
    hue = frame.hue
    p = frame.px
    image.paste(
        vertical_gradient(
            frame.width, frame.height, hsl(hue, 0.35, 0.36), hsl(hue + 0.1, 0.4, 0.24)
        ),
        (0, 0),
    )
    # Wallpaper: a few broad diagonal bands, so the desktop around the window has shape.
    for k in range(4):
        x = frame.width * (0.1 + 0.3 * k) + p(rng.uniform(-60, 60))
        draw.polygon(
            [(x, 0), (x + p(160), 0), (x - p(340), frame.height), (x - p(500), frame.height)],
            fill=hsl(hue + 0.03, 0.35, 0.3 + 0.02 * k),
        )

    # A chart named in the text is what the first candidate shows.
    content = ask.pick(
        (_dashboard, _chart_view, _list_detail), salt=1, first=1 if ask.has("chart") else None
    )
    # Dark mode for one candidate in three, like the diagrams.
    theme = DARK if ask.variant % 3 == 1 else LIGHT
    placement = ask.pick(("full", "wide", "beside"), salt=3)
    if placement == "beside":
        # A second window behind, so the desktop reads as a desktop, not a slide.
        back = (p(50), p(150), frame.width * 0.5, frame.content_bottom - p(150))
        _back_window(draw, frame, rng, back, DARK if theme is LIGHT else LIGHT, hue)
        win = (frame.width * 0.3, p(60), frame.width - p(50), frame.content_bottom - p(40))
    else:
        inset = 110 if placement == "full" else 50
        win = (p(inset), p(70), frame.width - p(inset), frame.content_bottom - p(36))
    rounded(
        draw,
        (win[0] + p(10), win[1] + p(14), win[2] + p(10), win[3] + p(14)),
        p(18),
        fill=hsl(hue, 0.35, 0.16),
    )
    rounded(draw, win, p(18), fill=theme["body"])
    accent = hsl(hue + 0.5, 0.65, 0.5)
    body_top = _chrome(draw, frame, win, theme, rng)
    target = content(draw, frame, rng, win, body_top, theme, hue, accent)
    _cursor(
        draw,
        target[0] + (target[2] - target[0]) * rng.uniform(0.3, 0.7),
        target[1] + (target[3] - target[1]) * rng.uniform(0.3, 0.6),
        max(1.0, 2.6 * frame.scale),
    )
