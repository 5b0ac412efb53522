"""`imagegen daemon`: watch the outputs tree and run the handler for every episode
that needs it, until SIGTERM.

Threads: the watchdog observer (puts raw events on a queue), the worker pool (runs
the handler, reports back on the same queue) and this loop, which alone owns the
scheduler and talks to systemd."""

from __future__ import annotations

import contextlib
import faulthandler
import os
import queue
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

import structlog

from config import ConfigError, Settings, load_settings
from daemon import notify, presence
from daemon.events import Overflow, RawEvent
from daemon.reconcile import Reconciler, find_episodes
from daemon.scheduler import Scheduler
from daemon.stall import StallMonitor, threshold_for
from daemon.summary import summary_line
from daemon.triggers import Trigger, classify
from daemon.watcher import start_watcher
from handlers.episode import layout
from handlers.errors import ImagegenError
from handlers.imagegen import (
    RunRequest,
    RunResult,
    forget_verified_keys,
    provider_report,
    run,
    validate,
    warm_up,
)

log = structlog.get_logger("imagegen")

LOOP_TICK = 0.2
# Test-only fault switch: while this file exists the main loop hangs, so the systemd
# watchdog can be shown to kill and restart a hung daemon. Unset in production.
HANG_SWITCH_ENV = "IMAGEGEN_TEST_HANG_FILE"


@dataclass(frozen=True)
class _JobStarted:
    episode: Path


@dataclass(frozen=True)
class _JobDone:
    episode: Path
    result: RunResult
    started: bool  # False: it found the episode current, or locked by another process


