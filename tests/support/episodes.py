"""Episode documents of any size, for tests and benchmarks."""

from __future__ import annotations

import copy
import json
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


def write_doc(root: Path, name: str, doc: dict[str, Any]) -> Path:
    episode = root / name
    episode.mkdir(parents=True, exist_ok=True)
    (episode / "chapters.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return episode
