"""Dry run: images/imagegen_request.json says what would be sent and what it would cost."""

from __future__ import annotations

from typing import Any

from config.settings import Settings
from handlers.episode import layout
from handlers.episode.chapters import Episode
from handlers.files.dirs import Dir
from handlers.money.pricing import PRICES_DATE
from handlers.outputs.entries import now_iso
from handlers.plan.decide import ChapterPlan
from handlers.prompts.refine_setup import refine_estimate, refines
from handlers.prompts.step import writer_estimate
from handlers.prompts.writers import chapter_prompt, context_for
from handlers.run.candidates import judge_brief
from handlers.run.services import Services


def write_request_file(
    folder: Dir,
    episode: Episode,
    plans: list[ChapterPlan],
    services: Services,
    settings: Settings,
) -> float:
    """Write the request file; return the estimated cost in USD. Nothing is paid:
    an LLM writer is not called, its prompt is left null and only its price estimated.
    The estimate is the most the run can cost: every chapter's `selection.candidates`
    images, each judged, and every round of prompt refinement (early stops only make it
    cheaper; a second set of candidates after a first that all failed their checks is
    not counted)."""
    n = settings.selection.candidates
    total = 0.0
    known = True
    chapters: list[dict[str, Any]] = []
    for plan in plans:
        ch = plan.chapter
        chain = services.chain_for(ch.main_visual.type)
        primary = chain[0].spec
        image_price, price_known = services.prices.image_spec(primary)
        known = known and price_known
        judge = services.judge if image_price > 0 else None
        item: dict[str, Any] = {
            "chapter_id": ch.chapter_id,
            "visual_type": ch.main_visual.type,
            "action": plan.action,
            "reason": plan.reason,
        }
        if plan.action == "generate":
            style = settings.prompt.style_prefix
            prompt = chapter_prompt(ch, style)
            judge_price = judge.estimate(judge_brief(ch)) if judge else 0.0
            cost = n * (image_price + judge_price)
            source = "chapter"
            if prompt is None:
                ctx = context_for(ch, style, settings.prompt.narration_chars)
                if services.writer.paid:
                    source = f"writer:{services.writer.name}"
                    cost += writer_estimate(
                        services.writer, services.template, services.prices, ctx
                    )
                else:
                    written = services.writer.write(ctx)
                    prompt, source = written.text, written.source
            if refines(ch, settings):
                refine_cost = refine_estimate(
                    context_for(ch, style, settings.prompt.narration_chars),
                    settings,
                    services.writer,
                    services.template,
                    services.prices,
                    services.critic,
                )
                cost += refine_cost
                item["refine"] = {
                    "critic": services.critic.label if services.critic else "rules",
                    "max_rounds": settings.refine.max_rounds,
                    "estimated_cost_usd": round(refine_cost, 6),
                    "note": "the written prompt above is refined before any image",
                }
            item.update(
                prompt=prompt,
                prompt_source=source,
                provider=primary.provider,
                model=primary.model,
                chain=[step.label for step in chain],
                reference_image=ch.main_visual.reference_image,
                size=primary.size,
                quality=primary.quality,
                frame=f"{settings.frame.width}x{settings.frame.height}",
                candidates=n,
                image_price_usd=round(image_price, 6),
                judge=f"{judge.name}:{judge.model}" if judge else None,
                judge_price_usd=round(judge_price, 6) if judge else None,
                estimated_cost_usd=round(cost, 6),
            )
            total += cost
        chapters.append(item)
    folder.write_json(
        layout.REQUEST,
        {
            "episode_id": episode.doc.episode_id,
            "created_at": now_iso(),
            "dry_run": True,
            "chapters_sha256": episode.sha256,
            "estimated_cost_usd": round(total, 6),
            "price_known": known,
            "prices_date": PRICES_DATE,
            "max_episode_cost_usd": settings.max_episode_cost_usd,
            "chapters": chapters,
        },
    )
    return round(total, 6)
