"""Vision judges through the SDKs imagegen already uses: Anthropic Messages with an
`image` block (base64), OpenAI Chat Completions with an `image_url` data URL."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from config.settings import Settings
from handlers.api.clients import anthropic_client, openai_client
from handlers.api.key_check import ensure_key_works
from handlers.api.retry import MalformedResponse, RateGate, call_with_retries
from handlers.errors import ContentRejected
from handlers.money.pricing import PriceTable
from handlers.select.judge import MAX_TOKENS, RUBRIC, Answer, Brief, input_tokens

DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4.1-mini"}


class _VisionJudge:
    name = "vision"

    @property
    def client(self) -> Any:
        raise NotImplementedError

    def __init__(self, settings: Settings, prices: PriceTable, provider: str) -> None:
        self.model = settings.selection.judge_model or DEFAULT_MODELS[provider]
        self.prices = prices
        self.retry = settings.retry
        self.gate = RateGate()

    def estimate(self, brief: Brief) -> float:
        return self.prices.text_cost(self.model, input_tokens(brief), MAX_TOKENS)

    def ask(self, image_jpeg: bytes, brief: Brief, stopped: Callable[[], bool] | None) -> Answer:
        client = self.client
        ensure_key_works(self.name, str(client.base_url), client.api_key or "", client.models.list)
        data = base64.b64encode(image_jpeg).decode("ascii")
        (text, usage), _ = call_with_retries(
            lambda: self._ask(data, brief),
            what=f"{self.name}:{self.model} judge",
            policy=self.retry,
            gate=self.gate,
            stopped=stopped,
        )
        cost = self.prices.text_cost(
            self.model, usage.get("input_tokens", 0), usage.get("output_tokens", 0)
        )
        return Answer(text, usage, cost)

    def _ask(self, image_b64: str, brief: Brief) -> tuple[str, dict[str, int]]:
        raise NotImplementedError


class AnthropicJudge(_VisionJudge):
    name = "anthropic"

    def __init__(self, settings: Settings, prices: PriceTable) -> None:
        super().__init__(settings, prices, "anthropic")
        self._cfg = settings.anthropic

    @property
    def client(self) -> Any:
        # Made (and the SDK imported) on the first verdict: see handlers/api/clients.py.
        return anthropic_client(self._cfg)

    def _ask(self, image_b64: str, brief: Brief) -> tuple[str, dict[str, int]]:
        msg: Any = self.client.messages.create(
            model=self.model,
            max_tokens=MAX_TOKENS,
            system=RUBRIC,
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "image",
                            "source": {
                                "type": "base64",
                                "media_type": "image/jpeg",
                                "data": image_b64,
                            },
                        },
                        {"type": "text", "text": brief.message()},
                    ],
                }
            ],
        )
        if getattr(msg, "stop_reason", None) == "refusal":
            raise ContentRejected(f"anthropic:{self.model} refused to judge the image")
        text = "".join(
            getattr(block, "text", "")
            for block in (msg.content or [])
            if getattr(block, "type", None) == "text"
        )
        u = msg.usage
        return text, {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens}


class OpenAIJudge(_VisionJudge):
    name = "openai"

    def __init__(self, settings: Settings, prices: PriceTable) -> None:
        super().__init__(settings, prices, "openai")
        self._openai = settings.openai

    @property
    def client(self) -> Any:
        return openai_client(self._openai)

    def _ask(self, image_b64: str, brief: Brief) -> tuple[str, dict[str, int]]:
        resp: Any = self.client.chat.completions.create(
            model=self.model,
            max_tokens=MAX_TOKENS,
            messages=[
                {"role": "system", "content": RUBRIC},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": brief.message()},
                        {
                            "type": "image_url",
                            "image_url": {"url": f"data:image/jpeg;base64,{image_b64}"},
                        },
                    ],
                },
            ],
        )
        if not resp.choices:
            raise MalformedResponse(f"openai:{self.model} judge answered no choices")
        choice = resp.choices[0]
        if choice.finish_reason == "content_filter":
            raise ContentRejected(f"openai:{self.model} content filter stopped the judge")
        # An empty answer is a verdict the rubric cannot use: the judge asks once more
        # (handlers/run/candidates.py), it is not a transport fault to retry here.
        text = choice.message.content or ""
        u = resp.usage
        return text, {
            "input_tokens": getattr(u, "prompt_tokens", 0) or 0,
            "output_tokens": getattr(u, "completion_tokens", 0) or 0,
        }
