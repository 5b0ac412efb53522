"""LLM prompt writers: Claude (Anthropic Messages) and OpenAI Chat Completions.

System and user parts come from the template's `# System` and `# User` sections, the
model, temperature and max_tokens from its front matter (`prompt.model` overrides
the model). The answer is cleaned to a bare prompt and bounded in length."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from config.settings import Settings
from handlers.api.llm import LLM, Provider
from handlers.api.retry import MalformedResponse
from handlers.money.pricing import PriceTable
from handlers.prompts.template import PromptTemplate
from handlers.prompts.writers import REVISE, PromptContext, WrittenPrompt

# dall-e-3's limit; the style prefix comes on top, so the writer gets what is left.
MAX_PROMPT_CHARS = 3500
DEFAULT_OPENAI_CHAT_MODEL = "gpt-4.1-mini"

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_PREAMBLE = re.compile(
    r"^(here(?:'s| is)[^:\n]*:|sure[,!.][^\n]*\n|certainly[,!.][^\n]*\n|"
    r"(?:image )?prompt\s*:)\s*",
    re.IGNORECASE,
)


def clean_prompt(text: str, limit: int = MAX_PROMPT_CHARS) -> str:
    """A bare prompt: no markdown fences, no preamble, no wrapping quotes, one paragraph,
    cut at a word boundary within `limit` characters."""
    text = text.strip()
    for _ in range(3):  # "Here is the prompt:\n```...```" nests a fence in a preamble
        text = _FENCE.sub("", text).strip()
        text = _PREAMBLE.sub("", text, count=1).strip()
    text = text.strip().strip("\"“”'").strip()
    text = re.sub(r"^\s*[-*#>]+\s*", "", text, flags=re.MULTILINE)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "."
    return text


class LLMWriter:
    """A prompt writer on Claude or OpenAI Chat (through handlers/api/llm.py)."""

    paid = True

    def __init__(
        self,
        provider: Provider,
        settings: Settings,
        template: PromptTemplate,
        prices: PriceTable,
    ) -> None:
        self.template = template
        self.prices = prices
        self.style_prefix = settings.prompt.style_prefix
        model = settings.prompt.model or template.parts.model
        if provider == "openai" and settings.prompt.model is None and model.startswith("claude"):
            # The template names a Claude model; the OpenAI writer needs one of its own.
            model = DEFAULT_OPENAI_CHAT_MODEL
        self.llm = LLM(provider, model, settings, prices)
        self.name: str = provider
        self.model: str | None = model

    @property
    def label(self) -> str:
        return self.llm.label

    def write(self, ctx: PromptContext, stopped: Callable[[], bool] | None = None) -> WrittenPrompt:
        system, user = self._messages(ctx)
        return self._call(system, user, "prompt", stopped)

    def revise(
        self,
        ctx: PromptContext,
        prompt: str,
        feedback: Sequence[str],
        stopped: Callable[[], bool] | None = None,
    ) -> WrittenPrompt:
        """A new version of `prompt` with the critic's `feedback` applied (refinement)."""
        system, user = self._revise_messages(ctx, prompt, feedback)
        return self._call(system, user, "revision", stopped)

    def revise_estimate(self, ctx: PromptContext, prompt: str, feedback: Sequence[str]) -> float:
        """The most a revision can cost: input at about 3 characters a token, output
        at the template's max_tokens (the same rule as a first prompt's estimate)."""
        system, user = self._revise_messages(ctx, prompt, feedback)
        tokens_in = (len(system) + len(user)) // 3 + 50
        return self.llm.cost(tokens_in, self.template.parts.max_tokens)

    def _call(
        self, system: str, user: str, what: str, stopped: Callable[[], bool] | None
    ) -> WrittenPrompt:
        reply = self.llm.ask(
            system,
            user,
            max_tokens=self.template.parts.max_tokens,
            what=what,
            temperature=self.template.parts.temperature,
            empty_is_fault=True,
            stopped=stopped,
        )
        body = clean_prompt(reply.text, MAX_PROMPT_CHARS - len(self.style_prefix))
        if not body:
            raise MalformedResponse(f"{self.label} answered an empty prompt")
        return WrittenPrompt(
            text=self.style_prefix + body,
            source=f"writer:{self.name}",
            model=self.model,
            usage=reply.usage,
            cost_usd=reply.cost_usd,
        )

    def _messages(self, ctx: PromptContext) -> tuple[str, str]:
        values = ctx.values(self.template)
        return (
            self.template.render(self.template.parts.system, values),
            self.template.render(self.template.parts.user, values),
        )

    def _revise_messages(
        self, ctx: PromptContext, prompt: str, feedback: Sequence[str]
    ) -> tuple[str, str]:
        system, user = self._messages(ctx)
        fixes = "\n".join(f"- {line}" for line in feedback) or "- (none given)"
        return system, REVISE.format(
            chapter=user, prompt=prompt.removeprefix(self.style_prefix), fixes=fixes
        )
