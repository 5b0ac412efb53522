"""The episode orchestrator: it only sequences. Sweep, blocked check, load, plan, then
either the dry run or the chapters' pipelines, then the records (markers, provenance).
Each step's work lives in its stage."""

from __future__ import annotations

import os
import time
import uuid

import structlog

from config.settings import Settings
from handlers.episode import layout
from handlers.episode.chapters import Episode, parse_chapters
from handlers.episode.dirs import EpisodeDirs
from handlers.errors import InputError
from handlers.files.dirs import Gone, sweep_temp_files
from handlers.money.journal import SpendJournal
from handlers.money.ledger import Ledger, upstream_spend
from handlers.outputs.entries import base_entry, now_iso
from handlers.outputs.manifest import Manifest, read_manifest
from handlers.outputs.markers import Marker, consume, find_marker
from handlers.outputs.picks import Pick, consume_pick, find_pick
from handlers.outputs.provenance import write_provenance
from handlers.outputs.recorder import Recorder
from handlers.plan.decide import ChapterPlan, plan_episode
from handlers.plan.fingerprint import fingerprints
from handlers.result import RunRequest, RunResult
from handlers.run.services import Services, build_services
from handlers.run.storyboard_plan import BoardResult, BoardRun, storyboard_for
from handlers.run.tally import REVIEW, tally
from handlers.stop import StopSignal

log = structlog.get_logger("imagegen")

# How often a chapters.json still being written is read before its error stands.
INPUT_READS = 5
INPUT_REREAD_SECONDS = 0.1


def _stamp(st: os.stat_result | None) -> tuple[int, int, int] | None:
    return None if st is None else (st.st_ino, st.st_size, st.st_mtime_ns)


