"""The image fallback chain, across providers. A chapter's visual type picks its chain
(`[[image.chains.<type>]]`, else `[image]` + `[[image.fallback]]`); each link is held
in the ledger before its call, and every link tried is written down (the manifest's
`provider_attempts`). What a link's failure means for the rest:

  rejected     the provider's safety system refused the prompt: the provider's other
               links are skipped for this chapter (the same system judges them), the
               next provider is asked
  auth_failed  the key was refused: the provider is off for the rest of the run, in
               every chain (a loud log line)
  unusable     the server has no such model: the link is off for the rest of the run
  failed       an outage after retries (429s, 5xx, timeouts, malformed answers), quota
  cost_cap     its price does not fit under the cap: the chain stops there

An offline link after a paid one is a stand-in: it draws only when no paid link served,
never for a prompt that every paid provider rejected, and never beside a chapter's paid
candidates; the chapter is then recorded `fallback` and tried again later. When every
link of every chain is off, the run halts."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import structlog

from config.settings import ImageModel
from handlers.errors import (
    AuthError,
    ConfigurationError,
    ContentRejected,
    KeyRefused,
    ProviderError,
    Stopped,
)
from handlers.money.ledger import CostCapReached, Ledger
from handlers.money.pricing import PriceTable
from handlers.outputs.manifest import ProviderAttempt
from handlers.providers.base import (
    TAKES_REFERENCES,
    GeneratedImage,
    ImageProvider,
    ImageRequest,
)
from handlers.stop import NotStarted, StopSignal

log = structlog.get_logger("imagegen")


@dataclass(frozen=True)
class ImageStep:
    """One link of a chain: a model spec and the provider that serves it."""

    spec: ImageModel
    provider: ImageProvider

    @property
    def label(self) -> str:
        return f"{self.spec.provider}:{self.spec.model}"

    @property
    def paid(self) -> bool:
        return self.spec.provider != "offline"


@dataclass
class Served:
    """An image, the link of the chain that made it, and every link tried for it."""

    image: GeneratedImage
    step: ImageStep
    duration_s: float
    attempts: list[ProviderAttempt] = field(default_factory=list)
    # The offline renderer drew it because no paid link served.
    stand_in: bool = False


@dataclass
class _Tried:
    """One chapter's walk down its chain."""

    trail: list[ProviderAttempt]
    failures: list[str] = field(default_factory=list)  # worth another try later
    closed: list[str] = field(default_factory=list)  # links off for the run
    rejected: ContentRejected | None = None
    rejected_by: set[str] = field(default_factory=set)
    paid_seen: bool = False
    called: bool = False  # a request went out for this chapter

    def note(self, step: ImageStep, outcome: str, error: str | None = None) -> None:
        self.trail.append(
            ProviderAttempt(
                provider=step.spec.provider, model=step.spec.model, outcome=outcome, error=error
            )
        )


