"""The prompt template `imagegen.md`: YAML front matter and four sections.

`# System` and `# User` are what an LLM prompt writer sends; `# Guidance` holds one
line of direction per visual type; `# Prompt` is how the template writer composes a
prompt without any LLM. Placeholders are `{{ name }}`.
"""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

from handlers.errors import InputError
from handlers.hashing import sha256_bytes

SECTIONS = ("System", "Guidance", "User", "Prompt")
MAX_TEMPLATE_BYTES = 1_000_000  # the built-in one is under 2 KB
PLACEHOLDERS = frozenset(
    {
        "chapter_title",
        "visual_type",
        "visual_guidance",
        "visual_description",
        "narration_context",
        "style_prefix",
    }
)
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
_SECTION = re.compile(r"^# (\w+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class TemplateParts:
    name: str
    description: str
    model: str
    temperature: float
    max_tokens: int
    system: str
    user: str
    prompt: str
    guidance: dict[str, str]


class PromptTemplate:
    """The template file as read, with its parts parsed on first use.

    A run decides what to do from the file's hash alone, so a run with nothing to do
    never parses it, nor imports PyYAML (~10 ms of a no-op `imagegen run`). A run with
    work parses it before anything is paid (handlers/run/episode.py), so a broken
    template still stops the run at once with its error."""

    def __init__(self, raw: bytes, source: str) -> None:
        self.source = source
        self.sha256 = sha256_bytes(raw)
        try:
            # The whole file: provenance keeps it, so the media database's
            # prompt_versions can be rebuilt from the files alone.
            self.text = raw.decode("utf-8", errors="strict")
        except UnicodeDecodeError as e:
            raise InputError(f"{source}: not UTF-8 text ({e.reason} at byte {e.start})") from None

    @cached_property
    def parts(self) -> TemplateParts:
        """Raises InputError naming the file and what is wrong with it."""
        return _parse(self.text, self.source)

    def render(self, section: str, values: dict[str, str]) -> str:
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], section)


def load_template(path: Path | None) -> PromptTemplate:
    """The configured template, or the built-in one when `path` is None."""
    if path is None:
        ref = resources.files("handlers.prompts").joinpath("templates/imagegen.md")
        raw = ref.read_bytes()
        source = "built-in imagegen.md"
    else:
        fix = "fix setting prompt.template or unset it for the built-in one"
        try:
            # A FIFO would block the run (and the daemon) in read_bytes.
            st = path.stat()
            if not stat.S_ISREG(st.st_mode):
                raise InputError(f"prompt template {path} is not a regular file; {fix}")
            if st.st_size > MAX_TEMPLATE_BYTES:
                raise InputError(
                    f"prompt template {path} is {st.st_size} bytes, over the limit of "
                    f"{MAX_TEMPLATE_BYTES}; {fix}"
                )
            raw = path.read_bytes()
        except OSError as e:
            why = f"prompt template {path} cannot be read ({e.strerror})"
            raise InputError(f"{why}; {fix}") from None
        source = str(path)
    return PromptTemplate(raw, source)


def _parse(text: str, source: str) -> TemplateParts:
    import yaml  # here, not at the top: see PromptTemplate

    if not text.startswith("---\n"):
        raise InputError(f"{source}: must start with YAML front matter between '---' lines")
    try:
        _, front, body = text.split("---\n", 2)
    except ValueError:
        raise InputError(f"{source}: front matter is not closed by a '---' line") from None
    try:
        meta: Any = yaml.safe_load(front)
    except yaml.YAMLError as e:
        raise InputError(f"{source}: front matter is not valid YAML: {e}") from None
    if not isinstance(meta, dict):
        raise InputError(f"{source}: front matter must be a mapping")
    for key in ("name", "model", "temperature", "max_tokens", "description"):
        if key not in meta:
            raise InputError(f"{source}: front matter lacks '{key}'")
    sections = _sections(body)
    missing = [s for s in SECTIONS if s not in sections]
    if missing:
        raise InputError(f"{source}: missing section(s) {', '.join('# ' + s for s in missing)}")
    for name, content in sections.items():
        unknown = set(_PLACEHOLDER.findall(content)) - PLACEHOLDERS
        if unknown:
            raise InputError(
                f"{source}: section '# {name}' uses unknown placeholder(s) "
                f"{', '.join(sorted(unknown))}; allowed: {', '.join(sorted(PLACEHOLDERS))}"
            )
    guidance = {}
    for line in sections["Guidance"].splitlines():
        if ":" in line:
            key, _, value = line.partition(":")
            guidance[key.strip()] = value.strip()
    try:
        temperature = float(meta["temperature"])
        max_tokens = int(meta["max_tokens"])
    except (TypeError, ValueError):
        raise InputError(f"{source}: temperature must be a number, max_tokens an integer") from None
    return TemplateParts(
        name=str(meta["name"]),
        description=str(meta["description"]),
        model=str(meta["model"]),
        temperature=temperature,
        max_tokens=max_tokens,
        system=sections["System"].strip(),
        user=sections["User"].strip(),
        prompt=" ".join(sections["Prompt"].split()),
        guidance=guidance,
    )


def _sections(body: str) -> dict[str, str]:
    found: dict[str, str] = {}
    matches = list(_SECTION.finditer(body))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(body)
        found[m.group(1)] = body[m.end() : end]
    return found
