"""A generated chapter's candidates: made one at a time until `selection.candidates`
exist or a paid one reaches `selection.accept_score` (best-of-N with early stop),
each checked, judged where a judge is configured, and the best passing one chosen.

    for each candidate: generate (API slot, held in the ledger)
                        -> fit, check, keep its file (CPU slot)
                        -> judge (API slot, held in the ledger; only if it passed)
    choose -> the chapter's entry, the chosen frame in memory for the final write
"""

from __future__ import annotations

from dataclasses import dataclass, field

import imagehash
from PIL import Image

from handlers.episode import layout
from handlers.episode.chapters import Chapter
from handlers.errors import AuthError, ImagegenError, ProviderError
from handlers.money.ledger import CostCapReached
from handlers.outputs.entries import base_entry, now_iso, png_meta
from handlers.outputs.manifest import Candidate, ManifestEntry
from handlers.outputs.png import fit_to_frame
from handlers.providers.base import ImageRequest
from handlers.providers.chain import Served
from handlers.run.context import ChapterWork, RunContext
from handlers.select.checks import TEXT_VISUALS, check_image
from handlers.select.choose import all_failed, choose, total
from handlers.select.judge import Brief, MalformedVerdict, judge_jpeg, parse_reply, weighted_score
from handlers.select.words import vocabulary
from handlers.stop import NotStarted

# A judge reply that is not the rubric's JSON is asked for once more, then given up.
JUDGE_TRIES = 2


class AllCandidatesFailed(ImagegenError):
    """No candidate passed its checks; the entry lists them and why."""

    def __init__(self, message: str, entry: ManifestEntry) -> None:
        super().__init__(message)
        self.entry = entry


@dataclass
class _Best:
    candidate: Candidate | None = None
    image: Image.Image | None = None
    served: Served | None = None


@dataclass
class _Tally:
    image_cost: float = 0.0
    judge_cost: float = 0.0
    attempts: int = 0
    usage: dict[str, dict[str, int]] = field(default_factory=dict)

    def add_usage(self, kind: str, usage: dict[str, int]) -> None:
        into = self.usage.setdefault(kind, {})
        for key, n in usage.items():
            into[key] = into.get(key, 0) + n


