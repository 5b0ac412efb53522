"""Images a client sends to the fake: decoded, checked like the real API would, identified.

Chat completions carry ``image_url`` parts (data URLs), Anthropic messages ``image``
blocks (base64 with a declared media type), Gemini ``inlineData`` parts, image edits
multipart files and Replicate inputs data URLs or links to files the fake serves. Each
becomes an ``InputImage`` on the request record, with the generated image it was
identified as (or None). A request the real API would refuse raises ``InputError`` with
the message and the parameter path; the face turns it into its own 400.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.fakeapi.registry import DEFAULT_THRESHOLD, GeneratedRecord, Registry, decode

MEDIA_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp", "GIF": "image/gif"}
_DATA_URL = re.compile(
    r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,(?P<data>.*)$", re.S
)
_FILE_PATH = re.compile(r"^/_fake/files/(\d+)\.(png|jpeg|webp)$")
_UPLOAD_PATH = re.compile(r"^/v1/files/([\w-]+)(/download)?$")


@dataclass(frozen=True)
class InputImage:
    """One image a client sent, decoded."""

    where: str  # the parameter path, e.g. "messages[0].content[1]" or "image[]"
    source: str  # "data_url", "base64", "multipart", "url"
    media_type: str | None  # what the bytes are (e.g. "image/jpeg"), None if not decoded
    size: tuple[int, int] | None  # (width, height)
    nbytes: int
    record: GeneratedRecord | None  # the generated image it was identified as
    distance: float | None = None  # fingerprint distance to ``record`` (0-255)
    declared_type: str | None = None  # the media type the request claimed
    url: str | None = None


@dataclass
class Inputs:
    """What a request sent besides its parameters: images and text parts, in order."""

    images: list[InputImage] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    @property
    def records(self) -> list[GeneratedRecord | None]:
        return [image.record for image in self.images]


class InputError(ValueError):
    def __init__(self, message: str, where: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = where
        self.code = code


# A resolver maps a URL to bytes the fake serves (its generated or uploaded files).
Resolver = Callable[[str], bytes | None]


def decode_base64(text: str, urlsafe_too: bool = True) -> bytes:
    """Strict base64 (standard alphabet, or URL-safe as google-genai sends it)."""
    compact = "".join(text.split())
    if urlsafe_too and ("-" in compact or "_" in compact):
        compact = compact.replace("-", "+").replace("_", "/")
    if len(compact) % 4:
        compact += "=" * (-len(compact) % 4)
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as error:
        raise InputError(f"invalid base64 data ({error})") from None


def identify(
    data: bytes,
    where: str,
    source: str,
    registry: Registry,
    declared_type: str | None = None,
    url: str | None = None,
) -> InputImage:
    """Decode image bytes and find which generated image they are (InputError if not an image)."""
    try:
        image = decode(data)
    except Exception as error:  # Pillow raises many types for junk
        raise InputError(f"could not decode the image ({type(error).__name__})", where) from None
    media_type = MEDIA_TYPES.get(str(image.format))
    if media_type is None:
        raise InputError(f"unsupported image format {image.format}", where)
    match = registry.nearest(image)
    record = match[0] if match is not None and match[1] <= DEFAULT_THRESHOLD else None
    return InputImage(
        where=where,
        source=source,
        media_type=media_type,
        size=image.size,
        nbytes=len(data),
        record=record,
        distance=None if match is None else match[1],
        declared_type=declared_type,
        url=url,
    )


def parse_data_url(url: str) -> tuple[str | None, str] | None:
    """``data:image/png;base64,XXXX`` -> ("image/png", "XXXX"); None for other URLs."""
    found = _DATA_URL.match(url)
    if found is None:
        return None
    return found.group("type"), found.group("data")


def resolve_local(url: str, base_url: str, files: Resolver) -> bytes | None:
    """Bytes of a URL that points at this fake's files, else None."""
    parts = urlsplit(url)
    base = urlsplit(base_url)
    if parts.netloc != base.netloc:
        return None
    if _FILE_PATH.match(parts.path) or _UPLOAD_PATH.match(parts.path):
        return files(parts.path)
    return None


# ---------------------------------------------------------------- per API


def chat_inputs(body: dict[str, Any], registry: Registry, base_url: str, files: Resolver) -> Inputs:
    """OpenAI chat: ``{"type": "image_url", "image_url": {"url": ...}}`` and text parts."""
    inputs = Inputs()
    for where, part in _parts(body.get("messages"), "content"):
        if isinstance(part, str):
            inputs.texts.append(part)
            continue
        kind = part.get("type")
        if kind in ("text", "input_text"):
            inputs.texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            image_url = part.get("image_url")
            url = image_url.get("url") if isinstance(image_url, dict) else image_url
            if not isinstance(url, str) or not url:
                raise InputError(
                    "Missing required parameter: 'image_url.url'.", f"{where}.image_url.url"
                )
            inputs.images.append(_chat_image(url, where, registry, base_url, files))
    return inputs


