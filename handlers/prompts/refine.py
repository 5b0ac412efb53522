"""The writer + critic loop: a prompt gets better before any image is paid for.

    assess the original with the rules (free)  -> at least skip_above: used as it is
    round n: writer revises with the last fixes -> critic scores the new version
    stop at threshold, at no improvement (convergence), at max_rounds, when the
    ledger cannot hold the next call, when the critic's reply is malformed twice, or
    when a call fails: the best-scored version so far is the final prompt.

Scores are compared only when the same critic gave them: with an LLM critic the rules'
first assessment of the original is not on its scale, so round 1 is its first score.
Each paid call holds one API slot and its estimate in the ledger (kinds
"refine_writer" and "critic"), and leaves room for the chapter's first image: a better
prompt is worth nothing without an image. Every step goes to the trace
(handlers/prompts/trace.py) as it happens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from handlers.episode import layout
from handlers.errors import ProviderError
from handlers.money.journal import JOURNALED
from handlers.prompts.critic import (
    Critique,
    Fix,
    MalformedCritique,
    critique_from_reply,
    parse_reply,
)
from handlers.prompts.refine_job import LoopStop, RefineJob, paid_call
from handlers.prompts.rule_writer import RuleWriter
from handlers.prompts.rules import RULES
from handlers.prompts.trace import SCHEMA, now_ms
from handlers.prompts.writers import WrittenPrompt

# A round must add at least this many points over the best so far, or the loop has
# converged (critics wobble by a point or two on the same prompt).
MIN_GAIN = 1.0
# A malformed critic reply is asked for once more, then the loop stops.
CRITIC_TRIES = 2
MAX_REPLY_CHARS = 4000


@dataclass
class _Version:
    text: str
    round: int
    score: float | None  # None: a version no critic could score
    critic: str


@dataclass
class _Step:
    """One round's outcome: the new version and its critique, or why the loop stops."""

    text: str = ""
    critique: Critique | None = None
    stop: str | None = None
    detail: str = ""


