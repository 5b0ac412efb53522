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
STORYBOARD_DIR = "storyboard"
OUR_DIRS = frozenset({IMAGES_DIR, PROVENANCE_DIR, RENDER_DIR, STORYBOARD_DIR})

# In images/.
MANIFEST = "manifest.json"
MANIFEST_STALE = MANIFEST + STALE
REQUEST = "imagegen_request.json"
RETRY_REQUEST = "imagegen.retry"
IMAGE_SUFFIX = ".png"
IMAGE_STALE_SUFFIX = IMAGE_SUFFIX + STALE
# A chapter's further visuals (its `visuals[1:]`) are images of their own, each named
# like a chapter: images/ch01-v2.png, its entry, markers, candidates and prompt trace.
VISUAL_INFIX = "-v"

# images/: every paid call, held and settled (handlers/money/journal.py). Hidden, so
# never a trigger and never in a listing of images.
SPEND_JOURNAL = ".spend-journal"

# In images/candidates/<chapter_id>/: every candidate made for a chapter, c01.png ...
CANDIDATES_DIR = "candidates"
# In images/: a person's pick of a candidate (`imagegen select`, the review page).
SELECT_SUFFIX = ".select"

# In images/: the episode's review gallery (opens from disk) and its thumbnails, one
# per image content (thumbs/<sha256 prefix>.jpg), so a thumbnail is made once.
GALLERY = "index.html"
THUMBS_DIR = "thumbs"
THUMB_SUFFIX = ".jpg"

# In images/prompts/<chapter_id>/: the writer + critic trace of the chapter's prompt:
# 00_original.txt, 01_writer_r1.txt, 02_critic_r1.json, ..., final.txt, trace.json.
PROMPTS_DIR = "prompts"
TRACE_ORIGINAL = "00_original.txt"
TRACE_FINAL = "final.txt"
TRACE_INDEX = "trace.json"
# What each numbered step file holds: a writer's prompt, a critic's reply, or the
# findings of candidates that all failed their checks (fed back to the writer).
TRACE_ROLES = {"writer": ".txt", "critic": ".json", "findings": ".json"}
MAX_TRACE_BYTES = 5_000_000

# In storyboard/: storyboard.json (the component sheet and every clip), a folder per
# clip with its frames, start.png and end.png, and their candidates in
# candidates/start/c01.png ...; <chapter_id>.stale redoes one clip, storyboard.json.stale
# every clip and the component sheet.
STORYBOARD = "storyboard.json"
STORYBOARD_STALE = STORYBOARD + STALE
FRAME_MOMENTS = ("start", "end")
MAX_STORYBOARD_BYTES = 50_000_000

# In provenance/: ours, and every stage's records end the same way.
PROVENANCE = "imagegen_provenance.json"
PROVENANCE_SUFFIX = ".json"

# In render/: downstream's draft and the marker that says it is outdated.
RENDER_DRAFT = "draft.mp4"
RENDER_STALE = RENDER_DRAFT + STALE

# At the root of the outputs tree: the tree's gallery page; in STATE_DIR (below) the
# media database, an index of every episode's files, rebuilt from them when lost.
ROOT_GALLERY = "index.html"
MEDIA_DB = "media.sqlite3"

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


def visual_id(chapter_id: str, number: int) -> str:
    """The image id of a chapter's `number`th visual (2, 3, ...): "ch01-v2"."""
    return f"{chapter_id}{VISUAL_INFIX}{number}"


def candidate_id(number: int) -> str:
    return f"c{number:02d}"


def candidate_name(candidate: str) -> str:
    return candidate + IMAGE_SUFFIX


def candidate_number(name: str) -> int | None:
    """12 for "c12.png"; None for anything else."""
    stem = name.removesuffix(IMAGE_SUFFIX)
    if name == stem or len(stem) < 3 or stem[0] != "c" or not stem[1:].isdigit():
        return None
    return int(stem[1:])


def thumb_name(sha256: str) -> str:
    return sha256[:20] + THUMB_SUFFIX


def select_name(chapter_id: str) -> str:
    return chapter_id + SELECT_SUFFIX


def is_select_request(name: str) -> bool:
    return name.endswith(SELECT_SUFFIX) and not name.startswith(".")


def is_chapter_marker(name: str) -> bool:
    """`images/<chapter_id>.png.stale` (hidden names are temp files, never markers)."""
    return name.endswith(IMAGE_STALE_SUFFIX) and not name.startswith(".")


def frame_name(moment: str) -> str:
    """ "start.png", "end.png": a clip's frames in storyboard/<chapter_id>/."""
    return moment + IMAGE_SUFFIX


def frame_file(chapter_id: str, moment: str) -> str:
    """A frame as storyboard.json names it: relative to the episode folder."""
    return f"{STORYBOARD_DIR}/{chapter_id}/{frame_name(moment)}"


def frame_candidates_prefix(chapter_id: str, moment: str) -> str:
    """Where a frame's candidates are, relative to the episode folder."""
    return f"{STORYBOARD_DIR}/{chapter_id}/{CANDIDATES_DIR}/{moment}"


def clip_stale_name(chapter_id: str) -> str:
    """storyboard/<chapter_id>.stale: redo that chapter's clip."""
    return chapter_id + STALE


def is_clip_marker(name: str) -> bool:
    """A marker in storyboard/: one clip's, or storyboard.json.stale (hidden names are
    temp files, never markers)."""
    return name.endswith(STALE) and not name.startswith(".")


def is_temp_file(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def trace_step_name(number: int, role: str, round_number: int) -> str:
    """ "01_writer_r1.txt", "02_critic_r1.json", "07_findings_r4.json"."""
    return f"{number:02d}_{role}_r{round_number}{TRACE_ROLES[role]}"


def is_trace_file(name: str) -> bool:
    """A file of a prompt trace (what a new trace of the chapter replaces)."""
    if name in (TRACE_ORIGINAL, TRACE_FINAL, TRACE_INDEX):
        return True
    number, _, rest = name.partition("_")
    role, _, tail = rest.partition("_r")
    stem, dot, ext = tail.partition(".")
    return (
        len(number) == 2
        and number.isdigit()
        and role in TRACE_ROLES
        and stem.isdigit()
        and dot + ext == TRACE_ROLES[role]
    )
