"""The pipeline steps of prompt refinement (the loop itself: handlers/prompts/refine.py).

refine_prompt              after write_prompt: writer + critic rounds, traced
make_candidates_or_refine  make_candidates; when every candidate fails its checks,
                           one more round with their findings as the fixes, then
                           one more set of candidates (once per chapter and job)
"""

from __future__ import annotations

from typing import Any

from handlers.money.journal import JOURNALED
from handlers.outputs.entries import Fingerprint
from handlers.outputs.manifest import Candidate, ManifestEntry
from handlers.prompts.critic import Fix, PromptBrief
from handlers.prompts.refine import Refinement
from handlers.prompts.refine_job import RefineJob
from handlers.prompts.refine_setup import brief_for, refines
from handlers.prompts.rule_writer import RuleWriter
from handlers.prompts.rules import LABELS, RuleCritic, remedy
from handlers.prompts.trace import TraceFiles
from handlers.prompts.writers import WrittenPrompt, context_for
from handlers.run.candidates import AllCandidatesFailed, judge_brief, make_candidates
from handlers.run.context import ChapterWork, RunContext

# A judge's criterion at or below this (of 10) is a finding worth a fix.
LOW_JUDGE_SCORE = 5


def recover_trace(work: ChapterWork, ctx: RunContext) -> None:
    """A trace a killed run finished for this very input and settings is not paid for
    again: linked to the candidates it left, or, with none, its final prompt is used
    without a writer or critic call. A chapter redone on purpose (a marker, --force, a
    failed attempt recorded for this input) is refined anew."""
    ch = work.plan.chapter
    fp = work.plan.fingerprint
    previous = work.plan.previous
    if not refines(ch, ctx.settings):
        return
    if not work.recovered and previous is not None and _hashes(previous.model_dump()) == fp:
        return
    files = TraceFiles(ctx.recorder.dirs, ch.chapter_id)
    index = files.read_index()
    final = files.read_final()
    if index is None or final is None or _hashes(index) != fp:
        return
    if work.prompt is not None and work.prompt.text != final:
        return  # the candidates were made from another prompt
    source = (index.get("original") or {}).get("source") or "recovered"
    cost = float(index.get("cost_usd") or 0.0)
    ctx.ledger.add_recovered(cost, journaled=index.get(JOURNALED) is True)
    work.prompt = WrittenPrompt(text=final, source=source, cost_usd=cost)
    summary = {
        "trace": files.index_relative,
        "writer": index.get("writer"),
        "critic": index.get("critic"),
        "rounds": len(index.get("rounds") or []),
        "score": (index.get("final") or {}).get("score"),
        "stop_reason": index.get("stop_reason"),
        "cost_usd": cost,
        "note": "recovered: refined by a run that was stopped before recording it",
    }
    work.fields.update(
        prompt=final,
        prompt_source=source,
        prompt_cost_usd=cost,
        cost_usd=cost,
        usage=dict(index.get("tokens") or {}),
        prompt_trace=files.index_relative,
        prompt_refinement=summary,
    )
    work.log.info("prompt_trace_recovered", trace=files.index_relative, cost_usd=cost)


def refine_prompt(work: ChapterWork, ctx: RunContext) -> None:
    ch = work.plan.chapter
    files = TraceFiles(ctx.recorder.dirs, ch.chapter_id)
    if work.prompt is None or work.recovered or work.fields.get("prompt_trace"):
        return  # a recovered prompt (of kept candidates, or of a finished trace) stands
    if not refines(ch, ctx.settings):
        # A trace of an earlier generation would describe a prompt no longer used.
        files.clear()
        return
    refinement = Refinement(_job(work, ctx, files), work.prompt)
    refinement.run()
    work.refinement = refinement
    _use(work, refinement)
    summary = refinement.summary()
    work.log.info(
        "prompt_refined",
        critic=summary["critic"],
        rounds=summary["rounds"],
        score=summary["score"],
        stop_reason=summary["stop_reason"],
        cost_usd=summary["cost_usd"],
    )


def make_candidates_or_refine(work: ChapterWork, ctx: RunContext) -> None:
    try:
        make_candidates(work, ctx)
        return
    except AllCandidatesFailed as e:
        refinement = work.refinement
        if refinement is None or work.earlier or ctx.stop.stopping():
            raise
        first = e.entry
    findings = findings_of(first.candidates, refinement.job.brief)
    work.log.warning("refining_after_failed_checks", findings=len(findings))
    refinement.after_failed_checks(findings)
    _use(work, refinement)
    work.earlier = list(first.candidates)
    try:
        make_candidates(work, ctx)
    except AllCandidatesFailed as again:
        again.entry = _with_first_set(again.entry, first)
        raise
    assert work.entry is not None
    work.entry = _with_first_set(work.entry, first)


