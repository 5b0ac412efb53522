"""Choose the image provider chain and the prompt writer from the settings.

`auto` means: a real provider when its key is present, otherwise the embedded
defaults (offline renderer, template writer), so a fresh machine works with no key.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import ImageModel, Settings
from handlers.drawing.offline import OfflineRenderer
from handlers.money.pricing import PriceTable
from handlers.prompts.template import PromptTemplate, load_template
from handlers.prompts.writers import PromptWriter, TemplateWriter
from handlers.providers.base import ImageProvider
from handlers.providers.chain import ImageStep
from handlers.select.judge import Judge


@dataclass
class Services:
    chain: list[ImageStep]
    writer: PromptWriter
    template: PromptTemplate
    prices: PriceTable
    judge: Judge | None = None

    @property
    def primary(self) -> ImageModel:
        return self.chain[0].spec

    def models(self) -> dict[str, object]:
        """The chain and the writer as plain values, for provenance."""
        return {
            "image_chain": [step.label for step in self.chain],
            "prompt_writer": self.writer.name,
            "prompt_model": self.writer.model,
            "judge": f"{self.judge.name}:{self.judge.model}" if self.judge else None,
        }

    def template_facts(self) -> dict[str, str]:
        """source, name, sha256 and the text of the prompt template."""
        return {
            "source": self.template.source,
            "name": self.template.name,
            "sha256": self.template.sha256,
            "text": self.template.text,
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
        judge=_judge_for(settings, prices),
    )


def _provider_for(spec: ImageModel, settings: Settings, prices: PriceTable) -> ImageProvider:
    if spec.provider == "offline":
        return OfflineRenderer(font_path=settings.brand.font_path)
    # Imported here: the SDKs take about a second to import, which an offline run
    # (the embedded defaults, `imagegen validate`) should not pay.
    from handlers.providers.openai import OpenAIImages

    return OpenAIImages(spec, settings, prices)


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
    from handlers.prompts.llm import AnthropicWriter, OpenAIChatWriter  # see _provider_for

    if writer == "anthropic":
        return AnthropicWriter(settings, template, prices)
    return OpenAIChatWriter(settings, template, prices)


def _judge_for(settings: Settings, prices: PriceTable) -> Judge | None:
    """`auto`: a vision LLM when its key is present (Anthropic first, like the writer);
    candidates are then ranked by their checks alone when there is none."""
    judge = settings.selection.judge
    if judge == "none":
        return None
    if judge == "auto":
        if settings.anthropic.api_key is not None:
            judge = "anthropic"
        elif settings.openai.api_key is not None:
            judge = "openai"
        else:
            return None
    from handlers.select.vision import AnthropicJudge, OpenAIJudge  # see _provider_for

    if judge == "anthropic":
        return AnthropicJudge(settings, prices)
    return OpenAIJudge(settings, prices)
