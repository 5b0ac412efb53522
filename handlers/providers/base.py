"""The image-provider Protocol and the values that cross it.

Providers vary for real (offline Pillow renderer, OpenAI images, Gemini, Replicate), so
this is the one place with a Protocol; everything else is plain functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class Reference:
    """A reference image sent with a request (a storyboard's frame, a chapter's
    visual.reference_image): PNG bytes, named by its path relative to the episode."""

    name: str
    png: bytes = field(repr=False)
    width: int
    height: int


@dataclass(frozen=True)
class ImageRequest:
    """What one chapter asks of an image provider."""

    chapter_id: str
    title: str
    visual_type: str
    prompt: str
    width: int
    height: int
    seed: int = 0
    # Which of the chapter's candidates this is (1-based): a provider with a seed of its
    # own makes each candidate different.
    candidate: int = 1
    # The visual's description, for a renderer that draws without a model.
    description: str = ""
    # True once no further paid call may start (shutdown, or the episode halted).
    stopped: Callable[[], bool] | None = field(default=None, compare=False)
    # Images the new one should follow (composition, characters, style), where the
    # provider takes them (OpenAI images.edit, Gemini image input); others ignore them.
    references: tuple[Reference, ...] = ()


@dataclass
class GeneratedImage:
    """A provider's answer: the native image and an honest record of how it was made."""

    image: Image.Image
    provider: str
    model: str
    generation_method: str
    revised_prompt: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0
    attempts: int = 1
    # The names of the request's references this provider sent (the request records them).
    references_sent: list[str] = field(default_factory=list)


class ImageProvider(Protocol):
    name: str

    def generate(self, request: ImageRequest) -> GeneratedImage: ...


# Providers that send a request's reference images (the others generate from the prompt).
TAKES_REFERENCES = frozenset({"openai", "gemini"})
