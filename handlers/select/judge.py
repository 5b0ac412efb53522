"""The vision judge: one call per candidate, a rubric of five criteria scored 1-10,
the reply JSON validated by pydantic. A malformed reply is asked for once more; after
that the candidate is ranked by its checks alone, and the manifest says so.

One call per candidate rather than one per chapter with all candidates: best-of-N
stops early only if each candidate is scored as soon as it exists, and an image not
made is worth far more (USD 0.03-0.25) than the rubric's text sent again (~700 input
tokens, about USD 0.002 at Claude Sonnet prices)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from config.settings import JudgeWeights
from handlers.api.llm import Reply, json_object

if TYPE_CHECKING:
    from PIL import Image

CRITERIA = ("matches_description", "clarity", "composition", "text", "artifacts")
# The image as the judge sees it: enough to judge composition and read labels, and
# about 800 image tokens on either API.
JUDGE_WIDTH = 1024
JPEG_QUALITY = 85
IMAGE_TOKENS = 1600  # generous: what one image costs in input tokens, for the hold
MAX_TOKENS = 400

RUBRIC = """You judge one candidate image for a chapter of an educational explainer video.
Score each criterion from 1 (bad) to 10 (excellent):
- matches_description: it shows what the chapter's visual description asks for.
- clarity: a viewer understands it at a glance; one clear subject, no clutter.
- composition: it works as a 16:9 video frame with room for a title overlay.
- text: any text is correct and legible; where no text belongs, there is none (10).
- artifacts: free of generation artifacts (warped hands or objects, smears, seams).
Answer with JSON only, no prose around it:
{"scores": {"matches_description": n, "clarity": n, "composition": n, "text": n,
"artifacts": n}, "rationale": "one sentence saying what decided the scores"}"""


class Scores(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    matches_description: int = Field(ge=1, le=10)
    clarity: int = Field(ge=1, le=10)
    composition: int = Field(ge=1, le=10)
    text: int = Field(ge=1, le=10)
    artifacts: int = Field(ge=1, le=10)


class JudgeReply(BaseModel):
    model_config = ConfigDict(extra="ignore")

    scores: Scores
    rationale: str = Field(min_length=1, max_length=2000)


@dataclass(frozen=True)
class Brief:
    """What the judge is told about the chapter."""

    title: str
    visual_type: str
    description: str
    expects_text: bool

    def message(self) -> str:
        text_rule = (
            "Labels or interface text may appear; they must be correct and legible."
            if self.expects_text
            else "No text should appear in the image."
        )
        return (
            f"Chapter: {self.title}\nVisual type: {self.visual_type}\n"
            f"Visual description: {self.description}\n{text_rule}"
        )


class Judge(Protocol):
    """A vision LLM behind one of the SDKs (handlers/select/vision.py)."""

    name: str
    model: str

    def estimate(self, brief: Brief) -> float:
        """The most one call can cost (input estimated generously, output at max)."""
        ...

    def ask(self, image_jpeg: bytes, brief: Brief, stopped: Callable[[], bool] | None) -> Reply: ...


class MalformedVerdict(ValueError):
    """The judge answered, but not with the JSON the rubric asks for."""


def parse_reply(text: str) -> JudgeReply:
    """The reply's JSON object, validated (a fence or stray prose around it is forgiven)."""
    try:
        data = json_object(text)
    except ValueError as e:
        raise MalformedVerdict(str(e)) from None
    try:
        return JudgeReply.model_validate(data)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MalformedVerdict(f"{where}: {first['msg']}") from None


def weighted_score(scores: Scores, weights: JudgeWeights) -> float:
    """0-100: the weighted mean of the 1-10 scores, scaled."""
    w: dict[str, float] = weights.model_dump()
    given: dict[str, int] = scores.model_dump()
    mean = sum(given[c] * w[c] for c in CRITERIA) / sum(w.values())
    return round(mean * 10.0, 1)


def judge_jpeg(image: Image.Image) -> bytes:
    from PIL import Image  # here: the judge's type is needed by runs that make no image

    if image.width > JUDGE_WIDTH:
        image = image.resize(
            (JUDGE_WIDTH, round(image.height * JUDGE_WIDTH / image.width)),
            Image.Resampling.BILINEAR,
        )
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def input_tokens(brief: Brief) -> int:
    return (len(RUBRIC) + len(brief.message())) // 3 + 50 + IMAGE_TOKENS
