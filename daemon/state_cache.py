"""What the daemon remembers of a tree between scans and restarts: for each episode
found current, the stat facts it was found current with (`state_key`).

`<outputs_dir>/.imagegen/daemon-state.json`, written atomically after a scan changed
it. Never the only truth: a missing, damaged or foreign file is rebuilt from the
episodes (each read once), and it only ever spares the daemon a read; what a job
regenerates and pays for is decided by the handler from the files."""

from __future__ import annotations

import json
from pathlib import Path

import structlog

from handlers.episode import layout
from handlers.errors import ImagegenError
from handlers.files.atomic import write_bytes
from handlers.files.reading import read_regular_file

log = structlog.get_logger("imagegen")

VERSION = 1
MAX_BYTES = 500_000_000  # ~100 bytes an episode: room for millions


class StateCache:
    def __init__(self, root: Path) -> None:
        self.path = root / layout.STATE_DIR / layout.STATE_CACHE
        self._keys: dict[str, str] = {}
        self._changed = False
        self._writable = True

    def __len__(self) -> int:
        return len(self._keys)

    def get(self, episode: str) -> str | None:
        return self._keys.get(episode)

    def put(self, episode: str, key: str) -> None:
        if self._keys.get(episode) != key:
            self._keys[episode] = key
            self._changed = True

    def drop(self, episode: str) -> None:
        if self._keys.pop(episode, None) is not None:
            self._changed = True

    def keep_only(self, episodes: set[str]) -> None:
        """Forget episodes no longer in the tree."""
        gone = self._keys.keys() - episodes
        for episode in gone:
            del self._keys[episode]
        self._changed |= bool(gone)

    def load(self) -> None:
        try:
            raw = read_regular_file(self.path, max_bytes=MAX_BYTES, what="state cache")
        except ImagegenError:
            if self.path.exists() or self.path.is_symlink():
                self._rebuilding("unreadable")
            return  # none yet: the first scan reads every episode once and writes it
        except OSError as e:
            self._rebuilding(e.strerror or str(e))
            return
        try:
            data = json.loads(raw)
            keys = data["episodes"] if data.get("version") == VERSION else None
            if not isinstance(keys, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in keys.items()
            ):
                raise ValueError("not a state cache of this version")
        except (ValueError, TypeError, AttributeError, KeyError) as e:
            self._rebuilding(f"damaged ({e})")
            return
        self._keys = keys

    def save(self) -> None:
        if not self._changed or not self._writable:
            return
        data = json.dumps({"version": VERSION, "episodes": self._keys}, separators=(",", ":"))
        try:
            write_bytes(self.path, data.encode())  # ASCII: json escapes the rest
        except OSError as e:
            self._writable = False
            log.warning(
                "state_cache_unwritable",
                message=f"cannot write {self.path} ({e.strerror or e}); every start-up and "
                "rescan reads every episode. Let the service write there (README, Operate)",
            )
            return
        self._changed = False

    def _rebuilding(self, why: str) -> None:
        log.warning(
            "state_cache_rebuilt",
            message=f"{self.path}: {why}; rebuilding it from the episodes (each is read once)",
        )
        self._changed = True
