"""Choose the image provider chains and the prompt writer from the settings.

`auto` means: a real provider when its key is present, otherwise the embedded
defaults (offline renderer, template writer), so a fresh machine works with no key.
The default chain is `[image]` + `[[image.fallback]]`; a visual type with
`[[image.chains.<type>]]` has its own; `image.fallback_offline` ends each chain that
has a paid link with the offline renderer (a stand-in, see providers/chain.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from config.settings import ImageModel, Settings
from handlers.api.llm import keyed_llm
from handlers.money.pricing import PriceTable
from handlers.prompts.critic import Critic
from handlers.prompts.refine_setup import build_critic
from handlers.prompts.template import PromptTemplate, load_template
from handlers.prompts.writers import PromptWriter, TemplateWriter
from handlers.providers.base import GeneratedImage, ImageProvider, ImageRequest
from handlers.providers.chain import ImageStep
from handlers.select.judge import Judge

OFFLINE = ImageModel(provider="offline", model="offline-pillow-1", size="auto", quality="auto")
# `image.provider = "auto"`: the first provider whose key is present, in this order.
AUTO_ORDER = ("openai", "gemini", "replicate")


@dataclass
class Services:
    chain: list[ImageStep]
    writer: PromptWriter
    template: PromptTemplate
    prices: PriceTable
    judge: Judge | None = None
    critic: Critic | None = None  # None: the rule-based critic (or no refinement)
    refines: bool = False
    # Visual types with a chain of their own ([[image.chains.<type>]]).
    chains: dict[str, list[ImageStep]] = field(default_factory=dict)

    @property
    def primary(self) -> ImageModel:
        return self.chain[0].spec

    def chain_for(self, visual_type: str) -> list[ImageStep]:
        return self.chains.get(visual_type, self.chain)

    def primary_for(self, visual_type: str) -> ImageModel:
        return self.chain_for(visual_type)[0].spec

    def primaries(self) -> dict[str, ImageModel]:
        """The first link of each visual type's own chain (its images depend on it)."""
        return {visual_type: chain[0].spec for visual_type, chain in self.chains.items()}

    def models(self) -> dict[str, object]:
        """The chains and the writer as plain values, for provenance."""
        models: dict[str, object] = {"image_chain": [step.label for step in self.chain]}
        if self.chains:
            models["image_chains"] = {
                visual_type: [step.label for step in chain]
                for visual_type, chain in sorted(self.chains.items())
            }
        models.update(
            prompt_writer=self.writer.name,
            prompt_model=self.writer.model,
            judge=f"{self.judge.name}:{self.judge.model}" if self.judge else None,
            critic=(self.critic.label if self.critic else "rules") if self.refines else None,
        )
        return models

    def template_facts(self) -> dict[str, str]:
        """source, name, sha256 and the text of the prompt template."""
        return {
            "source": self.template.source,
            "name": self.template.parts.name,
            "sha256": self.template.sha256,
            "text": self.template.text,
        }


def primary_spec(settings: Settings) -> ImageModel:
    image = settings.image
    provider: str = image.provider
    if provider == "auto":
        keyed = [p for p in AUTO_ORDER if getattr(settings, p).api_key is not None]
        provider = keyed[0] if keyed else "offline"
        if provider in ("gemini", "replicate"):
            return ImageModel(provider=provider)  # that provider's default link
    if provider == "offline":
        return OFFLINE
    return ImageModel.model_validate(
        {
            "provider": provider,
            "model": image.model,
            "size": image.size,
            "quality": image.quality,
            "style": image.style,
        }
    )


def chain_specs(settings: Settings) -> tuple[list[ImageModel], dict[str, list[ImageModel]]]:
    """The default chain and each visual type's own, as configured."""
    default = _with_stand_in([primary_spec(settings), *settings.image.fallback], settings)
    chains = {
        visual_type: _with_stand_in(list(links), settings)
        for visual_type, links in settings.image.chains.items()
    }
    return default, chains


