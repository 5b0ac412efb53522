"""Scripted answers of imagegen's judge and critic LLM calls.

Both are callables ``fn(body, images) -> str`` (``images``: the generated images the
request showed, each a ``GeneratedRecord`` or None when not recognised), usable as
``fake.vision_reply = ...``, as ``fake.reply_text`` (called with the body only) or in a
rule as ``Ok(reply=...)``. The JSON rule form has them too::

    {"kind": "judge", "by_defect": {"blank": 10}, "default": 3}
    {"kind": "critic", "sequences": {"The harbour": [60, 75, 90]}}

Contracts (JSON text in the assistant's answer):

- judge: ``{"scores": {"matches_description", "clarity", "composition", "text",
  "artifacts"} (1-10), "rationale": "one sentence"}``
- critic: ``{"scores": {"completeness", "specificity", "professionalism",
  "cinematography", "brand_alignment"} (0-100), "feedback": ["concrete fix", ...]}``

A score given as an int applies to every criterion; a mapping sets some criteria and the
rest come from ``default``. ``malformed(kind, ...)`` gives the broken answers a robust
client must survive; queue them with ``JudgeScript.then(...)`` or answer them with
``Ok(text=malformed("fenced"))``.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from tests.fakeapi.registry import GeneratedRecord

JUDGE_KEYS = ("matches_description", "clarity", "composition", "text", "artifacts")
CRITIC_KEYS = (
    "completeness",
    "specificity",
    "professionalism",
    "cinematography",
    "brand_alignment",
)

Scores = int | Mapping[str, int]
MALFORMED_KINDS = ("not_json", "missing_keys", "fenced", "out_of_range", "truncated", "empty")


def scores(value: Scores, keys: Sequence[str], default: Scores) -> dict[str, int]:
    """Expand ``value`` (int, or a partial mapping over ``default``) to every key."""
    base = {key: default for key in keys} if isinstance(default, int) else dict(default)
    if isinstance(value, int):
        return {key: value for key in keys}
    unknown = set(value) - set(keys)
    if unknown:
        raise ValueError(f"unknown criteria {sorted(unknown)}; known: {', '.join(keys)}")
    merged = {key: int(base.get(key, 0)) for key in keys}
    merged.update({key: int(number) for key, number in value.items()})
    return merged


def judge_json(
    value: Scores, rationale: str = "Scripted by the fake judge.", default: Scores = 7
) -> str:
    return json.dumps({"scores": scores(value, JUDGE_KEYS, default), "rationale": rationale})


def critic_json(value: Scores, feedback: Sequence[str] = (), default: Scores = 80) -> str:
    return json.dumps({"scores": scores(value, CRITIC_KEYS, default), "feedback": list(feedback)})


def malformed(kind: str, contract: str = "judge") -> str:
    """A broken answer of the judge (or ``contract="critic"``) contract.

    ``not_json``: prose; ``missing_keys``: JSON without ``scores``' criteria and the second
    key; ``fenced``: valid JSON inside a ```json fence; ``out_of_range``: scores beyond the
    scale; ``truncated``: JSON cut off; ``empty``: an empty answer.
    """
    keys = JUDGE_KEYS if contract == "judge" else CRITIC_KEYS
    good = judge_json(6) if contract == "judge" else critic_json(70, ["Add a wide shot."])
    if kind == "not_json":
        return "I think this image is quite good overall, maybe a seven out of ten."
    if kind == "missing_keys":
        return json.dumps({"scores": {keys[0]: 5}})
    if kind == "fenced":
        return f"```json\n{good}\n```"
    if kind == "out_of_range":
        high = 11 if contract == "judge" else 140
        low = 0 if contract == "judge" else -5
        values = {key: (high if index % 2 == 0 else low) for index, key in enumerate(keys)}
        second = {"rationale": "Out of range."} if contract == "judge" else {"feedback": []}
        return json.dumps({"scores": values, **second})
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "empty":
        return ""
    raise ValueError(f"unknown malformed kind {kind!r}; known: {', '.join(MALFORMED_KINDS)}")


def _text_of(body: Any) -> str:
    """All text of a chat, messages or Gemini request body, joined."""
    found: list[str] = []

    def walk(value: object, key: str | None = None) -> None:
        if isinstance(value, str):
            if key in ("text", "content", "system", "prompt"):
                found.append(value)
        elif isinstance(value, dict):
            for name, item in value.items():
                if name not in ("image_url", "source", "inlineData", "inline_data"):
                    walk(item, name)
        elif isinstance(value, list):
            for item in value:
                walk(item, key)

    walk(body)
    return "\n".join(found)


class JudgeScript:
    """Judge answers by defect of the image shown.

    ``by_defect``: defect name ("blank", ...) -> scores; ``default``: scores of a good
    image; ``unknown``: scores when no image was recognised (default: ``default``).
    Per-call overrides: ``then(score_or_text, ...)`` answers the next calls in order
    (a str is sent as it is, e.g. ``malformed("not_json")``); ``for_image(id, scores)``
    scores one generated image. ``calls`` keeps (images, answer) of every call.
    """

    def __init__(
        self,
        by_defect: Mapping[str, Scores] | None = None,
        default: Scores = 7,
        *,
        unknown: Scores | None = None,
        rationale: str | None = None,
    ) -> None:
        self.by_defect = dict(by_defect or {})
        self.default = default
        self.unknown = unknown
        self.rationale = rationale
        self._queue: deque[Scores | str] = deque()
        self._by_image: dict[int, Scores] = {}
        self._lock = threading.Lock()
        self.calls: list[tuple[list[GeneratedRecord | None], str]] = []

    def then(self, *answers: Scores | str) -> JudgeScript:
        with self._lock:
            self._queue.extend(answers)
        return self

    def for_image(self, image: int | GeneratedRecord, value: Scores) -> JudgeScript:
        key = image if isinstance(image, int) else image.id
        with self._lock:
            self._by_image[key] = value
        return self

    def __call__(self, body: Any, images: Sequence[GeneratedRecord | None] = ()) -> str:
        shown = list(images)
        with self._lock:
            queued = self._queue.popleft() if self._queue else None
        if isinstance(queued, str):
            answer = queued
        else:
            answer = judge_json(
                queued if queued is not None else self._pick(shown),
                self.rationale or self._rationale(shown),
                self.default,
            )
        with self._lock:
            self.calls.append((shown, answer))
        return answer

    def _pick(self, shown: list[GeneratedRecord | None]) -> Scores:
        record = next((image for image in shown if image is not None), None)
        if record is None:
            return self.unknown if self.unknown is not None else self.default
        if record.id in self._by_image:
            return self._by_image[record.id]
        if record.defect is not None and record.defect in self.by_defect:
            return self.by_defect[record.defect]
        return self.default

    @staticmethod
    def _rationale(shown: list[GeneratedRecord | None]) -> str:
        record = next((image for image in shown if image is not None), None)
        if record is None:
            return "The image could not be matched to a generated one."
        what = record.defect or "no visible defect"
        return f"Image {record.id} ({what}) judged against its description."


class CriticScript:
    """Critic answers: a score sequence per prompt substring (e.g. a chapter title).

    ``sequences``: substring -> scores for its 1st, 2nd, ... critic call (the last
    repeats); a request matching no substring gets ``default``. ``feedback`` is sent while
    a score is under ``done_at`` (after that, no feedback).
    """

    def __init__(
        self,
        sequences: Mapping[str, Sequence[Scores]] | None = None,
        default: Scores = 80,
        *,
        feedback: Sequence[str] = (
            "Name the camera angle and the lens.",
            "Say what the light looks like and where it comes from.",
        ),
        done_at: int = 90,
    ) -> None:
        self.sequences = {key: list(values) for key, values in (sequences or {}).items()}
        for key, values in self.sequences.items():
            if not values:
                raise ValueError(f"critic sequence for {key!r} is empty")
        self.default = default
        self.feedback = list(feedback)
        self.done_at = done_at
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()
        self.calls: list[tuple[str | None, str]] = []

    def __call__(self, body: Any, images: Sequence[GeneratedRecord | None] = ()) -> str:
        text = _text_of(body)
        matched = next((key for key in self.sequences if key in text), None)
        with self._lock:
            if matched is None:
                value: Scores = self.default
            else:
                count = self._counts.get(matched, 0)
                self._counts[matched] = count + 1
                values = self.sequences[matched]
                value = values[min(count, len(values) - 1)]
        expanded = scores(value, CRITIC_KEYS, self.default)
        feedback = self.feedback if min(expanded.values()) < self.done_at else []
        answer = critic_json(expanded, feedback)
        with self._lock:
            self.calls.append((matched, answer))
        return answer

    def count(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)
