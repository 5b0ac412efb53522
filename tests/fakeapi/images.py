"""Image side of the fake: model families, size/quality rules, token arithmetic.

The pictures themselves are drawn by ``render.py`` and kept track of by ``registry.py``.
"""

from __future__ import annotations

import hashlib
import re

# Community-measured output tokens of GPT image models (see the wire facts file),
# keyed by quality then size. Other sizes are scaled by area from 1024x1024.
OUTPUT_TOKENS: dict[str, dict[str, int]] = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}

GPT_IMAGE_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
DALLE3_SIZES = ("1024x1024", "1792x1024", "1024x1792")
DALLE2_SIZES = ("256x256", "512x512", "1024x1024")
GPT_IMAGE_QUALITIES = ("low", "medium", "high", "auto")
DALLE_QUALITIES = ("standard", "hd")

_SIZE_RE = re.compile(r"^(\d{1,5})x(\d{1,5})$")


def is_gpt_image(model: str) -> bool:
    return model.startswith("gpt-image") or model.startswith("chatgpt-image")


def is_dalle(model: str) -> bool:
    return model.startswith("dall-e")


def parse_size(size: str) -> tuple[int, int] | None:
    """``"WxH"`` -> (W, H); ``"auto"`` -> 1024x1024 (what the real API mostly picks)."""
    if size == "auto":
        return (1024, 1024)
    found = _SIZE_RE.match(size)
    if found is None:
        return None
    return int(found.group(1)), int(found.group(2))


def _quoted_list(values: tuple[str, ...]) -> str:
    quoted = [f"'{value}'" for value in values]
    return ", ".join(quoted[:-1]) + f", and {quoted[-1]}"


def size_error(model: str, size: str) -> str | None:
    """The real API's complaint about ``size`` for ``model``, or None when it is accepted."""
    parsed = parse_size(size)
    if model.startswith("gpt-image-2") or not (is_gpt_image(model) or is_dalle(model)):
        # gpt-image-2 (and unknown models, e.g. OpenAI-compatible servers) take any WxH
        # within its documented limits.
        if parsed is None:
            return f"Invalid value: '{size}'. Expected 'auto' or a size like '1024x1024'."
        width, height = parsed
        if width % 16 or height % 16:
            return f"Invalid size '{size}': both sides must be multiples of 16."
        if max(width, height) > 3840 or min(width, height) > 2160:
            return f"Invalid size '{size}': at most 3840x2160."
        if max(width, height) > 3 * min(width, height):
            return f"Invalid size '{size}': aspect ratio must be between 1:3 and 3:1."
        return None
    allowed: tuple[str, ...]
    if model == "dall-e-3":
        allowed = DALLE3_SIZES
    elif model == "dall-e-2":
        allowed = DALLE2_SIZES
    else:
        allowed = GPT_IMAGE_SIZES
    if size in allowed:
        return None
    return f"Invalid value: '{size}'. Supported values are: {_quoted_list(allowed)}."


def quality_error(model: str, quality: str) -> str | None:
    allowed: tuple[str, ...]
    if is_gpt_image(model):
        allowed = GPT_IMAGE_QUALITIES
    elif model == "dall-e-3":
        allowed = DALLE_QUALITIES
    else:
        return None
    if quality in allowed:
        return None
    return f"Invalid value: '{quality}'. Supported values are: {_quoted_list(allowed)}."


def resolved_quality(model: str, quality: str | None) -> str:
    """The quality the answer reports: ``auto`` resolves to ``medium`` like a typical answer."""
    if is_gpt_image(model):
        return "medium" if quality in (None, "auto") else quality
    return quality or "standard"


def output_tokens(quality: str, size: str) -> int:
    table = OUTPUT_TOKENS.get(quality, OUTPUT_TOKENS["medium"])
    if size in table:
        return table[size]
    parsed = parse_size(size) or (1024, 1024)
    return round(table["1024x1024"] * parsed[0] * parsed[1] / (1024 * 1024))


def text_tokens(text: str) -> int:
    # About four characters a token in English prose: good enough for cost arithmetic.
    return max(1, (len(text) + 3) // 4)


def prompt_colour(prompt: str, index: int = 0) -> tuple[int, int, int]:
    """The top-left swatch colour of image ``index`` for ``prompt`` (see ``render.py``):
    lets a test tell by one pixel which prompt an image was made for."""
    key = prompt if index == 0 else f"{prompt}\0{index}"
    digest = hashlib.sha256(key.encode()).digest()
    return digest[0], digest[1], digest[2]


def input_image_tokens(width: int, height: int) -> int:
    """Tokens an input image costs, OpenAI's tile rule: 85 + 170 per 512 px tile after
    fitting in 2048x2048 and scaling the short side to 768."""
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    width, height = width * scale, height * scale
    tiles = -(-int(width) // 512) * -(-int(height) // 512)
    return 85 + 170 * tiles
