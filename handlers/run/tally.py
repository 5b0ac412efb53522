"""How a run's outcome is counted: what its chapters' entries say, what was spent,
and whether it stopped, failed or finished."""

from __future__ import annotations

from handlers.money.ledger import Ledger
from handlers.outputs.manifest import ManifestEntry
from handlers.outputs.recorder import Recorder
from handlers.plan.decide import ChapterPlan
from handlers.result import RunResult
from handlers.stop import StopSignal

# Actions that work on a chapter's kept candidates and never pay for an image.
REVIEW = ("select", "rescore")

# Entry statuses that fail the job (the chapter is tried again at the next one).
FAILED = ("failed", "failed_checks", "rejected", "skipped_cost_cap", "fallback")


def tally(
    result: RunResult,
    plans: list[ChapterPlan],
    work: list[ChapterPlan],
    recorder: Recorder,
    ledger: Ledger,
    stop: StopSignal,
) -> dict[str, ManifestEntry]:
    """Fill in `result` from the run's entries; returns the entries this run touched."""
    done = {cid: e for cid, e in recorder.entries.items() if cid in recorder.touched}
    action = {p.chapter.chapter_id: p.action for p in plans}
    made = {cid: e for cid, e in done.items() if action[cid] not in REVIEW}
    result.generated = sum(1 for e in made.values() if e.status == "generated")
    result.templates = sum(1 for e in made.values() if e.status == "template")
    result.picked = sum(1 for cid, e in done.items() if action[cid] == "select" and _picked(e))
    result.rescored = sum(1 for cid in done if action[cid] == "rescore")
    failures = [e for e in done.values() if e.status in FAILED]
    not_started = [
        p.chapter.chapter_id for p in work if p.chapter.chapter_id not in recorder.touched
    ]
    result.failed = len(failures)
    result.cost_usd = round(ledger.run_cost, 6)
    result.chapters = {cid: e.status for cid, e in recorder.entries.items()}
    if stop.cancelled:
        result.outcome = "interrupted"
        result.message = f"stopped before {', '.join(not_started) or 'nothing'}: {stop.reason}"
    elif stop.reason is not None:
        result.outcome = "failed"
        result.message = stop.reason
    elif failures:
        result.outcome = "failed"
        result.message = "; ".join(f"{e.chapter_id} {e.status}: {e.error}" for e in failures)
    return done


def _picked(entry: ManifestEntry) -> bool:
    return entry.selection is not None and entry.selection.method == "manual"
