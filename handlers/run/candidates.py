"""A generated chapter's candidates: made one at a time until `selection.candidates`
exist or a paid one reaches `selection.accept_score` (best-of-N with early stop),
each kept on disk the moment it is paid for, then checked, judged where a judge is
configured, and the best passing one chosen.

    recover: candidates a killed run paid for and kept, but never recorded
    for each new candidate: generate (API slot, held in the ledger)
                            -> fit, keep its file (CPU slot): paid for, never again
                            -> check (CPU slot) -> judge (API slot; only if it passed)
    choose -> the chapter's entry; the chosen file becomes images/<chapter_id>.png
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from handlers.episode import layout
from handlers.errors import AuthError, ConfigurationError, ImagegenError, ProviderError
from handlers.hashing import sha256_bytes
from handlers.money.ledger import CostCapReached
from handlers.outputs import shelves
from handlers.outputs.entries import base_entry, now_iso
from handlers.outputs.manifest import Candidate, ManifestEntry, ProviderAttempt
from handlers.outputs.png import crop_to_frame
from handlers.providers.base import ImageRequest
from handlers.providers.chain import Served
from handlers.run.candidate_files import attach_file, candidate_meta, recover_candidates
from handlers.run.context import ChapterWork, Made, RunContext
from handlers.run.judging import judge_brief, judge_candidate
from handlers.select.checks import check_image
from handlers.select.choose import all_failed, choose, total
from handlers.select.words import vocabulary
from handlers.stop import NotStarted

if TYPE_CHECKING:
    import imagehash

__all__ = [
    "AllCandidatesFailed",
    "judge_brief",
    "judge_candidate",
    "make_candidates",
    "recover_candidates",
]


class AllCandidatesFailed(ImagegenError):
    """No candidate passed its checks; the entry lists them and why."""

    def __init__(self, message: str, entry: ManifestEntry) -> None:
        super().__init__(message)
        self.entry = entry


@dataclass
class _Round:
    """One chapter's candidates so far."""

    candidates: list[Candidate] = field(default_factory=list)
    hashes: dict[str, imagehash.ImageHash] = field(default_factory=dict)
    best: Made | None = None
    usage: dict[str, dict[str, int]] = field(default_factory=dict)
    attempts: int = 0
    stop_note: str | None = None

    def add_usage(self, kind: str, usage: dict[str, int]) -> None:
        into = self.usage.setdefault(kind, {})
        for key, n in usage.items():
            into[key] = into.get(key, 0) + n


# -- the steps ------------------------------------------------------------------------


def make_candidates(work: ChapterWork, ctx: RunContext) -> None:
    """The pipeline step: fills work.entry, and work.png (or work.image) with the
    chosen candidate."""
    cfg = ctx.settings.selection
    assert work.prompt is not None
    # A second set (after a first that all failed its checks) goes on from the first.
    state = _Round(candidates=list(work.earlier))
    accepted = False
    for made in work.recovered:
        accepted = _consider(work, ctx, state, made)
        if accepted:
            break
    first = len(work.earlier) + 1
    shelf = work.candidate_shelf(ctx.recorder)
    number = shelves.next_number(shelf) if cfg.keep_candidates else first
    while not accepted and len(state.candidates) < cfg.candidates + len(work.earlier):
        trail: list[ProviderAttempt] = []
        try:
            served = _generate(work, ctx, len(state.candidates) + 1, trail, not state.candidates)
        except (CostCapReached, NotStarted, ProviderError, AuthError, ConfigurationError) as e:
            # The candidates already paid for still make the chapter: one failure (a
            # rejected prompt, a dead provider, the cap, shutdown) stops only the next.
            if not state.candidates:
                work.fields["provider_attempts"] = trail  # the failed entry says why
                raise
            reason = ctx.stop.reason if isinstance(e, NotStarted) else str(e)
            state.stop_note = f"stopped after {len(state.candidates)} of {cfg.candidates}: {reason}"
            work.log.warning("candidates_stopped", reason=reason)
            break
        state.attempts += served.image.attempts
        state.add_usage("image", served.image.usage)
        made = _keep(work, ctx, served, layout.candidate_id(number))
        number += 1
        accepted = _consider(work, ctx, state, made)
        if served.stand_in:
            # Every paid provider failed: one stand-in holds the chapter's place until
            # the retry; more offline drawings would not make it any better.
            state.stop_note = "an offline stand-in: every paid provider failed; tried again later"
            break
    _finish(work, ctx, state)


