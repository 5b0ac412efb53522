"""The image fallback chain: the primary model first, then each `[[image.fallback]]`,
every call held in the ledger first. A model the server does not have is dead for the
rest of the run; when every link is dead the run halts."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import structlog

from config.settings import ImageModel
from handlers.errors import (
    AuthError,
    ConfigurationError,
    ContentRejected,
    ProviderError,
    Stopped,
)
from handlers.money.ledger import Ledger
from handlers.money.pricing import PriceTable
from handlers.providers.base import GeneratedImage, ImageProvider, ImageRequest
from handlers.stop import NotStarted, StopSignal

log = structlog.get_logger("imagegen")


@dataclass(frozen=True)
class ImageStep:
    """One link of the fallback chain: a model spec and the provider that serves it."""

    spec: ImageModel
    provider: ImageProvider

    @property
    def label(self) -> str:
        return f"{self.spec.provider}:{self.spec.model}"


@dataclass
class Served:
    """An image and the link of the chain that made it."""

    image: GeneratedImage
    step: ImageStep
    duration_s: float


class ProviderChain:
    """One run's view of the chain: which links died during it."""

    def __init__(
        self, steps: list[ImageStep], prices: PriceTable, ledger: Ledger, stop: StopSignal
    ) -> None:
        self.steps = steps
        self.prices = prices
        self.ledger = ledger
        self.stop = stop
        self._dead: set[int] = set()
        self._lock = threading.Lock()

    def generate(
        self, request: ImageRequest, chapter_log: structlog.typing.FilteringBoundLogger
    ) -> Served:
        """The first link that serves the request. ContentRejected and AuthError end the
        chapter at once; a failed link hands over to the next; CostCapReached when the
        next link's price does not fit."""
        errors: list[str] = []
        for index, step in enumerate(self.steps):
            with self._lock:
                if index in self._dead:
                    continue
            price = self.prices.image_hold(step.spec, request.prompt)
            with self.ledger.hold(price, "image", what=step.label) as hold:
                self.stop.check()
                started = time.monotonic()
                try:
                    got = step.provider.generate(request)
                except Stopped:
                    raise NotStarted(self.stop.reason or "stopping") from None
                except (ContentRejected, AuthError):
                    raise
                except ConfigurationError as e:
                    # e.g. a retired model: useless for every chapter, but a fallback may serve.
                    self._kill(index, str(e), chapter_log)
                    errors.append(str(e))
                    continue
                except ProviderError as e:
                    errors.append(str(e))
                    chapter_log.warning("image_provider_failed", provider=step.label, error=str(e))
                    continue
                hold.settle(got.cost_usd, got.usage)
            return Served(got, step, time.monotonic() - started)
        raise ProviderError("; ".join(errors) or "no image provider configured")

    def _kill(
        self, index: int, reason: str, chapter_log: structlog.typing.FilteringBoundLogger
    ) -> None:
        with self._lock:
            self._dead.add(index)
            all_dead = len(self._dead) >= len(self.steps)
        chapter_log.error("image_model_unusable", error=reason)
        if all_dead:
            self.stop.halt(reason)
