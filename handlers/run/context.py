"""What the steps of one run share (RunContext) and the value each chapter's steps
fill in (ChapterWork)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from PIL import Image

from config.settings import Settings
from handlers.episode.chapters import Episode
from handlers.errors import AuthError, ConfigurationError
from handlers.money.ledger import Ledger
from handlers.outputs.manifest import Candidate, ManifestEntry
from handlers.outputs.recorder import Recorder
from handlers.outputs.shelves import Shelf
from handlers.plan.decide import ChapterPlan
from handlers.prompts.refine import Refinement
from handlers.prompts.writers import WrittenPrompt
from handlers.providers.base import Reference, Shot
from handlers.providers.chain import ProviderChain
from handlers.run.services import Services
from handlers.run.slots import ApiSlots
from handlers.select.judge import Brief, Judge
from handlers.stop import StopSignal

log = structlog.get_logger("imagegen")

# Threads beyond the API slots: chapters that fit, encode, check and write images.
WRITERS = 2


def pool_size(concurrency: int, candidates: int = 1) -> int:
    """Chapter (or clip) threads: `concurrency * candidates` making candidates, and at
    least as many more as there are API slots, already waiting when a round of calls
    answers at once. With fewer, a freed slot waits for a chapter to fit, encode and
    write its image before the next chapter is started (0.2-0.5 s a round at c=3)."""
    return concurrency * candidates + max(WRITERS, concurrency)


@dataclass
class RunContext:
    """What every step of every chapter of one run may use."""

    settings: Settings
    episode: Episode
    services: Services
    ledger: Ledger
    stop: StopSignal
    chain: ProviderChain
    recorder: Recorder
    api_slots: ApiSlots
    # LLM calls (prompt writer, critic, judge) go to other endpoints with limits of
    # their own: a judge's verdict must not wait behind other chapters' images.
    llm_slots: ApiSlots
    # Fitting, checking and encoding a frame is CPU work: more at once than there are
    # writers only slows the first image down.
    cpu_slots: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(WRITERS))
    judge: Judge | None = None
    _judge_dead: str | None = None

    @contextmanager
    def paid_call(self, work: ChapterWork | None = None, *, llm: bool = False) -> Iterator[None]:
        """One of the run's slots for a paid call of `work`'s chapter: an image slot, or
        with `llm` an LLM slot (handlers/run/slots.py says who is served first). Bad
        credentials or an unusable model halt the run before the slot is handed on, so
        no chapter waiting for it sends another request."""
        progress = work.paid_calls if work is not None else 0
        order = work.order if work is not None else 0
        slots = self.llm_slots if llm else self.api_slots
        with slots.hold(progress, order):
            if work is not None:
                work.paid_calls += 1
            try:
                yield
            except (AuthError, ConfigurationError) as e:
                self.stop.halt(str(e))
                raise

    def judge_usable(self) -> bool:
        return self.judge is not None and self._judge_dead is None

    def judge_failed(self, reason: str) -> None:
        """The judge's key was refused: the rest of the run ranks by checks alone."""
        if self._judge_dead is None:
            self._judge_dead = reason
            log.error(
                "judge_disabled",
                episode_id=self.recorder.paths.name,
                error=reason,
                message="judging stops for this run; candidates are ranked by their checks",
            )

    def judge_estimate(self, brief: Brief) -> float:
        return self.judge.estimate(brief) if self.judge is not None else 0.0


@dataclass
class Made:
    """One candidate image: its record, its pixels at the frame size (None once only
    its kept file is needed), the file's bytes when kept, the size it was asked at."""

    record: Candidate
    frame: Image.Image | None
    png: bytes | None
    asked: tuple[int, int] | None = None


@dataclass
class ChapterWork:
    """One chapter as it goes through its steps."""

    plan: ChapterPlan
    log: Any
    # The chapter's place in the episode, and its paid calls so far: who gets the next
    # free API slot (handlers/run/slots.py).
    order: int = 0
    paid_calls: int = 0
    # Manifest entry fields gathered so far; a failure keeps them in its entry.
    fields: dict[str, object] = field(default_factory=lambda: {"attempts": 0})
    prompt: WrittenPrompt | None = None
    image: Image.Image | None = None
    # A template's: where it drew its words (what OCR reads back).
    text_boxes: tuple[tuple[int, int, int, int], ...] = ()
    # The chosen image already encoded (a kept candidate's file), when there is one.
    png: bytes | None = None
    entry: ManifestEntry | None = None
    # Candidates a killed run paid for and kept for this very input (recover step).
    recovered: list[Made] = field(default_factory=list)
    # The prompt's writer + critic loop, when it ran (handlers/run/refining.py).
    refinement: Refinement | None = None
    # A first set of candidates that all failed their checks: the second set goes on
    # from it (numbers, costs), once.
    earlier: list[Candidate] = field(default_factory=list)
    # Reference images sent with each image request (the chapter's, or a storyboard's).
    references: list[Reference] = field(default_factory=list)
    # A storyboard frame: where its candidates are kept (a chapter's: images/candidates/)
    # and its place in its clip, for a renderer that draws without a model.
    shelf: Shelf | None = None
    shot: Shot | None = None

    @property
    def chapter_id(self) -> str:
        return self.plan.chapter.chapter_id

    def candidate_shelf(self, recorder: Recorder) -> Shelf:
        return self.shelf or recorder.shelf(self.chapter_id)


Step = Callable[[ChapterWork, RunContext], None]