def make_candidates(work: ChapterWork, ctx: RunContext) -> None:
    """The pipeline step: fills work.entry (and work.image with the chosen frame)."""
    ch = work.plan.chapter
    cfg = ctx.settings.selection
    assert work.prompt is not None
    vocab = vocabulary(ch.title, ch.main_visual.description, ch.main_visual.image_prompt)
    brief = judge_brief(ch)
    candidates: list[Candidate] = []
    hashes: dict[str, imagehash.ImageHash] = {}
    best = _Best()
    tally = _Tally()
    first = ctx.recorder.next_candidate_number(ch.chapter_id) if cfg.keep_candidates else 1
    stop_note: str | None = None
    for index in range(cfg.candidates):
        number = first + index
        candidate_id = layout.candidate_id(number)
        judge = ctx.judge if ctx.judge_usable() else None
        try:
            served = _generate(work, ctx, index + 1, judge, brief)
        except CostCapReached as e:
            if not candidates:
                raise
            stop_note = f"stopped after {len(candidates)} of {cfg.candidates}: {e}"
            break
        except NotStarted:
            if not candidates:
                raise
            stop_note = f"stopped after {len(candidates)} of {cfg.candidates}: {ctx.stop.reason}"
            break
        tally.image_cost += served.image.cost_usd
        tally.attempts += served.image.attempts
        tally.add_usage("image", served.image.usage)
        with ctx.cpu_slots:
            frame = fit_to_frame(
                served.image.image, ctx.settings.frame.width, ctx.settings.frame.height
            )
            checked = check_image(
                frame,
                visual_type=ch.main_visual.type,
                vocab=vocab,
                native_size=served.image.image.size,
                expected_size=_asked_size(served),
                siblings=hashes,
                read_text=cfg.ocr,
            )
            record = Candidate(
                id=candidate_id,
                provider=served.image.provider,
                model=served.image.model,
                generation_method=served.image.generation_method,
                revised_prompt=served.image.revised_prompt,
                native_width=served.image.image.width,
                native_height=served.image.image.height,
                cost_usd=round(served.image.cost_usd, 6),
                checks=checked.checks,
                passed=checked.passed,
                text_found=checked.text.text if checked.text and checked.text.words else None,
                checks_score=checked.score,
                note="; ".join(checked.notes) or None,
            )
            if cfg.keep_candidates:
                record.file, record.sha256, record.bytes = ctx.recorder.write_candidate(
                    ch.chapter_id, candidate_id, frame, _candidate_meta(work, record)
                )
        hashes[candidate_id] = checked.measures.phash
        if record.passed and judge is not None and served.image.cost_usd > 0:
            judge_candidate(work, ctx, record, frame, brief)
            tally.judge_cost += record.judge_cost_usd
            tally.add_usage("judge", record.judge_usage)
        record.total = total(record.checks_score, record.judge_score, cfg.checks_weight)
        candidates.append(record)
        work.log.info(
            "candidate_made",
            candidate=candidate_id,
            passed=record.passed,
            failed_checks=",".join(record.failures()) or None,
            total=record.total,
        )
        if record.passed and (best.candidate is None or record.total > best.candidate.total):
            best = _Best(record, frame, served)
        if (
            record.passed
            and served.image.cost_usd > 0
            and cfg.accept_score > 0
            and record.total >= cfg.accept_score
        ):
            stop_note = (
                f"stopped after {len(candidates)} of {cfg.candidates}: {candidate_id} reached "
                f"accept_score {cfg.accept_score:g}"
            )
            break
    work.fields.update(_money_fields(work, tally))
    chosen = choose(candidates)
    if chosen is None or best.image is None or best.served is None:
        entry = base_entry(
            ch,
            work.plan.fingerprint,
            **work.fields,
            status="failed_checks",
            error=all_failed(candidates),
            candidates=candidates,
        )
        raise AllCandidatesFailed(entry.error or "", entry)
    winner, selection = chosen
    if stop_note:
        selection.why = f"{selection.why} ({stop_note})"
    got = best.served.image
    frame_cfg = ctx.settings.frame
    work.entry = base_entry(
        ch,
        work.plan.fingerprint,
        **work.fields,
        status="generated",
        generation_method=got.generation_method,
        provider=got.provider,
        model=got.model,
        revised_prompt=got.revised_prompt,
        width=frame_cfg.width,
        height=frame_cfg.height,
        native_width=got.image.width,
        native_height=got.image.height,
        generated_at=now_iso(),
        candidates=candidates,
        selected=winner.id,
        selection=selection,
    )
    work.image = best.image
    work.log.info(
        "chapter_generated",
        provider=best.served.step.label,
        candidates=len(candidates),
        selected=winner.id,
        method=selection.method,
        cost_usd=round(float(work.entry.cost_usd), 6),
    )


def _generate(
    work: ChapterWork, ctx: RunContext, number: int, judge: object | None, brief: Brief
) -> Served:
    ch = work.plan.chapter
    frame = ctx.settings.frame
    assert work.prompt is not None
    if judge is not None:
        # Not worth an image that cannot be judged: check both fit before paying.
        spec = ctx.services.primary
        need = ctx.services.prices.image_hold(spec, work.prompt.text) + ctx.judge_estimate(brief)
        if ctx.ledger.remaining < need:
            raise CostCapReached(
                f"candidate {number} and its judging cost about ${need:.3f}; the episode "
                f"has ${ctx.ledger.remaining:.3f} left of max_episode_cost_usd "
                f"{ctx.ledger.cap:.2f}"
            )
    request = ImageRequest(
        chapter_id=ch.chapter_id,
        title=ch.title,
        visual_type=ch.main_visual.type,
        prompt=work.prompt.text,
        width=frame.width,
        height=frame.height,
        seed=ctx.settings.image.seed,
        candidate=number,
        description=ch.main_visual.description,
        stopped=ctx.stop.stopping,
    )
    with ctx.paid_call():
        return ctx.chain.generate(request, work.log)


