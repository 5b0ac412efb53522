"""The offline renderer's screen share: an application window with a sidebar, cards
and a chart, and the mouse pointer."""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from handlers.drawing.shapes import Frame, bar, hsl, rounded


def _cursor(draw: ImageDraw.ImageDraw, x: float, y: float, unit: float) -> None:
    shape = [(0, 0), (0, 17), (4, 13), (7, 20), (9.5, 19), (6.5, 12), (12, 12)]
    points = [(x + px * unit, y + py * unit) for px, py in shape]
    draw.polygon(points, fill=(255, 255, 255), outline=(20, 20, 20), width=max(1, round(unit / 2)))


def paint_screen_share(
    draw: ImageDraw.ImageDraw, image: Image.Image, rng: random.Random, frame: Frame
) -> None:
    hue = frame.hue
    p = frame.px
    draw.rectangle((0, 0, frame.width, frame.height), fill=hsl(hue, 0.35, 0.32))

    win = (p(110), p(70), frame.width - p(110), frame.content_bottom - p(36))
    shadow = (win[0] + p(10), win[1] + p(14), win[2] + p(10), win[3] + p(14))
    rounded(draw, shadow, p(18), fill=hsl(hue, 0.35, 0.2))
    rounded(draw, win, p(18), fill=(250, 250, 252))

    accent = hsl(hue + 0.5, 0.65, 0.5)
    line_ink = (205, 208, 214)
    dark_ink = (90, 96, 108)

    title_h = p(52)
    rounded(draw, (win[0], win[1], win[2], win[1] + title_h + p(18)), p(18), fill=(228, 230, 235))
    draw.rectangle(
        (win[0], win[1] + title_h, win[2], win[1] + title_h + p(18)), fill=(228, 230, 235)
    )
    dot_r = p(10)
    for index, dot in enumerate(((255, 95, 87), (254, 188, 46), (40, 200, 64))):
        cx = win[0] + p(34) + index * p(32)
        cy = win[1] + title_h / 2
        draw.ellipse((cx - dot_r, cy - dot_r, cx + dot_r, cy + dot_r), fill=dot)
    centre = (win[0] + win[2]) / 2
    bar(draw, centre - p(160), win[1] + title_h / 2 - p(8), p(320), p(16), (170, 174, 182))

    tool_top = win[1] + title_h
    tool_h = p(64)
    draw.rectangle((win[0], tool_top, win[2], tool_top + tool_h), fill=(241, 242, 245))
    draw.line((win[0], tool_top + tool_h, win[2], tool_top + tool_h), fill=line_ink, width=p(2))
    bx = win[0] + p(24)
    for _ in range(rng.randint(4, 6)):
        button_w = p(rng.uniform(70, 120))
        rounded(
            draw,
            (bx, tool_top + p(14), bx + button_w, tool_top + tool_h - p(14)),
            p(8),
            fill=(255, 255, 255),
            outline=line_ink,
            width=p(2),
        )
        bx += button_w + p(14)
    search = (win[2] - p(380), tool_top + p(14), win[2] - p(24), tool_top + tool_h - p(14))
    rounded(draw, search, p(18), fill=(255, 255, 255), outline=line_ink, width=p(2))

    body_top = tool_top + tool_h
    sidebar_right = win[0] + p(300)
    draw.rectangle((win[0], body_top, sidebar_right, win[3] - p(18)), fill=hsl(hue, 0.2, 0.94))
    rounded(draw, (win[0], win[3] - p(40), sidebar_right, win[3]), p(18), fill=hsl(hue, 0.2, 0.94))
    draw.rectangle(
        (win[0] + p(20), win[3] - p(40), sidebar_right, win[3]), fill=hsl(hue, 0.2, 0.94)
    )
    active = rng.randrange(7)
    row_h = p(54)
    for index in range(9):
        ry = body_top + p(24) + index * row_h
        if ry + row_h > win[3] - p(20):
            break
        if index == active:
            rounded(
                draw,
                (win[0] + p(12), ry, sidebar_right - p(12), ry + row_h - p(8)),
                p(10),
                fill=accent,
            )
        ink = (255, 255, 255) if index == active else dark_ink
        icon = p(22)
        iy = ry + (row_h - p(8) - icon) / 2
        rounded(draw, (win[0] + p(30), iy, win[0] + p(30) + icon, iy + icon), p(5), fill=ink)
        bar(draw, win[0] + p(68), iy + p(5), p(rng.uniform(110, 190)), p(12), ink)

    content_left = sidebar_right + p(40)
    content_right = win[2] - p(40)
    ty = body_top + p(34)
    bar(draw, content_left, ty, p(rng.uniform(360, 520)), p(26), (60, 64, 74))
    bar(draw, content_left, ty + p(44), p(rng.uniform(500, 760)), p(14), (160, 164, 172))

    columns, rows = 3, 2
    grid_top = ty + p(90)
    grid_bottom = win[3] - p(36)
    gap = p(28)
    card_w = (content_right - content_left - gap * (columns - 1)) / columns
    card_h = (grid_bottom - grid_top - gap * (rows - 1)) / rows
    chart_card = rng.randrange(columns * rows)
    cards: list[tuple[float, float, float, float]] = []
    for index in range(columns * rows):
        cx0 = content_left + (index % columns) * (card_w + gap)
        cy0 = grid_top + (index // columns) * (card_h + gap)
        card = (cx0, cy0, cx0 + card_w, cy0 + card_h)
        cards.append(card)
        rounded(draw, card, p(14), fill=(255, 255, 255), outline=line_ink, width=p(2))
        strip_colour = accent if index == chart_card else hsl(hue + index * 0.08, 0.45, 0.8)
        rounded(
            draw, (cx0 + p(20), cy0 + p(20), cx0 + p(64), cy0 + p(64)), p(10), fill=strip_colour
        )
        bar(draw, cx0 + p(80), cy0 + p(26), card_w * 0.45, p(14), dark_ink)
        bar(draw, cx0 + p(80), cy0 + p(48), card_w * 0.3, p(10), line_ink)
        inner_top = cy0 + p(88)
        inner_bottom = cy0 + card_h - p(22)
        if index == chart_card:
            bars = 7
            slot = (card_w - p(40)) / bars
            for column in range(bars):
                bar_h = (inner_bottom - inner_top) * rng.uniform(0.25, 1.0)
                bx0 = cx0 + p(20) + column * slot + slot * 0.18
                draw.rectangle(
                    (bx0, inner_bottom - bar_h, bx0 + slot * 0.64, inner_bottom), fill=accent
                )
        else:
            ly = inner_top
            while ly + p(12) <= inner_bottom:
                bar(
                    draw, cx0 + p(20), ly, (card_w - p(40)) * rng.uniform(0.5, 1.0), p(12), line_ink
                )
                ly += p(30)

    target = cards[rng.randrange(len(cards))]
    _cursor(
        draw,
        target[0] + (target[2] - target[0]) * rng.uniform(0.3, 0.7),
        target[1] + (target[3] - target[1]) * rng.uniform(0.3, 0.6),
        max(1.0, 2.6 * frame.scale),
    )