@dataclass
class Refinement:
    """One chapter's refinement: run() the loop, after_failed_checks() at most once."""

    job: RefineJob
    original: WrittenPrompt
    cost_usd: float = 0.0
    usage: dict[str, dict[str, int]] = field(default_factory=dict)
    trace: dict[str, Any] = field(default_factory=dict)
    best: _Version | None = None
    _number: int = 0  # the last numbered trace file
    _round: int = 0

    @property
    def critic_label(self) -> str:
        return self.job.critic.label if self.job.critic is not None else RULES

    @property
    def final(self) -> str:
        return self.best.text if self.best is not None else self.original.text

    def run(self) -> None:
        job = self.job
        cfg = job.settings
        job.files.start()
        job.files.write_text(layout.TRACE_ORIGINAL, self.original.text)
        first = job.rules.assess(self.original.text, job.brief)
        self.trace = {
            "schema": SCHEMA,
            **job.facts,
            "started_at": now_ms(),
            "settings": cfg.model_dump(),
            "writer": job.writer.label,
            "critic": self.critic_label,
            "critic_note": _critic_note(self.critic_label),
            "original": {"file": layout.TRACE_ORIGINAL, "source": self.original.source},
            "assessment": _critique_record(first),
            "rounds": [],
            # Its calls' spend is in the episode's spend journal: recovered after a
            # kill, the trace is not counted again (Ledger.add_recovered).
            JOURNALED: job.ledger.journals,
        }
        self.best = _Version(self.original.text, 0, first.overall, RULES)
        if first.overall >= cfg.skip_above:
            self._finish(
                "skipped",
                f"the first rule-based assessment scored {first.overall:g}, at or above "
                f"skip_above {cfg.skip_above:g}: no round needed",
            )
            return
        comparable = first.overall if self.job.critic is None else None
        current, fixes = self.original.text, first.fixes
        for _ in range(cfg.max_rounds):
            step = self._one_round(current, fixes, "refine")
            if step.stop is not None:
                self._finish(step.stop, step.detail)
                return
            assert step.critique is not None
            n, score = self._round, step.critique.overall
            if score >= cfg.threshold:
                self._finish(
                    "threshold", f"round {n} scored {score:g}, at or above {cfg.threshold:g}"
                )
                return
            if comparable is not None and score < comparable + MIN_GAIN:
                self._finish(
                    "converged",
                    f"round {n} scored {score:g}, no better than {comparable:g} before it",
                )
                return
            comparable = score if comparable is None else max(comparable, score)
            current, fixes = step.text, step.critique.fixes
        self._finish(
            "max_rounds", f"{cfg.max_rounds} rounds made; the best scored {self.best_score():g}"
        )

    def after_failed_checks(self, findings: list[Fix]) -> bool:
        """One more round after every candidate failed its checks: the findings are the
        fixes, and the writer's new version is used whatever the critic says of it (the
        old one demonstrably made failing images). False when no new version came."""
        if not self.trace:
            return False
        job = self.job
        self._number += 1
        job.files.write_json(
            layout.trace_step_name(self._number, "findings", self._round + 1),
            {"findings": [f.text for f in findings]},
        )
        step = self._one_round(self.final, findings, "after_failed_checks")
        changed = bool(step.text) and step.text != self.final
        if changed:
            score = step.critique.overall if step.critique else None
            self.best = _Version(step.text, self._round, score, self.critic_label)
        self.trace["after_failed_checks"] = {
            "round": self._round,
            "findings": [f.text for f in findings],
            "new_prompt": changed,
            "stop_reason": step.stop,
            "detail": step.detail or None,
        }
        self._write_index()
        return changed

    def best_score(self) -> float:
        return self.best.score if self.best is not None and self.best.score is not None else 0.0

    def summary(self) -> dict[str, Any]:
        """The manifest entry's `prompt_refinement`."""
        best = self.best
        return {
            "trace": self.job.files.index_relative,
            "writer": self.job.writer.label,
            "critic": self.critic_label,
            "rounds": self._round,
            "first_score": self.trace.get("assessment", {}).get("overall"),
            "score": best.score if best else None,
            "scored_by": best.critic if best else None,
            "final_round": best.round if best else 0,
            "stop_reason": self.trace.get("stop_reason"),
            "cost_usd": round(self.cost_usd, 6),
        }

    # -- one round ---------------------------------------------------------------------

    def _one_round(self, current: str, fixes: list[Fix], kind: str) -> _Step:
        job = self.job
        if job.stop.stopping():
            return _Step(stop="stopping", detail=job.stop.reason or "imagegen is stopping")
        self._round += 1
        n = self._round
        record: dict[str, Any] = {"round": n, "kind": kind, "feedback": [f.text for f in fixes]}
        self.trace["rounds"].append(record)
        step = self._write(current, fixes, record)
        if step.stop is not None:
            return step
        if step.text == current:
            detail = f"round {n}: the writer changed nothing"
            return _Step(step.text, stop="converged", detail=detail)
        critique = self._critique(step.text, record)
        if isinstance(critique, _Step):
            critique.text = step.text
            return critique
        best = self.best
        if (
            best is None
            or best.score is None
            or best.critic != critique.critic
            or critique.overall > best.score
        ):
            self.best = _Version(step.text, n, critique.overall, critique.critic)
        return _Step(step.text, critique)

    def _write(self, current: str, fixes: list[Fix], record: dict[str, Any]) -> _Step:
        job = self.job
        n = self._round
        started = now_ms()
        writer = job.writer
        if isinstance(writer, RuleWriter):
            text = writer.revise(current, job.brief, fixes)
            usage: dict[str, int] = {}
            cost = 0.0
        else:
            feedback = [f.text for f in fixes]
            estimate = writer.revise_estimate(job.context, current, feedback)
            what = f"refinement round {n} (writer)"
            try:
                with paid_call(job, estimate, "refine_writer", what) as hold:
                    written = writer.revise(job.context, current, feedback, job.stop.stopping)
                    hold.settle(written.cost_usd, written.usage)
            except LoopStop as e:
                record["writer"] = {"error": e.detail, "started_at": started}
                return _Step(stop=e.reason, detail=e.detail)
            except ProviderError as e:
                record["writer"] = {"error": str(e), "started_at": started}
                return _Step(stop="writer_failed", detail=f"round {n}: the writer failed: {e}")
            text, usage, cost = written.text, written.usage, written.cost_usd
            self._spent("refine_writer", cost, usage)
        self._number += 1
        name = layout.trace_step_name(self._number, "writer", n)
        job.files.write_text(name, text)
        record["writer"] = {
            "file": name,
            "by": writer.label,
            "started_at": started,
            "finished_at": now_ms(),
            "usage": usage,
            "cost_usd": round(cost, 6),
        }
        return _Step(text)

    def _critique(self, text: str, record: dict[str, Any]) -> Critique | _Step:
        job = self.job
        n = self._round
        started = now_ms()
        self._number += 1
        name = layout.trace_step_name(self._number, "critic", n)
        entry: dict[str, Any] = {"file": name, "by": self.critic_label, "started_at": started}
        critic = job.critic
        if critic is None:
            critique = job.rules.assess(text, job.brief)
            entry.update(_critique_record(critique), finished_at=now_ms())
            return self._critic_done(name, entry, record, critique)
        replies: list[str] = []
        problems: list[str] = []
        usage: dict[str, int] = {}
        cost = 0.0
        outcome: Critique | _Step | None = None
        for _ in range(CRITIC_TRIES):
            estimate = critic.estimate(job.brief, text)
            try:
                with paid_call(job, estimate, "critic", f"refinement round {n} (critic)") as hold:
                    answer = critic.ask(job.brief, text, job.stop.stopping)
                    hold.settle(answer.cost_usd, answer.usage)
            except LoopStop as e:
                outcome = _Step(stop=e.reason, detail=e.detail)
                break
            except ProviderError as e:
                outcome = _Step(stop="critic_failed", detail=f"round {n}: the critic failed: {e}")
                break
            self._spent("critic", answer.cost_usd, answer.usage)
            cost += answer.cost_usd
            for key, value in answer.usage.items():
                usage[key] = usage.get(key, 0) + value
            replies.append(answer.text[:MAX_REPLY_CHARS])
            try:
                reply = parse_reply(answer.text)
            except MalformedCritique as e:
                problems.append(str(e))
                continue
            outcome = critique_from_reply(critic.label, reply, job.settings.weights)
            break
        if outcome is None:
            outcome = _Step(
                stop="critic_malformed",
                detail=f"round {n}: the critic's reply was malformed {len(problems)} times "
                f"({'; '.join(problems)}); the best prompt so far is used",
            )
        entry.update(attempts=len(replies), replies=replies, usage=usage, cost_usd=round(cost, 6))
        if problems:
            entry["malformed"] = problems
        entry["finished_at"] = now_ms()
        if isinstance(outcome, _Step):
            entry["error"] = outcome.detail
            if replies:  # a reply came (a malformed one): it is kept for a person to read
                job.files.write_json(name, entry)
            else:
                self._number -= 1  # no call was made: no file
                entry.pop("file")
            record["critic"] = entry
            return outcome
        entry.update(_critique_record(outcome))
        return self._critic_done(name, entry, record, outcome)

    def _critic_done(
        self, name: str, entry: dict[str, Any], record: dict[str, Any], critique: Critique
    ) -> Critique:
        self.job.files.write_json(name, entry)
        record["critic"] = entry
        return critique

    # -- money and the end -------------------------------------------------------------

    def _spent(self, kind: str, cost: float, usage: dict[str, int]) -> None:
        self.cost_usd += cost
        into = self.usage.setdefault(kind, {})
        for key, value in usage.items():
            into[key] = into.get(key, 0) + value

    def _finish(self, reason: str, detail: str) -> None:
        self.trace["stop_reason"] = reason
        self.trace["stop_detail"] = detail
        self._write_index()

    def _write_index(self) -> None:
        files = self.job.files
        best = self.best
        files.write_text(layout.TRACE_FINAL, self.final)
        self.trace.update(
            finished_at=now_ms(),
            final={
                "file": layout.TRACE_FINAL,
                "round": best.round if best else 0,
                "score": best.score if best else None,
                "scored_by": best.critic if best else None,
            },
            tokens=self.usage,
            cost_usd=round(self.cost_usd, 6),
        )
        files.write_json(layout.TRACE_INDEX, self.trace)


def _critique_record(critique: Critique) -> dict[str, Any]:
    return {
        "critic": critique.critic,
        "scores": critique.scores,
        "overall": critique.overall,
        "feedback": critique.feedback,
    }


def _critic_note(label: str) -> str:
    if label == RULES:
        return "rule-based critic: word cues per dimension (a heuristic, no LLM, free)"
    return f"LLM critic {label}; the first assessment of the original is rule-based"
