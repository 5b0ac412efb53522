"""The LLM critic through the shared LLM call (handlers/api/llm.py), text only. An empty
or malformed answer is returned as it is: the loop (handlers/prompts/refine.py) asks
once more, then stops with the best prompt."""

from __future__ import annotations

from collections.abc import Callable

from config.settings import Settings
from handlers.api.llm import LLM, Provider, Reply
from handlers.money.pricing import PriceTable
from handlers.prompts.critic import (
    CRITIC_MAX_TOKENS,
    CRITIC_MODELS,
    RUBRIC,
    PromptBrief,
    input_tokens,
)


class LLMCritic:
    def __init__(self, provider: Provider, settings: Settings, prices: PriceTable) -> None:
        model = settings.refine.critic_model or CRITIC_MODELS[provider]
        self.llm = LLM(provider, model, settings, prices)
        self.name: str = provider
        self.model = model

    @property
    def label(self) -> str:
        return self.llm.label

    def estimate(self, brief: PromptBrief, prompt: str) -> float:
        return self.llm.cost(input_tokens(brief, prompt), CRITIC_MAX_TOKENS)

    def ask(self, brief: PromptBrief, prompt: str, stopped: Callable[[], bool] | None) -> Reply:
        return self.llm.ask(
            RUBRIC,
            brief.message(prompt),
            max_tokens=CRITIC_MAX_TOKENS,
            what="critic",
            temperature=0.0,
            stopped=stopped,
        )
