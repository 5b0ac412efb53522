"""Episode documents of any size, for tests and benchmarks."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEMO: dict[str, Any] = json.loads(
    (REPO / "examples/demo-ep001/chapters.json").read_text(encoding="utf-8")
)


def episode_doc(name: str, chapters: int) -> dict[str, Any]:
    """`chapters` chapters cycling through the demo's five visual types."""
    doc = copy.deepcopy(DEMO)
    doc["episode_id"] = name
    base = doc["chapters"]
    doc["chapters"] = []
    for i in range(chapters):
        ch = copy.deepcopy(base[i % len(base)])
        ch["chapter_id"] = f"ch{i + 1:02d}"
        ch["order"] = i + 1
        ch["title"] = f"{ch['title']} ({i + 1})"
        doc["chapters"].append(ch)
    doc["total_chapters"] = chapters
    doc["estimated_duration_seconds"] = sum(
        c["narration"]["estimated_duration_seconds"] for c in doc["chapters"]
    )
    return doc


def paid_episode_doc(name: str, chapters: int) -> dict[str, Any]:
    """`chapters` diagram chapters (all paid images), each with its own image_prompt
    ending in "<name> chapter <chapter_id>": fake-API rules can target one chapter,
    and the fake's paid prompts can be counted per chapter."""
    doc = episode_doc(name, chapters)
    for ch in doc["chapters"]:
        ch["visual"] = {
            "type": "diagram",
            "description": f"diagram {ch['chapter_id']}",
            "image_prompt": f"{name} chapter {ch['chapter_id']}",
        }
    return doc


def paid_per_chapter(paid_prompts: Mapping[str, int], name: str) -> dict[str, int]:
    """Images paid per chapter of a paid_episode_doc() episode, from the fake's
    prompt -> count table (prompts carry a style prefix before the chapter's own)."""
    out: dict[str, int] = {}
    marker = f"{name} chapter "
    for prompt, n in paid_prompts.items():
        if marker in prompt:
            cid = prompt.rsplit(marker, 1)[1]
            out[cid] = out.get(cid, 0) + n
    return out


def write_doc(root: Path, name: str, doc: dict[str, Any]) -> Path:
    episode = root / name
    episode.mkdir(parents=True, exist_ok=True)
    (episode / "chapters.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return episode
