"""The one price table (USD), overridable by the `prices` setting.

Taken 2025-11 to 2026-05 from published and third-party copies of OpenAI's and
Anthropic's price lists (see shared/reference/api-wire-facts.md). Keys:
  image:<model>:<quality>:<size>        per image
  tokens:<model>:<kind>_per_mtok        image-model token billing (text_in, image_out)
  text:<model>:<input|output>_per_mtok  LLM prompt writers
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from config.settings import ImageModel

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
# When a model is not in the table we reserve generously rather than guess low:
# the cap must hold even for a model nobody priced.
UNKNOWN_IMAGE_PRICE = 0.25
UNKNOWN_TEXT_PRICE = (15.0, 75.0)


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, float]

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, float]) -> PriceTable:
        return cls({**DEFAULT_PRICES, **overrides})

    def image(self, model: str, quality: str, size: str) -> tuple[float, bool]:
        """(price per image, known?). `auto` sizes are priced as the widest size."""
        sizes = [size] if size != "auto" else ["1536x1024", "1792x1024", "1024x1024"]
        qualities = [quality] if quality != "auto" else ["high", "hd"]
        for s in sizes:
            for q in qualities:
                key = f"image:{model}:{q}:{s}"
                if key in self.prices:
                    return self.prices[key], True
        return UNKNOWN_IMAGE_PRICE, False

    def image_spec(self, spec: ImageModel) -> tuple[float, bool]:
        """(USD per image, known?) for one link of the chain; the offline renderer is free."""
        if spec.provider == "offline":
            return 0.0, True
        return self.image(spec.model, spec.quality, spec.size)

    def image_hold(self, spec: ImageModel, prompt: str) -> float:
        """What to hold before one image call of `spec` with `prompt`."""
        if spec.provider == "offline":
            return 0.0
        return self.image_reservation(spec.model, spec.quality, spec.size, prompt)

    def image_reservation(self, model: str, quality: str, size: str, prompt: str) -> float:
        """What to hold before an image call: the per-image price plus the prompt's text
        tokens where the model bills them (counted at 2 characters a token: generous
        for Turkish), so that the bill never exceeds the hold."""
        price, _ = self.image(model, quality, size)
        text_rate = self.prices.get(f"tokens:{model}:text_in_per_mtok", 0.0)
        return price + (len(prompt) / 2 + 16) * text_rate / 1_000_000

    def image_from_usage(self, model: str, usage: Mapping[str, object]) -> float | None:
        """Actual cost of a GPT image call from its token usage, when the model is priced so."""
        text_rate = self.prices.get(f"tokens:{model}:text_in_per_mtok")
        out_rate = self.prices.get(f"tokens:{model}:image_out_per_mtok")
        if text_rate is None or out_rate is None:
            return None
        tokens_in = usage.get("input_tokens")
        tokens_out = usage.get("output_tokens")
        if not isinstance(tokens_in, int) or not isinstance(tokens_out, int):
            return None
        return (tokens_in * text_rate + tokens_out * out_rate) / 1_000_000

    def text(self, model: str) -> tuple[float, float, bool]:
        """(input, output) USD per million tokens for an LLM, and whether it was known."""
        i = self.prices.get(f"text:{model}:input_per_mtok")
        o = self.prices.get(f"text:{model}:output_per_mtok")
        if i is None or o is None:
            return UNKNOWN_TEXT_PRICE[0], UNKNOWN_TEXT_PRICE[1], False
        return i, o, True

    def text_cost(self, model: str, input_tokens: int, output_tokens: int) -> float:
        i, o, _ = self.text(model)
        return (input_tokens * i + output_tokens * o) / 1_000_000
