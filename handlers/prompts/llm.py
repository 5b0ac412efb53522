"""LLM prompt writers: Claude (Anthropic Messages) and OpenAI Chat Completions.

System and user parts come from the template's `# System` and `# User` sections, the
model, temperature and max_tokens from its front matter (`prompt.model` overrides
the model). The answer is cleaned to a bare prompt and bounded in length."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from config.settings import Settings
from handlers.api.clients import anthropic_client, openai_client
from handlers.api.key_check import ensure_key_works
from handlers.api.retry import MalformedResponse, RateGate, call_with_retries
from handlers.errors import ContentRejected
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


class _LLMWriter:
    name = "llm"
    paid = True

    def __init__(self, settings: Settings, template: PromptTemplate, prices: PriceTable) -> None:
        self.template = template
        self.prices = prices
        self.retry = settings.retry
        self.gate = RateGate()
        self.style_prefix = settings.prompt.style_prefix
        self.model: str | None = settings.prompt.model or template.model

    @property
    def client(self) -> Any:
        """The SDK client (anthropic or openai): both have base_url, api_key, models.list."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        return f"{self.name}:{self.model}"

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
        assert self.model is not None
        system, user = self._revise_messages(ctx, prompt, feedback)
        tokens_in = (len(system) + len(user)) // 3 + 50
        return self.prices.text_cost(self.model, tokens_in, self.template.max_tokens)

    def _call(
        self, system: str, user: str, what: str, stopped: Callable[[], bool] | None
    ) -> WrittenPrompt:
        assert self.model is not None
        model = self.model
        client = self.client
        ensure_key_works(self.name, str(client.base_url), client.api_key or "", client.models.list)
        (text, usage), _ = call_with_retries(
            lambda: self._ask(model, system, user),
            what=f"{self.name}:{model} {what}",
            policy=self.retry,
            gate=self.gate,
            stopped=stopped,
        )
        return self._finish(text, usage)

    def _ask(self, model: str, system: str, user: str) -> tuple[str, dict[str, int]]:
        """One request: the answer's text and its token usage."""
        raise NotImplementedError

    def _messages(self, ctx: PromptContext) -> tuple[str, str]:
        values = ctx.values(self.template)
        return (
            self.template.render(self.template.system, values),
            self.template.render(self.template.user, values),
        )

    def _revise_messages(
        self, ctx: PromptContext, prompt: str, feedback: Sequence[str]
    ) -> tuple[str, str]:
        system, user = self._messages(ctx)
        fixes = "\n".join(f"- {line}" for line in feedback) or "- (none given)"
        return system, REVISE.format(
            chapter=user, prompt=prompt.removeprefix(self.style_prefix), fixes=fixes
        )

    def _finish(self, text: str, usage: dict[str, int]) -> WrittenPrompt:
        assert self.model is not None
        body = clean_prompt(text, MAX_PROMPT_CHARS - len(self.style_prefix))
        if not body:
            raise MalformedResponse(f"{self.name}:{self.model} answered an empty prompt")
        cost = self.prices.text_cost(
            self.model, usage.get("input_tokens", 0), usage.get("output_tokens", 0)
        )
        return WrittenPrompt(
            text=self.style_prefix + body,
            source=f"writer:{self.name}",
            model=self.model,
            usage=usage,
            cost_usd=cost,
        )


class AnthropicWriter(_LLMWriter):
    name = "anthropic"

    def __init__(self, settings: Settings, template: PromptTemplate, prices: PriceTable) -> None:
        super().__init__(settings, template, prices)
        self._anthropic = settings.anthropic

    @property
    def client(self) -> Any:
        # Made (and the SDK imported) on the first prompt: see handlers/api/clients.py.
        return anthropic_client(self._anthropic)

    def _ask(self, model: str, system: str, user: str) -> tuple[str, dict[str, int]]:
        # No temperature: the Messages API of anthropic SDK 2.x no longer takes one.
        msg: Any = self.client.messages.create(
            model=model,
            max_tokens=self.template.max_tokens,
            system=system,
            messages=[{"role": "user", "content": user}],
        )
        if getattr(msg, "stop_reason", None) == "refusal":
            raise ContentRejected(f"anthropic:{model} refused to write a prompt")
        text = "".join(
            getattr(block, "text", "")
            for block in (msg.content or [])
            if getattr(block, "type", None) == "text"
        )
        if not text.strip():
            raise MalformedResponse(f"anthropic:{model} answered no text")
        u = msg.usage
        return text, {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens}


class OpenAIChatWriter(_LLMWriter):
    name = "openai"

    def __init__(self, settings: Settings, template: PromptTemplate, prices: PriceTable) -> None:
        super().__init__(settings, template, prices)
        if settings.prompt.model is None and template.model.startswith("claude"):
            # The template names a Claude model; the OpenAI writer needs one of its own.
            self.model = DEFAULT_OPENAI_CHAT_MODEL
        self._openai = settings.openai

    @property
    def client(self) -> Any:
        return openai_client(self._openai)  # made on first use, as AnthropicWriter's

    def _ask(self, model: str, system: str, user: str) -> tuple[str, dict[str, int]]:
        resp: Any = self.client.chat.completions.create(
            model=model,
            max_tokens=self.template.max_tokens,
            temperature=self.template.temperature,
            messages=[
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
        )
        if not resp.choices:
            raise MalformedResponse(f"openai:{model} answered no choices")
        choice = resp.choices[0]
        if choice.finish_reason == "content_filter":
            raise ContentRejected(f"openai:{model} content filter stopped the prompt")
        text = choice.message.content or ""
        if not text.strip():
            raise MalformedResponse(f"openai:{model} answered an empty message")
        u = resp.usage
        return text, {
            "input_tokens": getattr(u, "prompt_tokens", 0) or 0,
            "output_tokens": getattr(u, "completion_tokens", 0) or 0,
        }
