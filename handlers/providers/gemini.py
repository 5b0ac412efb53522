"""Gemini image models (gemini-2.5-flash-image by default, gemini-3-pro-image-preview)
through the official google-genai SDK: text and reference images in, one image out.

A refusal comes back as a 200: `promptFeedback.blockReason` (the prompt) or a candidate
that stopped for a safety reason without an image. Both reject the chapter for this
provider; an answer that merely has no image (text only, NO_IMAGE) is retried."""

from __future__ import annotations

import binascii
from typing import Any

from google.genai import types
from PIL import Image

from config.settings import ImageModel, Settings
from handlers.api.gemini import classify, gemini_client, key_probe
from handlers.api.key_check import ensure_key_works
from handlers.api.retry import MalformedResponse, RateGate, call_with_retries, clip
from handlers.errors import ContentRejected
from handlers.money.pricing import PriceTable
from handlers.outputs.png import decode_image
from handlers.providers.base import GeneratedImage, ImageRequest
from handlers.providers.shape import asked_size, nearest_aspect

# imageConfig.aspectRatio values the image models accept.
ASPECTS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
# Longest prompt sent (characters): the image models take 32k tokens of input.
PROMPT_LIMIT = 16000
# Finish reasons that mean the provider's safety system (or its recitation check)
# refused to draw; other reasons without an image are worth another try.
REFUSALS = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_RECITATION",
    }
)


class GeminiImages:
    """One Gemini model of a chain. Thread-safe: the SDK client is shared."""

    def __init__(
        self, spec: ImageModel, settings: Settings, prices: PriceTable, gate: RateGate | None = None
    ) -> None:
        self.spec = spec
        self.name = f"gemini:{spec.model}"
        self.prices = prices
        self.retry = settings.retry
        self.gate = gate or RateGate()
        self.settings = settings.gemini
        self.client = gemini_client(settings.gemini)

    def generate(self, request: ImageRequest) -> GeneratedImage:
        spec = self.spec
        key = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
        ensure_key_works("gemini", self.settings.base_url, key, lambda: key_probe(self.client))
        width, height = asked_size(spec.size, (request.width, request.height))
        image_config = types.ImageConfig(aspect_ratio=nearest_aspect(width, height, ASPECTS))
        if spec.quality != "auto":
            image_config.image_size = spec.quality
        # IMAGE only: no text part to pay for (a refusal still says why, in its reason).
        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"], image_config=image_config
        )
        contents: list[Any] = [
            types.Part.from_bytes(data=ref.png, mime_type="image/png") for ref in request.references
        ]
        contents.append(request.prompt[:PROMPT_LIMIT])
        what = f"{self.name} image"

        def call() -> tuple[Image.Image, Any]:
            try:
                response = self.client.models.generate_content(
                    model=spec.model, contents=contents, config=config
                )
            except Exception as e:
                raise classify(e, what, self.retry) from None
            return _image_of(response, what), response

        (image, response), attempts = call_with_retries(
            call, what=what, policy=self.retry, gate=self.gate, stopped=request.stopped
        )
        usage = _usage(response)
        cost = self.prices.image_from_usage(spec.model, usage) if usage else None
        if cost is None:
            cost, _ = self.prices.image(spec.model, spec.quality, spec.size, "gemini")
        return GeneratedImage(
            image=image,
            provider="gemini",
            model=spec.model,
            generation_method="gemini",
            usage=usage,
            cost_usd=cost,
            attempts=attempts,
            references_sent=[ref.name for ref in request.references],
        )


def _image_of(response: Any, what: str) -> Image.Image:
    feedback = getattr(response, "prompt_feedback", None)
    blocked = getattr(feedback, "block_reason", None) if feedback is not None else None
    if blocked:
        raise ContentRejected(
            f"{what}: rejected by the provider's safety system (prompt blocked: {_name(blocked)})"
        )
    candidates = getattr(response, "candidates", None) or []
    if not candidates:
        raise MalformedResponse(f"{what}: the answer holds no candidate")
    candidate = candidates[0]
    content = getattr(candidate, "content", None)
    parts = (getattr(content, "parts", None) or []) if content is not None else []
    texts = []
    for part in parts:
        inline = getattr(part, "inline_data", None)
        if inline is not None and inline.data:
            try:
                return decode_image(bytes(inline.data))
            except (binascii.Error, ValueError, OSError, Image.DecompressionBombError) as e:
                raise MalformedResponse(
                    f"{what}: inlineData is not a decodable image ({type(e).__name__})"
                ) from None
        if getattr(part, "text", None):
            texts.append(str(part.text))
    reason = _name(getattr(candidate, "finish_reason", None))
    said = f": {clip(' '.join(texts), 160)}" if texts else ""
    if reason in REFUSALS:
        raise ContentRejected(
            f"{what}: rejected by the provider's safety system (finishReason {reason}){said}"
        )
    raise MalformedResponse(f"{what}: the answer has no image (finishReason {reason}){said}")


def _name(value: Any) -> str:
    return str(getattr(value, "name", None) or value or "none")


def _usage(response: Any) -> dict[str, int]:
    """Token counts as the price table reads them: everything the model wrote (the
    image, any text, any thinking) as output, reference images among the input."""
    meta = getattr(response, "usage_metadata", None)
    if meta is None:
        return {}
    tokens_in = meta.prompt_token_count
    tokens_out = (meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0)
    if not isinstance(tokens_in, int) or not tokens_out:
        return {}
    usage = {"input_tokens": tokens_in, "output_tokens": tokens_out}
    usage["total_tokens"] = tokens_in + tokens_out
    image_in = sum(
        d.token_count or 0 for d in meta.prompt_tokens_details or [] if _name(d.modality) == "IMAGE"
    )
    if image_in:
        usage["input_image_tokens"] = image_in
    return usage
