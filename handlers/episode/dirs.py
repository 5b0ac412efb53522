"""The open folders of one episode for one run: the episode folder, opened from the
outputs root down without following a symlink, and its `images/`, `provenance/`,
`render/` and candidate folders, each created on first need and then only used through
its handle. The episode folder itself is never created."""

from __future__ import annotations

import stat
import threading

from handlers.episode import layout
from handlers.episode.paths import EpisodePaths
from handlers.files.dirs import Dir


class EpisodeDirs:
    def __init__(self, paths: EpisodePaths) -> None:
        self.paths = paths
        self.root = Dir.open(paths.root)
        try:
            self.episode = self.root.descend(paths.dir.relative_to(paths.root))
        except BaseException:
            self.root.close()
            raise
        self._opened: dict[tuple[str, ...], Dir] = {}
        self._retired: list[Dir] = []
        self._lock = threading.Lock()

    def close(self) -> None:
        self.root.close()

    def __enter__(self) -> EpisodeDirs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def gone(self) -> str | None:
        """What happened to the episode folder (or one of ours inside it) since the run
        opened it; None while all are where they were."""
        problem = self.episode.where()
        if problem is not None:
            return problem
        with self._lock:
            opened = list(self._opened.values())
        for directory in opened:
            problem = directory.where()
            if problem is not None and not self._retired_since(directory):
                return problem
        return None

    def _retired_since(self, directory: Dir) -> bool:
        """Removed by us (forget() comes first) after gone() took its list."""
        with self._lock:
            return any(d is directory for d in self._retired)

    # -- our folders ----------------------------------------------------------------------

    def images(self, create: bool = False) -> Dir | None:
        return self._sub((layout.IMAGES_DIR,), create)

    def provenance(self, create: bool = False) -> Dir | None:
        return self._sub((layout.PROVENANCE_DIR,), create)

    def render(self, create: bool = False) -> Dir | None:
        return self._sub((layout.RENDER_DIR,), create)

    def candidates(self, chapter_id: str, create: bool = False) -> Dir | None:
        return self._sub((layout.IMAGES_DIR, layout.CANDIDATES_DIR, chapter_id), create)

    def prompt_trace(self, chapter_id: str, create: bool = False) -> Dir | None:
        return self._sub((layout.IMAGES_DIR, layout.PROMPTS_DIR, chapter_id), create)

    def storyboard(self, create: bool = False) -> Dir | None:
        return self._sub((layout.STORYBOARD_DIR,), create)

    def clip(self, chapter_id: str, create: bool = False) -> Dir | None:
        """storyboard/<chapter_id>/: the clip's start.png and end.png."""
        return self._sub((layout.STORYBOARD_DIR, chapter_id), create)

    def frame_candidates(self, chapter_id: str, moment: str, create: bool = False) -> Dir | None:
        """storyboard/<chapter_id>/candidates/<moment>/: every candidate of one frame."""
        return self._sub((layout.STORYBOARD_DIR, chapter_id, layout.CANDIDATES_DIR, moment), create)

    def ours(self) -> list[Dir]:
        """Every folder of ours that exists: images/, provenance/, render/, storyboard/,
        each chapter's folder under images/candidates/ and images/prompts/, and each
        clip's folder and frame candidates (where a killed writer may have left a temp
        file)."""
        found = [
            d
            for d in (self.images(), self.provenance(), self.render(), self.storyboard())
            if d is not None
        ]
        for chapter_id in self._subfolders((layout.STORYBOARD_DIR,)):
            clip = self.clip(chapter_id)
            if clip is not None:
                found.append(clip)
            for moment in layout.FRAME_MOMENTS:
                frames = self.frame_candidates(chapter_id, moment)
                if frames is not None:
                    found.append(frames)
        for group, opener in (
            (layout.CANDIDATES_DIR, self.candidates),
            (layout.PROMPTS_DIR, self.prompt_trace),
        ):
            for name in self._subfolders((layout.IMAGES_DIR, group)):
                folder = opener(name)
                if folder is not None:
                    found.append(folder)
        return found

    def _subfolders(self, parts: tuple[str, ...]) -> list[str]:
        """Names of the folders in the folder at `parts` (none when it does not exist)."""
        parent = self._sub(parts, False)
        if parent is None:
            return []
        return [
            name
            for name in parent.names()
            if (st := parent.stat(name)) is not None and stat.S_ISDIR(st.st_mode)
        ]

    def prompt_traces(self) -> Dir | None:
        return self._sub((layout.IMAGES_DIR, layout.PROMPTS_DIR), False)

    def forget(self, *parts: str) -> None:
        """A folder of ours was removed by us: open it afresh when next needed. Its
        handle stays open until the run ends: another thread may still hold it, and a
        closed descriptor's number is soon another file's."""
        with self._lock:
            found = self._opened.pop(parts, None)
            if found is not None:
                self._retired.append(found)

    def _sub(self, parts: tuple[str, ...], create: bool) -> Dir | None:
        """The folder at `parts` below the episode: opened once, created (each level)
        when `create`, None when it does not exist and may not be created."""
        with self._lock:
            found = self._opened.get(parts)
            if found is not None:
                return found
            current = self.episode
            for depth in range(1, len(parts) + 1):
                key = parts[:depth]
                known = self._opened.get(key)
                if known is None:
                    name = parts[depth - 1]
                    if current.stat(name) is None and not create:
                        return None
                    known = current.make_dir(name) if create else current.open_dir(name)
                    self._opened[key] = known
                current = known
            return current
