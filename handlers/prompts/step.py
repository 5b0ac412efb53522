"""One chapter's prompt: its own `image_prompt`, the free template writer, or a paid
LLM writer whose call is held in the ledger like every other paid call."""

from __future__ import annotations

from config.settings import Settings
from handlers.episode.chapters import Chapter
from handlers.errors import Stopped
from handlers.money.ledger import Ledger
from handlers.money.pricing import PriceTable
from handlers.prompts.template import PromptTemplate
from handlers.prompts.writers import (
    PromptContext,
    PromptWriter,
    WrittenPrompt,
    chapter_prompt,
    context_for,
)
from handlers.stop import NotStarted, StopSignal


def writer_estimate(
    writer: PromptWriter, template: PromptTemplate, prices: PriceTable, ctx: PromptContext
) -> float:
    """The most an LLM prompt call can cost: input estimated from characters (about 3
    per token, generous), output at the template's max_tokens."""
    parts = template.parts
    model = writer.model or parts.model
    values = ctx.values(template)
    chars = len(parts.system) + len(parts.user) + sum(len(v) for v in values.values())
    return prices.text_cost(model, chars // 3 + 50, parts.max_tokens)


def write_prompt(
    chapter: Chapter,
    settings: Settings,
    writer: PromptWriter,
    template: PromptTemplate,
    prices: PriceTable,
    ledger: Ledger,
    stop: StopSignal,
) -> WrittenPrompt:
    style = settings.prompt.style_prefix
    own = chapter_prompt(chapter, style)
    if own is not None:
        return WrittenPrompt(text=own, source="chapter")
    ctx = context_for(chapter, style, settings.prompt.narration_chars)
    if not writer.paid:
        return writer.write(ctx)
    estimate = writer_estimate(writer, template, prices, ctx)
    with ledger.hold(estimate, "prompt", what=f"prompt writing ({writer.name})") as hold:
        stop.check()
        try:
            written = writer.write(ctx, stopped=stop.stopping)
        except Stopped:
            raise NotStarted(stop.reason or "stopping") from None
        hold.settle(written.cost_usd, written.usage)
    return written
