"""OpenAI images API (gpt-image-1.5 by default; gpt-image-1, -1-mini, -2; dall-e-3 on
compatible servers that still serve it), through the official SDK, always base64.
A request with reference images goes to images.edit (GPT image models only)."""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

from config.settings import ImageModel, Settings
from handlers.api.clients import openai_client
from handlers.api.key_check import ensure_key_works
from handlers.api.retry import MalformedResponse, RateGate, call_with_retries
from handlers.money.pricing import PriceTable
from handlers.providers.base import GeneratedImage, ImageRequest

if TYPE_CHECKING:
    import openai
    from PIL import Image

# Longest prompt each family accepts (characters).
PROMPT_LIMITS = {"dall-e-2": 1000, "dall-e-3": 4000}
GPT_IMAGE_PROMPT_LIMIT = 32000


def prompt_limit(model: str) -> int:
    return PROMPT_LIMITS.get(model, GPT_IMAGE_PROMPT_LIMIT)


def is_dalle(model: str) -> bool:
    return model.startswith("dall-e")


class OpenAIImages:
    """One model of the chain. Thread-safe: the SDK client is shared by the workers."""

    def __init__(
        self,
        spec: ImageModel,
        settings: Settings,
        prices: PriceTable,
        gate: RateGate | None = None,
    ) -> None:
        self.spec = spec
        self.name = f"openai:{spec.model}"
        self.prices = prices
        self.retry = settings.retry
        self.gate = gate or RateGate()
        self._openai = settings.openai

    @property
    def client(self) -> openai.OpenAI:
        # Made (and the SDK imported) on the first image: see handlers/api/clients.py.
        return openai_client(self._openai)

    def generate(self, request: ImageRequest) -> GeneratedImage:
        spec = self.spec
        client = self.client
        ensure_key_works("openai", str(client.base_url), client.api_key, client.models.list)
        prompt = request.prompt[: prompt_limit(spec.model)]
        params: dict[str, Any] = {"model": spec.model, "prompt": prompt, "n": 1, "size": spec.size}
        if is_dalle(spec.model):
            params["response_format"] = "b64_json"
            params["quality"] = spec.quality
            if spec.style:
                params["style"] = spec.style
        else:
            params["quality"] = spec.quality
            params["output_format"] = "png"

        # GPT image models take up to 16 reference images through images.edit; DALL-E
        # models none that we could use (dall-e-2 edits one square image with a mask).
        references = () if is_dalle(spec.model) else request.references[:16]
        if references:
            params["image"] = [(_file_name(ref.name), ref.png, "image/png") for ref in references]

        def call() -> tuple[Image.Image, Any]:
            if references:
                response = client.images.edit(**params)
            else:
                response = client.images.generate(**params)
            return _decode(response, spec.model), response

        (image, response), attempts = call_with_retries(
            call,
            what=f"{self.name} image",
            policy=self.retry,
            gate=self.gate,
            stopped=request.stopped,
        )
        usage = _usage(response)
        cost = self.prices.image_from_usage(spec.model, usage) if usage else None
        if cost is None:
            cost, _ = self.prices.image(spec.model, spec.quality, spec.size)
        return GeneratedImage(
            image=image,
            provider="openai",
            model=spec.model,
            generation_method="openai",
            revised_prompt=getattr(response.data[0], "revised_prompt", None),
            usage=usage,
            cost_usd=cost,
            attempts=attempts,
            references_sent=[ref.name for ref in references],
        )


def _file_name(name: str) -> str:
    return name.rsplit("/", 1)[-1] or "reference.png"


def _decode(response: Any, model: str) -> Image.Image:
    from PIL import Image  # here: planning a run that has nothing to do never loads Pillow

    from handlers.outputs.png import decode_image

    data = getattr(response, "data", None)
    if not data:
        raise MalformedResponse(f"openai:{model} image: the answer holds no image")
    b64 = getattr(data[0], "b64_json", None)
    if not b64:
        raise MalformedResponse(f"openai:{model} image: the answer has no b64_json")
    try:
        raw = base64.b64decode(b64, validate=True)
        return decode_image(raw)
    except (binascii.Error, ValueError, OSError, Image.DecompressionBombError) as e:
        raise MalformedResponse(
            f"openai:{model} image: b64_json is not a decodable image ({type(e).__name__})"
        ) from None


def _usage(response: Any) -> dict[str, int]:
    usage = getattr(response, "usage", None)
    if usage is None:
        return {}
    out = {}
    for key in ("input_tokens", "output_tokens", "total_tokens"):
        value = getattr(usage, key, None)
        if isinstance(value, int):
            out[key] = value
    details = getattr(usage, "input_tokens_details", None)
    image_tokens = getattr(details, "image_tokens", None)
    if isinstance(image_tokens, int) and image_tokens:
        out["input_image_tokens"] = image_tokens  # reference images sent to images.edit
    return out
