"""Judging one candidate with the vision judge (moved out of candidates.py, which
re-exports these names): its scores, rationale and cost go into the candidate's record."""

from __future__ import annotations

from PIL import Image

from handlers.episode.chapters import Chapter
from handlers.errors import AuthError, ProviderError
from handlers.money.ledger import CostCapReached
from handlers.outputs.manifest import Candidate
from handlers.run.context import ChapterWork, RunContext
from handlers.select.checks import TEXT_VISUALS
from handlers.select.judge import Brief, MalformedVerdict, judge_jpeg, parse_reply, weighted_score
from handlers.stop import NotStarted

# A judge reply that is not the rubric's JSON is asked for once more, then given up.
JUDGE_TRIES = 2


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
                ctx.llm_slots.hold(work.paid_calls, work.order),
                ctx.ledger.hold(
                    judge.estimate(brief), "judge", what=f"judging {record.id}"
                ) as hold,
            ):
                ctx.stop.check()
                answer = judge.ask(image, brief, ctx.stop.stopping)
                hold.settle(answer.cost_usd, answer.usage)
        except (CostCapReached, NotStarted) as e:
            # The image is paid for and kept either way; only its score is missing.
            problems.append(str(e) or "imagegen is stopping")
            break
        except AuthError as e:
            ctx.judge_failed(str(e))
            problems.append(str(e))
            break
        except ProviderError as e:
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