class ProviderChain:
    """One run's view of the chains: which links and providers went off during it."""

    def __init__(
        self,
        steps: list[ImageStep],
        prices: PriceTable,
        ledger: Ledger,
        stop: StopSignal,
        chains: Mapping[str, list[ImageStep]] | None = None,
    ) -> None:
        self.steps = steps
        self.chains = dict(chains or {})
        self.prices = prices
        self.ledger = ledger
        self.stop = stop
        self._dead_links: dict[str, str] = {}
        self._dead_providers: dict[str, str] = {}
        self._lock = threading.Lock()

    def steps_for(self, visual_type: str) -> list[ImageStep]:
        return self.chains.get(visual_type, self.steps)

    def generate(
        self,
        request: ImageRequest,
        chapter_log: structlog.typing.FilteringBoundLogger,
        trail: list[ProviderAttempt] | None = None,
        *,
        stand_in: bool = True,
    ) -> Served:
        """The first link that serves the request; `trail` (the caller's list, filled
        in even when this raises) says what each link did. `stand_in=False`: the
        chapter has paid candidates already, so no offline stand-in is drawn.
        Raises ContentRejected when every paid provider rejected the prompt,
        CostCapReached when the next link's price does not fit, ProviderError else."""
        tried = _Tried(trail if trail is not None else [])
        for step in self.steps_for(request.visual_type):
            if not step.paid and tried.paid_seen and not self._stand_in_allowed(tried, stand_in):
                tried.note(step, "skipped", self._why_no_stand_in(tried, stand_in))
                continue
            closed = self._closed(step)
            if closed is not None:
                tried.paid_seen = tried.paid_seen or step.paid
                tried.closed.append(f"{step.label}: {closed}")
                tried.note(step, "skipped", f"off for this run: {closed}")
                continue
            if step.spec.provider in tried.rejected_by:
                tried.note(step, "skipped", f"{step.spec.provider} rejected this prompt")
                continue
            tried.paid_seen = tried.paid_seen or step.paid
            got = self._call(step, request, tried, chapter_log)
            if got is not None:
                image, duration = got
                tried.note(step, "ok")
                stand = not step.paid and tried.paid_seen
                if stand:
                    chapter_log.warning(
                        "image_stand_in",
                        error="; ".join(tried.failures + tried.closed),
                        message="every paid provider failed: an offline stand-in, retried later",
                    )
                return Served(image, step, duration, tried.trail, stand_in=stand)
        if not tried.called:
            # Every link was closed before this chapter asked: when that halted the
            # run, the chapter was not started, like those still waiting for a slot.
            self.stop.check()
        raise self._nothing_served(tried)

    # -- one link -----------------------------------------------------------------------

    def _call(
        self,
        step: ImageStep,
        request: ImageRequest,
        tried: _Tried,
        chapter_log: structlog.typing.FilteringBoundLogger,
    ) -> tuple[GeneratedImage, float] | None:
        """The link's image and how long it took, or None when it did not serve."""
        references = len(request.references) if step.spec.provider in TAKES_REFERENCES else 0
        price = self.prices.image_hold(step.spec, request.prompt, references)
        try:
            with self.ledger.hold(price, "image", what=step.label) as hold:
                self.stop.check()
                started = time.monotonic()
                sent_before, tried.called = tried.called, True
                try:
                    got = step.provider.generate(request)
                except Stopped:
                    raise NotStarted(self.stop.reason or "stopping") from None
                except ContentRejected as e:
                    tried.rejected = tried.rejected or e
                    tried.rejected_by.add(step.spec.provider)
                    tried.note(step, "rejected", str(e))
                    chapter_log.warning("image_prompt_rejected", provider=step.label, error=str(e))
                    return None
                except AuthError as e:
                    if isinstance(e, KeyRefused):
                        # Refused by the key check before this chapter's request left:
                        # like a chapter that finds the provider already off (generate).
                        tried.called = sent_before
                    self._close_provider(step.spec.provider, str(e))
                    tried.closed.append(str(e))
                    tried.note(step, "auth_failed", str(e))
                    return None
                except ConfigurationError as e:
                    # e.g. a retired model: useless for every chapter, but a fallback may serve.
                    self._close_link(step.label, str(e))
                    tried.closed.append(str(e))
                    tried.note(step, "unusable", str(e))
                    return None
                except ProviderError as e:
                    tried.failures.append(str(e))
                    tried.note(step, "failed", str(e))
                    chapter_log.warning("image_provider_failed", provider=step.label, error=str(e))
                    return None
                hold.settle(got.cost_usd, got.usage)
        except CostCapReached as e:
            tried.note(step, "cost_cap", str(e))
            raise
        return got, time.monotonic() - started

    # -- stand-ins ----------------------------------------------------------------------

    @staticmethod
    def _stand_in_allowed(tried: _Tried, stand_in: bool) -> bool:
        # A prompt every paid provider rejected would be rejected again: a stand-in
        # would only be retried (and paid for) in vain.
        return stand_in and bool(tried.failures or tried.closed or tried.rejected is None)

    @staticmethod
    def _why_no_stand_in(tried: _Tried, stand_in: bool) -> str:
        if not stand_in:
            return "no stand-in beside the chapter's paid candidates"
        return "no stand-in for a prompt every paid provider rejected"

    def _nothing_served(self, tried: _Tried) -> Exception:
        if tried.failures:
            return ProviderError("; ".join(tried.failures))
        if tried.rejected is not None:
            return tried.rejected
        return ProviderError("; ".join(tried.closed) or "no image provider configured")

    # -- links and providers that go off --------------------------------------------------

    def _closed(self, step: ImageStep) -> str | None:
        with self._lock:
            return self._closed_locked(step)

    def _closed_locked(self, step: ImageStep) -> str | None:
        return self._dead_providers.get(step.spec.provider) or self._dead_links.get(step.label)

    def _close_provider(self, provider: str, reason: str) -> None:
        with self._lock:
            if provider not in self._dead_providers:
                self._dead_providers[provider] = reason
                log.error(
                    "image_provider_disabled",
                    episode_id=self.stop.episode,
                    provider=provider,
                    error=reason,
                    message=f"{provider} gets no further calls in this run; its chapters go "
                    "to the next provider of their chain",
                )
            self._halt_if_all_closed(reason)

    def _close_link(self, label: str, reason: str) -> None:
        with self._lock:
            self._dead_links.setdefault(label, reason)
            log.error("image_model_unusable", episode_id=self.stop.episode, error=reason)
            self._halt_if_all_closed(reason)

    def _halt_if_all_closed(self, reason: str) -> None:
        # Called under the lock, in the same step that closes: a chapter that finds
        # every link closed must also find the run halted, or it would be recorded
        # failed instead of not started.
        steps = [s for chain in (self.steps, *self.chains.values()) for s in chain]
        if all(self._closed_locked(s) is not None for s in steps):
            self.stop.halt(reason)