def _chat_image(
    url: str, where: str, registry: Registry, base_url: str, files: Resolver
) -> InputImage:
    parsed = parse_data_url(url)
    if parsed is not None:
        declared, data = parsed
        try:
            raw = decode_base64(data, urlsafe_too=False)
        except InputError:
            raise InputError("Invalid base64 image_url.", where, "invalid_image_url") from None
        if not raw:
            raise InputError("Invalid base64 image_url.", where, "invalid_image_url")
        try:
            return identify(raw, where, "data_url", registry, declared)
        except InputError:
            raise InputError(
                "You uploaded an unsupported image. Please make sure your image has of one the "
                "following formats: ['png', 'jpeg', 'gif', 'webp'].",
                where,
                "invalid_image_format",
            ) from None
    if url.startswith("data:"):
        raise InputError(
            "Invalid image URL: expected a base64 data URL.", where, "invalid_image_url"
        )
    raw = resolve_local(url, base_url, files)
    if raw is None:
        raise InputError(f"Failed to download image from {url}.", where, "invalid_image_url")
    return identify(raw, where, "url", registry, url=url)


ANTHROPIC_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
ANTHROPIC_MAX_BYTES = 5 * 1024 * 1024


def messages_inputs(
    body: dict[str, Any], registry: Registry, base_url: str, files: Resolver
) -> Inputs:
    """Anthropic: ``{"type": "image", "source": {"type": "base64", "media_type", "data"}}``."""
    inputs = Inputs()
    system = body.get("system")
    if isinstance(system, str):
        inputs.texts.append(system)
    elif isinstance(system, list):
        inputs.texts.extend(str(b.get("text", "")) for b in system if isinstance(b, dict))
    for where, part in _parts(body.get("messages"), "content"):
        if isinstance(part, str):
            inputs.texts.append(part)
            continue
        kind = part.get("type")
        if kind == "text":
            inputs.texts.append(str(part.get("text", "")))
        elif kind == "image":
            inputs.images.append(
                _anthropic_image(part.get("source"), f"{where}.image", registry, base_url, files)
            )
    return inputs


def _anthropic_image(
    source: object, where: str, registry: Registry, base_url: str, files: Resolver
) -> InputImage:
    if not isinstance(source, dict):
        raise InputError(f"{where}.source: Field required", where)
    kind = source.get("type")
    if kind == "url":
        url = str(source.get("url", ""))
        raw = resolve_local(url, base_url, files)
        if raw is None:
            raise InputError(
                f"{where}.source.url: Unable to download the file. Please verify the URL and "
                "try again.",
                where,
            )
        return _checked_anthropic(raw, None, where, "url", registry, url)
    if kind != "base64":
        raise InputError(
            f"{where}.source: Input tag '{kind}' found using 'type' does not match any of the "
            "expected tags: 'base64', 'url', 'file'",
            where,
        )
    media_type = source.get("media_type")
    if media_type not in ANTHROPIC_TYPES:
        raise InputError(
            f"{where}.source.base64.media_type: Input should be 'image/jpeg', 'image/png', "
            "'image/gif' or 'image/webp'",
            where,
        )
    data = source.get("data")
    if not isinstance(data, str):
        raise InputError(f"{where}.source.base64.data: Field required", where)
    try:
        raw = decode_base64(data, urlsafe_too=False)
    except InputError:
        raise InputError(f"{where}.source.base64.data: invalid base64 data", where) from None
    return _checked_anthropic(raw, str(media_type), where, "base64", registry)


def _checked_anthropic(
    raw: bytes,
    declared: str | None,
    where: str,
    source: str,
    registry: Registry,
    url: str | None = None,
) -> InputImage:
    if len(raw) > ANTHROPIC_MAX_BYTES:
        raise InputError(
            f"{where}.source.base64: image exceeds 5 MB maximum: {len(raw)} bytes > "
            f"{ANTHROPIC_MAX_BYTES} bytes",
            where,
        )
    try:
        image = identify(raw, where, source, registry, declared, url)
    except InputError:
        raise InputError(f"{where}.source.base64.data: Could not process image", where) from None
    if declared is not None and image.media_type != declared:
        raise InputError(
            f"{where}.source.base64.data: The image was specified using the {declared} media "
            f"type, but the image appears to be a {image.media_type} image",
            where,
        )
    return image


