"""A kept candidate's file speaks for itself: what is written into it when it is paid
for (enough to recover it, and what it cost), and the candidates recovered from files
a killed run paid for but never recorded."""

from __future__ import annotations

from handlers.hashing import sha256_bytes
from handlers.money.journal import JOURNALED
from handlers.outputs import shelves
from handlers.outputs.entries import base_entry, now_iso, png_meta
from handlers.outputs.manifest import Candidate
from handlers.outputs.shelves import Shelf
from handlers.prompts.writers import WrittenPrompt
from handlers.run.context import ChapterWork, Made, RunContext

# The candidate file's metadata key that marks an offline stand-in: never recovered as
# a candidate after a kill (it is free to draw again, and the chapter must be retried).
STAND_IN_META = "stand_in"


def recover_candidates(work: ChapterWork, ctx: RunContext) -> None:
    """Candidate files a killed run paid for but no manifest names yet, made for this
    very input and settings: they count as the first candidates (with their prompt),
    so a kill at any moment never pays for an image twice."""
    if not ctx.settings.selection.keep_candidates:
        return
    previous = work.plan.previous
    known = {c.id for c in previous.candidates} if previous else set()
    fp = work.plan.fingerprint
    shelf = work.candidate_shelf(ctx.recorder)
    for cid, meta, png, image in shelves.orphans(shelf, known):
        if (
            meta.get("chapter_hash") != fp.chapter
            or meta.get("settings_hash") != fp.settings
            or (meta.get("template_hash") or None) != fp.template
            or not meta.get("prompt")
            or meta.get(STAND_IN_META)
        ):
            continue
        cost = _float(meta.get("cost_usd"))
        native_w, _, native_h = meta.get("native_size", "").partition("x")
        record = Candidate(
            id=cid,
            provider=meta.get("provider"),
            model=meta.get("model"),
            generation_method=meta.get("generation_method"),
            revised_prompt=meta.get("revised_prompt"),
            native_width=int(native_w) if native_w.isdigit() else image.width,
            native_height=int(native_h) if native_h.isdigit() else image.height,
            cost_usd=cost,
            note="recovered: made by a run that was stopped before recording it",
        )
        attach_file(record, shelf, png)
        work.recovered.append(Made(record, image, png))
        if work.prompt is None:
            work.prompt = WrittenPrompt(
                text=meta["prompt"], source=meta.get("prompt_source") or "recovered"
            )
        ctx.ledger.add_recovered(cost, journaled=meta.get(JOURNALED) == "true")
    if work.recovered:
        work.log.info("candidates_recovered", candidates=[m.record.id for m in work.recovered])


def attach_file(record: Candidate, shelf: Shelf, png: bytes) -> None:
    record.file = shelf.file(record.id)
    record.sha256 = sha256_bytes(png)
    record.bytes = len(png)


def candidate_meta(work: ChapterWork, record: Candidate, *, journaled: bool) -> dict[str, str]:
    """The candidate file describes itself, like the chapter image does: enough to
    recover it, and what it cost, after a kill (and whether the spend journal counted
    that cost when it was paid)."""
    entry = base_entry(
        work.plan.chapter,
        work.plan.fingerprint,
        status="fallback" if record.stand_in else "generated",
        prompt=work.prompt.text if work.prompt else None,
        prompt_source=work.prompt.source if work.prompt else None,
        provider=record.provider,
        model=record.model,
        generation_method=record.generation_method,
        revised_prompt=record.revised_prompt,
        native_width=record.native_width,
        native_height=record.native_height,
        cost_usd=record.cost_usd,
        generated_at=now_iso(),
    )
    meta = png_meta(entry)
    meta["candidate"] = record.id
    if record.stand_in:
        meta[STAND_IN_META] = "true"
    if journaled:
        meta[JOURNALED] = "true"
    return meta


def _float(value: str | None) -> float:
    try:
        return max(0.0, float(value or 0))
    except ValueError:
        return 0.0
