"""The shape a provider is asked for: providers that take an aspect ratio (Gemini, FLUX
on Replicate) get the one nearest to the asked size, or to the frame for `auto`."""

from __future__ import annotations

import math


def asked_size(size: str, frame: tuple[int, int]) -> tuple[int, int]:
    """A link's `size` ("WxH" or "auto") as pixels; auto is the frame."""
    if "x" not in size:
        return frame
    width, _, height = size.partition("x")
    return int(width), int(height)


def nearest_aspect(width: int, height: int, choices: tuple[str, ...]) -> str:
    """The "W:H" among `choices` closest to width/height (compared as log ratios, so
    2:1 is as far from 1:1 as 1:2 is)."""
    wanted = math.log(width / height)

    def distance(choice: str) -> float:
        w, _, h = choice.partition(":")
        return abs(math.log(int(w) / int(h)) - wanted)

    return min(choices, key=distance)
