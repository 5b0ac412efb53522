"""What the daemon and the CLI hand the handler, and what they get back."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal[
    "ok", "up_to_date", "failed", "blocked", "busy", "dry_run", "interrupted", "removed"
]


@dataclass(frozen=True)
class RunRequest:
    force: bool = False
    chapters: frozenset[str] | None = None
    dry_run: bool = False
    wait: bool = True
    trigger: str = "cli"
    # "run": everything the episode needs; "picks": only apply people's picks of
    # candidates (`imagegen select`); "rescore": re-rank kept candidates.
    mode: Literal["run", "picks", "rescore"] = "run"
    # Set by the daemon on SIGTERM: no new paid calls start; in-flight ones finish.
    cancel: threading.Event | None = None
    # Called once when the run has waited a second for the episode lock, with a line
    # naming the holder (the CLI prints it; the handler also logs it).
    on_lock_wait: Callable[[str], None] | None = None
    # Under the episode lock, first ask the cheap check (`needs_job`) and answer
    # "up_to_date" at once when it finds the episode current: another daemon on the
    # same tree may have just done it. (It does not see settings changes, by design.)
    only_if_needed: bool = False
    # Called once the episode is locked and the run goes ahead.
    on_start: Callable[[], None] | None = None


@dataclass
class RunResult:
    episode: str
    outcome: Outcome
    message: str = ""
    generated: int = 0
    templates: int = 0
    reused: int = 0
    failed: int = 0
    picked: int = 0
    rescored: int = 0
    cost_usd: float = 0.0
    estimated_cost_usd: float = 0.0
    warnings: list[str] = field(default_factory=list)
    chapters: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0
    # What the storyboard's steps did, when the run had any ("storyboard: 8 clips, ...").
    storyboard: str = ""
    # Names this job in provenance's history and the media database's runs.
    job_id: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in ("ok", "up_to_date", "dry_run")
