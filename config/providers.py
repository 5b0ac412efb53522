"""Image providers as configuration knows them: their names, the defaults of a link that
names only its provider, and what each accepts for size and quality (the OpenAI rules
live beside the settings, in `check_image_model`).

Kept apart from settings.py so the provider rules can grow without touching the model
every other setting lives in.
"""

from __future__ import annotations

import re
from typing import Any

PAID_PROVIDERS = ("openai", "gemini", "replicate")

# The visual types an image provider makes (handlers/episode/chapters.py GENERATED_TYPES;
# config never imports handlers). Only these can have a chain of their own.
GENERATED_TYPES = ("b_roll", "diagram", "screen_share")

# A link that names only its provider gets that provider's model, size and quality:
# `{provider = "gemini"}` is a whole link. OpenAI links keep the model defaults.
LINK_DEFAULTS: dict[str, dict[str, str]] = {
    "gemini": {"model": "gemini-2.5-flash-image", "size": "auto", "quality": "auto"},
    "replicate": {"model": "black-forest-labs/flux-schnell", "size": "auto", "quality": "auto"},
}

# Gemini image models: `quality` is the imageSize they render at (1K, 2K, 4K; "auto"
# sends none); `size` picks the aspect ratio nearest to it (auto: the frame's).
GEMINI_QUALITIES = ("auto", "1K", "2K", "4K")
# Replicate: owner/name (the model's latest version) or owner/name:<64 hex version id>.
REPLICATE_MODEL_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+(:[0-9a-f]{64})?$")


def with_link_defaults(data: Any) -> Any:
    """Fill in a Gemini or Replicate link's model, size and quality when not given."""
    if isinstance(data, dict):
        defaults = LINK_DEFAULTS.get(str(data.get("provider")))
        if defaults is not None:
            return {**defaults, **data}
    return data


def check_other_link(
    provider: str, model: str, size: str, quality: str, style: str | None, extra: dict[str, Any]
) -> None:
    """Gemini and Replicate links: the options they take (ValueError says what to change)."""
    if style is not None:
        raise ValueError(f"style is a dall-e-3 option; {provider} does not take one (remove it)")
    if extra and provider != "replicate":
        raise ValueError(f"input is a Replicate option; {provider} does not take one (remove it)")
    if provider == "gemini":
        if quality not in GEMINI_QUALITIES:
            raise ValueError(
                f"quality {quality!r} is not valid for {provider}:{model}; allowed: "
                f"{', '.join(GEMINI_QUALITIES)} (the image size Gemini renders at)"
            )
    elif provider == "replicate":
        if not REPLICATE_MODEL_RE.match(model):
            raise ValueError(
                f"model {model!r} is not a Replicate model: write 'owner/name' (e.g. "
                "'black-forest-labs/flux-schnell') or 'owner/name:<64-hex version id>'"
            )
        if quality != "auto":
            raise ValueError(
                f"quality {quality!r}: Replicate models take no quality; leave it 'auto' "
                "and put model inputs under input = {...}"
            )
        if "prompt" in extra:
            raise ValueError("input.prompt: the prompt is the chapter's; remove it from input")
