"""A chapter's prompt trace on disk: images/prompts/<chapter_id>/.

    00_original.txt      the prompt the writer (or the chapter) gave
    01_writer_r1.txt     round 1: the writer's new version
    02_critic_r1.json    round 1: the critic's scores, fixes and raw replies
    ...
    final.txt            the prompt the images are made from
    trace.json           the index: rounds, scores, tokens, cost, times, stop reason

Every file is written atomically as the loop goes; trace.json comes last, so a trace
without it is one a killed run left unfinished. A new trace of the chapter first
removes the files of the last one (trace.json first)."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from handlers.episode import layout
from handlers.episode.paths import EpisodePaths, ensure_inside
from handlers.errors import ImagegenError
from handlers.files import atomic
from handlers.files.reading import read_json, read_regular_file

SCHEMA = "imagegen.prompt_trace/1"


def now_ms() -> str:
    """A trace's timestamps: UTC with milliseconds (a round can take less than 1 s)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class TraceFiles:
    def __init__(self, paths: EpisodePaths, chapter_id: str) -> None:
        self.paths = paths
        self.chapter_id = chapter_id
        self.directory = paths.prompt_trace(chapter_id)

    @property
    def index_relative(self) -> str:
        """trace.json relative to images/, as the manifest entry names it."""
        return f"{layout.PROMPTS_DIR}/{self.chapter_id}/{layout.TRACE_INDEX}"

    def relative(self, name: str) -> str:
        return f"{layout.PROMPTS_DIR}/{self.chapter_id}/{name}"

    def start(self) -> None:
        """Make the directory and clear the last trace of this chapter (and temp files
        a killed writer left) so no file of it is taken for one of the new trace."""
        images = self._mkdir(self.paths.images)
        self._mkdir(self._mkdir(images / layout.PROMPTS_DIR) / self.chapter_id)
        self.clear(keep_directory=True)

    def clear(self, keep_directory: bool = False) -> None:
        """Remove the trace's files; the directory too unless `keep_directory`."""
        try:
            names = os.listdir(self.directory)
        except (FileNotFoundError, NotADirectoryError):
            return
        ensure_inside(self.paths, self.directory / layout.TRACE_INDEX)
        ordered = sorted(names, key=lambda n: n != layout.TRACE_INDEX)  # the index first
        for name in ordered:
            if layout.is_trace_file(name) or layout.is_temp_file(name):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.directory / name)
        if not keep_directory:
            with contextlib.suppress(OSError):  # not empty: a person's file stays
                os.rmdir(self.directory)

    def exists(self) -> bool:
        return self.directory.is_dir() and not self.directory.is_symlink()

    def write_text(self, name: str, text: str) -> None:
        atomic.write_bytes(self._target(name), (text.rstrip("\n") + "\n").encode("utf-8"))

    def write_json(self, name: str, obj: Any) -> None:
        atomic.write_json(self._target(name), obj)

    def read_index(self) -> dict[str, Any] | None:
        """The finished trace's index, or None (none, unfinished, or unreadable)."""
        path = self.directory / layout.TRACE_INDEX
        try:
            data = read_json(path, max_bytes=layout.MAX_TRACE_BYTES, what="prompt trace")
        except (ImagegenError, OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None

    def read_final(self) -> str | None:
        try:
            data = read_regular_file(
                self.directory / layout.TRACE_FINAL, max_bytes=layout.MAX_TRACE_BYTES, what="prompt"
            )
            return data.decode("utf-8").rstrip("\n") or None
        except (ImagegenError, OSError, UnicodeDecodeError):
            return None

    def _target(self, name: str) -> Path:
        return ensure_inside(self.paths, self.directory / name)

    def _mkdir(self, directory: Path) -> Path:
        ensure_inside(self.paths, directory)
        directory.mkdir(exist_ok=True)
        return directory