def _with_stand_in(specs: list[ImageModel], settings: Settings) -> list[ImageModel]:
    paid = any(spec.provider != "offline" for spec in specs)
    if settings.image.fallback_offline and paid and specs[-1].provider != "offline":
        return [*specs, OFFLINE]
    return specs


def build_services(settings: Settings) -> Services:
    template = load_template(settings.prompt.template)
    prices = PriceTable.with_overrides(settings.prices)
    default, chains = chain_specs(settings)
    # One provider per distinct link, shared by every chain naming it: one client, and
    # one rate gate, so a 429 pauses every chapter that uses that model.
    made: dict[str, ImageProvider] = {}

    def steps(specs: list[ImageModel]) -> list[ImageStep]:
        out = []
        for spec in specs:
            key = spec.model_dump_json()
            if key not in made:
                made[key] = _provider_for(spec, settings, prices)
            out.append(ImageStep(spec, made[key]))
        return out

    return Services(
        chain=steps(default),
        writer=_writer_for(settings, template, prices),
        template=template,
        prices=prices,
        judge=_judge_for(settings, prices),
        critic=build_critic(settings, prices) if settings.refine.enabled else None,
        refines=settings.refine.enabled,
        chains={visual_type: steps(specs) for visual_type, specs in chains.items()},
    )


def _provider_for(spec: ImageModel, settings: Settings, prices: PriceTable) -> ImageProvider:
    """The provider of one link, made on its first image: its module loads Pillow or an
    SDK (0.1-2 s), which an offline run, a run that has nothing to generate, or one that
    never reaches this link should not pay."""

    def make() -> ImageProvider:
        if spec.provider == "offline":
            from handlers.drawing.offline import OfflineRenderer

            return OfflineRenderer(font_path=settings.brand.font_path)
        if spec.provider == "gemini":
            from handlers.providers.gemini import GeminiImages

            return GeminiImages(spec, settings, prices)
        if spec.provider == "replicate":
            from handlers.providers.replicate import ReplicateImages

            return ReplicateImages(spec, settings, prices)
        from handlers.providers.openai import OpenAIImages

        return OpenAIImages(spec, settings, prices)

    name = "offline" if spec.provider == "offline" else f"{spec.provider}:{spec.model}"
    return MadeOnFirstImage(name, make)


class MadeOnFirstImage:
    """A provider made on its first image. Its module loads Pillow or an SDK (0.1-2 s),
    which a run with nothing to generate, the common case, must not pay."""

    def __init__(self, name: str, make: Callable[[], ImageProvider]) -> None:
        self.name = name
        self._make = make
        self._provider: ImageProvider | None = None
        self._lock = threading.Lock()

    def generate(self, request: ImageRequest) -> GeneratedImage:
        with self._lock:  # the workers' first images arrive together: make it once
            if self._provider is None:
                self._provider = self._make()
            provider = self._provider
        return provider.generate(request)


def _writer_for(settings: Settings, template: PromptTemplate, prices: PriceTable) -> PromptWriter:
    writer = settings.prompt.writer
    if writer == "auto":
        writer = keyed_llm(settings) or "template"
    if writer == "template":
        return TemplateWriter(template)
    # Loaded only for an LLM writer; its SDK is imported on the first prompt, not here.
    from handlers.prompts.llm import LLMWriter

    if writer == "anthropic":
        return LLMWriter("anthropic", settings, template, prices)
    return LLMWriter("openai", settings, template, prices)


def _judge_for(settings: Settings, prices: PriceTable) -> Judge | None:
    """`auto`: a vision LLM when its key is present (Anthropic first, like the writer);
    candidates are then ranked by their checks alone when there is none."""
    judge = settings.selection.judge
    if judge == "none":
        return None
    if judge == "auto":
        keyed = keyed_llm(settings)
        if keyed is None:
            return None
        judge = keyed
    from handlers.select.vision import VisionJudge  # see _provider_for

    if judge == "anthropic":
        return VisionJudge("anthropic", settings, prices)
    return VisionJudge("openai", settings, prices)
