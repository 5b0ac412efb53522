"""LLM critics through the SDKs imagegen already uses: Anthropic Messages and OpenAI
Chat Completions, text only. An empty or malformed answer is returned as it is: the
loop (handlers/prompts/refine.py) asks once more, then stops with the best prompt."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from config.settings import Settings
from handlers.api.clients import anthropic_client, openai_client
from handlers.api.key_check import ensure_key_works
from handlers.api.retry import MalformedResponse, RateGate, call_with_retries
from handlers.errors import ContentRejected
from handlers.money.pricing import PriceTable
from handlers.prompts.critic import (
    CRITIC_MAX_TOKENS,
    CRITIC_MODELS,
    RUBRIC,
    Answer,
    PromptBrief,
    input_tokens,
)


class _LLMCritic:
    name = "llm"

    @property
    def client(self) -> Any:
        raise NotImplementedError

    def __init__(self, settings: Settings, prices: PriceTable, provider: str) -> None:
        self.model = settings.refine.critic_model or CRITIC_MODELS[provider]
        self.prices = prices
        self.retry = settings.retry
        self.gate = RateGate()

    @property
    def label(self) -> str:
        return f"{self.name}:{self.model}"

    def estimate(self, brief: PromptBrief, prompt: str) -> float:
        return self.prices.text_cost(self.model, input_tokens(brief, prompt), CRITIC_MAX_TOKENS)

    def ask(self, brief: PromptBrief, prompt: str, stopped: Callable[[], bool] | None) -> Answer:
        client = self.client
        ensure_key_works(self.name, str(client.base_url), client.api_key or "", client.models.list)
        message = brief.message(prompt)
        (text, usage), _ = call_with_retries(
            lambda: self._ask(message),
            what=f"{self.label} critic",
            policy=self.retry,
            gate=self.gate,
            stopped=stopped,
        )
        cost = self.prices.text_cost(
            self.model, usage.get("input_tokens", 0), usage.get("output_tokens", 0)
        )
        return Answer(text, usage, cost)

    def _ask(self, message: str) -> tuple[str, dict[str, int]]:
        raise NotImplementedError


class AnthropicCritic(_LLMCritic):
    name = "anthropic"

    def __init__(self, settings: Settings, prices: PriceTable) -> None:
        super().__init__(settings, prices, "anthropic")
        self._cfg = settings.anthropic

    @property
    def client(self) -> Any:
        # Made (and the SDK imported) on the first critique: see handlers/api/clients.py.
        return anthropic_client(self._cfg)

    def _ask(self, message: str) -> tuple[str, dict[str, int]]:
        msg: Any = self.client.messages.create(
            model=self.model,
            max_tokens=CRITIC_MAX_TOKENS,
            system=RUBRIC,
            messages=[{"role": "user", "content": message}],
        )
        if getattr(msg, "stop_reason", None) == "refusal":
            raise ContentRejected(f"anthropic:{self.model} refused to critique the prompt")
        text = "".join(
            getattr(block, "text", "")
            for block in (msg.content or [])
            if getattr(block, "type", None) == "text"
        )
        u = msg.usage
        return text, {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens}


class OpenAICritic(_LLMCritic):
    name = "openai"

    def __init__(self, settings: Settings, prices: PriceTable) -> None:
        super().__init__(settings, prices, "openai")
        self._openai = settings.openai

    @property
    def client(self) -> Any:
        return openai_client(self._openai)

    def _ask(self, message: str) -> tuple[str, dict[str, int]]:
        resp: Any = self.client.chat.completions.create(
            model=self.model,
            max_tokens=CRITIC_MAX_TOKENS,
            temperature=0.0,
            messages=[
                {"role": "system", "content": RUBRIC},
                {"role": "user", "content": message},
            ],
        )
        if not resp.choices:
            raise MalformedResponse(f"openai:{self.model} critic answered no choices")
        choice = resp.choices[0]
        if choice.finish_reason == "content_filter":
            raise ContentRejected(f"openai:{self.model} content filter stopped the critic")
        u = resp.usage
        return choice.message.content or "", {
            "input_tokens": getattr(u, "prompt_tokens", 0) or 0,
            "output_tokens": getattr(u, "completion_tokens", 0) or 0,
        }
