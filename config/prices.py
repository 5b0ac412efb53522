"""The built-in price table (USD): the default of the `prices` setting.

It lives in config, not in handlers/money, because configuration must check model
names against it (a model nobody priced is an error at load time, not a surprise
reservation later) and config never imports handlers. handlers/money/pricing.py
holds what is done with the prices: lookups, reservations, costs from usage.

Taken 2025-11 to 2026-05 from published and third-party copies of OpenAI's and
Anthropic's price lists (see shared/reference/api-wire-facts.md). Keys:
  image:<model>:<quality>:<size>        per image
  tokens:<model>:<kind>_per_mtok        image-model token billing (text_in, image_out)
  text:<model>:<input|output>_per_mtok  LLM prompt writers
"""

from __future__ import annotations

from collections.abc import Mapping

PRICES_DATE = "2026-05"

_GPT_IMAGE = {
    # model: {quality: (1024x1024, 1536x1024 or 1024x1536)}
    "gpt-image-1": {"low": (0.011, 0.016), "medium": (0.042, 0.063), "high": (0.167, 0.25)},
    "gpt-image-1.5": {"low": (0.009, 0.013), "medium": (0.034, 0.05), "high": (0.133, 0.20)},
    "gpt-image-1-mini": {"low": (0.005, 0.006), "medium": (0.011, 0.015), "high": (0.036, 0.052)},
}


def _default_table() -> dict[str, float]:
    table: dict[str, float] = {}
    for model, by_quality in _GPT_IMAGE.items():
        for quality, (square, wide) in by_quality.items():
            table[f"image:{model}:{quality}:1024x1024"] = square
            table[f"image:{model}:{quality}:1536x1024"] = wide
            table[f"image:{model}:{quality}:1024x1536"] = wide
    for quality, square, wide in (("standard", 0.04, 0.08), ("hd", 0.08, 0.12)):
        table[f"image:dall-e-3:{quality}:1024x1024"] = square
        table[f"image:dall-e-3:{quality}:1792x1024"] = wide
        table[f"image:dall-e-3:{quality}:1024x1792"] = wide
    table.update(
        {
            "tokens:gpt-image-1:text_in_per_mtok": 5.0,
            "tokens:gpt-image-1:image_out_per_mtok": 40.0,
            "tokens:gpt-image-1.5:text_in_per_mtok": 5.0,
            "tokens:gpt-image-1.5:image_out_per_mtok": 32.0,
            "text:claude-sonnet-4:input_per_mtok": 3.0,
            "text:claude-sonnet-4:output_per_mtok": 15.0,
            "text:claude-sonnet-4-5:input_per_mtok": 3.0,
            "text:claude-sonnet-4-5:output_per_mtok": 15.0,
            "text:claude-sonnet-4-6:input_per_mtok": 3.0,
            "text:claude-sonnet-4-6:output_per_mtok": 15.0,
            "text:claude-haiku-4-5:input_per_mtok": 1.0,
            "text:claude-haiku-4-5:output_per_mtok": 5.0,
            "text:gpt-4.1-mini:input_per_mtok": 0.4,
            "text:gpt-4.1-mini:output_per_mtok": 1.6,
            "text:gpt-4o-mini:input_per_mtok": 0.15,
            "text:gpt-4o-mini:output_per_mtok": 0.6,
        }
    )
    return table


DEFAULT_PRICES: Mapping[str, float] = _default_table()


def image_price_keys(model: str, quality: str, size: str) -> list[str]:
    """The table keys that price one image, in the order they are tried. `auto` sizes
    and qualities are priced as the widest size and the highest quality."""
    sizes = [size] if size != "auto" else ["1536x1024", "1792x1024", "1024x1024"]
    qualities = [quality] if quality != "auto" else ["high", "hd"]
    return [f"image:{model}:{q}:{s}" for s in sizes for q in qualities]


def text_price_keys(model: str) -> list[str]:
    """The two keys that price an LLM prompt writer's tokens."""
    return [f"text:{model}:input_per_mtok", f"text:{model}:output_per_mtok"]


def priced_image_models(prices: Mapping[str, float]) -> list[str]:
    """Every image model with at least one price, for error messages."""
    return sorted({key.split(":")[1] for key in prices if key.startswith("image:")})
