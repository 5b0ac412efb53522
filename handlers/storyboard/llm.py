"""The LLM planner: one question, one call through handlers/api/llm.py (the client made
on first use, the key check, transport retries, refusals and cost shared with the
prompt writer, critic and judge), with OpenAI's JSON mode. A reply that is not the JSON
asked for is returned as it is, and the caller asks once more
(handlers/run/storyboard_asks.py)."""

from __future__ import annotations

from collections.abc import Callable

from config.settings import Settings
from handlers.api.llm import LLM, Provider
from handlers.money.pricing import PriceTable
from handlers.storyboard.planners import PLANNER_MODELS, Answer, Ask, text_estimate


class LLMPlanner:
    paid = True

    def __init__(self, provider: Provider, settings: Settings, prices: PriceTable) -> None:
        model = settings.storyboard.planner_model or PLANNER_MODELS[provider]
        self.name: str = provider
        self.model: str | None = model
        self.prices = prices
        self._llm = LLM(provider, model, settings, prices)

    def estimate(self, question: Ask) -> float:
        return text_estimate(self.prices, self._llm.model, question)

    def ask(self, question: Ask, stopped: Callable[[], bool] | None) -> Answer:
        reply = self._llm.ask(
            question.system,
            question.user,
            max_tokens=question.max_tokens,
            what=f"planning the {question.what}",
            json_mode=True,
            stopped=stopped,
        )
        return Answer(reply.text, reply.usage, reply.cost_usd)