# -- one candidate --------------------------------------------------------------------


def _generate(
    work: ChapterWork,
    ctx: RunContext,
    number: int,
    trail: list[ProviderAttempt],
    stand_in: bool,
) -> Served:
    ch = work.plan.chapter
    frame = ctx.settings.frame
    assert work.prompt is not None
    if ctx.judge_usable():
        # Not worth an image that cannot be judged: check both fit before paying.
        spec = ctx.services.primary_for(ch.main_visual.type)
        need = ctx.services.prices.image_hold(spec, work.prompt.text, len(work.references))
        need += ctx.judge_estimate(judge_brief(ch))
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
        references=tuple(work.references),
        shot=work.shot,
    )
    with ctx.paid_call(work):
        return ctx.chain.generate(request, work.log, trail, stand_in=stand_in)


def _keep(work: ChapterWork, ctx: RunContext, served: Served, candidate_id: str) -> Made:
    """Crop the paid image to the frame's aspect and keep its file at once: from here on
    a kill loses nothing that was paid for. Candidates are kept at the provider's own
    resolution; only the chosen one is scaled to the frame (write_chosen)."""
    got = served.image
    record = Candidate(
        id=candidate_id,
        provider=got.provider,
        model=got.model,
        generation_method=got.generation_method,
        revised_prompt=got.revised_prompt,
        native_width=got.image.width,
        native_height=got.image.height,
        cost_usd=round(got.cost_usd, 6),
        provider_attempts=served.attempts,
        references=got.references_sent,
        stand_in=served.stand_in,
    )
    unsent = [ref.name for ref in work.references if ref.name not in got.references_sent]
    if unsent:
        record.note = f"reference image not sent ({served.step.label} takes none): " + ", ".join(
            unsent
        )
    frame_cfg = ctx.settings.frame
    # Not behind the CPU slots: a paid image waits for nobody's checks to be kept.
    frame = crop_to_frame(got.image, frame_cfg.width, frame_cfg.height)
    png = None
    if ctx.settings.selection.keep_candidates:
        shelf = work.candidate_shelf(ctx.recorder)
        png = shelves.write(
            shelf, candidate_id, frame, candidate_meta(work, record, journaled=ctx.ledger.journals)
        )
        attach_file(record, shelf, png)
        ctx.recorder.thumb(record.sha256 or sha256_bytes(png), frame)
    return Made(record, frame, png, _asked_size(served))


