"""provenance/imagegen_provenance.json: what this stage read, used, spent and why it ran.

`cost_usd` is imagegen's cumulative spend on the episode, the same key upstream
stages use, so any stage summing provenance/*.json gets the episode's total.

`history` (the last HISTORY jobs) and `prompt_templates` (every prompt template the
manifest's images were written with, text included) are what the media database's
`runs` and `prompt_versions` are rebuilt from: the files stay the truth."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from typing import Any

from config.settings import Settings
from handlers.episode import layout
from handlers.episode.chapters import Episode
from handlers.errors import ImagegenError
from handlers.files.dirs import Dir
from handlers.money.pricing import PRICES_DATE
from handlers.outputs.entries import now_iso
from handlers.result import RunResult

VERSION = "0.1.0"
# Kept small: the daemon's start-up scan reads this file for every episode.
HISTORY = 20
RUN_COUNTS = ("generated", "templates", "reused", "failed", "picked", "rescored")


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
    job_id: str,
    template_hashes: Collection[str],
    storyboard: Mapping[str, object] | None = None,
) -> None:
    """`template`: source, name, sha256 and text of the prompt template; `models`: the
    image chain and the prompt writer, as plain values; `template_hashes`: the
    templates the manifest's entries were written with."""
    previous = read_previous(folder)
    finished_at = now_iso()
    this_job = {
        "job_id": job_id,
        "trigger": trigger,
        "started_at": started_at,
        "finished_at": finished_at,
        "outcome": result.outcome,
        **{k: getattr(result, k) for k in RUN_COUNTS},
        "cost_usd": result.cost_usd,
        "error": result.message if result.outcome not in ("ok", "up_to_date") else None,
    }
    record: dict[str, Any] = {
        "stage": "imagegen",
        "version": VERSION,
        "episode_id": episode.doc.episode_id,
        "trigger": trigger,
        "started_at": started_at,
        "finished_at": finished_at,
        "outcome": result.outcome,
        "inputs": {
            layout.CHAPTERS: {"sha256": episode.sha256, "chapters": len(episode.chapters)},
            "markers": sorted(set(markers)),
        },
        "template": {k: template[k] for k in ("source", "name", "sha256")},
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
        "prompt_templates": _prompt_templates(previous, template, template_hashes, started_at),
        "history": [*history(previous), this_job][-HISTORY:],
    }
    if storyboard is not None:
        record["storyboard"] = dict(storyboard)  # what this run's storyboard steps left
    folder.write_json(layout.PROVENANCE, record)


def read_previous(folder: Dir | None) -> dict[str, Any]:
    """Our last record in `folder` (provenance/), or {} (none yet, or unreadable:
    history starts again)."""
    if folder is None or folder.stat(layout.PROVENANCE) is None:
        return {}
    try:
        data = folder.read_json(
            layout.PROVENANCE, max_bytes=layout.MAX_PROVENANCE_BYTES, what="provenance"
        )
    except (ImagegenError, OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def history(record: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The jobs a record lists; a record written before `history` existed counts as
    one job (its own)."""
    listed = record.get("history")
    if isinstance(listed, list):
        return [h for h in listed if isinstance(h, dict) and isinstance(h.get("job_id"), str)]
    run = record.get("run")
    if not isinstance(run, dict) or not isinstance(record.get("started_at"), str):
        return []
    key = f"{record.get('started_at')}|{record.get('trigger')}".encode()
    return [
        {
            "job_id": "legacy-" + hashlib.sha256(key).hexdigest()[:16],
            "trigger": record.get("trigger"),
            "started_at": record.get("started_at"),
            "finished_at": record.get("finished_at"),
            "outcome": record.get("outcome"),
            **{k: run.get(k, 0) for k in RUN_COUNTS},
            "cost_usd": run.get("cost_usd", 0.0),
            "error": None,
        }
    ]


def _prompt_templates(
    previous: Mapping[str, Any],
    current: Mapping[str, str],
    wanted: Collection[str],
    started_at: str,
) -> list[dict[str, Any]]:
    """Every template the manifest's images were written with: the current one from
    the run, older ones (still used by reused images) carried over from the last
    record, each with when this episode first used it."""
    known: dict[str, dict[str, Any]] = {}
    listed = previous.get("prompt_templates")
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, dict) and isinstance(item.get("sha256"), str):
            known[item["sha256"]] = item
    out = []
    for sha in sorted(set(wanted)):
        before = known.get(sha, {})
        if sha == current.get("sha256"):
            item = {k: current.get(k) for k in ("name", "source", "text")}
        else:
            item = {k: before.get(k) for k in ("name", "source", "text")}
        first = before.get("first_used")
        out.append({"sha256": sha, **item, "first_used": first or started_at})
    return out
