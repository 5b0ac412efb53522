"""Choose the image provider chain and the prompt writer from the settings.

`auto` means: a real provider when its key is present, otherwise the embedded
defaults (offline renderer, template writer), so a fresh machine works with no key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from config.settings import ImageModel, Settings
from handlers.money.pricing import PriceTable
from handlers.prompts.template import PromptTemplate, load_template
from handlers.prompts.writers import PromptWriter, TemplateWriter
from handlers.providers.base import GeneratedImage, ImageProvider, ImageRequest
from handlers.providers.chain import ImageStep


@dataclass
class Services:
    chain: list[ImageStep]
    writer: PromptWriter
    template: PromptTemplate
    prices: PriceTable

    @property
    def primary(self) -> ImageModel:
        return self.chain[0].spec

    def models(self) -> dict[str, object]:
        """The chain and the writer as plain values, for provenance."""
        return {
            "image_chain": [step.label for step in self.chain],
            "prompt_writer": self.writer.name,
            "prompt_model": self.writer.model,
        }

    def template_facts(self) -> dict[str, str]:
        return {
            "source": self.template.source,
            "name": self.template.name,
            "sha256": self.template.sha256,
        }


def primary_spec(settings: Settings) -> ImageModel:
    image = settings.image
    provider = image.provider
    if provider == "auto":
        provider = "openai" if settings.openai.api_key is not None else "offline"
    if provider == "offline":
        return ImageModel(provider="offline", model="offline-pillow-1", size="auto", quality="auto")
    return ImageModel(
        provider="openai",
        model=image.model,
        size=image.size,
        quality=image.quality,
        style=image.style,
    )


def build_services(settings: Settings) -> Services:
    template = load_template(settings.prompt.template)
    prices = PriceTable.with_overrides(settings.prices)
    specs = [primary_spec(settings), *settings.image.fallback]
    chain = [ImageStep(spec, _provider_for(spec, settings, prices)) for spec in specs]
    return Services(
        chain=chain,
        writer=_writer_for(settings, template, prices),
        template=template,
        prices=prices,
    )


def _provider_for(spec: ImageModel, settings: Settings, prices: PriceTable) -> ImageProvider:
    if spec.provider == "offline":

        def offline() -> ImageProvider:
            from handlers.drawing.offline import OfflineRenderer

            return OfflineRenderer(font_path=settings.brand.font_path)

        return MadeOnFirstImage("offline", offline)

    def openai() -> ImageProvider:
        from handlers.providers.openai import OpenAIImages

        return OpenAIImages(spec, settings, prices)

    return MadeOnFirstImage(f"openai:{spec.model}", openai)


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
        if settings.anthropic.api_key is not None:
            writer = "anthropic"
        elif settings.openai.api_key is not None:
            writer = "openai"
        else:
            writer = "template"
    if writer == "template":
        return TemplateWriter(template)
    # Loaded only for an LLM writer; its SDK is imported on the first prompt, not here.
    from handlers.prompts.llm import AnthropicWriter, OpenAIChatWriter

    if writer == "anthropic":
        return AnthropicWriter(settings, template, prices)
    return OpenAIChatWriter(settings, template, prices)
