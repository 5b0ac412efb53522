"""What each chapter's image depends on, as hashes: the chapter's own content, the
prompt template (when a writer writes the prompt), and the image settings."""

from __future__ import annotations

from config.settings import ImageModel, Settings
from handlers.episode.chapters import Chapter, ChaptersDoc, Episode
from handlers.episode.routing import route_of, uses_writer
from handlers.hashing import sha256_json
from handlers.outputs.entries import Fingerprint
from handlers.prompts.refine_setup import refine_facts
from handlers.prompts.template import PromptTemplate
from handlers.prompts.writers import PromptWriter, context_for


def chapter_hash(chapter: Chapter, doc: ChaptersDoc, narration_context: str) -> str:
    """Only the fields that change the image or its prompt."""
    visual = chapter.main_visual
    route = route_of(chapter)
    if route == "template":
        content: dict[str, object] = {"route": route, "type": visual.type, "title": chapter.title}
        if visual.type == "title_card":
            content["episode_title"] = doc.title
    else:
        content = {
            "route": route,
            "type": visual.type,
            "title": chapter.title,
            "description": visual.description,
            "image_prompt": visual.image_prompt if not uses_writer(chapter) else None,
        }
        if uses_writer(chapter):
            content["narration"] = narration_context
    return sha256_json(content)


def template_settings_hash(settings: Settings) -> str:
    return sha256_json(
        {
            "frame": settings.frame.model_dump(),
            "brand": settings.brand.model_dump(),
            "cards": 1,
        }
    )


def image_settings_hash(
    settings: Settings,
    primary: ImageModel,
    writer: PromptWriter | None,
    refine: dict[str, object] | None = None,
) -> str:
    """Image settings that change a generated image: the primary model, frame, style,
    seed for the offline renderer, the writer when it writes the prompt, and the prompt
    refinement when it applies. Fallback models are not in it: adding one must not
    repaint every image."""
    content: dict[str, object] = {
        "primary": primary.model_dump(),
        "frame": settings.frame.model_dump(),
        "style_prefix": settings.prompt.style_prefix,
    }
    if primary.provider == "offline":
        content["seed"] = settings.image.seed
    if writer is not None:
        content["writer"] = [writer.name, writer.model]
        content["narration_chars"] = settings.prompt.narration_chars
    if refine is not None:
        content["refine"] = refine  # absent when off: turning it off restores old hashes
    return sha256_json(content)


def fingerprints(
    episode: Episode,
    settings: Settings,
    primary: ImageModel,
    writer: PromptWriter,
    template: PromptTemplate,
) -> dict[str, Fingerprint]:
    templates = template_settings_hash(settings)
    refine = refine_facts(settings, writer)
    with_writer = image_settings_hash(settings, primary, writer, refine)
    own = refine if settings.refine.chapter_prompts else None  # own prompts: see refines()
    without_writer = image_settings_hash(settings, primary, None, own)
    prompt_cfg = settings.prompt
    fps = {}
    for ch in episode.chapters:
        writes = uses_writer(ch)
        context = context_for(ch, prompt_cfg.style_prefix, prompt_cfg.narration_chars)
        if route_of(ch) == "template":
            settings_hash = templates
        else:
            settings_hash = with_writer if writes else without_writer
        fps[ch.chapter_id] = Fingerprint(
            chapter=chapter_hash(ch, episode.doc, context.narration_context),
            template=template.sha256 if writes else None,
            settings=settings_hash,
        )
    return fps
