"""Which chapters are refined, by which critic and writer, and what of it belongs in a
chapter's fingerprint (so a settings change applies at the chapter's next job).

Pure functions of the settings: the plan computes fingerprints before any client
exists, and must come to the same answer as the run that builds the critic."""

from __future__ import annotations

from typing import Any

from config.settings import Settings
from handlers.api.llm import keyed_llm
from handlers.episode.chapters import Chapter
from handlers.episode.routing import route_of, uses_writer
from handlers.hashing import sha256_json
from handlers.money.pricing import PriceTable
from handlers.prompts.critic import CRITIC_MODELS, RUBRIC, Critic, PromptBrief
from handlers.prompts.cues import colour_name
from handlers.prompts.rule_writer import RuleWriter
from handlers.prompts.rules import RuleCritic
from handlers.prompts.step import writer_estimate
from handlers.prompts.template import PromptTemplate
from handlers.prompts.writers import REVISE, PromptContext, PromptWriter

# The longest prompt a writer returns (handlers/prompts/llm.py MAX_PROMPT_CHARS, not
# imported: that would import the SDKs) and a generous length of a round's fixes.
_PROMPT_CHARS = 3500
_FIXES_CHARS = 2000


def refines(chapter: Chapter, settings: Settings) -> bool:
    """Written prompts are refined; a chapter's own image_prompt only when
    `refine.chapter_prompts` (by default the author's words stand)."""
    cfg = settings.refine
    if not cfg.enabled or route_of(chapter) != "generate":
        return False
    return uses_writer(chapter) or cfg.chapter_prompts


def critic_choice(settings: Settings) -> tuple[str, str]:
    """(provider, model): ("rules", "rules-1") with no key, else the LLM critic.
    `auto` takes Anthropic, else OpenAI, like the prompt writer and the judge."""
    cfg = settings.refine
    kind: str = cfg.critic
    if kind == "auto":
        if cfg.critic_model is not None:
            wanted = "anthropic" if cfg.critic_model.startswith("claude") else "openai"
            keyed = getattr(settings, wanted).api_key is not None
            kind = wanted if keyed else "rules"
        else:
            kind = keyed_llm(settings) or "rules"
    if kind == "rules":
        return "rules", RuleCritic.model
    return kind, cfg.critic_model or CRITIC_MODELS[kind]


def build_critic(settings: Settings, prices: PriceTable) -> Critic | None:
    """The LLM critic, or None when the rules are the critic."""
    kind, _ = critic_choice(settings)
    if kind == "rules":
        return None
    # Imported here: the SDKs take about a second to import (see handlers/run/services.py).
    from handlers.prompts.critic_llm import LLMCritic

    if kind == "anthropic":
        return LLMCritic("anthropic", settings, prices)
    return LLMCritic("openai", settings, prices)


def refine_facts(settings: Settings, writer: PromptWriter) -> dict[str, Any] | None:
    """What of the refinement changes a prompt, for the fingerprint; None when off."""
    cfg = settings.refine
    if not cfg.enabled:
        return None
    facts: dict[str, Any] = cfg.model_dump(exclude={"enabled", "chapter_prompts"})
    facts["critic"] = list(critic_choice(settings))
    facts["rubric"] = sha256_json(RUBRIC) if facts["critic"][0] != "rules" else None
    facts["rules"] = RuleCritic.model
    facts["writer"] = [writer.name, writer.model]
    facts["revise"] = sha256_json(REVISE) if writer.paid else RuleWriter.name
    facts["palette"] = list(palette(settings))
    return facts


def palette(settings: Settings) -> tuple[tuple[str, str], ...]:
    """The brand's colours, (name, hex) each: what brand alignment asks a prompt for."""
    brand = settings.brand
    codes = dict.fromkeys(c.upper() for c in (brand.title_card_color, brand.talking_head_color))
    return tuple((colour_name(code), code) for code in codes)


def brief_for(context: PromptContext, settings: Settings) -> PromptBrief:
    return PromptBrief(
        title=context.chapter_title,
        visual_type=context.visual_type,
        description=context.visual_description,
        style_prefix=settings.prompt.style_prefix,
        palette=palette(settings),
    )


def refine_estimate(
    context: PromptContext,
    settings: Settings,
    writer: PromptWriter,
    template: PromptTemplate,
    prices: PriceTable,
    critic: Critic | None,
) -> float:
    """The most one chapter's refinement can cost (the dry run): every round, and the
    one after failed checks, with a revision as long as a prompt can be and a critique
    asked twice (a malformed reply)."""
    rounds = settings.refine.max_rounds + 1
    per_round = 0.0
    if writer.paid:
        extra = prices.text_cost(
            writer.model or template.parts.model, (_PROMPT_CHARS + _FIXES_CHARS) // 3, 0
        )
        per_round += writer_estimate(writer, template, prices, context) + extra
    if critic is not None:
        per_round += 2 * critic.estimate(brief_for(context, settings), "x" * _PROMPT_CHARS)
    return rounds * per_round
