"""Choose a chapter's image among its candidates, with a sentence a person can read.

Only a candidate that passed every check can be chosen. Among those, a judged one wins
over one the judge could not score (a judge that failed must not be an advantage),
then the highest total (the earlier one on a tie: it was paid for first)."""

from __future__ import annotations

from handlers.outputs.manifest import Candidate, Selection


def total(checks_score: float, judge_score: float | None, checks_weight: float) -> float:
    """The candidate's total, 0-100: the judge's score blended with the checks' score,
    or the checks' score alone when no judge scored it."""
    if judge_score is None:
        return round(checks_score, 1)
    return round(judge_score * (1.0 - checks_weight) + checks_score * checks_weight, 1)


def choose(candidates: list[Candidate]) -> tuple[Candidate, Selection] | None:
    passing = [c for c in candidates if c.passed]
    if not passing:
        return None
    best = max(passing, key=lambda c: (c.judge_score is not None, c.total, -candidates.index(c)))
    method = "judge" if best.judge_score is not None else "checks"
    return best, Selection(method=method, why=explain(best, candidates))


def explain(best: Candidate, candidates: list[Candidate]) -> str:
    others = [c for c in candidates if c is not best]
    basis = (
        f"judge {best.judge_score:.0f}/100 ({best.rationale.rstrip('.')})"
        if best.judge_score is not None and best.rationale
        else f"checks {best.checks_score:.0f}/100"
    )
    parts = [f"{best.id} scored {best.total:.0f}, {basis}"]
    failed = [f"{c.id} failed {', '.join(c.failures())}" for c in others if not c.passed]
    # "unjudged" only matters beside a judged winner: it says why a higher checks
    # score lost.
    judged = best.judge_score is not None
    beaten = [
        f"{c.id} {c.total:.0f}" + (" unjudged" if judged and c.judge_score is None else "")
        for c in others
        if c.passed
    ]
    if beaten:
        parts.append("ahead of " + ", ".join(beaten))
    if failed:
        parts.append("; ".join(failed))
    if not others:
        parts.append("the only candidate")
    return "; ".join(parts) + "."


def all_failed(candidates: list[Candidate]) -> str:
    """Why no candidate can be chosen."""
    return "every candidate failed its checks: " + "; ".join(
        f"{c.id}: {', '.join(_failure_details(c))}" for c in candidates
    )


def _failure_details(c: Candidate) -> list[str]:
    return [f"{k.name} ({k.detail or k.value})" for k in c.checks if not k.passed]
