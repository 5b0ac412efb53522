"""Every file name of an episode, written once.

`<outputs_dir>/<episode>/` holds upstream's input and our outputs; see the README's
file table. The daemon's triggers, the start-up scan and the handler all name files
through this module, so a rename happens in one place.
"""

from __future__ import annotations

STALE = ".stale"

# Upstream's input and its own "outdated" marker.
CHAPTERS = "chapters.json"
CHAPTERS_STALE = CHAPTERS + STALE

# Our directories inside an episode; the watcher and the scan never descend into them.
IMAGES_DIR = "images"
PROVENANCE_DIR = "provenance"
RENDER_DIR = "render"
OUR_DIRS = frozenset({IMAGES_DIR, PROVENANCE_DIR, RENDER_DIR})

# In images/.
MANIFEST = "manifest.json"
MANIFEST_STALE = MANIFEST + STALE
REQUEST = "imagegen_request.json"
RETRY_REQUEST = "imagegen.retry"
IMAGE_SUFFIX = ".png"
IMAGE_STALE_SUFFIX = IMAGE_SUFFIX + STALE

# In provenance/: ours, and every stage's records end the same way.
PROVENANCE = "imagegen_provenance.json"
PROVENANCE_SUFFIX = ".json"

# In render/: downstream's draft and the marker that says it is outdated.
RENDER_DRAFT = "draft.mp4"
RENDER_STALE = RENDER_DRAFT + STALE

# Temp files of atomic writes: hidden, and never matching a trigger.
TEMP_SUFFIX = ".tmp"

# The daemon's own files, per tree, in `<outputs_dir>/.imagegen/` (hidden: never taken
# for an episode). The state cache is rebuilt from the episodes whenever it is lost.
STATE_DIR = ".imagegen"
STATE_CACHE = "daemon-state.json"
# Held (shared) by every daemon serving the tree; `imagegen retry` asks it who is there.
DAEMON_LOCK = "daemon.lock"

# Size limits of the files we read back (our manifest and every stage's provenance).
MAX_MANIFEST_BYTES = 50_000_000
MAX_PROVENANCE_BYTES = 10_000_000


def image_name(chapter_id: str) -> str:
    return chapter_id + IMAGE_SUFFIX


def image_stale_name(chapter_id: str) -> str:
    return chapter_id + IMAGE_STALE_SUFFIX


def is_chapter_marker(name: str) -> bool:
    """`images/<chapter_id>.png.stale` (hidden names are temp files, never markers)."""
    return name.endswith(IMAGE_STALE_SUFFIX) and not name.startswith(".")


def is_temp_file(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)