class Service:
    def __init__(
        self, settings: Settings, config_file: Path | None, overrides: dict[str, Any]
    ) -> None:
        self.settings = settings
        self.config_file = config_file
        self.overrides = overrides
        self.root = Path(os.path.realpath(settings.outputs_dir))
        self.events: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.cancel = threading.Event()
        # Written by the signal handler only, read by the loop (see _on_signal).
        self._stop_signal: int | None = None
        self._reload_asked = False
        self.pool = ThreadPoolExecutor(settings.daemon.workers, thread_name_prefix="imagegen-job")
        self.jobs: set[Future[None]] = set()
        self.scheduler = Scheduler(
            settings.daemon,
            self._submit,
            settings.max_input_bytes,
            check_input=self._check_input,
            report_invalid=self._report_invalid,
        )
        self.reconciler = Reconciler(self.root)
        self._hang_file = os.environ.get(HANG_SWITCH_ENV)

    # -- lifecycle --------------------------------------------------------------------

    def serve(self) -> int:
        self.root.mkdir(parents=True, exist_ok=True)
        self._presence = presence.announce(self.root)  # held until the process ends
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGHUP, self._on_signal)
        daemon_cfg = self.settings.daemon
        self.observer = start_watcher(
            self.root,
            self.events,
            polling=daemon_cfg.polling,
            poll_interval=daemon_cfg.poll_interval_seconds,
        )
        queued = self._scan("startup")
        log.info(
            "daemon_ready",
            message=f"watching {self.root}; {queued} episode(s) queued at startup",
            outputs_dir=str(self.root),
        )
        notify.ready(self._status())
        threading.Thread(target=self._warm_up, name="imagegen-warm-up", daemon=True).start()
        self._check_keys()
        try:
            self._loop()
        finally:
            self._shutdown()
        return 0

    def _loop(self) -> None:
        now = time.monotonic()
        watchdog_every = notify.watchdog_interval()
        stall = StallMonitor(threshold_for(watchdog_every))
        stall.start()
        next_ping = now
        rescan_every = self.settings.daemon.rescan_seconds
        next_rescan = now + rescan_every if rescan_every > 0 else float("inf")
        last_status = ""
        try:
            while self._stop_signal is None:
                stall.beat()
                self._maybe_hang()
                now = time.monotonic()
                wait = min(self.scheduler.tick(now), LOOP_TICK, max(0.0, next_rescan - now))
                self._drain(max(0.0, wait))
                now = time.monotonic()
                if self._reload_asked:
                    self._reload_asked = False  # a SIGHUP from now on asks for one more
                    self._do_reload()
                if now >= next_rescan:
                    self._scan("periodic rescan")
                    next_rescan = now + self.settings.daemon.rescan_seconds
                if watchdog_every is not None and now >= next_ping and self.observer.is_alive():
                    # Only while the observer and this loop both live: a dead watcher must
                    # not be kept alive by a loop that still ticks.
                    notify.watchdog_ping()
                    next_ping = now + watchdog_every
                status = self._status()
                if status != last_status:
                    notify.status(status)
                    last_status = status
        finally:
            stall.stop()  # the drain that follows is no stall

    def _shutdown(self) -> None:
        running = self.scheduler.counts.running
        notify.stopping(f"stopping: draining {running} job(s)")
        log.info(
            "daemon_stopping", message=f"stopping; {running} job(s) in flight finish their calls"
        )
        self.scheduler.accepting = False
        self.cancel.set()  # handlers start no new paid call from now on
        self.observer.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + self.settings.daemon.drain_grace_seconds
        while any(not j.done() for j in self.jobs) and time.monotonic() < deadline:
            self._drain(0.1)
        left = [j for j in self.jobs if not j.done()]
        self._drain(0.0)
        if left:
            log.error(
                "drain_timeout",
                message=f"{len(left)} job(s) still in a call after "
                f"{self.settings.daemon.drain_grace_seconds:g} s; abandoning them (every file "
                "on disk is complete: writes are atomic)",
            )
            os._exit(0)  # worker threads blocked in a socket would hold a normal exit
        log.info("daemon_stopped", message="stopped cleanly")

    # -- events -------------------------------------------------------------------------

    def _drain(self, timeout: float) -> None:
        try:
            item = self.events.get(timeout=timeout) if timeout > 0 else self.events.get_nowait()
        except queue.Empty:
            return
        now = time.monotonic()
        for _ in range(100_000):  # a storm is handled in one batch, then the loop ticks
            self._handle(item, now)
            try:
                item = self.events.get_nowait()
            except queue.Empty:
                return

    def _handle(self, item: object, now: float) -> None:
        if isinstance(item, RawEvent):
            trigger = classify(self.root, item.event_type, item.src, item.dest, item.is_directory)
            if trigger is None:
                return
            if trigger.kind == "directory":
                # Files written before the watch on a new directory existed are never
                # reported: look inside now.
                for episode in find_episodes(trigger.episode):
                    self.scheduler.add(Trigger(episode, "input", trigger.reason, "found"), now)
                return
            self.scheduler.add(trigger, now)
        elif isinstance(item, _JobStarted):
            self.scheduler.job_started()
        elif isinstance(item, _JobDone):
            self._job_done(item, now)
        elif isinstance(item, Overflow):
            log.warning("inotify_overflow", message="the kernel dropped events; rescanning")
            self._scan("rescan after inotify overflow")

    def _scan(self, why: str) -> int:
        """Queue every episode that needs a job (and watch every directory, again after
        an overflow); unchanged episodes are decided from the state cache."""
        needed = self.reconciler.scan(self.observer)
        now = time.monotonic()
        for episode, reason in needed:
            self.scheduler.add(Trigger(episode, "scan", f"{why}: {reason}"), now)
        return len(needed)

    def _check_input(self, episode: Path) -> str | None:
        try:
            validate(episode / layout.CHAPTERS, self.settings)
        except ImagegenError as e:
            return str(e)
        except OSError as e:
            return f"{episode / layout.CHAPTERS}: {e.strerror or e}"
        return None

    def _report_invalid(self, episode: Path, why: str, wait: float) -> None:
        log.error(
            "input_invalid",
            episode_id=episode.name,
            message=f"{why}. If it is still being written this clears when it is done; "
            f"otherwise its job reports it within {wait:.0f} s",
        )

    # -- jobs ---------------------------------------------------------------------------

    def _submit(self, episode: Path, reason: str) -> None:
        future = self.pool.submit(self._job, episode, reason)
        self.jobs.add(future)
        future.add_done_callback(self.jobs.discard)

    def _job(self, episode: Path, reason: str) -> None:
        started = threading.Event()

        def on_start() -> None:
            # Under the episode lock, once the episode is found to need the run: a job
            # another daemon on the tree has done, or is doing, never starts here.
            started.set()
            self.events.put(_JobStarted(episode))
            log.info("job_started", episode_id=episode.name, message=f"{episode.name}: {reason}")

        request = RunRequest(
            trigger=f"daemon: {reason}",
            cancel=self.cancel,
            wait=False,
            only_if_needed=True,
            on_start=on_start,
        )
        try:
            result = run(episode, request, self.settings)
        except Exception as e:  # a handler bug must cost one episode, never the daemon
            log.exception("job_crashed", episode_id=episode.name)
            result = RunResult(episode.name, "failed", f"internal error: {type(e).__name__}: {e}")
        skipped = not started.is_set() and result.outcome in ("up_to_date", "busy")
        if not skipped:
            if not started.is_set():
                on_start()  # it failed before the lock (a path refused): still a job
            with contextlib.suppress(OSError):
                (episode / layout.IMAGES_DIR / layout.RETRY_REQUEST).unlink()  # served
        self.events.put(_JobDone(episode, result, not skipped))

    def _job_done(self, done: _JobDone, now: float) -> None:
        result = done.result
        follow_up = self.scheduler.finished(done.episode, result.outcome, now, done.started)
        if not done.started:
            log.debug(
                "job_skipped",
                episode_id=result.episode,
                status=result.outcome,
                message=f"{result.episode}: "
                + ("up to date" if result.outcome == "up_to_date" else result.message),
            )
            return
        level = "info" if result.ok or result.outcome in ("blocked", "busy") else "error"
        message = summary_line(result)
        retry_in = self.scheduler.retry_in(done.episode, now)
        fields: dict[str, str] = {}
        if result.outcome == "failed" and follow_up:
            # Most likely it read a file being rewritten; the follow-up tells for sure.
            level = "warning"
            message += " -- its input changed during the job: a follow-up job runs"
        elif result.outcome == "failed" and retry_in is not None:
            at = datetime.fromtimestamp(time.time() + retry_in).astimezone()
            fields["retry_at"] = at.isoformat(timespec="seconds")
            message += (
                f" -- next try at {at:%H:%M:%S} (in {retry_in:.0f} s), at once when its "
                f"input or a marker changes, or now with `imagegen retry {done.episode}`"
            )
        getattr(log, level)(
            "job_finished",
            episode_id=result.episode,
            status=result.outcome,
            cost_usd=round(result.cost_usd, 6),
            duration_ms=round(result.duration_s * 1000),
            message=message,
            **fields,
        )

    # -- signals and reload ---------------------------------------------------------------

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Python runs a handler between two bytecodes of the main thread, even inside the
        # handler of the signal before: a handler that takes a lock (Event.set does) waits
        # on itself forever when a second signal lands while it holds it -- make forwards
        # Ctrl-C's SIGTERM to a daemon that got it already. Plain assignments only; the
        # loop looks at least every LOOP_TICK.
        if signum == signal.SIGHUP:
            self._reload_asked = True
        else:
            self._stop_signal = signum

    def _warm_up(self) -> None:
        started = time.monotonic()
        warm_up(self.settings)
        took = round((time.monotonic() - started) * 1000)
        what = "OCR and word lists included" if self.settings.selection.ocr else "OCR off"
        log.info(
            "warmed_up",
            duration_ms=took,
            message=f"job machinery loaded in {took} ms ({what}); a job before this waited",
        )

    def _check_keys(self) -> None:
        """Ask each image provider the chains use whether it accepts its key (a free
        request), in the background after READY: a refused key is in the log at
        start-up, not only when an episode first needs it."""
        settings = self.settings

        def check() -> None:
            for status in provider_report(settings, check=True):
                if status.used_by:
                    report = log.info if status.usable else log.error
                    report(
                        "image_provider_check",
                        provider=status.provider,
                        usable=status.usable,
                        message=f"{status.provider}: {status.note}",
                    )

        threading.Thread(target=check, name="imagegen-key-check", daemon=True).start()

    def _do_reload(self) -> None:
        notify.reloading()
        try:
            new = load_settings(self.config_file, overrides=self.overrides)
        except ConfigError as e:
            log.error("reload_failed", message=f"keeping the running configuration: {e}")
        else:
            if Path(os.path.realpath(new.outputs_dir)) != self.root:
                log.warning(
                    "reload_outputs_dir",
                    message="outputs_dir changed; it takes effect at the next restart",
                )
                new = new.model_copy(update={"outputs_dir": self.settings.outputs_dir})
            self.settings = new
            self.scheduler.settings = new.daemon
            forget_verified_keys()
            log.info("reloaded", message="configuration reloaded")
            self._check_keys()
        notify.ready(self._status())

    def _status(self) -> str:
        c = self.scheduler.counts
        waiting = self.scheduler.pending + c.queued
        return f"{waiting} queued, {c.running} running, {c.done} done, {c.failed} failed"

    def _maybe_hang(self) -> None:
        if self._hang_file and os.path.exists(self._hang_file):
            log.error("test_hang", message="test fault switch: main loop hangs")
            while True:
                time.sleep(3600)


def serve(settings: Settings, config_file: Path | None, overrides: dict[str, Any]) -> int:
    # A hung daemon killed by systemd's watchdog (SIGABRT) leaves every thread's stack in
    # the journal, where the operator (and we) can see what it was stuck in.
    faulthandler.enable()
    return Service(settings, config_file, overrides).serve()
