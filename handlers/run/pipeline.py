"""One chapter's work as a list of small steps over one value, structlog-style:

    GENERATE = [recover_candidates, load_references, recover_trace, write_prompt,
                refine_prompt, make_candidates_or_refine, write_chosen]
    TEMPLATE = [draw_template, check_template, write_chosen]
    SELECT   = [apply_pick, write_chosen]         (handlers/run/review.py)
    RESCORE  = [rescore, write_chosen]

Each step reads and fills in a `ChapterWork`; `run_chapter` runs the steps and turns
every expected failure into a manifest entry, so one failure is one chapter. New
steps slot into the lists without touching the orchestrator.

Chapters run in a pool of `pool_size` threads (handlers/run/context.py); a paid call
holds one of `image.concurrency` API slots, so an API slot never waits on PNG encoding
while another chapter fits, encodes and writes its image: when every call of a round
answers at once, as many chapters are already waiting for them.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import structlog

from handlers.api.clients import prepare_clients
from handlers.drawing.cards import render_talking_head, render_title_card
from handlers.errors import ContentRejected, ImagegenError
from handlers.files.dirs import Gone
from handlers.money.ledger import CostCapReached
from handlers.outputs.entries import base_entry, template_entry
from handlers.outputs.manifest import ManifestEntry
from handlers.outputs.png import decode_image, fit_to_frame, png_size
from handlers.plan.decide import ChapterPlan
from handlers.prompts.step import write_prompt as compose_prompt
from handlers.providers.references import load_reference
from handlers.run.candidates import AllCandidatesFailed, recover_candidates
from handlers.run.context import ChapterWork, RunContext, Step, pool_size
from handlers.run.refining import make_candidates_or_refine, recover_trace, refine_prompt
from handlers.run.review import PickRefused, apply_pick, rescore
from handlers.select import checks
from handlers.select.words import vocabulary
from handlers.stop import NotStarted

log = structlog.get_logger("imagegen")


# -- steps ----------------------------------------------------------------------------


def write_prompt(work: ChapterWork, ctx: RunContext) -> None:
    if work.prompt is not None:
        return  # the prompt of recovered candidates: theirs stands
    services = ctx.services
    with ctx.paid_call(work, llm=True):
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


def load_references(work: ChapterWork, ctx: RunContext) -> None:
    """The chapter's visual.reference_image, read before anything is paid for: a missing
    or unreadable one fails the chapter with the field and file named."""
    ch = work.plan.chapter
    relative = ch.main_visual.reference_image
    if relative is None:
        return
    where = f"{ctx.episode.path}: chapter {ch.chapter_id}: visual.reference_image"
    work.references.append(load_reference(ctx.recorder.dirs, relative, where=where))


def draw_template(work: ChapterWork, ctx: RunContext) -> None:
    ch = work.plan.chapter
    frame = ctx.settings.frame
    brand = ctx.settings.brand
    if ch.main_visual.type == "title_card":
        card = render_title_card(
            ch.title,
            ctx.episode.doc.title,
            frame.width,
            frame.height,
            color=brand.title_card_color,
            font_path=brand.font_path,
        )
    else:
        card = render_talking_head(
            ch.title,
            frame.width,
            frame.height,
            color=brand.talking_head_color,
            font_path=brand.font_path,
        )
    work.image, work.text_boxes = card.image, card.text_boxes
    work.entry = template_entry(
        ch,
        work.plan.fingerprint,
        model=f"{ch.main_visual.type}-template-1",
        width=frame.width,
        height=frame.height,
    )


def check_template(work: ChapterWork, ctx: RunContext) -> None:
    """A template is ours and deterministic: its checks are a record (can OCR read the
    title back, Turkish letters included?), never a reason to drop it."""
    if not ctx.settings.selection.ocr:
        return
    assert work.entry is not None and work.image is not None
    ch = work.plan.chapter
    with ctx.cpu_slots:
        found = checks.check_template_text(
            work.image,
            work.text_boxes,
            visual_type=ch.main_visual.type,
            vocab=vocabulary(ch.title, ctx.episode.doc.title),
        )
    work.entry = work.entry.model_copy(update={"checks": found})


def write_chosen(work: ChapterWork, ctx: RunContext) -> None:
    """The chapter's image, atomically, at today's path: consumers see no change. A kept
    candidate already at the frame size becomes it as it is (its metadata replaced, its
    pixels not compressed again); any other is scaled to the frame and encoded. Nothing
    to write when a step changed only the entry (a re-ranking that kept the choice)."""
    assert work.entry is not None
    frame = ctx.settings.frame
    if (
        work.image is None
        and work.png is not None
        and png_size(work.png) == (frame.width, frame.height)
    ):
        work.entry = ctx.recorder.write_image(work.entry, None, png=work.png)
    elif work.png is not None or work.image is not None:
        with ctx.cpu_slots:
            source = work.image if work.image is not None else decode_image(work.png or b"")
            work.image = work.png = None  # the source is not needed to encode: let it go
            image = fit_to_frame(source, frame.width, frame.height)
            del source
            work.entry = ctx.recorder.write_image(work.entry, image)
    work.image = work.png = None  # on disk now; let the memory go


GENERATE: list[Step] = [
    recover_candidates,
    load_references,
    recover_trace,
    write_prompt,
    refine_prompt,
    make_candidates_or_refine,
    write_chosen,
]
TEMPLATE: list[Step] = [draw_template, check_template, write_chosen]
SELECT: list[Step] = [apply_pick, write_chosen]
RESCORE: list[Step] = [rescore, write_chosen]


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
    except Gone:
        raise  # the whole run stops: there is no folder to record this chapter in
    except CostCapReached as e:
        return failed("skipped_cost_cap", e)
    except ContentRejected as e:
        work.log.warning("chapter_rejected", error=str(e))
        return failed("rejected", e)
    except AllCandidatesFailed as e:
        work.log.warning("chapter_failed_checks", error=str(e))
        return e.entry
    except PickRefused as e:
        work.log.warning("pick_refused", error=str(e))
        return work.plan.previous
    except ImagegenError as e:
        work.log.error("chapter_failed", error=str(e))
        return failed("failed", e)
    assert work.entry is not None
    return work.entry


def _warm_up(ctx: RunContext) -> None:
    """Load, in the background and in the order the chapters need them, what the first
    image call, the checks, the judge and the gallery would each load on first use
    (about 0.5-2 s of CPU in all): the first image calls go out as soon as their client
    is made, the rest loads while they wait for their images. In this order because it
    is one interpreter: the checks' imports, run alongside, would slow the client's."""
    services, settings = ctx.services, ctx.settings
    firsts = {services.primary.provider, *(s.provider for s in services.primaries().values())}
    prepare_clients(sorted(firsts), settings.openai, settings.anthropic)
    checks.warm_up(read_text=settings.selection.ocr)
    if services.judge is not None:
        prepare_clients([services.judge.name], settings.openai, settings.anthropic)
    from handlers.outputs import gallery  # Jinja2 and the pages: the run's last step

    gallery.warm_up()


def run_chapters(
    plans: list[tuple[ChapterPlan, list[Step]]],
    ctx: RunContext,
    on_done: Callable[[ChapterPlan, ManifestEntry], None],
) -> None:
    """Every chapter through its steps, `image.concurrency` paid calls at a time; each
    finished entry goes to `on_done` in this thread, as soon as it is finished."""
    concurrency = ctx.settings.image.concurrency
    workers = pool_size(concurrency, ctx.settings.selection.candidates)
    queue = deque(enumerate(plans))
    if any(steps is not SELECT for _, steps in plans):
        threading.Thread(target=_warm_up, args=(ctx,), name="imagegen-warm-up", daemon=True).start()
    episode_log = log.bind(episode_id=ctx.recorder.paths.name)
    with ThreadPoolExecutor(workers, thread_name_prefix="imagegen-chapter") as pool:
        running: dict[Future[ManifestEntry | None], ChapterPlan] = {}
        try:
            while queue or running:
                while queue and len(running) < workers and not ctx.stop.stopping():
                    order, (plan, steps) = queue.popleft()
                    work = ChapterWork(
                        plan, episode_log.bind(chapter_id=plan.chapter.chapter_id), order=order
                    )
                    running[pool.submit(run_chapter, work, steps, ctx)] = plan
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    plan = running.pop(future)
                    entry = future.result()
                    if entry is not None:
                        on_done(plan, entry)
        except Gone as e:
            ctx.stop.mark_removed(str(e))
            raise
        except BaseException as e:
            # A write failed (disk full, permissions): no chapter starts another paid call.
            ctx.stop.halt(f"stopped after an error: {type(e).__name__}: {e}")
            raise
