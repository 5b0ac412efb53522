"""One chapter's work as a list of small steps over one value, structlog-style:

    GENERATE = [write_prompt, generate_image, fit_and_write]
    TEMPLATE = [draw_template, fit_and_write]

Each step reads and fills in a `ChapterWork`; `run_chapter` runs the steps and turns
every expected failure into a manifest entry, so one failure is one chapter. New
steps (refinement, candidates, checks, judge, selection) slot into the lists without
touching the orchestrator.

Chapters run in a pool of `image.concurrency + max(WRITERS, image.concurrency)`
threads; a paid call holds one of `image.concurrency` API slots, so an API slot never
waits on PNG encoding while another chapter fits, encodes and writes its image: when
every call of a round answers at once, as many chapters are already waiting for them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from PIL import Image

from config.settings import Settings
from handlers.drawing.cards import render_talking_head, render_title_card
from handlers.episode.chapters import Episode
from handlers.errors import AuthError, ConfigurationError, ContentRejected, ImagegenError
from handlers.money.ledger import CostCapReached, Ledger
from handlers.outputs.entries import base_entry, now_iso
from handlers.outputs.manifest import ManifestEntry
from handlers.outputs.png import fit_to_frame
from handlers.outputs.recorder import Recorder
from handlers.plan.decide import ChapterPlan
from handlers.prompts.step import write_prompt as compose_prompt
from handlers.prompts.writers import WrittenPrompt
from handlers.providers.base import ImageRequest
from handlers.providers.chain import ProviderChain
from handlers.run.services import Services
from handlers.stop import NotStarted, StopSignal

log = structlog.get_logger("imagegen")

# Threads beyond the API slots: chapters that fit, encode and write their images.
WRITERS = 2


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
    api_slots: threading.Semaphore
    # Fitting and encoding a frame is CPU work: more at once than there are writers
    # only slows the first image down.
    cpu_slots: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(WRITERS))

    @contextmanager
    def paid_call(self) -> Iterator[None]:
        """One of the run's API slots for a paid call. Bad credentials or an unusable
        model halt the run before the slot is handed on, so no chapter waiting for it
        sends another request."""
        with self.api_slots:
            try:
                yield
            except (AuthError, ConfigurationError) as e:
                self.stop.halt(str(e))
                raise


@dataclass
class ChapterWork:
    """One chapter as it goes through its steps."""

    plan: ChapterPlan
    log: Any
    # Manifest entry fields gathered so far; a failure keeps them in its entry.
    fields: dict[str, object] = field(default_factory=lambda: {"attempts": 0})
    prompt: WrittenPrompt | None = None
    image: Image.Image | None = None
    entry: ManifestEntry | None = None

    @property
    def chapter_id(self) -> str:
        return self.plan.chapter.chapter_id


Step = Callable[[ChapterWork, RunContext], None]


# -- steps ----------------------------------------------------------------------------


def write_prompt(work: ChapterWork, ctx: RunContext) -> None:
    services = ctx.services
    with ctx.paid_call():
        written = compose_prompt(
            work.plan.chapter,
            ctx.settings,
            services.writer,
            services.template,
            services.prices,
            ctx.ledger,
            ctx.stop,
        )
    work.prompt = written
    work.fields.update(
        prompt=written.text,
        prompt_source=written.source,
        prompt_cost_usd=written.cost_usd,
        cost_usd=written.cost_usd,
        usage={"prompt": written.usage} if written.usage else {},
    )


def generate_image(work: ChapterWork, ctx: RunContext) -> None:
    ch = work.plan.chapter
    frame = ctx.settings.frame
    assert work.prompt is not None
    request = ImageRequest(
        chapter_id=ch.chapter_id,
        title=ch.title,
        visual_type=ch.main_visual.type,
        prompt=work.prompt.text,
        width=frame.width,
        height=frame.height,
        seed=ctx.settings.image.seed,
        stopped=ctx.stop.stopping,
    )
    with ctx.paid_call():
        served = ctx.chain.generate(request, work.log)
    got = served.image
    fields = work.fields
    usage = dict(fields.pop("usage", {}) or {})  # type: ignore[call-overload]
    if got.usage:
        usage["image"] = got.usage
    prompt_cost = float(fields.get("prompt_cost_usd", 0.0))  # type: ignore[arg-type]
    work.entry = base_entry(
        ch,
        work.plan.fingerprint,
        **{k: v for k, v in fields.items() if k not in ("cost_usd", "attempts")},
        status="generated",
        generation_method=got.generation_method,
        provider=got.provider,
        model=got.model,
        revised_prompt=got.revised_prompt,
        width=frame.width,
        height=frame.height,
        native_width=got.image.width,
        native_height=got.image.height,
        image_cost_usd=got.cost_usd,
        cost_usd=prompt_cost + got.cost_usd,
        usage=usage,
        attempts=got.attempts,
        generated_at=now_iso(),
    )
    work.image = got.image
    work.log.info(
        "chapter_generated",
        provider=served.step.label,
        cost_usd=round(got.cost_usd, 6),
        duration_ms=round(served.duration_s * 1000),
    )


def draw_template(work: ChapterWork, ctx: RunContext) -> None:
    ch = work.plan.chapter
    frame = ctx.settings.frame
    brand = ctx.settings.brand
    if ch.main_visual.type == "title_card":
        work.image = render_title_card(
            ch.title,
            ctx.episode.doc.title,
            frame.width,
            frame.height,
            color=brand.title_card_color,
            font_path=brand.font_path,
        )
    else:
        work.image = render_talking_head(
            ch.title,
            frame.width,
            frame.height,
            color=brand.talking_head_color,
            font_path=brand.font_path,
        )
    work.entry = base_entry(
        ch,
        work.plan.fingerprint,
        status="template",
        generation_method="template",
        provider="pillow",
        model=f"{ch.main_visual.type}-template-1",
        width=frame.width,
        height=frame.height,
        native_width=frame.width,
        native_height=frame.height,
        generated_at=now_iso(),
    )


def fit_and_write(work: ChapterWork, ctx: RunContext) -> None:
    assert work.entry is not None and work.image is not None
    frame = ctx.settings.frame
    with ctx.cpu_slots:
        image = fit_to_frame(work.image, frame.width, frame.height)
        work.image = None  # the native image is not needed to encode: let its memory go
        work.entry = ctx.recorder.write_image(work.entry, image)


GENERATE: list[Step] = [write_prompt, generate_image, fit_and_write]
TEMPLATE: list[Step] = [draw_template, fit_and_write]


# -- running --------------------------------------------------------------------------


def run_chapter(work: ChapterWork, steps: Iterable[Step], ctx: RunContext) -> ManifestEntry | None:
    """The chapter's steps in order. Never raises for an expected failure: the entry
    says why; None when shutdown came before anything was spent."""
    ch = work.plan.chapter
    if ctx.stop.stopping():
        return None

    def failed(status: str, error: Exception) -> ManifestEntry:
        return base_entry(ch, work.plan.fingerprint, status=status, error=str(error), **work.fields)

    try:
        for step in steps:
            step(work, ctx)
    except NotStarted:
        return None
    except CostCapReached as e:
        return failed("skipped_cost_cap", e)
    except ContentRejected as e:
        work.log.warning("chapter_rejected", error=str(e))
        return failed("rejected", e)
    except (AuthError, ConfigurationError) as e:
        ctx.stop.halt(str(e))
        return failed("failed", e)
    except ImagegenError as e:
        work.log.error("chapter_failed", error=str(e))
        return failed("failed", e)
    assert work.entry is not None
    return work.entry


def run_chapters(
    plans: list[tuple[ChapterPlan, list[Step]]],
    ctx: RunContext,
    on_done: Callable[[ManifestEntry], None],
) -> None:
    """Every chapter through its steps, `image.concurrency` paid calls at a time; each
    finished entry goes to `on_done` in this thread, as soon as it is finished."""
    concurrency = ctx.settings.image.concurrency
    workers = concurrency + max(WRITERS, concurrency)
    queue = deque(plans)
    episode_log = log.bind(episode_id=ctx.recorder.paths.name)
    with ThreadPoolExecutor(workers, thread_name_prefix="imagegen-chapter") as pool:
        running: set[Future[ManifestEntry | None]] = set()
        try:
            while queue or running:
                while queue and len(running) < workers and not ctx.stop.stopping():
                    plan, steps = queue.popleft()
                    work = ChapterWork(plan, episode_log.bind(chapter_id=plan.chapter.chapter_id))
                    running.add(pool.submit(run_chapter, work, steps, ctx))
                if not running:
                    break
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    entry = future.result()
                    if entry is not None:
                        on_done(entry)
        except BaseException as e:
            # A write failed (disk full, permissions): no chapter starts another paid call.
            ctx.stop.halt(f"stopped after an error: {type(e).__name__}: {e}")
            raise
