"""The one human line per episode job, shared by `imagegen run` and the daemon's log."""

from __future__ import annotations

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
    if result.outcome == "removed":
        return f"[GONE] {name}: {result.message}"
    if result.outcome == "interrupted":
        return f"[STOP] {name} -> {counts}: {result.message}"
    if result.generated or result.templates or result.failed:
        return f"[FAIL] {name} -> {counts}: {result.message}"
    return f"[FAIL] {name}: {result.message}"
