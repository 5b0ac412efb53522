"""What each chapter's image depends on, as hashes: the chapter's own content, the
prompt template (when a writer writes the prompt), and the image settings."""

from __future__ import annotations

from collections.abc import Mapping

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
        if visual.reference_image is not None:
            # The path, not the file's content: a changed reference file does not repaint
            # the chapter by itself (its .stale marker does).
            content["reference_image"] = visual.reference_image
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
        "primary": _identity(primary),
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


def _identity(spec: ImageModel) -> dict[str, object]:
    """The link as hashed: fields added since the first release only when set, so an
    upgrade does not repaint (and pay again for) every image."""
    data = spec.model_dump()
    if not data.get("input"):
        data.pop("input", None)
    return data


def fingerprints(
    episode: Episode,
    settings: Settings,
    primary: ImageModel,
    writer: PromptWriter,
    template: PromptTemplate,
    primaries: Mapping[str, ImageModel] | None = None,
) -> dict[str, Fingerprint]:
    """`primary` makes every generated chapter's image except a visual type with a
    chain of its own, whose first link is in `primaries`."""
    templates = template_settings_hash(settings)
    refine = refine_facts(settings, writer)
    own = refine if settings.refine.chapter_prompts else None  # own prompts: see refines()
    hashes: dict[str, tuple[str, str]] = {}

    def image_hashes(visual_type: str) -> tuple[str, str]:
        spec = (primaries or {}).get(visual_type, primary)
        key = spec.model_dump_json()
        if key not in hashes:
            hashes[key] = (
                image_settings_hash(settings, spec, writer, refine),
                image_settings_hash(settings, spec, None, own),
            )
        return hashes[key]

    prompt_cfg = settings.prompt
    fps = {}
    for ch in episode.chapters:
        writes = uses_writer(ch)
        context = context_for(ch, prompt_cfg.style_prefix, prompt_cfg.narration_chars)
        if route_of(ch) == "template":
            settings_hash = templates
        else:
            with_writer, without_writer = image_hashes(ch.main_visual.type)
            settings_hash = with_writer if writes else without_writer
        fps[ch.chapter_id] = Fingerprint(
            chapter=chapter_hash(ch, episode.doc, context.narration_context),
            template=template.sha256 if writes else None,
            settings=settings_hash,
        )
    return fps
