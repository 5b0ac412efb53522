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
    images, each judged (early stops only make it cheaper)."""
    primary = services.chain[0].spec
    image_price, known = services.prices.image_spec(primary)
    n = settings.selection.candidates
    judge = services.judge if image_price > 0 else None
    total = 0.0
    chapters: list[dict[str, Any]] = []
    for plan in plans:
        ch = plan.chapter
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
            item.update(
                prompt=prompt,
                prompt_source=source,
                provider=primary.provider,
                model=primary.model,
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
