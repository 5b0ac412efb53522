"""The vision judge through the shared LLM call (handlers/api/llm.py): the candidate as
a JPEG beside the rubric and the chapter's brief."""

from __future__ import annotations

from collections.abc import Callable

from config.settings import Settings
from handlers.api.llm import LLM, Provider, Reply
from handlers.money.pricing import PriceTable
from handlers.select.judge import MAX_TOKENS, RUBRIC, Brief, input_tokens

DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4.1-mini"}


class VisionJudge:
    def __init__(self, provider: Provider, settings: Settings, prices: PriceTable) -> None:
        model = settings.selection.judge_model or DEFAULT_MODELS[provider]
        self.llm = LLM(provider, model, settings, prices)
        self.name: str = provider
        self.model = model

    def estimate(self, brief: Brief) -> float:
        return self.llm.cost(input_tokens(brief), MAX_TOKENS)

    def ask(self, image_jpeg: bytes, brief: Brief, stopped: Callable[[], bool] | None) -> Reply:
        # An empty answer is a verdict the rubric cannot use: the judge asks once more
        # (handlers/run/judging.py); it is not a transport fault to retry here.
        return self.llm.ask(
            RUBRIC,
            brief.message(),
            max_tokens=MAX_TOKENS,
            what="judge",
            image_jpeg=image_jpeg,
            stopped=stopped,
        )
