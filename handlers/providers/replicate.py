"""Replicate models (black-forest-labs/flux-schnell by default; any owner/name or
owner/name:version, e.g. stability-ai/sdxl) through the official `replicate` client.

One image is one prediction: created (retried on 429, 5xx, timeouts), then polled
through starting -> processing until it ends. Polls are never turned into a new
prediction: a poll that fails is asked again until the prediction's deadline, where it
is canceled. A prediction that failed is made again (within retry.attempts), except
for the model's NSFW refusal, which rejects the chapter for this provider; one that
was canceled (by a person, on Replicate) ends the link for this chapter.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import time
from typing import Any

import httpx
from PIL import Image
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from config.settings import ImageModel, Settings
from handlers.api.key_check import ensure_key_works
from handlers.api.replicate import classify, key_probe, replicate_client
from handlers.api.retry import (
    MalformedResponse,
    RateGate,
    RetryableError,
    call_with_retries,
    clip,
)
from handlers.errors import ContentRejected, ProviderError
from handlers.money.pricing import PriceTable
from handlers.outputs.png import decode_image
from handlers.providers.base import GeneratedImage, ImageRequest
from handlers.providers.shape import asked_size, nearest_aspect

# aspect_ratio values FLUX models accept (size "auto"); a WxH size is sent as width and
# height instead (SDXL-style models).
ASPECTS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
PROMPT_LIMIT = 8000
MAX_OUTPUT_BYTES = 50_000_000
# The model's own words for a refused prompt (the prediction fails with them).
_REFUSALS = ("nsfw", "safety", "content policy", "flagged")
_TERMINAL = ("succeeded", "failed", "canceled")


class ReplicateImages:
    """One Replicate model of a chain. Thread-safe: the client is shared."""

    def __init__(
        self, spec: ImageModel, settings: Settings, prices: PriceTable, gate: RateGate | None = None
    ) -> None:
        self.spec = spec
        self.name = f"replicate:{spec.model}"
        self.prices = prices
        self.retry = settings.retry
        self.gate = gate or RateGate()
        self.settings = settings.replicate
        self.client = replicate_client(settings.replicate)

    def generate(self, request: ImageRequest) -> GeneratedImage:
        spec = self.spec
        token = self.settings.api_key.get_secret_value() if self.settings.api_key else ""
        ensure_key_works("replicate", self.settings.base_url, token, self._probe)
        inputs = self._inputs(request)
        what = f"{self.name} image"

        def call() -> tuple[Image.Image, Prediction]:
            prediction = self._create(inputs, what)
            return self._outcome(prediction, what), prediction

        (image, prediction), attempts = call_with_retries(
            call, what=what, policy=self.retry, gate=self.gate, stopped=request.stopped
        )
        price, _ = self.prices.image(spec.model, spec.quality, spec.size, "replicate")
        usage: dict[str, int] = {}
        predict_time = (prediction.metrics or {}).get("predict_time")
        if isinstance(predict_time, int | float):
            usage["predict_time_ms"] = int(predict_time * 1000)
        return GeneratedImage(
            image=image,
            provider="replicate",
            model=spec.model,
            generation_method="replicate",
            usage=usage,
            cost_usd=price,
            attempts=attempts,
        )

    def _probe(self) -> None:
        key_probe(self.client)

    def _inputs(self, request: ImageRequest) -> dict[str, Any]:
        spec = self.spec
        inputs: dict[str, Any] = {"prompt": request.prompt[:PROMPT_LIMIT]}
        if spec.size == "auto":
            inputs["aspect_ratio"] = nearest_aspect(request.width, request.height, ASPECTS)
        else:
            inputs["width"], inputs["height"] = asked_size(spec.size, (0, 0))
        inputs.update(spec.input)
        return inputs

    def _create(self, inputs: dict[str, Any], what: str) -> Prediction:
        model = self.spec.model
        try:
            if ":" in model:
                created = self.client.predictions.create(version=model, input=inputs)
            else:
                created = self.client.models.predictions.create(model=model, input=inputs)
        except Exception as e:
            raise classify(e, what, self.retry) from None
        assert isinstance(created, Prediction)
        return created

    def _outcome(self, prediction: Prediction, what: str) -> Image.Image:
        """Poll until the prediction ends; its image, or why not. A prediction is polled
        on while imagegen stops: it is paid for once created, and the daemon's drain
        grace bounds the wait, like any call in flight."""
        deadline = time.monotonic() + self.settings.timeout_seconds
        while prediction.status not in _TERMINAL:
            if time.monotonic() >= deadline:
                self._cancel(prediction)
                # Not retried: a new prediction would be paid for beside this one.
                raise ProviderError(
                    f"{what}: prediction {prediction.id} still {prediction.status} after "
                    f"{self.settings.timeout_seconds:g} s (replicate.timeout_seconds); canceled"
                )
            time.sleep(self.settings.poll_seconds)
            try:
                prediction.reload()
            except (ReplicateError, httpx.TransportError, ValueError):
                # The client already retried 429/503/504; the prediction runs on, and
                # asking again until the deadline never pays for it twice.
                continue
        if prediction.status == "failed":
            error = clip(str(prediction.error or "no reason given"))
            if any(word in error.lower() for word in _REFUSALS):
                raise ContentRejected(f"{what}: rejected by the model's safety check: {error}")
            raise RetryableError(f"{what}: prediction {prediction.id} failed: {error}")
        if prediction.status == "canceled":
            raise ProviderError(f"{what}: prediction {prediction.id} was canceled on Replicate")
        return self._image(prediction, what)

    def _cancel(self, prediction: Prediction) -> None:
        # On failure it ends on its own; nothing waits for it.
        with contextlib.suppress(ReplicateError, httpx.TransportError, ValueError):
            prediction.cancel()

    def _image(self, prediction: Prediction, what: str) -> Image.Image:
        output = prediction.output
        first = output[0] if isinstance(output, list) and output else output
        try:
            data = _read_output(first, self.settings.timeout_seconds)
        except (httpx.HTTPError, binascii.Error, ValueError) as e:
            # The image is paid for: fetching it again is all a retry could do safely.
            raise ProviderError(
                f"{what}: prediction {prediction.id} succeeded but its output could not be "
                f"read ({type(e).__name__}: {clip(str(e), 120)})"
            ) from None
        try:
            return decode_image(data)
        except (ValueError, OSError, Image.DecompressionBombError) as e:
            raise MalformedResponse(
                f"{what}: the output of prediction {prediction.id} is not a decodable image "
                f"({type(e).__name__})"
            ) from None


def _read_output(output: Any, timeout: float) -> bytes:
    """The bytes of one output: a data: URL, an http(s) URL, or the client's FileOutput.
    URLs are fetched without the API token (they are served elsewhere, unauthenticated)."""
    if hasattr(output, "read"):  # a FileOutput, should a future client hand one over
        return bytes(output.read())
    if not isinstance(output, str) or not output:
        raise ValueError(f"output is {type(output).__name__}, not a URL")
    if output.startswith("data:"):
        header, _, payload = output.partition(",")
        if not header.endswith(";base64"):
            raise ValueError("a data: URL that is not base64")
        return base64.b64decode(payload, validate=True)
    if not output.startswith(("https://", "http://")):
        raise ValueError(f"output {output[:40]!r} is not a URL")
    chunks: list[bytes] = []
    size = 0
    with (
        httpx.Client(timeout=httpx.Timeout(min(timeout, 60.0)), follow_redirects=True) as http,
        http.stream("GET", output) as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_OUTPUT_BYTES:
                raise ValueError(f"output larger than {MAX_OUTPUT_BYTES} bytes")
            chunks.append(chunk)
    return b"".join(chunks)
