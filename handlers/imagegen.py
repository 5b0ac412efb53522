"""The imagegen handler: one episode directory in, images + manifest + provenance out.

`run(episode_dir, request, settings)` is all the CLI and the daemon call. It never
raises for an expected problem: the RunResult says what happened.
"""

from __future__ import annotations

import errno
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import structlog
from PIL import Image

from config.settings import Settings
from handlers import atomic
from handlers.budget import Budget, Reservation, upstream_spend
from handlers.cards import render_talking_head, render_title_card
from handlers.chapters import Episode, load_chapters
from handlers.entries import base_entry, now_iso, png_meta, with_file_facts
from handlers.errors import (
    AuthError,
    ConfigurationError,
    ContentRejected,
    ImagegenError,
    InputError,
    LockBusy,
    ProviderError,
    Stopped,
)
from handlers.hashing import sha256_bytes
from handlers.images import encode_png, fit_to_frame
from handlers.lock import episode_lock
from handlers.manifest import (
    MAX_MANIFEST_BYTES,
    Manifest,
    ManifestEntry,
    read_manifest,
    write_manifest,
)
from handlers.markers import Marker, consume, find_marker, write_marker
from handlers.paths import EpisodePaths, ensure_inside, episode_paths
from handlers.plan import (
    ChapterPlan,
    Fingerprint,
    chapter_hash,
    plan_episode,
    route_of,
    uses_writer,
)
from handlers.prompts import WrittenPrompt, chapter_prompt, context_for
from handlers.provenance import write_provenance
from handlers.providers import ImageRequest
from handlers.reading import read_json, read_regular_file
from handlers.request_file import write_request_file
from handlers.services import Services, build_services, template_settings_hash

log = structlog.get_logger("imagegen")

Outcome = Literal["ok", "up_to_date", "failed", "blocked", "busy", "dry_run", "interrupted"]


@dataclass(frozen=True)
class RunRequest:
    force: bool = False
    chapters: frozenset[str] | None = None
    dry_run: bool = False
    wait: bool = True
    trigger: str = "cli"
    # Set by the daemon on SIGTERM: no new paid calls start; in-flight ones finish.
    cancel: threading.Event | None = None


@dataclass
class RunResult:
    episode: str
    outcome: Outcome
    message: str = ""
    generated: int = 0
    templates: int = 0
    reused: int = 0
    failed: int = 0
    cost_usd: float = 0.0
    estimated_cost_usd: float = 0.0
    warnings: list[str] = field(default_factory=list)
    chapters: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.outcome in ("ok", "up_to_date", "dry_run")


def run(
    episode_dir: Path,
    request: RunRequest,
    settings: Settings,
    *,
    services: Services | None = None,
) -> RunResult:
    started = time.monotonic()
    name = episode_dir.name
    try:
        paths = episode_paths(settings.outputs_dir, episode_dir)
        name = paths.name
        with episode_lock(
            paths.dir,
            wait=request.wait,
            timeout=settings.lock_timeout_seconds,
            on_wait=lambda: log.info("waiting_for_lock", episode_id=name),
        ):
            result = _EpisodeRun(paths, request, settings, services).run()
    except LockBusy as e:
        result = RunResult(name, "busy", str(e))
    except ImagegenError as e:
        result = RunResult(name, "failed", str(e))
    except OSError as e:
        # Disk full, permissions, a vanished directory: this episode fails, nothing else.
        where = f" ({e.filename})" if e.filename else ""
        hint = ""
        if e.errno in (errno.EACCES, errno.EPERM):
            hint = (
                "; the service's user cannot write there: episode directories must be "
                "writable by its group (upstream: umask 002 and mkdir, or chmod -R g+rwX; "
                "see README, Operate)"
            )
        result = RunResult(name, "failed", f"filesystem error{where}: {e.strerror or e}{hint}")
    result.duration_s = time.monotonic() - started
    return result


