"""Run the handler with an offline provider that takes its time and keeps a ledger of
every image it 'paid' for, so a test can SIGKILL it anywhere and count.

    python -m tests.support.killable_run OUTPUTS EPISODE LEDGER
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

from config import load_settings
from handlers.drawing.offline import OfflineRenderer
from handlers.imagegen import RunRequest, run
from handlers.providers.base import GeneratedImage, ImageRequest
from handlers.run.services import ImageStep, build_services


class LedgerProvider:
    name = "offline"

    def __init__(self, ledger: Path) -> None:
        self.inner = OfflineRenderer()
        self.ledger = ledger

    def generate(self, request: ImageRequest) -> GeneratedImage:
        time.sleep(random.uniform(0.2, 0.35))
        image = self.inner.generate(request)
        bill(self.ledger, request.chapter_id)
        return image


def bill(ledger: Path, chapter_id: str) -> None:
    """One line for one image the 'provider' billed, fsync'd before the image is handed
    back (O_APPEND lines are atomic)."""
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, f"{chapter_id}\n".encode())
    os.fsync(fd)
    os.close(fd)


def main() -> int:
    outputs, episode, ledger = (Path(a) for a in sys.argv[1:4])
    settings = load_settings(overrides={"outputs_dir": outputs})
    services = build_services(settings)
    services.chain[0] = ImageStep(services.chain[0].spec, LedgerProvider(ledger))
    print("started", flush=True)
    result = run(episode, RunRequest(), settings, services=services)
    print(result.outcome, flush=True)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
