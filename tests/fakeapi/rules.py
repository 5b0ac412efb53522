"""Fault rules: which requests get which scripted answers.

Requests arrive from several threads in no fixed order, so a rule is targeted by content
(``match``) and consumes its responses one per matching request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.fakeapi import wire
from tests.fakeapi.responses import Spec, spec_from_json

Matcher = Callable[[dict[str, Any]], bool] | str | None


@dataclass
class Rule:
    endpoint: str
    responses: list[Spec]
    match: Matcher = None
    repeat: bool = False
    hits: int = 0

    @property
    def finished(self) -> bool:
        return not self.repeat and self.hits >= len(self.responses)

    def matches(self, body: dict[str, Any]) -> bool:
        if self.match is None:
            return True
        if isinstance(self.match, str):
            return self.match in wire.request_text(self.endpoint, body)
        return bool(self.match(body))

    def take(self) -> Spec:
        spec = self.responses[min(self.hits, len(self.responses) - 1)]
        self.hits += 1
        return spec


@dataclass
class RuleBook:
    """Rules in insertion order; the first live matching rule answers."""

    _rules: list[Rule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(
        self,
        endpoint: str,
        responses: Sequence[Spec],
        match: Matcher = None,
        repeat: bool = False,
    ) -> Rule:
        if endpoint not in wire.ENDPOINTS:
            raise ValueError(f"endpoint must be one of {wire.ENDPOINTS}, not {endpoint!r}")
        if not responses:
            raise ValueError("a rule needs at least one response")
        for spec in responses:
            if not isinstance(spec, Spec):
                raise TypeError(f"not a response spec: {spec!r}")
            if endpoint not in spec.endpoints:
                raise ValueError(f"{spec.kind} makes no sense for the {endpoint} endpoint")
        rule = Rule(endpoint, list(responses), match, repeat)
        with self._lock:
            self._rules.append(rule)
        return rule

    def pick(self, endpoint: str, body: dict[str, Any]) -> Spec | None:
        """The spec for this request, consuming it; None means "answer the default"."""
        # One lock around match-and-take so two threads cannot both take a rule's last spec.
        with self._lock:
            for rule in self._rules:
                if rule.endpoint == endpoint and not rule.finished and rule.matches(body):
                    return rule.take()
        return None

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def snapshot(self) -> list[Rule]:
        with self._lock:
            return list(self._rules)


def rule_args_from_json(data: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON form of a rule -> keyword arguments of ``FakeAPI.add_rule``."""
    match = data.get("match")
    if match is not None and not isinstance(match, str):
        raise ValueError("a JSON rule's match must be a substring (or null)")
    responses = data.get("responses")
    if not isinstance(responses, list):
        raise ValueError("a JSON rule needs a list of responses")
    return {
        "endpoint": data.get("endpoint"),
        "responses": [spec_from_json(item) for item in responses],
        "match": match,
        "repeat": bool(data.get("repeat", False)),
    }