class EpisodeRun:
    def __init__(
        self,
        dirs: EpisodeDirs,
        request: RunRequest,
        settings: Settings,
        services: Services | None,
    ) -> None:
        self.dirs = dirs
        self.paths = dirs.paths
        self.request = request
        self.settings = settings
        self._services = services
        self.warnings: list[str] = []
        # Before every paid call: the episode folder must still be where it was.
        self.stop = StopSignal(dirs.paths.name, request.cancel, gone=dirs.gone)
        self.started_at = now_iso()
        self.job_id = uuid.uuid4().hex
        # For the log when the folder goes away mid-run: what was to be done, what was.
        self._planned: list[str] = []
        self._finished: set[str] = set()
        self.log = log.bind(episode_id=dirs.paths.name)

    def run(self) -> RunResult:
        try:
            return self._run()
        except Gone as e:
            return self._removed(str(e))

    def _removed(self, problem: str) -> RunResult:
        """The episode folder was deleted, moved or replaced under the run: it stops,
        pays and writes nothing more (whatever it would write could only land in a
        folder nobody looks at, or be refused)."""
        abandoned = [cid for cid in self._planned if cid not in self._finished]
        message = f"{problem}; abandoned: {', '.join(abandoned) or 'nothing'}"
        self.log.warning("episode_removed", message=message, abandoned=abandoned)
        return RunResult(self.paths.name, "removed", message, warnings=list(self.warnings))

    def _run(self) -> RunResult:
        paths = self.paths
        dirs = self.dirs
        self._sweep()
        stale = find_marker(dirs.episode, layout.CHAPTERS_STALE, self.warnings)
        if stale is not None:
            return RunResult(
                paths.name,
                "blocked",
                f"{stale.describe()}: the input is outdated; nothing will be spent until "
                f"upstream rewrites {paths.chapters.name} and removes the marker",
            )
        episode = self._load_input()
        self.warnings.extend(episode.warnings)
        self._check_selection(episode)
        services = self._services or build_services(self.settings)
        images = dirs.images()
        manifest = read_manifest(images, self.warnings)
        all_marker = find_marker(images, layout.MANIFEST_STALE, self.warnings)
        plans = plan_episode(
            images=images,
            chapters=episode.image_chapters,
            manifest=manifest,
            fingerprints=fingerprints(
                episode,
                self.settings,
                services.primary,
                services.writer,
                services.template,
                services.primaries(),
            ),
            selected=(
                None
                if self.request.chapters is None
                else episode.with_their_visuals(self.request.chapters)
            ),
            force=self.request.force,
            all_marker=all_marker,
            chapter_markers=self._chapter_markers(episode),
            picks=self._picks(episode),
            mode=self.request.mode,
        )
        board = storyboard_for(dirs, episode, self.settings, services, self.request, self.warnings)
        if any(p.action != "reuse" for p in plans):
            # Parsed now: a broken template stops the run before anything is paid (the
            # storyboard's frames do not use it).
            services.template.parts  # noqa: B018
        for w in self.warnings:
            self.log.warning("input_warning", message=w)
        if self.request.dry_run:
            return self._dry_run(episode, plans, services, board)
        self._drop_dry_run_request()
        return self._execute(episode, manifest, plans, services, all_marker, board)

    # -- the steps ----------------------------------------------------------------------

    def _load_input(self) -> Episode:
        """chapters.json, read and validated. One that fails while it is being rewritten
        in place (its size or time changed during the read) is read again a moment
        later, so a writer that truncates and writes is not judged mid-write."""
        folder = self.dirs.episode
        for _ in range(INPUT_READS - 1):
            before = _stamp(folder.stat(layout.CHAPTERS))
            raw = folder.read_bytes(
                layout.CHAPTERS, max_bytes=self.settings.max_input_bytes, what=layout.CHAPTERS
            )
            try:
                return parse_chapters(raw, self.paths.chapters, episode_name=self.paths.name)
            except InputError:
                if _stamp(folder.stat(layout.CHAPTERS)) == before:
                    raise  # a finished file with an error: say so now
            time.sleep(INPUT_REREAD_SECONDS)
        raw = folder.read_bytes(
            layout.CHAPTERS, max_bytes=self.settings.max_input_bytes, what=layout.CHAPTERS
        )
        return parse_chapters(raw, self.paths.chapters, episode_name=self.paths.name)

    def _sweep(self) -> None:
        for folder in self.dirs.ours():
            for name in sweep_temp_files(folder):
                where = folder.path.relative_to(self.paths.dir)
                self.log.info("removed_stale_temp_file", file=f"{where}/{name}")

    def _drop_dry_run_request(self) -> None:
        # A real run supersedes what an earlier dry run said it would do; left behind,
        # images/imagegen_request.json would describe a plan nobody follows any more.
        images = self.dirs.images()
        if images is not None and images.stat(layout.REQUEST) is not None:
            images.remove(layout.REQUEST)
            self.log.info("removed_dry_run_request", file=f"{images.name}/{layout.REQUEST}")

    def _execute(
        self,
        episode: Episode,
        manifest: Manifest | None,
        plans: list[ChapterPlan],
        services: Services,
        all_marker: Marker | None,
        board: BoardRun | None,
    ) -> RunResult:
        ledger = Ledger(
            self.settings.max_episode_cost_usd,
            max(  # each records imagegen's spend when written: the later is larger
                manifest.cumulative_cost_usd if manifest else 0.0,
                board.cumulative_before if board else 0.0,
            ),
            lambda: upstream_spend(self.dirs.provenance(), self.warnings),
            journal=SpendJournal(self.dirs.images),
            warnings=self.warnings,
        )
        recorder = Recorder(self.dirs, episode, self.settings.frame, lambda: ledger.cumulative)
        for plan in plans:
            if plan.previous is None:
                continue
            # Chapters not (yet) redone keep their last known entry in every manifest.
            recorder.carry(plan.previous)
            if plan.action == "reuse" and (
                manifest is None or manifest.entry(plan.chapter.chapter_id) is None
            ):
                # Rebuilt from the PNG: paid for by a killed run before its manifest
                # counted it. This comes before the run's first call, so a journal that
                # exists now counted that image, or its run wrote this very addition.
                ledger.add_recovered(plan.previous.cost_usd, journaled=True)
        work = [p for p in plans if p.action in ("generate", "template", "skip", *REVIEW)]
        result = RunResult(self.paths.name, "ok", warnings=list(self.warnings), job_id=self.job_id)
        result.reused = sum(1 for p in plans if p.action == "reuse")
        recorder.planned = [p.chapter.chapter_id for p in work if p.action != "skip"]
        self._planned = list(recorder.planned)
        self._finished = recorder.touched
        board_pending = board.pending() if board is not None else None
        if not work:
            if manifest is not None and recorder.unchanged_since(manifest):
                if recorder.provenance_matches() and board_pending is None:
                    result.outcome = "up_to_date"
                    result.message = "up to date"
                    return result
                if board_pending is None:
                    # The last run was killed after its last chapter: finish its records.
                    self.log.info("completing_interrupted_run")
            else:
                recorder.write_manifest()

        # Only now, with work to do: the pipeline loads Pillow and the drawing code, which
        # the common "up to date" answer above must not pay for.
        from handlers.providers.chain import ProviderChain
        from handlers.run import pipeline
        from handlers.run.context import RunContext
        from handlers.run.slots import ApiSlots

        for plan in work:
            self.log.info(
                "chapter_planned",
                chapter_id=plan.chapter.chapter_id,
                action=plan.action,
                reason=plan.reason,
            )
            if plan.action == "skip":
                recorder.record(
                    base_entry(plan.chapter, plan.fingerprint, status="skipped", error=plan.reason)
                )
        ctx = RunContext(
            settings=self.settings,
            episode=episode,
            services=services,
            ledger=ledger,
            stop=self.stop,
            chain=ProviderChain(
                services.chain, services.prices, ledger, self.stop, services.chains
            ),
            recorder=recorder,
            api_slots=ApiSlots(self.settings.image.concurrency),
            llm_slots=ApiSlots(self.settings.image.concurrency),
            judge=services.judge,
        )
        steps = {
            "generate": pipeline.GENERATE,
            "template": pipeline.TEMPLATE,
            "select": pipeline.SELECT,
            "rescore": pipeline.RESCORE,
        }
        pipeline.run_chapters(
            [(p, steps[p.action]) for p in work if p.action in steps],
            ctx,
            lambda plan, entry: recorder.record(entry, new_generation=plan.action == "generate"),
        )
        if self.stop.removed is not None:
            return self._removed(self.stop.removed)
        board_result = None
        if board is not None and board_pending is not None and not self.stop.stopping():
            from handlers.run.storyboarding import make_storyboard

            board_result = make_storyboard(board, ctx, board_pending)
            if self.stop.removed is not None:
                return self._removed(self.stop.removed)
        self._finish(
            episode, plans, work, services, ledger, recorder, all_marker, result, board_result
        )
        return result

    def _finish(
        self,
        episode: Episode,
        plans: list[ChapterPlan],
        work: list[ChapterPlan],
        services: Services,
        ledger: Ledger,
        recorder: Recorder,
        all_marker: Marker | None,
        result: RunResult,
        board: BoardResult | None = None,
    ) -> None:
        done = tally(result, plans, work, recorder, ledger, self.stop)
        result.warnings = list(self.warnings)
        if board is not None:
            board.apply(result)

        succeeded = {cid for cid, e in done.items() if e.ok}
        for plan in plans:
            if (
                plan.marker is not None
                and plan.marker is not all_marker
                and plan.chapter.chapter_id in succeeded
            ):
                consume(plan.marker)
        everything_redone = all(p.action != "keep" for p in plans) and all(
            p.chapter.chapter_id in succeeded or p.action == "skip" for p in work
        )
        if all_marker is not None and everything_redone:
            consume(all_marker)
        for plan in plans:
            # Applied or refused (the log says why), a pick is done with either way.
            if plan.pick is not None and plan.chapter.chapter_id in recorder.touched:
                consume_pick(plan.pick)
        write_provenance(
            recorder.provenance_folder(),
            episode=episode,
            settings=self.settings,
            trigger=self.request.trigger,
            started_at=self.started_at,
            result=result,
            template=services.template_facts(),
            models=services.models(),
            tokens=ledger.tokens,
            cumulative_cost_usd=ledger.cumulative,
            markers=[p.marker.describe() for p in plans if p.marker is not None],
            manifest_sha256=recorder.manifest_sha,
            storyboard=None if board is None else board.facts(),
            job_id=self.job_id,
            template_hashes={e.template_hash for e in recorder.entries.values() if e.template_hash},
        )

    def _dry_run(
        self,
        episode: Episode,
        plans: list[ChapterPlan],
        services: Services,
        board: BoardRun | None,
    ) -> RunResult:
        from handlers.run.dry_run import write_request_file  # see _execute

        recorder = Recorder(self.dirs, episode, self.settings.frame, lambda: 0.0)
        estimate = write_request_file(
            recorder.images_folder(), episode, plans, services, self.settings, board
        )
        target = self.paths.request
        result = RunResult(self.paths.name, "dry_run", warnings=list(self.warnings))
        result.estimated_cost_usd = estimate
        result.generated = sum(1 for p in plans if p.action == "generate")
        result.templates = sum(1 for p in plans if p.action == "template")
        result.reused = sum(1 for p in plans if p.action == "reuse")
        result.message = (
            f"would generate {result.generated}, template {result.templates}; wrote {target}"
        )
        return result

    # -- small helpers ------------------------------------------------------------------

    def _check_selection(self, episode: Episode) -> None:
        if self.request.chapters is None:
            return
        known = {c.chapter_id for c in episode.chapters}
        unknown = sorted(self.request.chapters - known)
        if unknown:
            raise InputError(
                f"--chapter {', '.join(unknown)}: no such chapter_id in {self.paths.chapters} "
                f"(it has {', '.join(sorted(known))})"
            )

    def _picks(self, episode: Episode) -> dict[str, Pick]:
        picks = {}
        for ch in episode.image_chapters:
            pick = find_pick(self.dirs.images(), layout.select_name(ch.chapter_id), self.warnings)
            if pick is not None:
                picks[ch.chapter_id] = pick
        return picks

    def _chapter_markers(self, episode: Episode) -> dict[str, Marker]:
        markers = {}
        for ch in episode.image_chapters:
            m = find_marker(
                self.dirs.images(), layout.image_stale_name(ch.chapter_id), self.warnings
            )
            if m is not None:
                markers[ch.chapter_id] = m
        return markers
