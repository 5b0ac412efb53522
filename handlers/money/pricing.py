"""What is done with prices: per-image and per-token lookups, reservations, costs.

The built-in table itself is config/prices.py (the default of the `prices` setting,
so that configuration can refuse a model nobody priced); `[prices]` overrides it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from config.prices import DEFAULT_PRICES, PRICES_DATE, image_price_keys, price_name
from config.settings import ImageModel

__all__ = ["DEFAULT_PRICES", "PRICES_DATE", "PriceTable"]

# When a model is not in the table we reserve generously rather than guess low: the
# loader refuses unpriced image models and prompt.model, but a prompt template's own
# model (its front matter) is not configuration, and the cap must hold for it too.
UNKNOWN_IMAGE_PRICE = 0.25
UNKNOWN_TEXT_PRICE = (15.0, 75.0)
# Input tokens held for one reference image sent with a request: OpenAI's tile rule
# gives at most 1445 for an image fitted in 2048x2048 with its short side at 768, and
# references are sent at most 1536 px wide; Gemini counts 258 per 768 px tile.
REFERENCE_TOKENS = 1600


@dataclass(frozen=True)
class PriceTable:
    prices: Mapping[str, float]

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, float]) -> PriceTable:
        return cls({**DEFAULT_PRICES, **overrides})

    def image(
        self, model: str, quality: str, size: str, provider: str = "openai"
    ) -> tuple[float, bool]:
        """(price per image, known?). `auto` sizes are priced as the widest size."""
        for key in image_price_keys(model, quality, size, provider):
            if key in self.prices:
                return self.prices[key], True
        return UNKNOWN_IMAGE_PRICE, False

    def image_spec(self, spec: ImageModel) -> tuple[float, bool]:
        """(USD per image, known?) for one link of the chain; the offline renderer is free."""
        if spec.provider == "offline":
            return 0.0, True
        return self.image(spec.model, spec.quality, spec.size, spec.provider)

    def image_hold(self, spec: ImageModel, prompt: str, references: int = 0) -> float:
        """What to hold before one image call of `spec` with `prompt` and that many
        reference images."""
        if spec.provider == "offline":
            return 0.0
        return self.image_reservation(
            spec.model, spec.quality, spec.size, prompt, spec.provider, references
        )

    def image_reservation(
        self,
        model: str,
        quality: str,
        size: str,
        prompt: str,
        provider: str = "openai",
        references: int = 0,
    ) -> float:
        """What to hold before an image call: the per-image price plus the prompt's text
        tokens where the model bills them (counted at 2 characters a token: generous
        for Turkish) and its reference images' tokens, so that the bill never exceeds
        the hold."""
        price, _ = self.image(model, quality, size, provider)
        text_rate = self._rate(model, "text_in") or 0.0
        image_rate = self._rate(model, "image_in") or text_rate
        tokens = (len(prompt) / 2 + 16) * text_rate + references * REFERENCE_TOKENS * image_rate
        return price + tokens / 1_000_000

    def image_from_usage(self, model: str, usage: Mapping[str, object]) -> float | None:
        """Actual cost of an image call from its token usage (GPT image and Gemini image
        models), when the model is priced so. Input image tokens (references) are priced
        at the model's image input rate where it has one."""
        text_rate = self._rate(model, "text_in")
        out_rate = self._rate(model, "image_out")
        if text_rate is None or out_rate is None:
            return None
        tokens_in = usage.get("input_tokens")
        tokens_out = usage.get("output_tokens")
        if not isinstance(tokens_in, int) or not isinstance(tokens_out, int):
            return None
        image_in = usage.get("input_image_tokens")
        image_in = image_in if isinstance(image_in, int) and 0 <= image_in <= tokens_in else 0
        image_rate = self._rate(model, "image_in") or text_rate
        cost = (tokens_in - image_in) * text_rate + image_in * image_rate + tokens_out * out_rate
        return cost / 1_000_000

    def _rate(self, model: str, kind: str) -> float | None:
        return self.prices.get(f"tokens:{price_name(model)}:{kind}_per_mtok")

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