GEMINI_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")


def gemini_inputs(
    body: dict[str, Any], registry: Registry, base_url: str, files: Resolver
) -> Inputs:
    """Gemini: ``contents[].parts[]`` with ``text`` or ``inlineData {mimeType, data}``."""
    inputs = Inputs()
    system = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(system, dict):
        for part in system.get("parts") or []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                inputs.texts.append(part["text"])
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    for c_index, content in enumerate(contents or []):
        parts = content.get("parts") if isinstance(content, dict) else None
        for p_index, part in enumerate(parts or []):
            where = f"contents[{c_index}].parts[{p_index}]"
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                inputs.texts.append(part["text"])
            inline = part.get("inlineData") or part.get("inline_data")
            if isinstance(inline, dict):
                inputs.images.append(_gemini_image(inline, where, registry))
            file_data = part.get("fileData") or part.get("file_data")
            if isinstance(file_data, dict):
                url = str(file_data.get("fileUri") or file_data.get("file_uri") or "")
                raw = resolve_local(url, base_url, files)
                if raw is None:
                    raise InputError(f"Cannot fetch content from the provided URL: {url}", where)
                inputs.images.append(_gemini_decoded(raw, where, "url", registry, None, url))
    return inputs


def _gemini_image(inline: dict[str, Any], where: str, registry: Registry) -> InputImage:
    mime = inline.get("mimeType") or inline.get("mime_type")
    data = inline.get("data")
    if not isinstance(data, str):
        raise InputError(f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES)", where)
    try:
        raw = decode_base64(data)
    except InputError:
        shown = data[:20]
        raise InputError(
            f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 "
            f'decoding failed for "{shown}"',
            where,
        ) from None
    if mime is not None and str(mime) not in GEMINI_TYPES and not str(mime).startswith("image/"):
        raise InputError(f"Unsupported MIME type: {mime}", where)
    return _gemini_decoded(raw, where, "base64", registry, None if mime is None else str(mime))


def _gemini_decoded(
    raw: bytes,
    where: str,
    source: str,
    registry: Registry,
    declared: str | None,
    url: str | None = None,
) -> InputImage:
    try:
        return identify(raw, where, source, registry, declared, url)
    except InputError:
        raise InputError(
            "Unable to process input image. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting",
            where,
        ) from None


def replicate_inputs(
    body: dict[str, Any], registry: Registry, base_url: str, files: Resolver
) -> Inputs:
    """Replicate: any input value that is an image data URL or a link to the fake's files."""
    inputs = Inputs()
    given = body.get("input")
    if not isinstance(given, dict):
        return inputs
    prompt = given.get("prompt")
    if isinstance(prompt, str):
        inputs.texts.append(prompt)
    for where, value in _walk(given, "input"):
        parsed = parse_data_url(value)
        if parsed is not None:
            try:
                raw = decode_base64(parsed[1], urlsafe_too=False)
                inputs.images.append(identify(raw, where, "data_url", registry, parsed[0]))
            except InputError as error:
                raise InputError(f"{where}: {error.message}", where) from None
            continue
        if value.startswith(("http://", "https://")):
            raw = resolve_local(value, base_url, files)
            if raw is not None:
                try:
                    inputs.images.append(identify(raw, where, "url", registry, url=value))
                except InputError as error:
                    raise InputError(f"{where}: {error.message}", where) from None
    return inputs


def multipart_images(
    files: list[tuple[str, str | None, str | None, bytes]], registry: Registry
) -> list[InputImage]:
    """Image edits: ``(field, filename, content_type, bytes)`` parts named image / image[]."""
    found = []
    for number, (name, _filename, content_type, data) in enumerate(files, start=1):
        if name not in ("image", "image[]"):
            continue
        try:
            found.append(identify(data, name, "multipart", registry, content_type))
        except InputError:
            raise InputError(
                f"Invalid image file or mode for image {number}, please check your image file.",
                name,
                "invalid_image_file",
            ) from None
    return found


# ---------------------------------------------------------------- walking


def _parts(messages: object, key: str) -> Iterator[tuple[str, Any]]:
    """(path, part) for every content part; a plain string content is one part."""
    if not isinstance(messages, list):
        return
    for m_index, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        content = message.get(key)
        if isinstance(content, str):
            yield f"messages.{m_index}.{key}", content
        elif isinstance(content, list):
            for p_index, part in enumerate(content):
                if isinstance(part, dict | str):
                    yield f"messages.{m_index}.{key}.{p_index}", part


def _walk(value: object, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{where}[{index}]")
