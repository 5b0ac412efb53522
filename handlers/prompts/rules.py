"""The rule-based critic: free, deterministic, and honest about being a heuristic.

It looks for word cues (handlers/prompts/cues.py) of each dimension and takes points
off for each one missing; every finding comes with a concrete fix whose wording the
rule-based writer (handlers/prompts/rule_writer.py) applies as it is. It is the first
assessment of every prompt (a prompt scoring `refine.skip_above` needs no loop) and
the whole critic when no API key is present."""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import RefineWeights
from handlers.prompts import cues
from handlers.prompts.critic import DIMENSIONS, Critique, Fix, PromptBrief, overall

RULES = "rules"

LABELS = {
    "completeness": "Completeness",
    "specificity": "Specificity",
    "professionalism": "Professionalism",
    "cinematography": "Cinematography",
    "brand_alignment": "Brand alignment",
    "checks": "Checks",
    "judge": "Judge",
}


@dataclass(frozen=True)
class Remedy:
    """What the rule-based writer adds for a fix: a phrase (per visual type, "" for any
    other) and the sentence group it goes into."""

    group: str  # "subject", "scene", "framing", "light", "palette", "safety"
    phrases: dict[str, str]

    def phrase(self, visual_type: str) -> str:
        return self.phrases.get(visual_type, self.phrases[""])


def _any(group: str, phrase: str) -> Remedy:
    return Remedy(group, {"": phrase})


NO_TEXT = "no letters, numbers, labels or logos anywhere, simple icons only"
REMEDIES: dict[str, Remedy] = {
    "completeness.setting": Remedy(
        "scene",
        {
            "diagram": "on a plain light background",
            "b_roll": "in a believable everyday setting",
            "screen_share": "the phone resting on a plain desk surface",
            "": "in a simple, uncluttered setting",
        },
    ),
    "completeness.action": Remedy(
        "scene",
        {
            "diagram": "arrows show the flow from one step to the next",
            "b_roll": "people caught mid-action",
            "screen_share": "the main action button highlighted",
            "": "the subject caught mid-action",
        },
    ),
    "specificity.count": Remedy(
        "framing",
        {
            "diagram": "at most five simple elements",
            "b_roll": "one clear focal group in the foreground",
            "screen_share": "a single phone screen",
            "": "one clear main subject",
        },
    ),
    "cinematography.camera": Remedy(
        "framing",
        {
            "diagram": "straight-on front view",
            "b_roll": "eye-level wide shot",
            "screen_share": "three-quarter view of the device from slightly above",
            "": "eye-level medium shot",
        },
    ),
    "cinematography.composition": _any("framing", "main subject on the right two thirds"),
    "cinematography.overlay": _any(
        "framing", "clear negative space on the left third for a title overlay"
    ),
    "cinematography.aspect": _any("framing", "16:9 widescreen frame"),
    "cinematography.lighting": Remedy(
        "light",
        {
            "b_roll": "soft daylight from the upper left with gentle shadows",
            "screen_share": "soft, even studio light with a gentle device shadow",
            "": "soft, even light with gentle shadows",
        },
    ),
    "professionalism.text": _any("safety", NO_TEXT),
    "professionalism.brand": _any("safety", "no real brands or logos"),
    "professionalism.risk": _any("safety", "family-friendly and non-violent"),
    # Findings of candidates that all failed their checks, or that the judge marked down.
    "checks.not_blank": _any("framing", "a detailed main subject that fills the frame"),
    "checks.exposure": _any("light", "bright, evenly exposed, no pure black or blown-out areas"),
    "checks.sharpness": _any("light", "crisp outlines and fine detail"),
    "checks.framing": _any("framing", "the whole subject inside the frame with a margin around it"),
    "checks.text": _any("safety", NO_TEXT),
    "judge.clarity": _any("framing", "one clear subject and no clutter"),
    "judge.composition": _any(
        "framing", "clear negative space on the left third for a title overlay"
    ),
    "judge.text": _any("safety", NO_TEXT),
    "judge.artifacts": _any("light", "clean simple shapes with no distorted details"),
}


def remedy(code: str, brief: PromptBrief) -> Remedy | None:
    """The remedy of a fix code; the subject, palette and style come from the chapter."""
    if code in ("completeness.subject", "judge.matches_description"):
        return _any("subject", brief.description.strip().rstrip("."))
    if code in ("specificity.colour", "brand_alignment.palette"):
        names = [name for name, _ in brief.palette]
        colours = " and ".join(dict.fromkeys(names)) if names else "two or three muted"
        return _any("palette", f"{colours} accents on soft neutral tones")
    if code == "brand_alignment.style":
        return _any("style", brief.style_prefix.strip())
    return REMEDIES.get(code)


class RuleCritic:
    name = RULES
    model = "rules-1"
    label = RULES

    def __init__(self, weights: RefineWeights) -> None:
        self.weights = weights

    def assess(self, prompt: str, brief: PromptBrief) -> Critique:
        findings = _Findings(brief)
        _completeness(prompt, brief, findings)
        _specificity(prompt, findings)
        _professionalism(prompt, findings)
        _cinematography(prompt, findings)
        _brand(prompt, brief, findings)
        scores = {d: float(max(0, 100 - findings.penalty.get(d, 0))) for d in DIMENSIONS}
        return Critique(RULES, scores, overall(scores, self.weights), findings.fixes)