def judge_brief(chapter: Chapter) -> Brief:
    visual = chapter.main_visual
    return Brief(
        title=chapter.title,
        visual_type=visual.type,
        description=visual.description,
        expects_text=visual.type in TEXT_VISUALS,
    )


def judge_candidate(
    work: ChapterWork, ctx: RunContext, record: Candidate, frame: Image.Image, brief: Brief
) -> None:
    """Score one candidate with the vision judge: its scores, rationale and cost go
    into `record`; a judge that gives no usable verdict leaves a note instead."""
    judge = ctx.judge
    assert judge is not None
    image = judge_jpeg(frame)
    problems: list[str] = []
    for _ in range(JUDGE_TRIES):
        try:
            with (
                ctx.api_slots,
                ctx.ledger.hold(
                    judge.estimate(brief), "judge", what=f"judging {record.id}"
                ) as hold,
            ):
                ctx.stop.check()
                answer = judge.ask(image, brief, ctx.stop.stopping)
                hold.settle(answer.cost_usd, answer.usage)
        except CostCapReached as e:
            problems.append(str(e))
            break
        except AuthError as e:
            ctx.judge_failed(str(e))
            problems.append(str(e))
            break
        except ProviderError as e:
            problems.append(str(e))
            break
        except NotStarted as e:
            # Shutdown came after the image was paid for: it is kept, unjudged, rather
            # than lost with the chapter (the next run would pay for it again).
            problems.append(str(e))
            break
        record.judge_cost_usd = round(record.judge_cost_usd + answer.cost_usd, 6)
        for key, n in answer.usage.items():
            record.judge_usage[key] = record.judge_usage.get(key, 0) + n
        try:
            reply = parse_reply(answer.text)
        except MalformedVerdict as e:
            problems.append(f"malformed judge reply ({e})")
            continue
        record.scores = reply.scores.model_dump()
        record.judge_score = weighted_score(reply.scores, ctx.settings.selection.weights)
        record.judge_model = f"{judge.name}:{judge.model}"
        record.rationale = " ".join(reply.rationale.split())[:300]
        return
    note = "judge gave no usable verdict, ranked by checks only: " + "; ".join(problems)
    record.note = f"{record.note}; {note}" if record.note else note
    work.log.warning("judge_failed", candidate=record.id, error="; ".join(problems))


def _asked_size(served: Served) -> tuple[int, int] | None:
    size = served.step.spec.size
    if "x" not in size:
        return None
    w, _, h = size.partition("x")
    return int(w), int(h)


def _candidate_meta(work: ChapterWork, record: Candidate) -> dict[str, str]:
    """The candidate file describes itself, like the chapter image does."""
    entry = base_entry(
        work.plan.chapter,
        work.plan.fingerprint,
        status="generated",
        prompt=work.prompt.text if work.prompt else None,
        provider=record.provider,
        model=record.model,
        generation_method=record.generation_method,
        generated_at=now_iso(),
    )
    meta = png_meta(entry)
    meta["candidate"] = record.id
    return meta


def _money_fields(work: ChapterWork, tally: _Tally) -> dict[str, object]:
    prompt_cost = float(work.fields.get("prompt_cost_usd", 0.0))  # type: ignore[arg-type]
    usage = dict(work.fields.get("usage", {}) or {})  # type: ignore[call-overload]
    usage.update(tally.usage)
    return {
        "image_cost_usd": round(tally.image_cost, 6),
        "judge_cost_usd": round(tally.judge_cost, 6),
        "cost_usd": round(prompt_cost + tally.image_cost + tally.judge_cost, 6),
        "usage": usage,
        "attempts": tally.attempts,
    }
