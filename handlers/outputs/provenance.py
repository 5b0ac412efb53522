"""provenance/imagegen_provenance.json: what this stage read, used, spent and why it ran.

`cost_usd` is imagegen's cumulative spend on the episode, the same key upstream
stages use, so any stage summing provenance/*.json gets the episode's total."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from config.settings import Settings
from handlers.episode import layout
from handlers.episode.chapters import Episode
from handlers.files.dirs import Dir
from handlers.money.pricing import PRICES_DATE
from handlers.outputs.entries import now_iso
from handlers.result import RunResult

VERSION = "0.1.0"


def write_provenance(
    folder: Dir,
    *,
    episode: Episode,
    settings: Settings,
    trigger: str,
    started_at: str,
    result: RunResult,
    template: Mapping[str, str],
    models: Mapping[str, object],
    tokens: Mapping[str, int],
    cumulative_cost_usd: float,
    markers: list[str],
    manifest_sha256: str | None,
    storyboard: Mapping[str, object] | None = None,
) -> None:
    """`template`: source, name, sha256 of the prompt template; `models`: the image
    chain and the prompt writer, as plain values."""
    record: dict[str, Any] = {
        "stage": "imagegen",
        "version": VERSION,
        "episode_id": episode.doc.episode_id,
        "trigger": trigger,
        "started_at": started_at,
        "finished_at": now_iso(),
        "outcome": result.outcome,
        "inputs": {
            layout.CHAPTERS: {"sha256": episode.sha256, "chapters": len(episode.chapters)},
            "markers": sorted(set(markers)),
        },
        "template": dict(template),
        "models": dict(models),
        "settings": {
            "frame": settings.frame.model_dump(),
            "style_prefix": settings.prompt.style_prefix,
            "max_episode_cost_usd": settings.max_episode_cost_usd,
            "prices_date": PRICES_DATE,
        },
        "tokens": dict(sorted(tokens.items())),
        "run": {
            "generated": result.generated,
            "templates": result.templates,
            "reused": result.reused,
            "failed": result.failed,
            "cost_usd": result.cost_usd,
        },
        "cost_usd": round(cumulative_cost_usd, 6),
        # The manifest this run left; a run that dies before this file is written is
        # recognised by the mismatch and its records completed next time.
        "manifest_sha256": manifest_sha256,
        "chapters": dict(result.chapters),
    }
    if storyboard is not None:
        record["storyboard"] = dict(storyboard)  # what this run's storyboard steps left
    folder.write_json(layout.PROVENANCE, record)
