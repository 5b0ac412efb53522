"""Who plans the component sheet and the shots: the template planner (the catalogue of
components.py, the shots of shots.py; free) or an LLM (llm.py), asked for JSON that is
validated here by pydantic, exactly as the critic's and the judge's replies are. Which
one a run uses: handlers/run/storyboard_plan.py planner_for."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from handlers.episode.chapters import Chapter
from handlers.errors import ProviderError
from handlers.money.pricing import PriceTable
from handlers.prompts.writers import narration_context
from handlers.storyboard.model import Component, Components, ShotPlan
from handlers.storyboard.shots import CAMERA_MOVES, LENS, SHOT_SIZES

# Sonnet 4.6: 4.5 reaches its end of life on 2026-11-30 (the anthropic SDK warns).
PLANNER_MODELS = {"anthropic": "claude-sonnet-4-6", "openai": "gpt-4.1-mini"}
SHEET_MAX_TOKENS = 2000
SHOT_MAX_TOKENS = 700
NARRATION_CHARS = 600
# A reply that is not the JSON asked for is asked for once more, then the step fails.
PLANNER_TRIES = 2

SHEET_SYSTEM = """You plan the storyboard of an educational explainer video. List the
recurring characters, locations and props its chapters show, each with a short visual
description (at most 30 words: appearance, clothing, colours, materials) that an image
model can draw the same way in every shot. No real people, brands or logos; no text.
Keep every component of the previous sheet (when one is given) with its id, name and
description unchanged, unless no chapter shows it any more; add what is new.
Ids are lower-case words joined by hyphens. "chapters" lists the chapter_ids that show
the component.
Answer with JSON only, no prose around it:
{"characters": [{"id": "...", "name": "...", "description": "...", "chapters": ["ch01"]}],
"locations": [...], "props": [...]}"""

SHOT_SYSTEM = f"""You plan one shot of an educational explainer video: the clip shown
during one chapter's narration, from its first frame to its last. Describe the start
frame and the end frame as image prompts (plain English, concrete, no text, no brands,
at most 80 words each; the end frame is the same scene after the camera move), the
motion between them, the camera move, the shot size and the lens, and which of the
episode's components appear (their ids; their descriptions are added for you).
camera_movement is one of: {", ".join(CAMERA_MOVES)}.
shot_size is one of: {", ".join(SHOT_SIZES)}. lens is a focal length such as "35mm".
Answer with JSON only, no prose around it:
{{"start_prompt": "...", "end_prompt": "...", "motion_description": "...",
"camera_movement": "...", "shot_size": "...", "lens": "...", "components": ["id"]}}"""


class MalformedPlan(ProviderError):
    """A planner's reply that is not the JSON asked for."""


class ShotReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    start_prompt: str = Field(min_length=1, max_length=1200)
    end_prompt: str = Field(min_length=1, max_length=1200)
    motion_description: str = Field(min_length=1, max_length=600)
    camera_movement: Literal[CAMERA_MOVES]  # type: ignore[valid-type]
    shot_size: Literal[SHOT_SIZES]  # type: ignore[valid-type]
    lens: str = Field(pattern=LENS.pattern)
    components: list[str] = Field(default_factory=list, max_length=20)

    def plan(self) -> ShotPlan:
        return ShotPlan(**self.model_dump())


@dataclass(frozen=True)
class Ask:
    """One planner question: what it is (for logs and errors), and the messages."""

    what: str
    system: str
    user: str
    max_tokens: int


@dataclass
class Answer:
    text: str
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0


class Planner(Protocol):
    name: str
    model: str | None
    paid: bool

    def ask(self, question: Ask, stopped: Callable[[], bool] | None) -> Answer: ...
    def estimate(self, question: Ask) -> float: ...


class TemplatePlanner:
    """No questions asked: run/storyboarding.py uses components.py and shots.py."""

    name = "template"
    model: str | None = None
    paid = False

    def ask(self, question: Ask, stopped: Callable[[], bool] | None) -> Answer:
        raise AssertionError("the template planner is never asked")

    def estimate(self, question: Ask) -> float:
        return 0.0


def identity(planner: Planner) -> dict[str, Any]:
    """The planner as hashed into each step: changing it redoes the plans."""
    return {"planner": planner.name, "model": planner.model}


# -- questions ------------------------------------------------------------------------


def sheet_question(title: str, chapters: list[Chapter], previous: Components | None) -> Ask:
    lines = [f"Episode: {title}", ""]
    for ch in chapters:
        lines.append(f"chapter_id {ch.chapter_id}: {ch.title}")
        for visual in ch.visuals or [ch.main_visual]:
            lines.append(f"  visual ({visual.type}): {visual.description}")
        lines.append(f"  narration: {narration_context(ch.narration.text, NARRATION_CHARS)}")
    if previous is not None:
        sheet = previous.model_dump(mode="json")
        lines += ["", "The previous sheet (keep what still applies):", json.dumps(sheet)]
    return Ask("component sheet", SHEET_SYSTEM, "\n".join(lines), SHEET_MAX_TOKENS)


def shot_question(chapter: Chapter, components: list[tuple[str, Component]]) -> Ask:
    """The chapter and its components only (not its place in the episode: a chapter
    added before it must not change its shot)."""
    visual = chapter.main_visual
    lines = [
        f"Chapter {chapter.chapter_id}: {chapter.title}",
        f"Visual ({visual.type}): {visual.description}",
        f"Narration: {narration_context(chapter.narration.text, NARRATION_CHARS)}",
        "",
        "Components of the episode in this chapter:",
    ]
    lines += [f"- {c.id} ({kind}): {c.name}, {c.description}" for kind, c in components]
    if not components:
        lines.append("- (none)")
    return Ask(f"shot plan of {chapter.chapter_id}", SHOT_SYSTEM, "\n".join(lines), SHOT_MAX_TOKENS)


# -- answers --------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def parse(text: str, model: type[M]) -> M:
    """The JSON object in a reply (a fence or stray prose around it is forgiven),
    validated; MalformedPlan says what is wrong."""
    body = text.strip()
    if not body:
        raise MalformedPlan("an empty reply")
    fenced = re.search(r"```(?:json)?\s*(.*?)```", body, re.DOTALL)
    if fenced:
        body = fenced.group(1).strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise MalformedPlan("no JSON object in the reply")
    try:
        data = json.loads(body[start : end + 1])
    except json.JSONDecodeError as e:
        raise MalformedPlan(f"not JSON ({e.msg})") from None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(reply)"
        raise MalformedPlan(f"{where}: {first['msg']}") from None


def text_estimate(prices: PriceTable, model: str, question: Ask) -> float:
    """The most one question can cost: input at about 3 characters a token (generous
    for Turkish), output at its max_tokens."""
    tokens_in = (len(question.system) + len(question.user)) // 3 + 50
    return prices.text_cost(model, tokens_in, question.max_tokens)
