"""The one human line per episode job, shared by `imagegen run` and the daemon's log;
the tables of `imagegen status`."""

from __future__ import annotations

from handlers.imagegen import EpisodeStatus, RunRow
from handlers.result import RunResult


def summary_line(result: RunResult) -> str:
    review = "".join(
        f"{n} {what}, "
        for n, what in ((result.picked, "picked"), (result.rescored, "rescored"))
        if n
    )
    counts = (
        f"{result.generated} generated, {result.templates} templates, "
        f"{result.reused} reused, {review}{result.failed} failed, ${result.cost_usd:.2f}"
    )
    name = result.episode
    if result.outcome == "ok":
        return f"[OK] {name} -> {counts}"
    if result.outcome == "up_to_date":
        return f"[SKIP] {name} -> up to date"
    if result.outcome == "dry_run":
        return f"[DRY] {name} -> {result.message}, estimated ${result.estimated_cost_usd:.2f}"
    if result.outcome == "blocked":
        return f"[WAIT] {name}: {result.message}"
    if result.outcome == "busy":
        return f"[BUSY] {name}: {result.message}"
    if result.outcome == "interrupted":
        return f"[STOP] {name} -> {counts}: {result.message}"
    if result.generated or result.templates or result.failed:
        return f"[FAIL] {name} -> {counts}: {result.message}"
    return f"[FAIL] {name}: {result.message}"


def status_table(rows: list[EpisodeStatus]) -> str:
    """One line per episode: its last job and what its files hold. Built as one string:
    50,000 episodes print in a blink."""
    width = max((len(r.episode_id) for r in rows), default=7)
    lines = [
        f"{'EPISODE':<{width}}  {'LAST JOB':<11} {'FINISHED':<25} {'CHAPTERS':>8} "
        f"{'IMAGES':>6} {'FAILED':>6} {'JOB $':>7} {'TOTAL $':>8}"
    ]
    for r in rows:
        run = r.last_run
        lines.append(
            f"{r.episode_id:<{width}}  {run.status if run else '-':<11} "
            f"{(run.finished_at or '') if run else '':<25} {r.chapters:>8} {r.images:>6} "
            f"{r.failed_chapters:>6} {run.cost_usd if run else 0.0:>7.2f} "
            f"{r.cumulative_cost_usd:>8.2f}" + (f"  {run.error}" if run and run.error else "")
        )
    return "\n".join(lines) + "\n"


def runs_table(runs: list[RunRow]) -> str:
    lines = []
    for run in runs:
        counts = ", ".join(f"{n} {k}" for k, n in run.counts.items() if n)
        lines.append(
            f"  {run.finished_at or run.started_at}  {run.status:<11} {counts or 'nothing done'}, "
            f"${run.cost_usd:.2f}  ({run.trigger})" + (f"\n      {run.error}" if run.error else "")
        )
    return "\n".join(lines) + "\n"
