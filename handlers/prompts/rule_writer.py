"""The rule-based writer: applies the rule-based critic's fixes (and fixes coded from
failed checks) to a prompt, deterministically and for free. It is the refinement
writer when prompts come from the template writer (no API key).

What it adds goes in as a few plain sentences after the visual description and before
the template's `Topic:` / `Context:` parts (at the end when there are none), so the
image model reads the visual direction first. It never rewrites the chapter's own words
beyond dropping vague English adjectives and replacing real brand names."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from handlers.prompts import cues
from handlers.prompts.critic import Fix, PromptBrief
from handlers.prompts.rules import RULES, RuleCritic, remedy

# The order of the phrases inside a sentence: camera first, then what is in the frame.
_ORDER = (
    "completeness.setting",
    "completeness.action",
    "cinematography.camera",
    "specificity.count",
    "checks.not_blank",
    "judge.clarity",
    "cinematography.composition",
    "cinematography.overlay",
    "judge.composition",
    "checks.framing",
    "cinematography.aspect",
)
_GROUPS = ("scene", "framing", "light")
_SECOND_PART = re.compile(r"\s(?=(?:Topic|Context):)")


class RuleWriter:
    name = RULES
    model: str | None = None
    paid = False
    label = RULES

    def __init__(self, critic: RuleCritic) -> None:
        self.critic = critic

    def revise(self, prompt: str, brief: PromptBrief, feedback: Iterable[Fix]) -> str:
        """The prompt with the rules' own fixes and every coded fix in `feedback`."""
        fixes = [*self.critic.assess(prompt, brief).fixes, *feedback]
        codes = list(dict.fromkeys(f.code for f in fixes if f.code))
        text = prompt
        if "specificity.vague" in codes:
            text = _replace_words(text, cues.VAGUE_WORDS)
        if "professionalism.brand" in codes:
            text = _replace_words(text, cues.BRANDS)
        if "brand_alignment.style" in codes and brief.style_prefix.strip():
            text = brief.style_prefix + text
        groups: dict[str, list[str]] = {}
        known = cues.fold(text)
        for code in sorted(codes, key=lambda c: _ORDER.index(c) if c in _ORDER else len(_ORDER)):
            found = remedy(code, brief)
            if found is None or found.group == "style":
                continue
            phrase = found.phrase(brief.visual_type)
            bucket = groups.setdefault(found.group, [])
            if phrase and phrase not in bucket and cues.fold(phrase) not in known:
                bucket.append(phrase)
        sentences = [f"Subject: {s}." for s in groups.get("subject", [])]
        sentences += [_sentence(groups[g]) for g in _GROUPS if groups.get(g)]
        if groups.get("palette"):
            sentences.append(f"Palette: {', '.join(groups['palette'])}.")
        if groups.get("safety"):
            sentences.append(_sentence(groups["safety"]))
        return _insert(text, " ".join(sentences))


def _sentence(phrases: list[str]) -> str:
    joined = ", ".join(phrases)
    return joined[:1].upper() + joined[1:] + "."


def _insert(text: str, addition: str) -> str:
    """`addition` after the visual part of the prompt, before `Topic:`/`Context:`."""
    if not addition:
        return text
    text = text.strip()
    match = _SECOND_PART.search(text)
    head, tail = (text[: match.start()], text[match.end() :]) if match else (text, "")
    head = head.rstrip()
    if head and head[-1] not in ".!?…":
        head += "."
    return " ".join(part for part in (head, addition, tail) if part)


def _replace_words(text: str, mapping: Mapping[str, str]) -> str:
    """Each listed English word replaced ("" drops it), fixing the a/an before it and
    the capital letter of a sentence it began."""
    pattern = re.compile(
        r"(?<![\w'-])(?:(an?|An?)\s+)?(" + "|".join(re.escape(w) for w in mapping) + r")(?![\w'-])",
        re.IGNORECASE,
    )
    out: list[str] = []
    starts: list[int] = []  # where a sentence now begins with a lower-case letter
    pos = 0
    for m in pattern.finditer(text):
        out.append(text[pos : m.start()])
        article, word = m.group(1), m.group(2)
        new = mapping[word.lower()]
        after = new or text[m.end() :].lstrip()
        if article:
            chosen = "an" if after[:1].lower() in "aeiou" else "a"
            out.append((chosen.capitalize() if article[0].isupper() else chosen) + " ")
        elif text[: m.start()].rstrip()[-1:] in ("", ".", "!", "?"):
            starts.append(sum(map(len, out)))
        out.append(new)
        pos = m.end()
    out.append(text[pos:])
    joined = "".join(out)
    for at in starts:
        rest = joined[at:].lstrip(" ,")
        at = len(joined) - len(rest)
        if rest[:1].isascii() and rest[:1].islower():
            joined = joined[:at] + rest[0].upper() + joined[at + 1 :]
    return _tidy(joined)


_TIDY = [
    (re.compile(r"[ \t]+"), " "),
    (re.compile(r"\s+([,.;:!?])"), r"\1"),
    (re.compile(r",(\s*,)+"), ","),
    (re.compile(r",\s*\."), "."),
    (re.compile(r"(^|[.!?]\s)[ ,]+"), r"\1"),
]


def _tidy(text: str) -> str:
    for pattern, replacement in _TIDY:
        text = pattern.sub(replacement, text)
    return text.strip()
