"""imagegen settings: one pydantic-settings model, documented in imagegen.default.toml.

Precedence, lowest first: built-in defaults < TOML file < environment ``IMAGEGEN_*``
(nested keys joined with ``__``, e.g. ``IMAGEGEN_IMAGE__MODEL``) < CLI flags.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from config.providers import GENERATED_TYPES, check_other_link, with_link_defaults

DEFAULT_STYLE_PREFIX = (
    "Educational explainer video still, clean modern flat illustration, "
    "high contrast, no text, 16:9 composition. "
)

_SIZE_RE = re.compile(r"^(auto|\d{2,5}x\d{2,5})$")
_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


GPT_IMAGE_QUALITIES = ("low", "medium", "high", "auto")
GPT_IMAGE_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
DALLE3_QUALITIES = ("standard", "hd")
DALLE3_SIZES = ("1024x1024", "1792x1024", "1024x1792")


def check_image_model(model: str, size: str, quality: str, style: str | None) -> None:
    """Size, quality and style must be ones the model accepts (the API's own rules).
    Models we do not know (another OpenAI-compatible server) are passed through."""
    if model == "dall-e-3":
        _one_of("quality", quality, DALLE3_QUALITIES, model)
        _one_of("size", size, DALLE3_SIZES, model)
        return
    if style is not None:
        raise ValueError(f"style is a dall-e-3 option; {model} does not take one (remove it)")
    if not (model.startswith("gpt-image") or model == "chatgpt-image-latest"):
        return
    _one_of("quality", quality, GPT_IMAGE_QUALITIES, model)
    if model.startswith("gpt-image-2") and size != "auto":
        w, h = (int(v) for v in size.split("x"))
        if w % 16 or h % 16 or max(w, h) > 3840 or min(w, h) > 2160 or max(w, h) > 3 * min(w, h):
            raise ValueError(
                f"size {size} is not valid for {model}: both sides multiples of 16, "
                "at most 3840x2160, aspect between 1:3 and 3:1"
            )
        return
    _one_of("size", size, GPT_IMAGE_SIZES, model)


def _one_of(key: str, value: str, allowed: tuple[str, ...], model: str) -> None:
    if value not in allowed:
        raise ValueError(f"{key} {value!r} is not valid for {model}; allowed: {', '.join(allowed)}")


class _Section(BaseModel):
    # Typos in a config file must be errors, not silently ignored defaults. No inf or
    # nan either: they would reach provenance as JSON no strict reader accepts.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


ImageProvider = Literal["openai", "gemini", "replicate", "offline"]


class ImageModel(_Section):
    """One image model of a fallback chain."""

    provider: ImageProvider = "openai"
    model: str = "gpt-image-1.5"
    size: str = "1536x1024"
    quality: str = "medium"
    style: Literal["vivid", "natural"] | None = None
    # Replicate only: the model's own inputs beside the prompt (num_inference_steps, ...).
    input: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _provider_defaults(cls, data: Any) -> Any:
        return with_link_defaults(data)

    @field_validator("size")
    @classmethod
    def _size_form(cls, v: str) -> str:
        if not _SIZE_RE.match(v):
            raise ValueError("size must be 'WIDTHxHEIGHT' (e.g. '1536x1024') or 'auto'")
        return v

    @model_validator(mode="after")
    def _fits_model(self) -> ImageModel:
        if self.provider == "openai":
            if self.input:
                raise ValueError("input is a Replicate option; openai does not take one")
            check_image_model(self.model, self.size, self.quality, self.style)
        elif self.provider != "offline":
            check_other_link(
                self.provider, self.model, self.size, self.quality, self.style, self.input
            )
        return self


class ImageSettings(_Section):
    provider: Literal["auto", "offline", "openai", "gemini", "replicate"] = Field(
        "auto",
        description="auto: the first of openai, gemini, replicate whose key is present, "
        "else offline",
    )
    model: str = "gpt-image-1.5"
    size: str = "1536x1024"
    quality: str = "medium"
    style: Literal["vivid", "natural"] | None = None
    fallback: list[ImageModel] = Field(default_factory=list)
    # A visual type's own chain, in place of the one above (e.g. b_roll: replicate, openai).
    chains: dict[str, list[ImageModel]] = Field(default_factory=dict)
    # The offline renderer ends every chain with a paid link: a stand-in image when every
    # provider failed, recorded `fallback` and tried again later.
    fallback_offline: bool = False
    seed: int = 0
    concurrency: int = Field(3, ge=1, le=32)

    @model_validator(mode="before")
    @classmethod
    def _provider_defaults(cls, data: Any) -> Any:
        return with_link_defaults(data)

    @field_validator("size")
    @classmethod
    def _size_form(cls, v: str) -> str:
        return ImageModel._size_form(v)

    @field_validator("chains")
    @classmethod
    def _known_types(cls, v: dict[str, list[ImageModel]]) -> dict[str, list[ImageModel]]:
        for visual_type, links in v.items():
            if visual_type not in GENERATED_TYPES:
                raise ValueError(
                    f"{visual_type!r} is not a visual type an image provider makes; chains "
                    f"are for {', '.join(GENERATED_TYPES)} (title cards and talking heads "
                    "are templates)"
                )
            if not links:
                raise ValueError(f"the chain of {visual_type} is empty; give it a link or drop it")
        return v

    @model_validator(mode="after")
    def _fits_model(self) -> ImageSettings:
        if self.provider in ("auto", "openai"):
            check_image_model(self.model, self.size, self.quality, self.style)
        elif self.provider != "offline":
            check_other_link(self.provider, self.model, self.size, self.quality, self.style, {})
        return self


class FrameSettings(_Section):
    """The frame the downstream render needs; every written image has this size."""

    width: int = Field(1920, ge=64, le=7680)
    height: int = Field(1080, ge=64, le=4320)


class PromptSettings(_Section):
    writer: Literal["auto", "template", "anthropic", "openai"] = "auto"
    template: Path | None = Field(None, description="imagegen.md; None = the built-in one")
    model: str | None = Field(None, description="overrides the template's front-matter model")
    style_prefix: str = DEFAULT_STYLE_PREFIX
    narration_chars: int = Field(600, ge=0, le=20000)


class BrandSettings(_Section):
    title_card_color: str = "#F7931A"
    talking_head_color: str = "#8A8A8A"
    font_path: str | None = None

    @field_validator("title_card_color", "talking_head_color")
    @classmethod
    def _color_form(cls, v: str) -> str:
        if not _COLOR_RE.match(v):
            raise ValueError("colour must be '#RRGGBB', e.g. '#F7931A'")
        return v


class JudgeWeights(_Section):
    """How much each rubric criterion counts in the judge's score (normalised)."""

    matches_description: float = Field(0.3, ge=0)
    clarity: float = Field(0.2, ge=0)
    composition: float = Field(0.2, ge=0)
    text: float = Field(0.15, ge=0)
    artifacts: float = Field(0.15, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> JudgeWeights:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one selection.weights value must be above 0")
        return self


class SelectionSettings(_Section):
    candidates: int = Field(3, ge=1, le=10, description="candidates made per generated chapter")
    accept_score: float = Field(
        80.0,
        ge=0,
        le=100,
        description="stop making paid candidates once one scores this (0-100); 0 = all N",
    )
    judge: Literal["auto", "anthropic", "openai", "none"] = Field(
        "auto", description="auto: a vision LLM when its key is present, else checks only"
    )
    judge_model: str | None = Field(None, description="None = the judge provider's default")
    keep_candidates: bool = True
    checks_weight: float = Field(
        0.25, ge=0, le=1, description="share of the checks' score in a judged total"
    )
    ocr: bool = Field(True, description="read text in diagrams, screens and templates")
    weights: JudgeWeights = Field(default_factory=JudgeWeights)


class RefineWeights(_Section):
    """How much each critic dimension counts in a prompt's overall score (normalised)."""

    completeness: float = Field(0.25, ge=0)
    specificity: float = Field(0.2, ge=0)
    professionalism: float = Field(0.2, ge=0)
    cinematography: float = Field(0.2, ge=0)
    brand_alignment: float = Field(0.15, ge=0)

    @model_validator(mode="after")
    def _some_weight(self) -> RefineWeights:
        if sum(self.model_dump().values()) <= 0:
            raise ValueError("at least one refine.weights value must be above 0")
        return self


class RefineSettings(_Section):
    """The writer + critic loop that improves a prompt before any image is paid for."""

    enabled: bool = True
    max_rounds: int = Field(3, ge=1, le=10, description="writer + critic rounds per chapter")
    threshold: float = Field(85.0, ge=0, le=100, description="stop once the critic gives this")
    skip_above: float = Field(
        75.0, ge=0, le=100, description="no loop when the first rule-based score reaches this"
    )
    critic: Literal["auto", "rules", "anthropic", "openai"] = Field(
        "auto", description="auto: an LLM critic when its key is present, else the rules"
    )
    critic_model: str | None = Field(None, description="None = the critic provider's default")
    chapter_prompts: bool = Field(False, description="also refine a chapter's own image_prompt")
    weights: RefineWeights = Field(default_factory=RefineWeights)


class StoryboardSettings(_Section):
    """Start and end frames for every chapter's clip (handlers/storyboard/)."""

    enabled: bool = Field(
        False,
        description="make a storyboard for every episode (imagegen run --storyboard: one run)",
    )
    planner: Literal["auto", "template", "anthropic", "openai"] = Field(
        "auto", description="auto: an LLM when its key is present, else the template planner"
    )
    planner_model: str | None = Field(None, description="None = the planner provider's default")


class OpenAISettings(_Section):
    api_key: SecretStr | None = None
    base_url: str | None = None
    organization: str | None = None
    timeout_seconds: float = Field(120.0, gt=0, le=3600)


class AnthropicSettings(_Section):
    api_key: SecretStr | None = None
    base_url: str | None = None
    timeout_seconds: float = Field(60.0, gt=0, le=3600)


class GeminiSettings(_Section):
    api_key: SecretStr | None = None
    base_url: str | None = None
    api_version: str = "v1beta"
    timeout_seconds: float = Field(120.0, gt=0, le=3600)


class ReplicateSettings(_Section):
    # From REPLICATE_API_TOKEN or the credential replicate_api_token.
    api_key: SecretStr | None = None
    base_url: str | None = None
    # A prediction that has not finished this long after its creation is canceled.
    timeout_seconds: float = Field(300.0, gt=0, le=3600)
    poll_seconds: float = Field(1.0, gt=0, le=60)


class RetrySettings(_Section):
    attempts: int = Field(3, ge=1, le=20, description="total attempts per call, first included")
    initial_backoff_seconds: float = Field(0.5, ge=0, le=60)
    max_backoff_seconds: float = Field(8.0, ge=0, le=600)
    max_retry_after_seconds: float = Field(120.0, ge=0, le=3600)


class DaemonSettings(_Section):
    workers: int = Field(2, ge=1, le=64, description="episodes processed at once")
    settle_seconds: float = Field(1.0, ge=0, le=60, description="quiet time before a job")
    settle_max_seconds: float = Field(10.0, ge=0, le=600)
    rescan_seconds: float = Field(300.0, ge=0, description="0 = no periodic rescan")
    polling: bool = Field(False, description="poll instead of inotify (network filesystems)")
    poll_interval_seconds: float = Field(2.0, gt=0, le=3600)
    drain_grace_seconds: float = Field(20.0, ge=0, le=3600)
    failure_backoff_seconds: float = Field(30.0, ge=0)
    failure_backoff_max_seconds: float = Field(3600.0, ge=0)

    @model_validator(mode="after")
    def _settle_order(self) -> DaemonSettings:
        if self.settle_max_seconds < self.settle_seconds:
            raise ValueError("daemon.settle_max_seconds must be >= daemon.settle_seconds")
        return self


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="IMAGEGEN_",
        env_nested_delimiter="__",
        extra="forbid",
        validate_assignment=True,
        allow_inf_nan=False,
    )

    outputs_dir: Path = Path("data/outputs")
    max_episode_cost_usd: float = Field(5.0, ge=0)
    max_input_bytes: int = Field(5_000_000, ge=1024, le=1_000_000_000)
    lock_timeout_seconds: float | None = Field(
        None, ge=0, description="how long a run waits for the episode lock; None = forever"
    )
    image: ImageSettings = Field(default_factory=ImageSettings)
    frame: FrameSettings = Field(default_factory=FrameSettings)
    prompt: PromptSettings = Field(default_factory=PromptSettings)
    brand: BrandSettings = Field(default_factory=BrandSettings)
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    anthropic: AnthropicSettings = Field(default_factory=AnthropicSettings)
    gemini: GeminiSettings = Field(default_factory=GeminiSettings)
    replicate: ReplicateSettings = Field(default_factory=ReplicateSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)
    refine: RefineSettings = Field(default_factory=RefineSettings)
    storyboard: StoryboardSettings = Field(default_factory=StoryboardSettings)
    daemon: DaemonSettings = Field(default_factory=DaemonSettings)
    prices: dict[str, float] = Field(
        default_factory=dict,
        description="price overrides in USD, keys as in config/prices.py; a model with no "
        "price in the table must be priced here",
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> Settings:
        if self.retry.max_backoff_seconds < self.retry.initial_backoff_seconds:
            raise ValueError("retry.max_backoff_seconds must be >= retry.initial_backoff_seconds")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: CLI flags (init) > environment > the TOML file (see loader.py).
        return (init_settings, env_settings, _TomlDictSource(settings_cls))


class _TomlDictSource(PydanticBaseSettingsSource):
    """Serves the already-parsed TOML table the loader put in ``_toml_data``."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return toml_data.get().get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(toml_data.get())


# Set by loader.load_settings around the Settings() call; a ContextVar keeps
# concurrent loads (SIGHUP reload vs. a CLI call in tests) apart.
toml_data: ContextVar[dict[str, Any]] = ContextVar("toml_data", default={})  # noqa: B039
