"""Visual routing: which chapters the image provider makes, which get a template image,
which are skipped, and which need a prompt writer."""

from __future__ import annotations

from typing import Literal

from handlers.episode.chapters import GENERATED_TYPES, TEMPLATE_TYPES, Chapter

Route = Literal["generate", "template", "skip"]


def route_of(chapter: Chapter) -> Route:
    kind = chapter.main_visual.type
    if kind in GENERATED_TYPES:
        return "generate"
    if kind in TEMPLATE_TYPES:
        return "template"
    return "skip"


def uses_writer(chapter: Chapter) -> bool:
    prompt = chapter.main_visual.image_prompt
    return route_of(chapter) == "generate" and (prompt is None or not prompt.strip())
