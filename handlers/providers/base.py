"""The image-provider Protocol and the values that cross it.

Providers vary for real (offline Pillow renderer, OpenAI images API), so this is the
one place with a Protocol; everything else is plain functions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from PIL import Image


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
    # True once no further paid call may start (shutdown, or the episode halted).
    stopped: Callable[[], bool] | None = field(default=None, compare=False)


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


class ImageProvider(Protocol):
    name: str

    def generate(self, request: ImageRequest) -> GeneratedImage: ...
