"""One storyboard frame through the chapters' machinery (handlers/run/pipeline.py
run_chapter over a ChapterWork): a generated frame recovers the candidates a killed run
kept, loads its references (the end frame: its start frame first), makes candidates
(kept the moment they are paid for, checked, judged, held in the ledger, down the
provider chain); a title card's or talking head's is drawn from its template. The
chosen image becomes storyboard/<chapter_id>/<moment>.png, and the frame's earlier
candidates go."""

from __future__ import annotations

from handlers.episode import layout
from handlers.episode.dirs import EpisodeDirs
from handlers.hashing import sha256_bytes
from handlers.outputs import shelves
from handlers.outputs.entries import png_meta, template_entry, with_file_facts
from handlers.outputs.manifest import ManifestEntry
from handlers.outputs.shelves import Shelf
from handlers.plan.decide import ChapterPlan
from handlers.prompts.writers import WrittenPrompt
from handlers.providers.base import Reference
from handlers.run.candidates import make_candidates, recover_candidates
from handlers.run.context import ChapterWork, RunContext, Step
from handlers.run.pipeline import load_references, run_chapter
from handlers.storyboard.frames import FrameSpec


class FrameMaker:
    """Makes the frames of one run's storyboard."""

    def __init__(self, dirs: EpisodeDirs, episode_title: str, source: str, log: object) -> None:
        self.dirs = dirs
        self.episode_title = episode_title
        self.source = source  # the frames' prompt_source: "storyboard:<planner>"
        self.log = log

    def make(
        self, spec: FrameSpec, previous: ManifestEntry | None, reason: str, ctx: RunContext
    ) -> ManifestEntry | None:
        """The frame's entry (a failure's too); None when shutdown came first."""
        plan = ChapterPlan(
            chapter=spec.chapter,
            route=spec.route,  # type: ignore[arg-type]
            action="generate" if spec.route == "generate" else "template",
            reason=reason,
            fingerprint=spec.fingerprint(),
            previous=previous,
        )
        frame_log = self.log.bind(chapter_id=spec.chapter_id, frame=spec.moment)  # type: ignore[attr-defined]
        frame_log.info("storyboard_frame_planned", reason=reason)
        work = ChapterWork(plan, frame_log)
        work.shot = spec.shot
        cid, moment = spec.chapter_id, spec.moment
        work.shelf = Shelf(
            lambda create: self.dirs.frame_candidates(cid, moment, create),
            layout.frame_candidates_prefix(cid, moment),
        )
        work.prompt = WrittenPrompt(text=spec.prompt, source=self.source)
        work.fields.update(prompt=spec.prompt, prompt_source=self.source)
        steps: list[Step]
        if spec.route == "template":
            steps = [self.draw_template, self.write_frame]
        else:
            if moment == "end":
                work.references.append(self.start_reference(cid))
            steps = [recover_candidates, load_references, make_candidates, self.write_frame]
        return run_chapter(work, steps, ctx)

    def draw_template(self, work: ChapterWork, ctx: RunContext) -> None:
        from handlers.drawing.shots import render_template_shot

        ch = work.plan.chapter
        shot = work.shot
        assert shot is not None
        frame, brand = ctx.settings.frame, ctx.settings.brand
        kind = ch.main_visual.type
        work.image = render_template_shot(
            kind,
            ch.title,
            self.episode_title,
            frame.width,
            frame.height,
            camera=shot.camera_movement,
            moment=shot.moment,
            color=brand.title_card_color if kind == "title_card" else brand.talking_head_color,
            font_path=brand.font_path,
        )
        work.entry = template_entry(
            ch,
            work.plan.fingerprint,
            **work.fields,
            model=f"{kind}-shot-template-1",
            width=frame.width,
            height=frame.height,
        )

    def write_frame(self, work: ChapterWork, ctx: RunContext) -> None:
        """The chosen frame as storyboard/<chapter_id>/<moment>.png (atomic, through the
        clip folder's handle), then the frame's earlier candidates go."""
        from handlers.outputs.png import encode_png, fit_to_frame, retag

        entry, shot = work.entry, work.shot
        assert entry is not None and shot is not None
        name = layout.frame_name(shot.moment)
        if work.png is not None:
            data = retag(work.png, png_meta(entry))
        else:
            assert work.image is not None
            frame = ctx.settings.frame
            with ctx.cpu_slots:
                image = fit_to_frame(work.image, frame.width, frame.height)
                data = encode_png(image, png_meta(entry))
        work.image = work.png = None
        folder = self.dirs.clip(work.chapter_id, create=True)
        assert folder is not None
        folder.write_bytes(name, data)
        st = folder.stat(name)
        assert st is not None
        work.entry = with_file_facts(
            entry, layout.frame_file(work.chapter_id, shot.moment), st, sha256_bytes(data)
        )
        if work.shelf is not None:
            keep = {c.file.rsplit("/", 1)[-1] for c in entry.candidates if c.file}
            shelves.prune(work.shelf, keep)

    def start_reference(self, chapter_id: str) -> Reference:
        """The clip's start frame, as the end frame's reference image."""
        from handlers.outputs.png import decode_image
        from handlers.providers.references import MAX_REFERENCE_BYTES, reference_from_image

        folder = self.dirs.clip(chapter_id)
        assert folder is not None
        data = folder.read_bytes(
            layout.frame_name("start"), max_bytes=MAX_REFERENCE_BYTES, what="start frame"
        )
        return reference_from_image(layout.frame_file(chapter_id, "start"), decode_image(data))
