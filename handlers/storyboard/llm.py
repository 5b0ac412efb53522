"""LLM planners through the SDKs imagegen already uses, Anthropic Messages and OpenAI
Chat Completions, text only. One question, one call (with the transport retries of
handlers/api/retry.py); a reply that is not the JSON asked for is returned as it is, and
the caller asks once more (handlers/run/storyboarding.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from config.settings import Settings
from handlers.api.clients import anthropic_client, openai_client
from handlers.api.key_check import ensure_key_works
from handlers.api.retry import MalformedResponse, RateGate, call_with_retries
from handlers.errors import ContentRejected
from handlers.money.pricing import PriceTable
from handlers.storyboard.planners import PLANNER_MODELS, Answer, Ask, text_estimate


class _LLMPlanner:
    name = "llm"
    paid = True

    def __init__(self, settings: Settings, prices: PriceTable, provider: str) -> None:
        self.model: str | None = settings.storyboard.planner_model or PLANNER_MODELS[provider]
        self.prices = prices
        self.retry = settings.retry
        self.gate = RateGate()

    @property
    def client(self) -> Any:
        raise NotImplementedError

    def estimate(self, question: Ask) -> float:
        assert self.model is not None
        return text_estimate(self.prices, self.model, question)

    def ask(self, question: Ask, stopped: Callable[[], bool] | None) -> Answer:
        assert self.model is not None
        model = self.model
        client = self.client
        ensure_key_works(self.name, str(client.base_url), client.api_key or "", client.models.list)
        (text, usage), _ = call_with_retries(
            lambda: self._ask(model, question),
            what=f"{self.name}:{model} {question.what}",
            policy=self.retry,
            gate=self.gate,
            stopped=stopped,
        )
        cost = self.prices.text_cost(
            model, usage.get("input_tokens", 0), usage.get("output_tokens", 0)
        )
        return Answer(text, usage, cost)

    def _ask(self, model: str, question: Ask) -> tuple[str, dict[str, int]]:
        raise NotImplementedError


class AnthropicPlanner(_LLMPlanner):
    name = "anthropic"

    def __init__(self, settings: Settings, prices: PriceTable) -> None:
        super().__init__(settings, prices, "anthropic")
        self._cfg = settings.anthropic

    @property
    def client(self) -> Any:
        # Made (and the SDK imported) on the first question: see handlers/api/clients.py.
        return anthropic_client(self._cfg)

    def _ask(self, model: str, question: Ask) -> tuple[str, dict[str, int]]:
        msg: Any = self.client.messages.create(
            model=model,
            max_tokens=question.max_tokens,
            system=question.system,
            messages=[{"role": "user", "content": question.user}],
        )
        if getattr(msg, "stop_reason", None) == "refusal":
            raise ContentRejected(f"anthropic:{model} refused to plan the {question.what}")
        text = "".join(
            getattr(block, "text", "")
            for block in (msg.content or [])
            if getattr(block, "type", None) == "text"
        )
        u = msg.usage
        return text, {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens}


class OpenAIPlanner(_LLMPlanner):
    name = "openai"

    def __init__(self, settings: Settings, prices: PriceTable) -> None:
        super().__init__(settings, prices, "openai")
        self._openai = settings.openai

    @property
    def client(self) -> Any:
        return openai_client(self._openai)

    def _ask(self, model: str, question: Ask) -> tuple[str, dict[str, int]]:
        resp: Any = self.client.chat.completions.create(
            model=model,
            max_tokens=question.max_tokens,
            # JSON mode: the reply is one JSON object (the system prompt says which).
            response_format={"type": "json_object"},
            messages=[
                {"role": "system", "content": question.system},
                {"role": "user", "content": question.user},
            ],
        )
        if not resp.choices:
            raise MalformedResponse(f"openai:{model} planner answered no choices")
        choice = resp.choices[0]
        if choice.finish_reason == "content_filter":
            raise ContentRejected(f"openai:{model} content filter stopped the {question.what}")
        u = resp.usage
        return choice.message.content or "", {
            "input_tokens": getattr(u, "prompt_tokens", 0) or 0,
            "output_tokens": getattr(u, "completion_tokens", 0) or 0,
        }
