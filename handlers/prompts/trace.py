"""A chapter's prompt trace on disk: images/prompts/<chapter_id>/.

    00_original.txt      the prompt the writer (or the chapter) gave
    01_writer_r1.txt     round 1: the writer's new version
    02_critic_r1.json    round 1: the critic's scores, fixes and raw replies
    ...
    final.txt            the prompt the images are made from
    trace.json           the index: rounds, scores, tokens, cost, times, stop reason

Every file is written atomically as the loop goes, through the folder's handle (see
handlers/files/dirs.py); trace.json comes last, so a trace without it is one a killed
run left unfinished. A new trace of the chapter first removes the files of the last
one (trace.json first)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from handlers.episode import layout
from handlers.episode.dirs import EpisodeDirs
from handlers.errors import ImagegenError
from handlers.files.dirs import Dir

SCHEMA = "imagegen.prompt_trace/1"


def now_ms() -> str:
    """A trace's timestamps: UTC with milliseconds (a round can take less than 1 s)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class TraceFiles:
    def __init__(self, dirs: EpisodeDirs, chapter_id: str) -> None:
        self.dirs = dirs
        self.chapter_id = chapter_id

    @property
    def index_relative(self) -> str:
        """trace.json relative to images/, as the manifest entry names it."""
        return f"{layout.PROMPTS_DIR}/{self.chapter_id}/{layout.TRACE_INDEX}"

    def relative(self, name: str) -> str:
        return f"{layout.PROMPTS_DIR}/{self.chapter_id}/{name}"

    def start(self) -> None:
        """Make the directory and clear the last trace of this chapter (and temp files
        a killed writer left) so no file of it is taken for one of the new trace."""
        self.dirs.prompt_trace(self.chapter_id, create=True)
        self.clear(keep_directory=True)

    def clear(self, keep_directory: bool = False) -> None:
        """Remove the trace's files; the directory too unless `keep_directory`."""
        folder = self.dirs.prompt_trace(self.chapter_id)
        if folder is None:
            return
        names = sorted(folder.names(), key=lambda n: n != layout.TRACE_INDEX)  # index first
        for name in names:
            if layout.is_trace_file(name) or layout.is_temp_file(name):
                folder.remove(name)
        if not keep_directory:
            self.dirs.forget(layout.IMAGES_DIR, layout.PROMPTS_DIR, self.chapter_id)
            parent = self.dirs.prompt_traces()
            if parent is not None:
                parent.remove_dir(self.chapter_id)  # not empty: a person's file stays

    def exists(self) -> bool:
        try:
            return self.dirs.prompt_trace(self.chapter_id) is not None
        except ImagegenError:  # a symlink or a file in its place
            return False

    def write_text(self, name: str, text: str) -> None:
        self._folder().write_bytes(name, (text.rstrip("\n") + "\n").encode("utf-8"))

    def write_json(self, name: str, obj: Any) -> None:
        self._folder().write_json(name, obj)

    def read_index(self) -> dict[str, Any] | None:
        """The finished trace's index, or None (none, unfinished, or unreadable)."""
        try:
            folder = self.dirs.prompt_trace(self.chapter_id)
            if folder is None:
                return None
            data = folder.read_json(
                layout.TRACE_INDEX, max_bytes=layout.MAX_TRACE_BYTES, what="prompt trace"
            )
        except (ImagegenError, OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("schema") == SCHEMA else None

    def read_final(self) -> str | None:
        try:
            folder = self.dirs.prompt_trace(self.chapter_id)
            if folder is None:
                return None
            data = folder.read_bytes(
                layout.TRACE_FINAL, max_bytes=layout.MAX_TRACE_BYTES, what="prompt"
            )
            return data.decode("utf-8").rstrip("\n") or None
        except (ImagegenError, OSError, UnicodeDecodeError):
            return None

    def _folder(self) -> Dir:
        folder = self.dirs.prompt_trace(self.chapter_id, create=True)
        assert folder is not None
        return folder
