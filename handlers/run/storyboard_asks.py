"""A planner question in a run: held in the ledger like every paid call, in one of
the run's API slots; a reply that is not the JSON asked for is asked for once more,
then the step fails (PlanFailed says as what: failed, rejected, skipped_cost_cap)."""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

import structlog
from pydantic import BaseModel

from handlers.errors import AuthError, ConfigurationError, ContentRejected, ProviderError, Stopped
from handlers.money.ledger import CostCapReached
from handlers.run.context import RunContext
from handlers.stop import NotStarted
from handlers.storyboard.planners import PLANNER_TRIES, Ask, MalformedPlan, Planner, parse

log = structlog.get_logger("imagegen")
M = TypeVar("M", bound=BaseModel)
_FAILURES: tuple[type[Exception], ...] = (ProviderError, AuthError, ConfigurationError)


class PlanFailed(Exception):
    """A planner step that gave nothing usable: its status, why, and what it cost."""

    def __init__(self, status: str, message: str, cost: float = 0.0) -> None:
        super().__init__(message)
        self.status = status
        self.cost = cost


def ask_planner(
    planner: Planner, question: Ask, model: type[M], ctx: RunContext
) -> tuple[M, float, dict[str, int]]:
    """The reply, validated as `model`, what the question cost and its tokens."""
    cost = 0.0
    usage: dict[str, int] = {}
    problems: list[str] = []
    for _ in range(PLANNER_TRIES):
        what = f"the {question.what} ({planner.name}:{planner.model})"
        try:
            with (
                ctx.paid_call(),
                ctx.ledger.hold(planner.estimate(question), "storyboard", what=what) as hold,
            ):
                ctx.stop.check()
                try:
                    answer = planner.ask(question, ctx.stop.stopping)
                except Stopped:
                    raise NotStarted(ctx.stop.reason or "stopping") from None
                hold.settle(answer.cost_usd, answer.usage)
        except CostCapReached as e:
            raise PlanFailed("skipped_cost_cap", str(e), cost) from None
        except ContentRejected as e:
            raise PlanFailed("rejected", str(e), cost) from None
        except _FAILURES as e:
            raise PlanFailed("failed", str(e), cost) from None
        cost += answer.cost_usd
        for k, n in answer.usage.items():
            usage[k] = usage.get(k, 0) + n
        try:
            return parse(answer.text, model), cost, usage
        except MalformedPlan as e:
            problems.append(str(e))
            log.warning(
                "storyboard_reply_malformed",
                episode_id=ctx.stop.episode,
                what=question.what,
                error=str(e),
            )
            question = replace(
                question,
                user=f"{question.user}\n\nYour last answer could not be used ({e}). "
                "Answer with the JSON object only.",
            )
    raise PlanFailed(
        "failed",
        f"{planner.name}:{planner.model} gave no usable {question.what}: " + "; ".join(problems),
        cost,
    )
