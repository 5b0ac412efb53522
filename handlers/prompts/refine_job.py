"""What one chapter's refinement needs from the run (RefineJob), and how each of its
paid calls is made: one API slot, the call's estimate held in the ledger, and room left
for the chapter's first image (PaidCall). A call that may not start stops the loop
(LoopStop), never the chapter."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from config.settings import RefineSettings
from handlers.errors import Stopped
from handlers.money.ledger import CostCapReached, Hold, Ledger
from handlers.prompts.critic import Critic, PromptBrief
from handlers.prompts.rule_writer import RuleWriter
from handlers.prompts.rules import RuleCritic
from handlers.prompts.trace import TraceFiles
from handlers.prompts.writers import PromptContext, WrittenPrompt
from handlers.stop import NotStarted, StopSignal


class PaidWriter(Protocol):
    """An LLM writer that can revise (handlers/prompts/llm.py)."""

    @property
    def label(self) -> str: ...

    def revise_estimate(
        self, ctx: PromptContext, prompt: str, feedback: Sequence[str]
    ) -> float: ...

    def revise(
        self,
        ctx: PromptContext,
        prompt: str,
        feedback: Sequence[str],
        stopped: Callable[[], bool] | None = None,
    ) -> WrittenPrompt: ...


@dataclass
class RefineJob:
    """Everything one chapter's refinement needs from the run."""

    context: PromptContext
    brief: PromptBrief
    settings: RefineSettings
    rules: RuleCritic
    critic: Critic | None  # None: the rules are the critic
    writer: PaidWriter | RuleWriter
    ledger: Ledger
    stop: StopSignal
    files: TraceFiles
    api_slot: Callable[[], AbstractContextManager[None]]
    # What the chapter still needs after refining: its first image (and judging).
    reserve_after: float
    facts: dict[str, Any]  # episode, chapter and fingerprint hashes, for trace.json


class LoopStop(Exception):
    """A paid call of the loop could not start: the loop stops, the chapter goes on."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@contextmanager
def paid_call(job: RefineJob, estimate: float, kind: str, what: str) -> Iterator[Hold]:
    """One API slot and the call's estimate held in the ledger (kind "refine_writer" or
    "critic"), when the chapter's first image still fits after it."""
    ledger = job.ledger
    if ledger.remaining < estimate + job.reserve_after:
        raise LoopStop(
            "cost_cap",
            f"{what} costs about ${estimate:.4f} and the chapter's first image "
            f"${job.reserve_after:.3f}; the episode has ${ledger.remaining:.3f} left of "
            f"max_episode_cost_usd {ledger.cap:.2f}: the best prompt so far is used",
        )
    try:
        with job.api_slot(), ledger.hold(estimate, kind, what=what) as hold:
            job.stop.check()
            yield hold
    except CostCapReached as e:  # another chapter held the money meanwhile
        raise LoopStop("cost_cap", f"{e}: the best prompt so far is used") from None
    except (NotStarted, Stopped) as e:
        raise LoopStop("stopping", str(e)) from None
