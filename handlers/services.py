"""Choose the image provider chain and the prompt writer from the settings.

`auto` means: a real provider when its key is present, otherwise the embedded
defaults (offline renderer, template writer), so a fresh machine works with no key.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.settings import ImageModel, Settings
from handlers.hashing import sha256_json
from handlers.offline import OfflineRenderer
from handlers.pricing import PriceTable
from handlers.prompt_template import PromptTemplate, load_template
from handlers.prompts import PromptContext, PromptWriter, TemplateWriter
from handlers.providers import ImageProvider


@dataclass(frozen=True)
class ImageStep:
    """One link of the fallback chain: a model spec and the provider that serves it."""

    spec: ImageModel
    provider: ImageProvider

    @property
    def label(self) -> str:
        return f"{self.spec.provider}:{self.spec.model}"


@dataclass
class Services:
    chain: list[ImageStep]
    writer: PromptWriter
    template: PromptTemplate
    prices: PriceTable

    def settings_hash(self, settings: Settings, with_writer: bool) -> str:
        """Image settings that change a generated image: the primary model, frame,
        style, seed for the offline renderer, and the writer when it writes the prompt.
        Fallback models are not in it: adding one must not repaint every image."""
        primary = self.chain[0].spec
        content: dict[str, object] = {
            "primary": primary.model_dump(),
            "frame": settings.frame.model_dump(),
            "style_prefix": settings.prompt.style_prefix,
        }
        if primary.provider == "offline":
            content["seed"] = settings.image.seed
        if with_writer:
            content["writer"] = [self.writer.name, self.writer.model]
            content["narration_chars"] = settings.prompt.narration_chars
        return sha256_json(content)

    def image_price(self, spec: ImageModel) -> tuple[float, bool]:
        """(USD per image, known?) for one link of the chain; the offline renderer is free."""
        if spec.provider == "offline":
            return 0.0, True
        return self.prices.image(spec.model, spec.quality, spec.size)

    def image_reservation(self, spec: ImageModel, prompt: str) -> float:
        if spec.provider == "offline":
            return 0.0
        return self.prices.image_reservation(spec.model, spec.quality, spec.size, prompt)

    def writer_estimate(self, ctx: PromptContext) -> float:
        """The most an LLM prompt call can cost: input estimated from characters
        (about 3 per token, generous), output at the template's max_tokens."""
        template = self.template
        model = self.writer.model or template.model
        values = ctx.values(template)
        chars = len(template.system) + len(template.user) + sum(len(v) for v in values.values())
        return self.prices.text_cost(model, chars // 3 + 50, template.max_tokens)


def template_settings_hash(settings: Settings) -> str:
    return sha256_json(
        {
            "frame": settings.frame.model_dump(),
            "brand": settings.brand.model_dump(),
            "cards": 1,
        }
    )


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
        return OfflineRenderer(font_path=settings.brand.font_path)
    # Imported here: the SDKs take about a second to import, which an offline run
    # (the embedded defaults, `imagegen validate`) should not pay.
    from handlers.openai_images import OpenAIImages

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
    from handlers.llm_writers import AnthropicWriter, OpenAIChatWriter  # see _provider_for

    if writer == "anthropic":
        return AnthropicWriter(settings, template, prices)
    return OpenAIChatWriter(settings, template, prices)
