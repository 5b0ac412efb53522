"""The storyboard's steps in a run, after the chapters' images (what is current and
what is forced: storyboard_plan.py; the hashes: handlers/storyboard/steps.py):

    sheet   the component sheet, unless current: one planner call for the episode
    clips   in parallel, `image.concurrency` paid calls at a time; each clip in order:
            shot plan -> start frame -> end frame (made from the start frame)

A frame goes through the chapters' machinery (handlers/run/pipeline.py run_chapter):
recover_candidates, load_references, make_candidates (each candidate kept the moment it
is paid for, checked, judged, held in the ledger, down the provider chain), then the
chosen one becomes storyboard/<chapter_id>/<moment>.png. storyboard.json is written
after every step, with imagegen's spend so far: a kill loses at most the step in flight.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

import structlog

from handlers.episode import layout
from handlers.episode.chapters import KNOWN_TYPES
from handlers.files.dirs import Gone
from handlers.outputs.entries import now_iso
from handlers.outputs.manifest import ManifestEntry
from handlers.outputs.markers import Marker, consume
from handlers.run.context import RunContext, pool_size
from handlers.run.storyboard_asks import PlanFailed, ask_planner
from handlers.run.storyboard_frames import FrameMaker
from handlers.run.storyboard_plan import BoardResult, BoardRun, marker_token
from handlers.stop import NotStarted
from handlers.storyboard.components import keep_known, template_sheet
from handlers.storyboard.frames import Moment
from handlers.storyboard.model import (
    DONE_CLIP_STATUSES,
    Clip,
    Components,
    ComponentSheet,
    Made,
    Storyboard,
    write_storyboard,
)
from handlers.storyboard.planners import ShotReply, sheet_question, shot_question
from handlers.storyboard.shots import duration_seconds, shown, template_shot
from handlers.storyboard.steps import ClipWork, frame_problem, shot_hash

log = structlog.get_logger("imagegen")


def make_storyboard(board: BoardRun, ctx: RunContext, why: str) -> BoardResult:
    """The storyboard's steps; `why` the plan's reason it has work (for the log)."""
    log.info("storyboard_planned", episode_id=board.dirs.paths.name, reason=why)
    spent = ctx.ledger.cumulative
    result = Storyboarding(board, ctx).run()
    if ctx.ledger.cumulative != spent:  # paid, or found paid by a killed run
        ctx.recorder.write_manifest()  # its cumulative spend, the storyboard's included
    return result


class Storyboarding:
    def __init__(self, board: BoardRun, ctx: RunContext) -> None:
        self.board = board
        self.ctx = ctx
        self.dirs = board.dirs
        self.episode = board.episode
        self.planner = board.planner
        self.log = log.bind(episode_id=self.dirs.paths.name)
        source = f"storyboard:{self.planner.name}"
        self.frames = FrameMaker(self.dirs, self.episode.doc.title, source, self.log)
        self._lock = threading.Lock()
        self.result = BoardResult()
        previous = board.previous
        clips = []
        for work in board.plan.clips:
            old = work.previous.model_copy(deep=True) if work.previous else None
            clip = old or Clip(
                clip_number=work.clip_number,
                chapter_id=work.chapter.chapter_id,
                title=work.chapter.title,
                visual_type=work.chapter.main_visual.type,
            )
            clip.clip_number = work.clip_number
            clip.title = work.chapter.title
            clip.visual_type = work.chapter.main_visual.type
            clips.append(clip)
        frame = board.settings.frame
        self.doc = Storyboard(
            episode_id=self.episode.doc.episode_id,
            chapters_sha256=self.episode.sha256,
            frame={"width": frame.width, "height": frame.height},
            state="in_progress",
            components=previous.components if previous else None,
            clips=clips,
            redone=dict(previous.redone) if previous else {},
        )
        self.clips = {c.chapter_id: c for c in clips}

    # -- the run ------------------------------------------------------------------------

    def run(self) -> BoardResult:
        self._save()
        sheet = self._sheet()
        todo = [w for w in self.board.plan.clips if w.selected]
        if sheet is not None:
            self._clips(todo, sheet)
        stopped = self.ctx.stop.stopping()
        for work in todo:
            clip = self.clips[work.chapter.chapter_id]
            self.result.clips[clip.chapter_id] = clip.status
            if clip.status not in DONE_CLIP_STATUSES and clip.status != "skipped" and not stopped:
                self.result.failures.append(
                    f"clip {clip.clip_number} ({clip.chapter_id}) {clip.status}: {clip.error}"
                )
        if not stopped:
            self.doc.state = "complete"
            self._consume_all_marker(todo)
        self.result.sha256 = self._save()
        self.result.cost_usd = self.doc.cost_usd
        return self.result

    def _clips(self, todo: list[ClipWork], sheet: Components) -> None:
        """Each clip through its steps, clips in parallel; a paid call holds one of the
        run's API slots, as a chapter's does."""
        workers = pool_size(self.ctx.settings.image.concurrency)
        with ThreadPoolExecutor(workers, thread_name_prefix="imagegen-clip") as pool:
            running: set[Future[None]] = {pool.submit(self._clip, w, sheet) for w in todo}
            try:
                while running:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
            except Gone as e:
                self.ctx.stop.mark_removed(str(e))
                raise
            except BaseException as e:
                self.ctx.stop.halt(f"stopped after an error: {type(e).__name__}: {e}")
                raise

    # -- step 1: the component sheet -------------------------------------------------------

    def _sheet(self) -> Components | None:
        plan = self.board.plan
        old = self.doc.components
        token = marker_token(plan.all_marker) if plan.all_marker else None
        forced = plan.sheet_forced is not None and not self._redone("sheet", token)
        if old is not None and old.made.input_hash == plan.sheet_hash and not forced:
            return old
        # Forced: a fresh sheet, not the last one kept.
        previous = None if plan.sheet_forced else old
        chapters = self.episode.chapters
        cost, usage = 0.0, dict[str, int]()
        try:
            if self.planner.paid:
                question = sheet_question(self.episode.doc.title, chapters, previous)
                reply, cost, usage = ask_planner(self.planner, question, Components, self.ctx)
            else:
                reply = template_sheet(chapters)
        except NotStarted:
            return None
        except PlanFailed as e:
            self.log.error("storyboard_sheet_failed", error=str(e))
            for work in plan.clips:
                if work.selected:
                    clip = self.clips[work.chapter.chapter_id]
                    self._fail(clip, e.status, f"component sheet: {e}")
            return None
        settled = keep_known(reply, previous, [c.chapter_id for c in chapters])
        made = self._made(plan.sheet_hash, cost, usage)
        with self._lock:
            self.doc.components = ComponentSheet(**settled.model_dump(), made=made)
            if token is not None:
                self.doc.redone["sheet"] = token
        self._save()
        self.log.info(
            "storyboard_sheet_made",
            planner=self.planner.name,
            components=len(settled.all()),
            cost_usd=round(cost, 6),
        )
        return self.doc.components

    # -- step 2 and 3: one clip --------------------------------------------------------------

    def _clip(self, work: ClipWork, sheet: Components) -> None:
        clip = self.clips[work.chapter.chapter_id]
        if work.chapter.main_visual.type not in KNOWN_TYPES:
            with self._lock:
                clip.status = "skipped"
                clip.error = f"visual.type {work.chapter.main_visual.type!r} is unknown"
            self._save()
            return
        if self.ctx.stop.stopping():
            return
        try:
            self._plan_shot(work, clip, sheet)
        except NotStarted:
            return
        except PlanFailed as e:
            self.log.error("storyboard_shot_failed", chapter_id=clip.chapter_id, error=str(e))
            self._fail(clip, e.status, str(e), e.cost)
            return
        for moment in layout.FRAME_MOMENTS:
            entry = self._frame(work, clip, sheet, moment)  # type: ignore[arg-type]
            if entry is None:
                return  # stopped before it: the clip stays "planned" for the next run
            if not entry.ok:
                self._fail(clip, entry.status, f"{moment} frame: {entry.error}")
                return
        with self._lock:
            clip.status = "generated" if "generated" in _frame_statuses(clip) else "template"
            if any(f is not None and f.status == "fallback" for f in (clip.start, clip.end)):
                clip.status = "fallback"
            clip.error = None
            clip.start_frame_path = clip.start.file if clip.start else None
            clip.end_frame_path = clip.end.file if clip.end else None
        self._save()
        if work.marker is not None and clip.status in DONE_CLIP_STATUSES:
            self._consume(work.marker, clip.chapter_id)

    def _plan_shot(self, work: ClipWork, clip: Clip, sheet: Components) -> None:
        chapter = work.chapter
        components = sheet.of_chapter(chapter.chapter_id)
        wanted = shot_hash(self.board.plan.planner, chapter, components)
        forced = work.forced is not None and not self._redone(f"{clip.chapter_id}/plan", work.token)
        current = clip.plan is not None and clip.plan.input_hash == wanted
        if not forced and current and clip.shot() is not None:
            return
        cost, usage = 0.0, dict[str, int]()
        if self.planner.paid:
            question = shot_question(chapter, components)
            reply, cost, usage = ask_planner(self.planner, question, ShotReply, self.ctx)
            plan = reply.plan()
        else:
            plan = template_shot(chapter, [c for _, c in components])
        plan.components = [c.id for c in shown(plan, sheet)]
        made = self._made(wanted, cost, usage)
        with self._lock:
            clip.start_prompt, clip.end_prompt = plan.start_prompt, plan.end_prompt
            clip.motion_description = plan.motion_description
            clip.camera_movement = plan.camera_movement
            clip.shot_size, clip.lens = plan.shot_size, plan.lens
            clip.duration_seconds = duration_seconds(chapter)
            clip.components = list(plan.components)
            clip.plan = made
            clip.start_frame_path = clip.end_frame_path = None  # until they are current
            rules = self.board.rules
            clip.prompts.start = rules.spec(chapter, clip, sheet, "start").prompt
            clip.prompts.end = rules.spec(chapter, clip, sheet, "end").prompt
            self._note_redone(f"{clip.chapter_id}/plan", work.token)
            self._recost(clip)
        self._save()

    def _frame(
        self, work: ClipWork, clip: Clip, sheet: Components, moment: Moment
    ) -> ManifestEntry | None:
        """The clip's frame: the recorded one when it is current, else a new one; None
        when shutdown came first."""
        start = clip.start
        spec = self.board.rules.spec(
            work.chapter,
            clip,
            sheet,
            moment,
            start.sha256 if moment == "end" and start is not None else None,
            _look(start) if moment == "end" else None,
        )
        previous = clip.frame(moment)
        key = f"{clip.chapter_id}/{moment}"
        forced = work.forced is not None and not self._redone(key, work.token)
        folder = self.dirs.clip(clip.chapter_id)
        if not forced and frame_problem(folder, previous, spec.input_hash()) is None:
            return previous
        if self.ctx.stop.stopping():
            return None
        reason = work.forced or ("new" if previous is None else "its inputs changed")
        entry = self.frames.make(spec, previous, reason, self.ctx)
        if entry is None:
            return None
        with self._lock:
            if moment == "start":
                clip.start = entry
            else:
                clip.end = entry
            if entry.ok:
                self._note_redone(key, work.token)
                self.result.frames_made += 1
            self._recost(clip)
        self._save()
        return entry

    # -- the planner ---------------------------------------------------------------------------

    # -- records -------------------------------------------------------------------------------

    def _fail(self, clip: Clip, status: str, error: str, cost: float = 0.0) -> None:
        with self._lock:
            clip.status = status  # type: ignore[assignment]
            clip.error = error
            if cost:
                clip.cost_usd = round(clip.cost_usd + cost, 6)
        self._save()

    def _recost(self, clip: Clip) -> None:
        parts = [clip.plan.cost_usd if clip.plan else 0.0]
        parts += [f.cost_usd for f in (clip.start, clip.end) if f is not None]
        clip.cost_usd = round(sum(parts), 6)

    def _redone(self, key: str, token: str | None) -> bool:
        """This step was already redone for the marker that forces it (a run killed
        halfway through the marker's request)."""
        return token is not None and self.doc.redone.get(key) == token

    def _note_redone(self, key: str, token: str | None) -> None:
        if token is not None:
            self.doc.redone[key] = token

    def _consume(self, marker: Marker, chapter_id: str) -> None:
        if consume(marker):
            with self._lock:
                for moment in ("plan", *layout.FRAME_MOMENTS):
                    self.doc.redone.pop(f"{chapter_id}/{moment}", None)

    def _consume_all_marker(self, todo: list[ClipWork]) -> None:
        marker = self.board.plan.all_marker
        if marker is None or not all(
            self.clips[w.chapter.chapter_id].status in DONE_CLIP_STATUSES for w in todo
        ):
            return
        if consume(marker):
            self.doc.redone.clear()

    def _made(self, input_hash: str, cost: float, usage: dict[str, int]) -> Made:
        """A planning step's record: this run's planner, from these inputs, at this cost."""
        return Made(
            input_hash=input_hash,
            planner=self.planner.name,
            model=self.planner.model,
            cost_usd=round(cost, 6),
            usage=usage,
            made_at=now_iso(),
        )

    def _save(self) -> str:
        with self._lock:
            doc = self.doc
            sheet_cost = doc.components.made.cost_usd if doc.components else 0.0
            doc.cost_usd = round(sheet_cost + sum(c.cost_usd for c in doc.clips), 6)
            doc.cumulative_cost_usd = round(self.ctx.ledger.cumulative, 6)
            doc.updated_at = now_iso()
            folder = self.dirs.storyboard(create=True)
            assert folder is not None
            return write_storyboard(folder, doc)


def _frame_statuses(clip: Clip) -> set[str]:
    return {f.status for f in (clip.start, clip.end) if f is not None}


def _look(start: ManifestEntry | None) -> int | None:
    """Which of its generation's candidates the start frame is (1-based): the offline
    renderer draws the end frame in that candidate's look. Candidates are listed in the
    order they were asked for (recovered ones first, as they were made)."""
    if start is None or start.selected is None:
        return None
    for number, candidate in enumerate(start.candidates, start=1):
        if candidate.id == start.selected:
            return number
    return None
