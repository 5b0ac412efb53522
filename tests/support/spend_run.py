"""A two-chapter run whose images cost $0.04 each, killed (SIGKILL) at one chosen
moment, so a test can compare what imagegen counted with what was billed.

    python -m tests.support.spend_run OUTPUTS EPISODE BILL MOMENT

MOMENT:
  after-manifest  ch02's image is paid and kept, then the manifest that records ch01
                  (and counts ch02's image) is written: killed right after it
  before-keep     ch01 is recorded, ch02's image is paid: killed before it is kept
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config import Settings, load_settings
from handlers.drawing.offline import OfflineRenderer
from handlers.imagegen import RunRequest, run
from handlers.outputs.recorder import Recorder
from handlers.providers.base import GeneratedImage, ImageRequest
from handlers.run import candidates
from handlers.run.services import ImageStep, Services, build_services
from tests.support.killable_run import bill

PRICE = 0.04


class BilledProvider:
    """Draws offline, waits until `ready[chapter]` (if any) says so, and bills every
    image it hands back to `bill` (one line per image, fsync'd) before returning it."""

    name = "offline"

    def __init__(self, bill: Path, ready: dict[str, Callable[[], bool]]) -> None:
        self.inner = OfflineRenderer()
        self.bill = bill
        self.ready = ready

    def generate(self, request: ImageRequest) -> GeneratedImage:
        ready = self.ready.get(request.chapter_id)
        deadline = time.monotonic() + 240
        while ready is not None and not ready():
            if time.monotonic() > deadline:
                raise SystemExit(f"{request.chapter_id}: waited 240 s for its moment")
            time.sleep(0.01)
        image = self.inner.generate(request)
        bill(self.bill, request.chapter_id)
        image.cost_usd = PRICE
        return image


def setup(
    outputs: Path, bill: Path, ready: dict[str, Callable[[], bool]] | None = None
) -> tuple[Settings, Services]:
    settings = load_settings(overrides={"outputs_dir": outputs})
    settings.image.concurrency = 2
    settings.selection.candidates = 1
    settings.selection.judge = "none"
    settings.selection.ocr = False
    settings.prompt.writer = "template"
    services = build_services(settings)
    services.chain[0] = ImageStep(services.chain[0].spec, BilledProvider(bill, ready or {}))
    return settings, services


def _manifest_text(images: Path) -> str:
    try:
        return (images / "manifest.json").read_text(encoding="utf-8")
    except OSError:
        return ""


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> int:
    outputs, episode, bill = (Path(a) for a in sys.argv[1:4])
    moment = sys.argv[4]
    images = episode / "images"
    if moment == "after-manifest":
        # ch01's image comes back only once ch02's is kept (and so counted).
        kept = lambda: any((images / "candidates/ch02").glob("*.png"))  # noqa: E731
        settings, services = setup(outputs, bill, {"ch01": kept})
        consider = candidates._consider

        def slow_for_ch02(work: Any, *args: Any) -> bool:
            if work.plan.chapter.chapter_id == "ch02":
                time.sleep(3600)  # kept and counted, never recorded: killed first
            return consider(work, *args)

        candidates._consider = slow_for_ch02  # type: ignore[assignment]
        write_manifest = Recorder.write_manifest

        def then_die(self: Recorder) -> None:
            write_manifest(self)
            if "ch01" in self.entries:
                _die()

        Recorder.write_manifest = then_die  # type: ignore[method-assign]
    elif moment == "before-keep":
        # ch02's image comes back only once the manifest records ch01.
        recorded = lambda: "ch01" in _manifest_text(images)  # noqa: E731
        settings, services = setup(outputs, bill, {"ch02": recorded})
        keep = candidates._keep

        def die_for_ch02(work: Any, *args: Any) -> Any:
            if work.plan.chapter.chapter_id == "ch02":
                _die()  # paid and counted in memory; no file, no manifest entry
            return keep(work, *args)

        candidates._keep = die_for_ch02  # type: ignore[assignment]
    else:
        raise SystemExit(f"unknown moment {moment!r}")
    print("started", flush=True)
    result = run(episode, RunRequest(), settings, services=services)
    print(result.outcome, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
