"""A person's pick of a candidate, and re-ranking kept candidates: both work on the
files the chapter's last generation left, and neither ever pays for an image.

    SELECT  = [apply_pick, write_chosen]
    RESCORE = [rescore, write_chosen]   (writes only when the choice changed)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PIL import Image

from handlers.errors import ImagegenError
from handlers.outputs.entries import now_iso
from handlers.outputs.manifest import Candidate, ManifestEntry, Selection
from handlers.run.candidates import judge_brief, judge_candidate
from handlers.run.context import ChapterWork, RunContext
from handlers.select.checks import check_image
from handlers.select.choose import choose, total
from handlers.select.words import vocabulary

if TYPE_CHECKING:
    import imagehash


class PickRefused(ImagegenError):
    """The pick names no usable candidate; the chapter keeps its image."""


def apply_pick(work: ChapterWork, ctx: RunContext) -> None:
    previous, pick = work.plan.previous, work.plan.pick
    assert previous is not None and pick is not None
    cid = previous.chapter_id
    known = ", ".join(c.id for c in previous.candidates) or "none kept"
    if pick.candidate is None:
        raise PickRefused(
            f"{pick.folder.path / pick.name}: names no candidate; write e.g. c02 "
            f"(ones of {cid}: {known})"
        )
    chosen = previous.candidate(pick.candidate)
    if chosen is None:
        raise PickRefused(f"{pick.describe()}: {cid} has no candidate {pick.candidate} ({known})")
    _, png = _read(ctx, chosen)
    was = previous.selected or "none"
    why = f"picked by {pick.by or 'a person'}"
    why += f" at {pick.at}" if pick.at else ""
    why += f", over {was}" if was != chosen.id else ""
    if not chosen.passed:
        why += f" (overruling its failed checks: {', '.join(chosen.failures())})"
    work.entry = _with_chosen(previous, chosen, Selection(method="manual", why=why + "."))
    work.png = png
    work.log.info("candidate_picked", candidate=chosen.id, previous=was)


def rescore(work: ChapterWork, ctx: RunContext) -> None:
    """Checks and judge again on the kept files (after a judge or weight change). A
    manual pick stands; a changed automatic choice becomes the chapter's image."""
    previous = work.plan.previous
    assert previous is not None
    ch = work.plan.chapter
    cfg = ctx.settings.selection
    vocab = vocabulary(ch.title, ch.main_visual.description, ch.main_visual.image_prompt)
    brief = judge_brief(ch)
    hashes: dict[str, imagehash.ImageHash] = {}
    files: dict[str, bytes] = {}
    rescored: list[Candidate] = []
    judge_cost = 0.0
    for old in previous.candidates:
        if old.file is None:
            rescored.append(old)
            continue
        image, png = _read(ctx, old)
        with ctx.cpu_slots:
            checked = check_image(
                image,
                visual_type=ch.main_visual.type,
                vocab=vocab,
                native_size=(old.native_width or image.width, old.native_height or image.height),
                expected_size=None,
                siblings=hashes,
                read_text=cfg.ocr,
            )
        hashes[old.id] = checked.measures.phash
        new = old.model_copy(
            update={
                "checks": checked.checks,
                "passed": checked.passed and all(c.passed for c in old.checks if c.name == "size"),
                "checks_score": checked.score,
                "scores": None,
                "judge_score": None,
                "judge_model": None,
                "rationale": None,
                "note": "; ".join(checked.notes) or None,
            }
        )
        if new.passed and ctx.judge_usable() and old.cost_usd > 0:
            before = new.judge_cost_usd
            judge_candidate(work, ctx, new, image, brief)
            judge_cost += new.judge_cost_usd - before
        new.total = total(new.checks_score, new.judge_score, cfg.checks_weight)
        rescored.append(new)
        files[new.id] = png
    entry = previous.model_copy(
        update={
            "candidates": rescored,
            "judge_cost_usd": round(previous.judge_cost_usd + judge_cost, 6),
            "cost_usd": round(previous.cost_usd + judge_cost, 6),
        }
    )
    if previous.selection is not None and previous.selection.method == "manual":
        work.entry = entry  # a person's choice stands until the chapter's input changes
        return
    chosen = choose(rescored)
    if chosen is None:
        work.entry = entry
        work.log.warning("rescore_no_passing_candidate", kept=previous.selected)
        return
    best, selection = chosen
    selection.why = f"re-ranked: {selection.why}"
    work.entry = _with_chosen(entry, best, selection)
    if best.id != previous.selected:
        work.png = files[best.id]
    work.log.info("candidates_rescored", selected=best.id, previous=previous.selected)


def _read(ctx: RunContext, candidate: Candidate) -> tuple[Image.Image, bytes]:
    if candidate.file is None:
        raise PickRefused(
            f"candidate {candidate.id} was not kept (selection.keep_candidates was false)"
        )
    try:
        return ctx.recorder.read_candidate(candidate.file, candidate.sha256)
    except (ImagegenError, OSError) as e:
        raise PickRefused(f"candidate {candidate.id}: {e}") from None


def _with_chosen(entry: ManifestEntry, chosen: Candidate, selection: Selection) -> ManifestEntry:
    return entry.model_copy(
        update={
            "selected": chosen.id,
            "selection": selection,
            "provider": chosen.provider,
            "model": chosen.model,
            "generation_method": chosen.generation_method,
            "revised_prompt": chosen.revised_prompt,
            "native_width": chosen.native_width,
            "native_height": chosen.native_height,
            "generated_at": now_iso(),
        }
    )
