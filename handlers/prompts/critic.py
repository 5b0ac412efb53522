"""The critic's contract: five dimensions scored 0-100, an overall score as their
weighted mean, and a list of concrete fixes.

An LLM critic (handlers/prompts/critic_llm.py) answers JSON that is validated here by
pydantic; the rule-based critic (handlers/prompts/rules.py) fills the same shape
without any call. What the critic is told about the chapter is a `PromptBrief`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.settings import RefineWeights
from handlers.api.llm import Reply, json_object

DIMENSIONS = (
    "completeness",
    "specificity",
    "professionalism",
    "cinematography",
    "brand_alignment",
)
# The critic's model when `refine.critic_model` is unset: scoring a prompt against a
# rubric is easy work, so the cheap models of each provider.
CRITIC_MODELS = {"anthropic": "claude-haiku-4-5", "openai": "gpt-4.1-mini"}
MAX_FIXES = 8
MAX_FIX_CHARS = 400
# A critic's reply is a short JSON object: 5 scores and a few one-sentence fixes.
CRITIC_MAX_TOKENS = 300

RUBRIC = """You review prompts for an image-generation model. Each prompt makes one still
image shown full-screen behind the narration of one chapter of an educational video.
The video adds its own titles and captions, so the image must contain no written words.

Score the prompt from 0 (bad) to 100 (excellent) on each dimension:
- completeness: the subject, the setting and the action of the chapter's visual
  description are all in the prompt.
- specificity: concrete nouns, counts and colours; no vague words such as beautiful,
  various or something.
- professionalism: fit for an educational video; no real brands, logos, celebrities,
  violence or other policy risks; no request for written text.
- cinematography: composition, camera angle and shot size, lighting, and a 16:9 frame
  with empty space for a title overlay.
- brand_alignment: follows the house style and uses the brand palette given below.

Then list concrete fixes, each one sentence the writer can apply (at most 6; an empty
list when the prompt needs nothing).
Answer with JSON only, no prose around it:
{"scores": {"completeness": n, "specificity": n, "professionalism": n,
"cinematography": n, "brand_alignment": n}, "feedback": ["fix", ...]}"""


class CriticScores(BaseModel):
    # strict: "85" or true is not a score; a reply that sends them is malformed.
    model_config = ConfigDict(extra="ignore", strict=True)

    completeness: float = Field(ge=0, le=100)
    specificity: float = Field(ge=0, le=100)
    professionalism: float = Field(ge=0, le=100)
    cinematography: float = Field(ge=0, le=100)
    brand_alignment: float = Field(ge=0, le=100)


class CriticReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    scores: CriticScores
    feedback: list[str] = Field(max_length=20)


class MalformedCritique(ValueError):
    """The critic answered, but not with the JSON its rubric asks for."""


@dataclass(frozen=True)
class Fix:
    """One concrete fix. `code` names a fix the rule-based writer knows how to apply
    (an LLM critic's fixes have none: only an LLM writer can apply free text)."""

    dimension: str
    text: str
    code: str | None = None


@dataclass
class Critique:
    """One critic verdict on one prompt version."""

    critic: str  # "rules", or "anthropic:claude-haiku-4-5"
    scores: dict[str, float]
    overall: float
    fixes: list[Fix] = field(default_factory=list)

    @property
    def feedback(self) -> list[str]:
        return [f.text for f in self.fixes]


@dataclass(frozen=True)
class PromptBrief:
    """What the critic (and a reviser) is told about the chapter."""

    title: str
    visual_type: str
    description: str
    style_prefix: str
    palette: tuple[tuple[str, str], ...]  # (colour name, "#RRGGBB"), the brand's colours

    def palette_text(self) -> str:
        return ", ".join(f"{name} ({hex_code})" for name, hex_code in self.palette) or "none"

    def message(self, prompt: str) -> str:
        return (
            "Critique this image prompt.\n"
            f"Chapter title: {self.title}\n"
            f"Visual type: {self.visual_type}\n"
            f"What the image should show: {self.description}\n"
            f"House style: {self.style_prefix.strip() or 'none'}\n"
            f"Brand palette: {self.palette_text()}\n\n"
            f"Prompt:\n{prompt}"
        )


class Critic(Protocol):
    """An LLM critic behind one of the SDKs (handlers/prompts/critic_llm.py)."""

    name: str
    model: str

    @property
    def label(self) -> str:
        """ "anthropic:claude-haiku-4-5": who scored, as traces and manifests say it."""
        ...

    def estimate(self, brief: PromptBrief, prompt: str) -> float:
        """The most one call can cost (input estimated generously, output at max)."""
        ...

    def ask(self, brief: PromptBrief, prompt: str, stopped: Callable[[], bool] | None) -> Reply:
        """One call; the reply's text unparsed (`parse_reply` tells a malformed one)."""
        ...


def parse_reply(text: str) -> CriticReply:
    """The reply's JSON object, validated (a fence or stray prose around it is forgiven)."""
    try:
        data = json_object(text)
    except ValueError as e:
        raise MalformedCritique(str(e)) from None
    try:
        return CriticReply.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MalformedCritique(f"{where}: {first['msg']}") from None


def overall(scores: dict[str, float], weights: RefineWeights) -> float:
    """0-100: the weighted mean of the dimension scores."""
    w: dict[str, float] = weights.model_dump()
    return round(sum(scores[d] * w[d] for d in DIMENSIONS) / sum(w.values()), 1)


def critique_from_reply(critic: str, reply: CriticReply, weights: RefineWeights) -> Critique:
    scores = {d: round(float(v), 1) for d, v in reply.scores.model_dump().items()}
    fixes = [
        Fix("", " ".join(text.split())[:MAX_FIX_CHARS])
        for text in reply.feedback[:MAX_FIXES]
        if text.strip()
    ]
    return Critique(critic, scores, overall(scores, weights), fixes)


def input_tokens(brief: PromptBrief, prompt: str) -> int:
    """Generous: about 3 characters a token (Turkish runs denser than English)."""
    return (len(RUBRIC) + len(brief.message(prompt))) // 3 + 50