def findings_of(candidates: list[Candidate], brief: PromptBrief) -> list[Fix]:
    """What the checks (and the judge, where it scored) found, one fix per kind of
    finding, naming the candidates it was found in."""
    found: dict[str, tuple[str, list[str]]] = {}
    for c in candidates:
        for check in c.checks:
            if not check.passed:
                detail = check.detail or str(check.value)
                _note(found, f"checks.{check.name}", f"failed {check.name} ({detail})", c.id)
        for criterion, score in (c.scores or {}).items():
            if score <= LOW_JUDGE_SCORE:
                _note(found, f"judge.{criterion}", f"judged {criterion} {score}/10", c.id)
    fixes = []
    for code, (what, ids) in found.items():
        dimension = code.split(".", 1)[0]
        text = f"{LABELS[dimension]}: {_join(ids)} {what}"
        found_remedy = remedy(code, brief)
        if found_remedy is not None:
            text += f": ask for “{found_remedy.phrase(brief.visual_type)}”"
        fixes.append(Fix(dimension, text + ".", code if found_remedy else None))
    return fixes


# -- helpers --------------------------------------------------------------------------


def _job(work: ChapterWork, ctx: RunContext, files: TraceFiles) -> RefineJob:
    ch = work.plan.chapter
    settings = ctx.settings
    services = ctx.services
    context = context_for(ch, settings.prompt.style_prefix, settings.prompt.narration_chars)
    rules = RuleCritic(settings.refine.weights)
    writer: Any = services.writer if services.writer.paid else RuleWriter(rules)
    fp = work.plan.fingerprint
    return RefineJob(
        context=context,
        brief=brief_for(context, settings),
        settings=settings.refine,
        rules=rules,
        critic=services.critic,
        writer=writer,
        ledger=ctx.ledger,
        stop=ctx.stop,
        files=files,
        api_slot=lambda: ctx.paid_call(work, llm=True),
        reserve_after=_first_image_cost(work, ctx),
        facts={
            "episode_id": ctx.episode.doc.episode_id,
            "chapter_id": ch.chapter_id,
            "title": ch.title,
            "chapter_hash": fp.chapter,
            "settings_hash": fp.settings,
            "template_hash": fp.template,
        },
    )


def _first_image_cost(work: ChapterWork, ctx: RunContext) -> float:
    """What the chapter's first candidate (and its judging) will hold: refinement
    never spends the money a chapter needs for one image."""
    assert work.prompt is not None
    services = ctx.services
    need = services.prices.image_hold(services.primary, work.prompt.text)
    if need > 0 and ctx.judge_usable():
        need += ctx.judge_estimate(judge_brief(work.plan.chapter))
    return need


def _use(work: ChapterWork, refinement: Refinement) -> None:
    """The refined prompt for the images, and its cost and tokens in the entry."""
    original = refinement.original
    work.prompt = WrittenPrompt(
        text=refinement.final,
        source=original.source,
        model=original.model,
        usage=original.usage,
        cost_usd=original.cost_usd + refinement.cost_usd,
    )
    usage = dict(work.fields.get("usage") or {})  # type: ignore[call-overload]
    usage.update(refinement.usage)
    cost = round(work.prompt.cost_usd, 6)
    work.fields.update(
        prompt=refinement.final,
        prompt_cost_usd=cost,
        cost_usd=cost,
        usage=usage,
        prompt_trace=refinement.job.files.index_relative,
        prompt_refinement=refinement.summary(),
    )


def _with_first_set(entry: ManifestEntry, first: ManifestEntry) -> ManifestEntry:
    """The first set's attempts and image/judge tokens back in the entry (the second
    set's step counted its own only)."""
    usage = dict(entry.usage)
    for kind in ("image", "judge"):
        merged = dict(usage.get(kind, {}))
        for key, n in first.usage.get(kind, {}).items():
            merged[key] = merged.get(key, 0) + n
        if merged:
            usage[kind] = merged
    return entry.model_copy(update={"usage": usage, "attempts": entry.attempts + first.attempts})


def _hashes(record: dict[str, Any]) -> Fingerprint:
    return Fingerprint(
        chapter=record.get("chapter_hash") or "",
        template=record.get("template_hash"),
        settings=record.get("settings_hash") or "",
    )


def _note(found: dict[str, tuple[str, list[str]]], code: str, what: str, cid: str) -> None:
    if code not in found:
        found[code] = (what, [])
    found[code][1].append(cid)


def _join(ids: list[str]) -> str:
    return ids[0] if len(ids) == 1 else ", ".join(ids[:-1]) + " and " + ids[-1]
