"""Prompt writers: who turns a chapter into an image prompt.

A chapter's own `visual.image_prompt` wins (style prefix prepended, no writer call).
Otherwise a writer composes one: the template writer here (deterministic, free) or
an LLM writer (handlers/prompts/llm.py), which can also revise a prompt with a critic's
fixes (handlers/prompts/refine.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from handlers.episode.chapters import Chapter
from handlers.prompts.template import PromptTemplate

_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_DOUBLE_STOP = re.compile(r"([!?…])\.(?=\s|$)")

# A revision: the chapter as for the first prompt, the current prompt and the fixes.
REVISE = """{chapter}

The current prompt (the house style is added in front of it):
{prompt}

A reviewer asks for these fixes:
{fixes}

Rewrite the prompt with every fix applied and keep what already works. Answer with the
new prompt only."""


@dataclass(frozen=True)
class PromptContext:
    chapter_id: str
    chapter_title: str
    visual_type: str
    visual_description: str
    narration_context: str
    style_prefix: str

    def values(self, template: PromptTemplate) -> dict[str, str]:
        return {
            "chapter_title": self.chapter_title,
            "visual_type": self.visual_type,
            "visual_guidance": template.parts.guidance.get(self.visual_type, "an illustration"),
            "visual_description": self.visual_description,
            "narration_context": self.narration_context,
            "style_prefix": self.style_prefix,
        }


@dataclass
class WrittenPrompt:
    text: str
    source: str
    model: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0


class PromptWriter(Protocol):
    name: str
    model: str | None
    paid: bool

    def write(
        self, ctx: PromptContext, stopped: Callable[[], bool] | None = None
    ) -> WrittenPrompt: ...


class TemplateWriter:
    """Composes the prompt from the template's `# Prompt` section: no LLM, no cost."""

    name = "template"
    model: str | None = None
    paid = False

    def __init__(self, template: PromptTemplate) -> None:
        self.template = template

    def write(self, ctx: PromptContext, stopped: Callable[[], bool] | None = None) -> WrittenPrompt:
        text = self.template.render(self.template.parts.prompt, ctx.values(self.template))
        # A title that ends in "?" or "!" must not read "nedir?." once the template's
        # own full stop follows it.
        text = _DOUBLE_STOP.sub(r"\1", " ".join(text.split()))
        return WrittenPrompt(text=text, source="writer:template")


def context_for(chapter: Chapter, style_prefix: str, narration_chars: int) -> PromptContext:
    visual = chapter.main_visual
    return PromptContext(
        chapter_id=chapter.chapter_id,
        chapter_title=chapter.title.strip(),
        visual_type=visual.type,
        visual_description=visual.description.strip(),
        narration_context=narration_context(chapter.narration.text, narration_chars),
        style_prefix=style_prefix,
    )


def narration_context(text: str, limit: int) -> str:
    """The narration cut to whole sentences within `limit` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    kept = ""
    for sentence in _SENTENCE_END.split(text):
        candidate = f"{kept} {sentence}".strip()
        if len(candidate) > limit:
            break
        kept = candidate
    return kept or text[:limit].rstrip() + "…"


def chapter_prompt(chapter: Chapter, style_prefix: str) -> str | None:
    """The chapter's own prompt with the house style, or None when a writer is needed."""
    own = chapter.main_visual.image_prompt
    if own is None or not own.strip():
        return None
    return style_prefix + " ".join(own.split())
