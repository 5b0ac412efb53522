"""The built-in price table (USD): the default of the `prices` setting.

It lives in config, not in handlers/money, because configuration must check model
names against it (a model nobody priced is an error at load time, not a surprise
reservation later) and config never imports handlers. handlers/money/pricing.py
holds what is done with the prices: lookups, reservations, costs from usage.

Taken 2025-11 to 2026-05 from published and third-party copies of OpenAI's and
Anthropic's price lists (see shared/reference/api-wire-facts.md), Google's Gemini API
price page and Replicate's model pages. Keys:
  image:<model>:<quality>:<size>        per image (OpenAI)
  image:<model>[:<quality>]             per image (Gemini, Replicate: size does not matter;
                                        a Replicate version is priced as its model)
  tokens:<model>:<kind>_per_mtok        image-model token billing (text_in, image_in,
                                        image_out)
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
            # Reference images sent to images.edit are billed as image input tokens.
            "tokens:gpt-image-1:image_in_per_mtok": 10.0,
            "tokens:gpt-image-1.5:image_in_per_mtok": 8.0,
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
    table.update(_OTHER_IMAGE_MODELS)
    return table


# Gemini bills image models by tokens: gemini-2.5-flash-image $30 per million image
# tokens out (1290 an image: $0.0387) and $0.30 per million in; gemini-3-pro-image-preview
# $120 per million out (1120 a 1K/2K image: $0.134, 2000 a 4K one: $0.24; held a little
# higher for its thinking tokens) and $2 in. The per-image prices are what is held before
# a call; the bill is from the answer's token counts. Replicate bills per output image
# (FLUX) or by GPU time (SDXL, about $0.0046 a 1024 px image on an L40S).
_OTHER_IMAGE_MODELS = {
    "image:gemini-2.5-flash-image": 0.039,
    "tokens:gemini-2.5-flash-image:text_in_per_mtok": 0.30,
    "tokens:gemini-2.5-flash-image:image_out_per_mtok": 30.0,
    "image:gemini-3-pro-image-preview": 0.14,
    "image:gemini-3-pro-image-preview:4K": 0.25,
    "tokens:gemini-3-pro-image-preview:text_in_per_mtok": 2.0,
    "tokens:gemini-3-pro-image-preview:image_out_per_mtok": 120.0,
    "image:black-forest-labs/flux-schnell": 0.003,
    "image:black-forest-labs/flux-dev": 0.025,
    "image:black-forest-labs/flux-1.1-pro": 0.04,
    "image:black-forest-labs/flux-kontext-pro": 0.04,
    "image:stability-ai/sdxl": 0.0046,
}


DEFAULT_PRICES: Mapping[str, float] = _default_table()


def price_name(model: str) -> str:
    """The name a model is priced under: a Replicate version as its model."""
    return model.partition(":")[0]


def image_price_keys(model: str, quality: str, size: str, provider: str = "openai") -> list[str]:
    """The table keys that price one image, in the order they are tried. OpenAI: `auto`
    sizes and qualities are priced as the widest size and the highest quality. Gemini
    and Replicate: the quality's own price, else the model's (the last key)."""
    if provider != "openai":
        name = price_name(model)
        return ([f"image:{name}:{quality}"] if quality != "auto" else []) + [f"image:{name}"]
    sizes = [size] if size != "auto" else ["1536x1024", "1792x1024", "1024x1024"]
    qualities = [quality] if quality != "auto" else ["high", "hd"]
    return [f"image:{model}:{q}:{s}" for s in sizes for q in qualities]


def text_price_keys(model: str) -> list[str]:
    """The two keys that price an LLM prompt writer's tokens."""
    return [f"text:{model}:input_per_mtok", f"text:{model}:output_per_mtok"]


def priced_image_models(prices: Mapping[str, float], provider: str = "openai") -> list[str]:
    """Every image model with at least one price in the form of `provider`'s keys (OpenAI:
    image:model:quality:size; others image:model[:quality]), for error messages."""
    parts = (4,) if provider == "openai" else (2, 3)
    return sorted(
        {
            key.split(":")[1]
            for key in prices
            if key.startswith("image:") and key.count(":") + 1 in parts
        }
    )