def _consider(work: ChapterWork, ctx: RunContext, state: _Round, made: Made) -> bool:
    """Check, judge and rank one candidate; True when it is good enough to stop."""
    ch = work.plan.chapter
    cfg = ctx.settings.selection
    record = made.record
    assert made.frame is not None
    with ctx.cpu_slots:
        checked = check_image(
            made.frame,
            visual_type=ch.main_visual.type,
            vocab=vocabulary(ch.title, ch.main_visual.description, ch.main_visual.image_prompt),
            native_size=(record.native_width or 0, record.native_height or 0),
            expected_size=made.asked,
            siblings=state.hashes,
            read_text=cfg.ocr,
        )
    record.checks = checked.checks
    record.passed = checked.passed
    record.text_found = checked.text.text if checked.text and checked.text.words else None
    record.checks_score = checked.score
    notes = [n for n in (record.note, *checked.notes) if n]
    record.note = "; ".join(notes) or None
    state.hashes[record.id] = checked.measures.phash
    paid = record.cost_usd > 0
    if record.passed and paid and ctx.judge_usable():
        judge_candidate(work, ctx, record, made.frame, judge_brief(ch))
        state.add_usage("judge", record.judge_usage)
    record.total = total(record.checks_score, record.judge_score, cfg.checks_weight)
    state.candidates.append(record)
    work.log.info(
        "candidate_made",
        candidate=record.id,
        passed=record.passed,
        failed_checks=",".join(record.failures()) or None,
        total=record.total,
    )
    if not record.passed:
        return False
    if state.best is None or record.total > state.best.record.total:
        # The kept file is all the final write needs when it is at the frame size already
        # (the offline renderer's); else its pixels are scaled then (kept, not decoded).
        frame_size = (ctx.settings.frame.width, ctx.settings.frame.height)
        at_size = made.png is not None and made.frame.size == frame_size
        state.best = Made(record, None if at_size else made.frame, made.png)
    if paid and cfg.accept_score > 0 and record.total >= cfg.accept_score:
        state.stop_note = (
            f"stopped after {len(state.candidates)} of {cfg.candidates}: {record.id} reached "
            f"accept_score {cfg.accept_score:g}"
        )
        return True
    return False


def _finish(work: ChapterWork, ctx: RunContext, state: _Round) -> None:
    ch = work.plan.chapter
    candidates = state.candidates
    work.fields.update(_money_fields(work, state))
    chosen = choose(candidates)
    if chosen is None or state.best is None:
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
    if state.stop_note:
        selection.why = f"{selection.why} ({state.stop_note})"
    frame_cfg = ctx.settings.frame
    failed = [a.error for a in winner.provider_attempts if a.outcome != "ok" and a.error]
    work.fields.update(provider_attempts=winner.provider_attempts, references=winner.references)
    work.entry = base_entry(
        ch,
        work.plan.fingerprint,
        **work.fields,
        # An offline stand-in holds the place; like a failure it is tried again.
        status="fallback" if winner.stand_in else "generated",
        error="; ".join(failed) if winner.stand_in else None,
        generation_method=winner.generation_method,
        provider=winner.provider,
        model=winner.model,
        revised_prompt=winner.revised_prompt,
        width=frame_cfg.width,
        height=frame_cfg.height,
        native_width=winner.native_width,
        native_height=winner.native_height,
        generated_at=now_iso(),
        candidates=candidates,
        selected=winner.id,
        selection=selection,
    )
    best = state.best
    work.png, work.image = best.png, best.frame
    work.log.info(
        "chapter_generated",
        provider=f"{winner.provider}:{winner.model}",
        candidates=len(candidates),
        selected=winner.id,
        method=selection.method,
        cost_usd=round(float(work.entry.cost_usd), 6),
    )


# -- small helpers --------------------------------------------------------------------


def _asked_size(served: Served) -> tuple[int, int] | None:
    size = served.step.spec.size
    if "x" not in size:
        return None
    w, _, h = size.partition("x")
    return int(w), int(h)


def _money_fields(work: ChapterWork, state: _Round) -> dict[str, object]:
    prompt_cost = float(work.fields.get("prompt_cost_usd", 0.0))  # type: ignore[arg-type]
    image_cost = sum(c.cost_usd for c in state.candidates)
    judge_cost = sum(c.judge_cost_usd for c in state.candidates)
    usage = dict(work.fields.get("usage", {}) or {})  # type: ignore[call-overload]
    usage.update(state.usage)
    return {
        "image_cost_usd": round(image_cost, 6),
        "judge_cost_usd": round(judge_cost, 6),
        "cost_usd": round(prompt_cost + image_cost + judge_cost, 6),
        "usage": usage,
        "attempts": state.attempts,
    }