class _Findings:
    def __init__(self, brief: PromptBrief) -> None:
        self.brief = brief
        self.penalty: dict[str, int] = {}
        self.fixes: list[Fix] = []

    def add(self, code: str, points: int, instruction: str, applicable: bool = True) -> None:
        """A finding: `points` off its dimension, and a fix (with the code the rule-based
        writer applies, unless it is not `applicable` by rules)."""
        dimension = code.split(".", 1)[0]
        self.penalty[dimension] = self.penalty.get(dimension, 0) + points
        found = remedy(code, self.brief)
        example = found.phrase(self.brief.visual_type) if found else ""
        text = f"{LABELS[dimension]}: {instruction}"
        if example and code != "completeness.subject":
            text += f", e.g. “{example}”"
        self.fixes.append(Fix(dimension, text + ".", code if applicable else None))


def _completeness(prompt: str, brief: PromptBrief, found: _Findings) -> None:
    have = set(cues.words(prompt))
    wanted = [w for w in cues.words(brief.description) if len(w) >= 3]
    wanted = [w for w in wanted if w not in cues.STOP_WORDS]
    covered = sum(1 for w in wanted if w in have) / len(wanted) if wanted else 1.0
    body = cues.words(prompt.removeprefix(brief.style_prefix))
    if covered < 0.6:
        # A long prompt may say it in other words (an LLM writes English from a
        # Turkish description): the rules cannot tell, so they take fewer points and
        # leave the rule-based writer nothing to add.
        quoted = brief.description.strip()
        found.add(
            "completeness.subject",
            15 if len(body) >= 15 else 40,
            f"show what the chapter's visual description asks for: “{quoted}”",
            applicable=len(body) < 15,
        )
    folded = cues.fold(prompt)
    if not any(cues.is_setting(w) for w in have) and not cues.any_phrase(
        folded, cues.SETTING_PHRASES
    ):
        found.add("completeness.setting", 30, "say where the scene takes place")
    if not any(cues.is_action(w) for w in have):
        found.add("completeness.action", 30, "say what is happening in the image")


def _specificity(prompt: str, found: _Findings) -> None:
    tokens = cues.words(prompt)
    have = set(tokens)
    if not have & cues.COLOUR_WORDS:
        found.add("specificity.colour", 30, "name concrete colours")
    if not have & cues.COUNT_WORDS:
        found.add("specificity.count", 20, "say how many people or elements the image shows")
    vague = sorted(have & set(cues.VAGUE_WORDS))
    if vague:
        found.add(
            "specificity.vague",
            min(40, 10 * len(vague)),
            f"replace vague words ({', '.join(vague)}) with concrete ones",
        )
    if len(tokens) < 12:
        found.add(
            "specificity.short", 20, f"describe more: the prompt has only {len(tokens)} words"
        )


def _professionalism(prompt: str, found: _Findings) -> None:
    asked = sorted(set(cues.text_requests(prompt)))
    if asked:
        found.add(
            "professionalism.text",
            30,
            f"do not ask for written words ({', '.join(asked)}): image models draw text badly "
            "and the video adds its own",
        )
    have = set(cues.words(prompt))
    brands = sorted(have & set(cues.BRANDS))
    if brands:
        found.add(
            "professionalism.brand",
            30,
            f"replace the real brands ({', '.join(brands)}) with generic things",
        )
    risks = sorted(have & cues.RISK_WORDS)
    if risks:
        found.add(
            "professionalism.risk",
            40,
            f"remove {', '.join(risks)}: not fit for an educational video",
        )


def _cinematography(prompt: str, found: _Findings) -> None:
    have = set(cues.words(prompt))
    folded = cues.fold(prompt)
    if not have & cues.CAMERA_WORDS:
        found.add("cinematography.camera", 25, "name the camera angle and shot size")
    if not cues.has_lighting(prompt):
        found.add("cinematography.lighting", 25, "say what the light looks like")
    if not have & cues.COMPOSITION_WORDS:
        found.add("cinematography.composition", 20, "place the main subject in the frame")
    if not cues.any_phrase(folded, cues.OVERLAY_PHRASES):
        found.add("cinematography.overlay", 20, "leave empty space for the title overlay")
    if not cues.any_phrase(folded, cues.ASPECT_PHRASES):
        found.add("cinematography.aspect", 10, "ask for a 16:9 widescreen frame")


def _brand(prompt: str, brief: PromptBrief, found: _Findings) -> None:
    folded = cues.fold(prompt)
    style = cues.fold(brief.style_prefix.strip())
    if style and style not in folded:
        found.add("brand_alignment.style", 50, "start with the house style")
    if brief.palette:
        have = set(cues.words(prompt))
        named = any(name in have or cues.fold(code) in folded for name, code in brief.palette)
        if not named:
            names = ", ".join(dict.fromkeys(name for name, _ in brief.palette))
            found.add("brand_alignment.palette", 50, f"use the brand palette ({names})")