class _EpisodeRun:
    def __init__(
        self,
        paths: EpisodePaths,
        request: RunRequest,
        settings: Settings,
        services: Services | None,
    ) -> None:
        self.paths = paths
        self.request = request
        self.settings = settings
        self._services = services
        self.warnings: list[str] = []
        self.entries: dict[str, ManifestEntry] = {}
        self.stop = threading.Event()
        self.stop_reason: str | None = None
        self.started_at = now_iso()
        self.run_cost = 0.0
        self.tokens: dict[str, int] = {}
        self.touched: set[str] = set()
        self.cumulative = 0.0
        self._cost_lock = threading.Lock()
        self.planned: list[str] = []
        self.manifest_sha: str | None = None
        self._render_invalidated = False
        self.dead_steps: set[int] = set()

    @property
    def log(self) -> structlog.typing.FilteringBoundLogger:
        return log.bind(episode_id=self.paths.name)  # type: ignore[no-any-return]

    # -- the steps -------------------------------------------------------------------

    def run(self) -> RunResult:
        paths = self.paths
        for directory in (paths.images, paths.provenance_dir, paths.render_stale.parent):
            if directory.is_dir() and not directory.is_symlink():
                for name in atomic.sweep_temp_files(directory):
                    self.log.info("removed_stale_temp_file", file=f"{directory.name}/{name}")
        stale = find_marker(paths.chapters_stale, self.warnings)
        if stale is not None:
            return RunResult(
                paths.name,
                "blocked",
                f"{stale.describe()}: the input is outdated; nothing will be spent until "
                "upstream rewrites chapters.json and removes the marker",
            )
        episode = load_chapters(
            paths.chapters, max_bytes=self.settings.max_input_bytes, episode_name=paths.name
        )
        self.warnings.extend(episode.warnings)
        self._check_selection(episode)
        services = self._services or build_services(self.settings)
        manifest = read_manifest(paths.manifest, self.warnings)
        all_marker = find_marker(paths.manifest_stale, self.warnings)
        chapter_markers = self._chapter_markers(episode)
        plans = plan_episode(
            paths=paths,
            doc=episode.doc,
            manifest=manifest,
            fingerprints=self._fingerprints(episode, services),
            selected=self.request.chapters,
            force=self.request.force,
            all_marker=all_marker,
            chapter_markers=chapter_markers,
        )
        for w in self.warnings:
            self.log.warning("input_warning", message=w)
        if self.request.dry_run:
            return self._dry_run(episode, plans, services)
        return self._execute(episode, manifest, plans, services, all_marker)

    def _execute(
        self,
        episode: Episode,
        manifest: Manifest | None,
        plans: list[ChapterPlan],
        services: Services,
        all_marker: Marker | None,
    ) -> RunResult:
        self.cumulative = manifest.cumulative_cost_usd if manifest else 0.0
        for plan in plans:
            if plan.previous is None:
                continue
            # Chapters not (yet) redone keep their last known entry in every manifest.
            self.entries[plan.chapter.chapter_id] = plan.previous
            if plan.action == "reuse" and (
                manifest is None or manifest.entry(plan.chapter.chapter_id) is None
            ):
                # Rebuilt from the PNG: paid for, but the crash came before it was counted.
                self.cumulative += plan.previous.cost_usd
        work = [p for p in plans if p.action in ("generate", "template", "skip")]
        result = RunResult(self.paths.name, "ok", warnings=list(self.warnings))
        result.reused = sum(1 for p in plans if p.action == "reuse")
        self.planned = [p.chapter.chapter_id for p in work if p.action != "skip"]
        if not work:
            if manifest is not None and self._manifest(episode).content() == manifest.content():
                self.manifest_sha = self._file_sha(self.paths.manifest)
                if self._provenance_matches():
                    result.outcome = "up_to_date"
                    result.message = "up to date"
                    return result
                # The last run was killed after its last chapter: finish its records.
                self.log.info("completing_interrupted_run")
            else:
                self._write_manifest(episode)

        for plan in work:
            self.log.info(
                "chapter_planned",
                chapter_id=plan.chapter.chapter_id,
                action=plan.action,
                reason=plan.reason,
            )
            if plan.action == "skip":
                self._record(
                    episode,
                    base_entry(plan.chapter, plan.fingerprint, status="skipped", error=plan.reason),
                )
            elif plan.action == "template" and not self._stopping():
                self._record(episode, self._template(episode, plan))
        generate = [p for p in work if p.action == "generate"]
        if generate:
            budget = Budget(
                self.settings.max_episode_cost_usd,
                upstream_spend(self.paths.provenance_dir, self.warnings) + self.cumulative,
            )
            self._generate_all(episode, generate, budget, services)
        self._finish(episode, plans, work, services, all_marker, result)
        return result

    def _finish(
        self,
        episode: Episode,
        plans: list[ChapterPlan],
        work: list[ChapterPlan],
        services: Services,
        all_marker: Marker | None,
        result: RunResult,
    ) -> None:
        done = {cid: e for cid, e in self.entries.items() if cid in self.touched}
        result.generated = sum(1 for e in done.values() if e.status == "generated")
        result.templates = sum(1 for e in done.values() if e.status == "template")
        failures = [
            e for e in done.values() if e.status in ("failed", "rejected", "skipped_cost_cap")
        ]
        not_started = [
            p.chapter.chapter_id for p in work if p.chapter.chapter_id not in self.touched
        ]
        result.failed = len(failures)
        result.cost_usd = round(self.run_cost, 6)
        result.chapters = {cid: e.status for cid, e in self.entries.items()}
        result.warnings = list(self.warnings)
        if (
            self.stop_reason is not None
            and self.request.cancel is not None
            and self.request.cancel.is_set()
        ):
            result.outcome = "interrupted"
            result.message = (
                f"stopped before {', '.join(not_started) or 'nothing'}: {self.stop_reason}"
            )
        elif self.stop_reason is not None:
            result.outcome = "failed"
            result.message = self.stop_reason
        elif failures:
            result.outcome = "failed"
            result.message = "; ".join(f"{e.chapter_id} {e.status}: {e.error}" for e in failures)

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
        provenance_dir = self._mkdir(self.paths.provenance_dir)
        write_provenance(
            ensure_inside(self.paths, provenance_dir / self.paths.provenance.name),
            episode=episode,
            services=services,
            settings=self.settings,
            trigger=self.request.trigger,
            started_at=self.started_at,
            result=result,
            tokens=self.tokens,
            cumulative_cost_usd=self.cumulative + self.run_cost,
            markers=[p.marker.describe() for p in plans if p.marker is not None],
            manifest_sha256=self.manifest_sha,
        )

    # -- chapters ------------------------------------------------------------------------

    def _template(self, episode: Episode, plan: ChapterPlan) -> ManifestEntry:
        ch = plan.chapter
        frame = self.settings.frame
        brand = self.settings.brand
        if ch.main_visual.type == "title_card":
            img = render_title_card(
                ch.title,
                episode.doc.title,
                frame.width,
                frame.height,
                color=brand.title_card_color,
                font_path=brand.font_path,
            )
        else:
            img = render_talking_head(
                ch.title,
                frame.width,
                frame.height,
                color=brand.talking_head_color,
                font_path=brand.font_path,
            )
        entry = base_entry(
            ch,
            plan.fingerprint,
            status="template",
            generation_method="template",
            provider="pillow",
            model=f"{ch.main_visual.type}-template-1",
            width=frame.width,
            height=frame.height,
            native_width=frame.width,
            native_height=frame.height,
            generated_at=now_iso(),
        )
        return self._write_image(entry, img)

    def _generate_all(
        self, episode: Episode, plans: list[ChapterPlan], budget: Budget, services: Services
    ) -> None:
        """`concurrency` workers make the API calls; fitting, encoding and writing the
        image runs in a pool of its own, so a paid-call slot never waits on the CPU."""
        workers = max(1, self.settings.image.concurrency)
        with (
            ThreadPoolExecutor(workers, thread_name_prefix="imagegen-call") as calls_pool,
            ThreadPoolExecutor(2, thread_name_prefix="imagegen-write") as write_pool,
        ):
            calls: dict[Future[ManifestEntry | _Ready | None], ChapterPlan] = {}
            writes: set[Future[ManifestEntry]] = set()
            queue = list(plans)
            while queue or calls or writes:
                while queue and len(calls) < workers and not self._stopping():
                    plan = queue.pop(0)
                    calls[calls_pool.submit(self._generate, plan, services, budget)] = plan
                if not calls and not writes:
                    break
                everything: list[Future[Any]] = [*calls, *writes]
                done, _ = wait(everything, return_when=FIRST_COMPLETED)
                for fut in done:
                    out = fut.result()
                    if fut in writes:
                        writes.remove(fut)
                        self._record(episode, out)
                        continue
                    del calls[fut]
                    if isinstance(out, _Ready):
                        writes.add(write_pool.submit(self._write_ready, out))
                    elif out is not None:
                        self._record(episode, out)

    def _write_ready(self, ready: _Ready) -> ManifestEntry:
        frame = self.settings.frame
        return self._write_image(ready.entry, fit_to_frame(ready.image, frame.width, frame.height))

    def _generate(
        self, plan: ChapterPlan, services: Services, budget: Budget
    ) -> ManifestEntry | _Ready | None:
        """One chapter: prompt, then the image chain. Never raises: the entry says why,
        or _Ready carries the image to write; None when shutdown came before anything
        was spent."""
        ch = plan.chapter
        if self._stopping():
            return None
        entry_fields: dict[str, object] = {"attempts": 0}
        try:
            written = self._prompt(plan, services, budget)
            entry_fields.update(
                prompt=written.text,
                prompt_source=written.source,
                prompt_cost_usd=written.cost_usd,
                cost_usd=written.cost_usd,
                usage={"prompt": written.usage} if written.usage else {},
            )
            return self._image(plan, services, budget, written, entry_fields)
        except _NotStarted:
            return None
        except _CostCap as e:
            return base_entry(
                ch, plan.fingerprint, status="skipped_cost_cap", error=str(e), **entry_fields
            )
        except ContentRejected as e:
            self.log.warning("chapter_rejected", chapter_id=ch.chapter_id, error=str(e))
            return base_entry(ch, plan.fingerprint, status="rejected", error=str(e), **entry_fields)
        except (AuthError, ConfigurationError) as e:
            self._halt(str(e))
            return base_entry(ch, plan.fingerprint, status="failed", error=str(e), **entry_fields)
        except ImagegenError as e:
            self.log.error("chapter_failed", chapter_id=ch.chapter_id, error=str(e))
            return base_entry(ch, plan.fingerprint, status="failed", error=str(e), **entry_fields)

    def _prompt(self, plan: ChapterPlan, services: Services, budget: Budget) -> WrittenPrompt:
        ch = plan.chapter
        style = self.settings.prompt.style_prefix
        own = chapter_prompt(ch, style)
        if own is not None:
            return WrittenPrompt(text=own, source="chapter")
        ctx = context_for(ch, style, self.settings.prompt.narration_chars)
        writer = services.writer
        if not writer.paid:
            return writer.write(ctx)
        hold = budget.reserve(services.writer_estimate(ctx))
        if hold is None:
            raise _CostCap(f"prompt writing would exceed max_episode_cost_usd {budget.cap:.2f}")
        if self._stopping():
            budget.release(hold)
            raise _NotStarted(self.stop_reason or "stopping")
        try:
            written = writer.write(ctx, stopped=self._stopping)
        except Stopped:
            budget.release(hold)
            raise _NotStarted(self.stop_reason or "stopping") from None
        except BaseException:
            budget.release(hold)
            raise
        self._spent(budget, hold, written.cost_usd, written.usage, "prompt")
        return written

    def _image(
        self,
        plan: ChapterPlan,
        services: Services,
        budget: Budget,
        written: WrittenPrompt,
        fields: dict[str, object],
    ) -> _Ready:
        ch = plan.chapter
        frame = self.settings.frame
        errors: list[str] = []
        for index, step in enumerate(services.chain):
            if index in self.dead_steps:
                continue
            spec = step.spec
            price = services.image_reservation(spec, written.text)
            hold = budget.reserve(price)
            if hold is None:
                raise _CostCap(
                    f"{step.label} costs about ${price:.3f}; the episode has "
                    f"${budget.remaining:.3f} left of max_episode_cost_usd {budget.cap:.2f}"
                )
            if self._stopping():
                budget.release(hold)
                raise _NotStarted(self.stop_reason or "stopping")
            req = ImageRequest(
                chapter_id=ch.chapter_id,
                title=ch.title,
                visual_type=ch.main_visual.type,
                prompt=written.text,
                width=frame.width,
                height=frame.height,
                seed=self.settings.image.seed,
                stopped=self._stopping,
            )
            started = time.monotonic()
            try:
                got = step.provider.generate(req)
            except Stopped:
                budget.release(hold)
                raise _NotStarted(self.stop_reason or "stopping") from None
            except (ContentRejected, AuthError):
                budget.release(hold)
                raise
            except ConfigurationError as e:
                # e.g. a retired model: useless for every chapter, but a fallback may serve.
                budget.release(hold)
                self._kill_step(index, len(services.chain), str(e))
                errors.append(str(e))
                continue
            except ProviderError as e:
                budget.release(hold)
                errors.append(str(e))
                self.log.warning(
                    "image_provider_failed",
                    chapter_id=ch.chapter_id,
                    provider=step.label,
                    error=str(e),
                )
                continue
            self._spent(budget, hold, got.cost_usd, got.usage, "image")
            usage = dict(fields.pop("usage", {}) or {})  # type: ignore[call-overload]
            if got.usage:
                usage["image"] = got.usage
            prompt_cost = float(fields.get("prompt_cost_usd", 0.0))  # type: ignore[arg-type]
            entry = base_entry(
                ch,
                plan.fingerprint,
                **{k: v for k, v in fields.items() if k not in ("cost_usd", "attempts")},
                status="generated",
                generation_method=got.generation_method,
                provider=got.provider,
                model=got.model,
                revised_prompt=got.revised_prompt,
                width=frame.width,
                height=frame.height,
                native_width=got.image.width,
                native_height=got.image.height,
                image_cost_usd=got.cost_usd,
                cost_usd=prompt_cost + got.cost_usd,
                usage=usage,
                attempts=got.attempts,
                generated_at=now_iso(),
            )
            self.log.info(
                "chapter_generated",
                chapter_id=ch.chapter_id,
                provider=step.label,
                cost_usd=round(got.cost_usd, 6),
                duration_ms=round((time.monotonic() - started) * 1000),
            )
            return _Ready(entry, got.image)
        raise ProviderError("; ".join(errors) or "no image provider configured")

    # -- writing ---------------------------------------------------------------------

    def _write_image(self, entry: ManifestEntry, img: Image.Image) -> ManifestEntry:
        target = ensure_inside(
            self.paths, self._mkdir(self.paths.images) / f"{entry.chapter_id}.png"
        )
        data = encode_png(img, png_meta(entry))
        self._invalidate_render()
        atomic.write_bytes(target, data)
        return with_file_facts(entry, target, sha256=sha256_bytes(data))

    def _invalidate_render(self) -> None:
        """Before the first image changes, mark the downstream render stale: written
        first, it survives a crash at any later moment."""
        with self._cost_lock:
            if self._render_invalidated:
                return
            self._render_invalidated = True
        render_dir = self._mkdir(self.paths.render_stale.parent)
        write_marker(
            ensure_inside(self.paths, render_dir / self.paths.render_stale.name),
            by="imagegen",
            reason=f"images regenerated: {', '.join(self.planned)}",
        )

    def _provenance_matches(self) -> bool:
        """Our provenance describes the current manifest (no run died before writing it)."""
        try:
            data = read_json(self.paths.provenance, max_bytes=10_000_000, what="provenance")
        except (ImagegenError, OSError, ValueError):
            return False
        return isinstance(data, dict) and data.get("manifest_sha256") == self.manifest_sha

    @staticmethod
    def _file_sha(path: Path) -> str | None:
        try:
            return sha256_bytes(read_regular_file(path, max_bytes=MAX_MANIFEST_BYTES, what="file"))
        except (ImagegenError, OSError):
            return None

    def _record(self, episode: Episode, entry: ManifestEntry) -> None:
        """A chapter finished (well or not): its entry goes into the manifest at once."""
        self.entries[entry.chapter_id] = entry
        self.touched.add(entry.chapter_id)
        self._write_manifest(episode)

    def _write_manifest(self, episode: Episode) -> None:
        target = ensure_inside(
            self.paths, self._mkdir(self.paths.images) / self.paths.manifest.name
        )
        self.manifest_sha = write_manifest(target, self._manifest(episode))

    def _manifest(self, episode: Episode) -> Manifest:
        ordered = [
            self.entries[c.chapter_id] for c in episode.chapters if c.chapter_id in self.entries
        ]
        with self._cost_lock:
            cumulative = self.cumulative + self.run_cost
        return Manifest(
            episode_id=episode.doc.episode_id,
            chapters_sha256=episode.sha256,
            frame={"width": self.settings.frame.width, "height": self.settings.frame.height},
            cumulative_cost_usd=round(cumulative, 6),
            updated_at=now_iso(),
            chapters=ordered,
        )

    def _mkdir(self, directory: Path) -> Path:
        ensure_inside(self.paths, directory)
        directory.mkdir(exist_ok=True)
        return directory

    # -- small helpers -------------------------------------------------------------------

    def _spent(
        self, budget: Budget, hold: Reservation, amount: float, usage: dict[str, int], kind: str
    ) -> None:
        """A paid call came back: settle its reservation and count its money and tokens."""
        budget.settle(hold, amount)
        with self._cost_lock:
            self.run_cost += amount
            for direction in ("input", "output"):
                n = usage.get(f"{direction}_tokens", 0)
                if n:
                    key = f"{kind}_{direction}"
                    self.tokens[key] = self.tokens.get(key, 0) + n

    def _kill_step(self, index: int, chain_length: int, reason: str) -> None:
        with self._cost_lock:
            self.dead_steps.add(index)
            all_dead = len(self.dead_steps) >= chain_length
        self.log.error("image_model_unusable", error=reason)
        if all_dead:
            self._halt(reason)

    def _halt(self, reason: str) -> None:
        """Stop the episode: no further calls (bad credentials, unknown model)."""
        if self.stop_reason is None:
            self.stop_reason = reason
            self.log.error("episode_halted", error=reason)
        self.stop.set()

    def _stopping(self) -> bool:
        cancel = self.request.cancel
        if cancel is not None and cancel.is_set() and not self.stop.is_set():
            self._halt("imagegen is shutting down")
        return self.stop.is_set()

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

    def _chapter_markers(self, episode: Episode) -> dict[str, Marker]:
        markers = {}
        for ch in episode.chapters:
            m = find_marker(self.paths.image_stale(ch.chapter_id), self.warnings)
            if m is not None:
                markers[ch.chapter_id] = m
        return markers

    def _fingerprints(self, episode: Episode, services: Services) -> dict[str, Fingerprint]:
        template_settings = template_settings_hash(self.settings)
        with_writer = services.settings_hash(self.settings, with_writer=True)
        without_writer = services.settings_hash(self.settings, with_writer=False)
        prompt_cfg = self.settings.prompt
        fps = {}
        for ch in episode.chapters:
            writer = uses_writer(ch)
            context = context_for(
                ch, prompt_cfg.style_prefix, prompt_cfg.narration_chars
            ).narration_context
            if route_of(ch) == "template":
                settings_hash = template_settings
            else:
                settings_hash = with_writer if writer else without_writer
            fps[ch.chapter_id] = Fingerprint(
                chapter=chapter_hash(ch, episode.doc, context),
                template=services.template.sha256 if writer else None,
                settings=settings_hash,
            )
        return fps

    def _dry_run(self, episode: Episode, plans: list[ChapterPlan], services: Services) -> RunResult:
        target = ensure_inside(self.paths, self._mkdir(self.paths.images) / self.paths.request.name)
        estimate = write_request_file(target, episode, plans, services, self.settings)
        result = RunResult(self.paths.name, "dry_run", warnings=list(self.warnings))
        result.estimated_cost_usd = estimate
        result.generated = sum(1 for p in plans if p.action == "generate")
        result.templates = sum(1 for p in plans if p.action == "template")
        result.reused = sum(1 for p in plans if p.action == "reuse")
        result.message = (
            f"would generate {result.generated}, template {result.templates}; wrote {target}"
        )
        return result


@dataclass
class _Ready:
    """A paid image back from the provider, still to be fitted and written."""

    entry: ManifestEntry
    image: Image.Image


class _NotStarted(ImagegenError):
    """Shutdown or a halt came before this chapter's next paid call."""


class _CostCap(ImagegenError):
    """A chapter's next paid call would take the episode past its cost cap."""
