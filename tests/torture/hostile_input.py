"""Hostile input: chapters.json and episode trees built to break the handler and the daemon.

Part 1 fuzzes chapters.json with hypothesis and calls the handler in-process. Part 2
plants hand-made traps (symlinks out of the root, FIFOs, huge and deep files, odd
marker names) in front of the real daemon. Both count into one Row; every case must
end in a specific answer, write nothing outside the outputs root and crash nothing.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import shutil
import stat
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from PIL import Image

import config.loader
from config import Settings, load_settings
from handlers import imagegen
from handlers.episode import layout
from handlers.run.services import build_services
from tests.support.daemon_proc import DaemonProcess
from tests.support.episodes import episode_doc
from tests.torture.report import Row, corrupt_files

REPO = Path(__file__).resolve().parents[2]
SCENARIO = "hostile input"
FULL_CASES = 2000
SHORT_CASES = 200
FRAME = 64  # FrameSettings' minimum: valid documents stay cheap to render
EPISODE = "ep"  # the fuzzer reuses one folder name; each case starts from a fresh dir
MAX_MESSAGE = 20_000  # a longer "error" is a dump, not a specific message
DAEMON_TIMEOUT = 45.0  # seconds for the batch of hand cases to be served

SECRET_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "CREDENTIALS_DIRECTORY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_BASE_URL",
)

# -- hostile material ---------------------------------------------------------------

TURKISH = "çğıİöşüÇĞÖŞÜâîû"
TURKISH_WORDS = ["Giriş", "İstanbul", "ığdır", "Şükrü", "çöğüş", "ÇAĞRI", "i̇", "ı"]
CONTROL = "".join(chr(c) for c in range(32)) + "\x7f\x85\u2028\u2029\u200b\u202e\ufeff"
# Lone surrogate halves: valid in a Python str and in JSON escapes, never in UTF-8.
SURROGATES = ["\ud800", "\udfff", "\udcff", "a\ud83d"]
PATH_LIKE = [
    "../x",
    "a/b",
    "/etc/passwd",
    "..",
    ".",
    ".hidden",
    "con",
    "CON",
    "nul",
    "aux",
    "com1",
    "lpt1.txt",
    "x" * 64,
    "x" * 65,
    "y" * 5000,
    "ch\x00",
    "\x00",
    "ch01\n",
    " ch01",
    "ch01 ",
    "ch01/",
    "ch01\\..\\x",
    "..\\..\\x",
    "~",
    "~root",
    "-rf",
    "*",
    "ch?",
    "ch01.png",
    "ch01.png.stale",
    "manifest",
    "manifest.json",
    "imagegen_request.json",
    "imagegen.retry",
    "\u202eevil",
    "ch\u200b01",
    "CH01",
    "ch01",
    "",
    "../../x",
    "../../../x",
    "../../../../x",
    "%2e%2e%2fx",
    "..%2fx",
    "ç",
    "İ",
    "ch٠١",  # Arabic-Indic digits: \d matches them in Python regexes
    "ｃｈ０１",
    "ch01.",
    "ch01..",
    "a" * 63 + ".",
]
EDGE_INTS = [0, -1, 1, 2, 2**31, 2**63, -(2**63), 10**40]
UNKNOWN_TYPES = ["video", "DIAGRAM", "b-roll", "", " diagram", "title-card", "image", "null"]
KNOWN_TYPES = ["diagram", "b_roll", "screen_share", "title_card", "talking_head"]
# Top-level, chapter, narration and visual keys the product reads: an "extra" field
# must not reuse one of them, or it would not be extra.
KNOWN_KEYS = {
    "schema_version",
    "episode_id",
    "title",
    "total_chapters",
    "estimated_duration_seconds",
    "chapters",
    "chapter_id",
    "order",
    "narration",
    "visual",
    "visuals",
    "overlays",
    "transitions",
    "notes",
    "text",
    "word_count",
    "type",
    "description",
    "image_prompt",
}
INVALID_UTF8 = [
    b"\xff",
    b"\xfe",
    b"\xc3",
    b"\x80",
    b"\xed\xa0\x80",  # an encoded surrogate
    b"\xc0\xaf",  # overlong '/'
    b"\xf4\x90\x80\x80",  # past U+10FFFF
    b"\xe2\x82",  # truncated sequence
]
BOM = b"\xef\xbb\xbf"


class Raw:
    """Text spliced verbatim into the JSON where this value stands: numbers and nesting
    that json.dumps would refuse or that would be too deep to build as Python objects."""

    def __init__(self, text: str) -> None:
        self.text = text


@dataclass(frozen=True)
class Case:
    kind: str  # which generator made it, for the notes
    raw: bytes
    expect: str | None  # "ok" or "failed" when the contract decides, else None


def encode(
    doc: Any, *, ensure_ascii: bool = True, indent: int | str | None = None, crlf: bool = False
) -> bytes:
    """json.dumps, then Raw placeholders replaced by their text; lone surrogates are
    written as CESU bytes (invalid UTF-8) when not escaped."""
    raws: list[str] = []

    def default(value: object) -> str:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"\x00RAW{len(raws) - 1}\x00"
        raise TypeError(f"not JSON: {type(value).__name__}")

    text = json.dumps(doc, ensure_ascii=ensure_ascii, indent=indent, default=default)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00RAW{i}\x00"), raw, 1)
    if crlf:
        text = text.replace("\n", "\r\n")
    return text.encode("utf-8", "surrogatepass")


# -- strategies -----------------------------------------------------------------------

Draw = Callable[[st.SearchStrategy[Any]], Any]


def hostile_texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(PATH_LIKE + TURKISH_WORDS),
        st.text(max_size=30),
        st.text(alphabet=TURKISH + CONTROL + "ab./\\-_ ", max_size=30),
        st.sampled_from(SURROGATES),
        # Long, not huge: a title is drawn on templates, and drawing costs per character.
        st.integers(65, 3000).map(lambda n: "ğ" * n),
    )


def benign_texts() -> st.SearchStrategy[str]:
    """Non-empty strings the contract accepts anywhere text is wanted."""
    return st.one_of(
        st.sampled_from(TURKISH_WORDS),
        st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30),
        st.text(alphabet=TURKISH + " .,:;!?'\"-", min_size=1, max_size=60),
    )


def hostile_raws() -> st.SearchStrategy[Raw]:
    return st.one_of(
        st.integers(4301, 6000).map(lambda n: Raw("7" * n)),  # past int_max_str_digits
        st.sampled_from(
            [
                "NaN",
                "Infinity",
                "-Infinity",
                "1e999",
                "-1e999",
                "-0",
                "-0.0",
                "1E400",
                "1" * 4300,
                "9" * 4300,
                "1" * 31,
                '"\\ud800"',
                '"\\udfff\\ud800"',
                '"\\u0000"',
                '"a\\/b"',
            ]
        ).map(Raw),
        st.integers(1, 20_000).map(lambda d: Raw("[" * d + "]" * d)),
        st.integers(1, 3000).map(lambda d: Raw('{"a":' * d + "0" + "}" * d)),
    )


def benign_raws() -> st.SearchStrategy[Raw]:
    """Odd but valid JSON values for fields the contract lets be anything."""
    return st.one_of(
        # Integers up to 30 digits are accepted anywhere; longer ones are refused by
        # name (handlers/reading.py) and live in hostile_raws.
        st.sampled_from(["1" * 30, "-" + "9" * 30, "-0", "1e308", "0.1e-320", "[[[]]]"]).map(Raw),
        st.integers(1, 100).map(lambda d: Raw("[" * d + "]" * d)),
    )


def hostile_values() -> st.SearchStrategy[Any]:
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.sampled_from(EDGE_INTS),
        st.floats(),
        hostile_texts(),
    )
    return st.recursive(
        scalars,
        lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids),
        max_leaves=5,
    )


def any_values() -> st.SearchStrategy[Any]:
    """Values for the fields the product ignores (order, durations, overlays, ...)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(),
        benign_texts(),
    )
    tree = st.recursive(
        scalars,
        lambda kids: (
            st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
        ),
        max_leaves=5,
    )
    return st.one_of(tree, benign_raws())


def slots(doc: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in the document, in a stable order."""
    out: list[tuple[Any, Any]] = []
    stack = [doc] if isinstance(doc, dict | list) else []
    while stack:
        node = stack.pop()
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        for key, value in items:
            out.append((node, key))
            if isinstance(value, dict | list):
                stack.append(value)
    return out


def dicts(doc: Any) -> list[dict[str, Any]]:
    found = [doc] if isinstance(doc, dict) else []
    return found + [c[k] for c, k in slots(doc) if isinstance(c[k], dict)]


def pick_chapter(draw: Draw, doc: dict[str, Any]) -> dict[str, Any] | None:
    chapters = doc.get("chapters")
    if not isinstance(chapters, list):
        return None
    chapter_dicts = [c for c in chapters if isinstance(c, dict)]
    return draw(st.sampled_from(chapter_dicts)) if chapter_dicts else None


def main_visual(ch: dict[str, Any]) -> dict[str, Any]:
    """The visual the product uses: `visual`, else the first of `visuals`."""
    visual = ch.get("visual")
    return visual if isinstance(visual, dict) else ch["visuals"][0]  # type: ignore[no-any-return]


# Benign mutations: the contract says a document stays valid after each of these.


def benign_extra_field(draw: Draw, doc: dict[str, Any]) -> None:
    target = draw(st.sampled_from(dicts(doc)))
    key = draw(st.one_of(st.text(max_size=20), st.sampled_from(["x_future", "İ", "\x00", ""])))
    if key not in KNOWN_KEYS and key not in target:
        target[key] = draw(any_values())


def benign_visuals_list(draw: Draw, doc: dict[str, Any]) -> None:
    ch = pick_chapter(draw, doc)
    if ch is None or not isinstance(ch.get("visual"), dict):
        return
    visual = ch["visual"] if draw(st.booleans()) else ch.pop("visual")
    more = [
        {"type": draw(st.sampled_from(KNOWN_TYPES + UNKNOWN_TYPES)), "description": "ikinci"}
        for _ in range(draw(st.integers(0, 2)))
    ]
    ch["visuals"] = [visual, *more]


def benign_ignored_field(draw: Draw, doc: dict[str, Any]) -> None:
    ch = pick_chapter(draw, doc)
    if ch is None:
        return
    place = draw(st.sampled_from(["order", "overlays", "transitions", "notes", "word", "dur"]))
    value = draw(any_values())
    if place == "word":
        ch["narration"]["word_count"] = value
    elif place == "dur":
        ch["narration"]["estimated_duration_seconds"] = value
    else:
        ch[place] = value


def benign_same_duration_everywhere(draw: Draw, doc: dict[str, Any]) -> None:
    # Upstream computing every duration the same odd way: the sum is then odd too.
    value = draw(any_values())
    for ch in doc["chapters"]:
        ch["narration"]["estimated_duration_seconds"] = value


def benign_text_fields(draw: Draw, doc: dict[str, Any]) -> None:
    ch = pick_chapter(draw, doc)
    if ch is None:
        return
    place = draw(st.sampled_from(["title", "description", "narration", "prompt", "doc_title"]))
    text = draw(benign_texts())
    if place == "title":
        ch["title"] = text
    elif place == "description":
        main_visual(ch)["description"] = text
    elif place == "narration":
        ch["narration"]["text"] = text
    elif place == "prompt":
        main_visual(ch)["image_prompt"] = draw(st.one_of(st.none(), st.just(""), st.just(text)))
    else:
        doc["title"] = text


def benign_long_field(draw: Draw, doc: dict[str, Any]) -> None:
    # Long text where it is not drawn on an image (drawing costs per character).
    ch = pick_chapter(draw, doc)
    if ch is None:
        return
    text = draw(st.sampled_from(["ş", "kelime ", "a"])) * draw(st.integers(10_000, 400_000))
    place = draw(st.sampled_from(["description", "narration", "prompt", "notes", "extra"]))
    if place == "description":
        main_visual(ch)["description"] = text
    elif place == "narration":
        ch["narration"]["text"] = text
    elif place == "prompt":
        main_visual(ch)["image_prompt"] = text
    else:
        ch["notes" if place == "notes" else "x_long"] = text


def benign_misc(draw: Draw, doc: dict[str, Any]) -> None:
    what = draw(st.sampled_from(["episode_id", "schema", "type", "drop", "shuffle"]))
    ch = pick_chapter(draw, doc)
    if what == "episode_id":
        doc["episode_id"] = draw(benign_texts())  # a mismatch only warns
    elif what == "schema":
        doc["schema_version"] = draw(st.sampled_from(["1.0", "1.1", "1.99", "1.007", "01.0"]))
    elif what == "type" and ch is not None:
        main_visual(ch)["type"] = draw(st.sampled_from(KNOWN_TYPES))
    elif what == "drop" and ch is not None:
        optional = ["overlays", "transitions", "notes", "order"]
        ch.pop(draw(st.sampled_from(optional)), None)
        if draw(st.booleans()):
            ch["narration"].pop("word_count", None)
            ch["narration"].pop("estimated_duration_seconds", None)
            main_visual(ch).pop("image_prompt", None)
        if draw(st.booleans()):
            doc.pop("estimated_duration_seconds", None)
    elif what == "shuffle":
        target = draw(st.sampled_from(dicts(doc)))
        keys = draw(st.permutations(list(target)))
        items = [(k, target.pop(k)) for k in keys]
        target.update(items)


BENIGN = [
    benign_extra_field,
    benign_visuals_list,
    benign_ignored_field,
    benign_same_duration_everywhere,
    benign_text_fields,
    benign_long_field,
    benign_misc,
]

# Hostile mutations: anything goes; the handler must answer ok or one specific error.


def hostile_slot(draw: Draw, doc: Any) -> Any:
    places = slots(doc)
    if not places:
        return doc
    container, key = places[draw(st.integers(0, len(places) - 1))]
    value = container[key]
    op = draw(st.sampled_from(["delete", "replace", "retype", "duplicate", "nest", "raw"]))
    if op == "delete":
        del container[key]
    elif op == "replace":
        container[key] = draw(hostile_values())
    elif op == "raw":
        container[key] = draw(hostile_raws())
    elif op == "retype":
        container[key] = draw(
            st.sampled_from(
                [
                    None,
                    True,
                    False,
                    str(value)[:100],
                    [value],
                    {"value": value},
                    float(value) if isinstance(value, int) else 1.5,
                    len(value) if isinstance(value, str | list) else 0,
                ]
            )
        )
    elif op == "duplicate":
        if isinstance(container, list):
            container.insert(key, copy.deepcopy(value))
        else:
            twin = draw(st.sampled_from([key + "s", key.rstrip("s"), key.upper(), key + "_2"]))
            container[twin] = value
    else:  # wrong nesting
        container[key] = draw(st.sampled_from([[value], {key: value}, [[value]]]))
    return doc


def hostile_chapter_id(draw: Draw, doc: Any) -> Any:
    ch = pick_chapter(draw, doc) if isinstance(doc, dict) else None
    if ch is not None:
        ch["chapter_id"] = draw(st.one_of(st.sampled_from(PATH_LIKE), hostile_texts()))
    return doc


def hostile_duplicate_key(draw: Draw, doc: Any) -> Any:
    # JSON allows a key twice and the last one wins: a safe id first, a bad one last.
    ch = pick_chapter(draw, doc) if isinstance(doc, dict) else None
    if ch is not None:
        bad = draw(st.sampled_from(PATH_LIKE))
        first = json.dumps(str(ch.get("chapter_id")))
        ch["chapter_id"] = Raw(f'{first}, "chapter_id": {json.dumps(bad)}')
    return doc


def hostile_visual(draw: Draw, doc: Any) -> Any:
    ch = pick_chapter(draw, doc) if isinstance(doc, dict) else None
    if ch is None:
        return doc
    visual = ch.get("visual")
    shape = draw(
        st.sampled_from(["none", "empty_list", "null_list", "string", "both", "unknown", "list"])
    )
    if shape == "none":
        ch.pop("visual", None)
        ch.pop("visuals", None)
    elif shape == "empty_list":
        ch.pop("visual", None)
        ch["visuals"] = []
    elif shape == "null_list":
        ch.pop("visual", None)
        ch["visuals"] = [None, visual]
    elif shape == "string":
        ch["visual"] = "diagram"
    elif shape == "both":
        ch["visuals"] = draw(st.sampled_from([[], [visual], "x", None, [{"type": 1}]]))
    elif shape == "unknown" and isinstance(visual, dict):
        visual["type"] = draw(st.one_of(st.sampled_from(UNKNOWN_TYPES), hostile_texts()))
    elif shape == "list":
        ch["visual"] = [visual]
    return doc


def hostile_document(draw: Draw, doc: Any) -> Any:
    if not isinstance(doc, dict):
        return doc
    what = draw(
        st.sampled_from(["schema", "total", "chapters", "dup_chapter", "wrap", "empty", "title"])
    )
    if what == "schema":
        doc["schema_version"] = draw(
            st.sampled_from(
                ["2.0", "0.9", "1", "1.0.0", "v1.0", " 1.0", "١.٠", "１.０", "", 1, 1.0]
            )
        )
    elif what == "total":
        n = len(doc["chapters"]) if isinstance(doc.get("chapters"), list) else 1
        doc["total_chapters"] = draw(
            st.sampled_from([n + 1, n - 1, 0, -1, str(n), float(n), True, None, 10**30])
        )
    elif what == "chapters":
        doc["chapters"] = draw(
            st.sampled_from([[], {}, None, "ch01", [[]], [None], {"ch01": {}}, [1, 2]])
        )
    elif what == "dup_chapter" and isinstance(doc.get("chapters"), list) and doc["chapters"]:
        doc["chapters"].append(copy.deepcopy(doc["chapters"][0]))
        if draw(st.booleans()):
            doc["total_chapters"] = len(doc["chapters"])
    elif what == "wrap":
        return draw(st.sampled_from([[doc], {"document": doc}, {"chapters": doc}]))
    elif what == "empty":
        return draw(st.sampled_from([{}, [], None, "", 0, "chapters.json"]))
    elif what == "title":
        doc[draw(st.sampled_from(["title", "episode_id"]))] = draw(
            st.sampled_from(["", " ", None, 0, [], "\x00"])
        )
    return doc


HOSTILE = [
    hostile_slot,
    hostile_chapter_id,
    hostile_duplicate_key,
    hostile_visual,
    hostile_document,
]


def base_doc(draw: Draw) -> dict[str, Any]:
    # Mostly one to three chapters: cheap to render, and as hostile as fifty.
    n = draw(st.sampled_from([1, 1, 1, 2, 2, 3, 4, 6]))
    return episode_doc(EPISODE, n)


def encoding_options(draw: Draw) -> dict[str, Any]:
    return {
        "ensure_ascii": draw(st.booleans()),
        "indent": draw(st.sampled_from([None, 2, "\t"])),
        "crlf": draw(st.booleans()),
    }


@st.composite
def benign_documents(draw: Draw) -> Case:
    doc = base_doc(draw)
    names = []
    for _ in range(draw(st.integers(1, 3))):
        mutation = draw(st.sampled_from(BENIGN))
        names.append(mutation.__name__.removeprefix("benign_"))
        mutation(draw, doc)
    raw = encode(doc, **encoding_options(draw))
    if draw(st.booleans()):
        raw = BOM + raw
    return Case("benign:" + "+".join(names), raw, "ok")


@st.composite
def hostile_documents(draw: Draw) -> Case:
    doc: Any = base_doc(draw)
    names = []
    for _ in range(draw(st.integers(1, 4))):
        mutation = draw(st.sampled_from(HOSTILE))
        names.append(mutation.__name__.removeprefix("hostile_"))
        doc = mutation(draw, doc)
    return Case("hostile:" + "+".join(names), encode(doc, **encoding_options(draw)), None)


@st.composite
def byte_cases(draw: Draw) -> Case:
    valid = encode(base_doc(draw), ensure_ascii=draw(st.booleans()), indent=2)
    kind = draw(
        st.sampled_from(
            [
                "random",
                "truncated",
                "invalid_utf8",
                "bom",
                "double_bom",
                "utf16",
                "deep",
                "deep_object",
                "scalar",
                "nul_between_tokens",
                "at_limit",
                "over_limit",
            ]
        )
    )
    if kind == "random":
        return Case("bytes:random", draw(st.binary(max_size=400)), "failed")
    if kind == "truncated":
        return Case("bytes:truncated", valid[: draw(st.integers(0, len(valid) - 1))], "failed")
    if kind == "invalid_utf8":
        data = bytearray(valid)
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data)))
            data[at:at] = draw(st.sampled_from(INVALID_UTF8))
        return Case("bytes:invalid_utf8", bytes(data), "failed")
    if kind == "bom":
        return Case("bytes:bom", BOM + valid, "ok")
    if kind == "double_bom":
        return Case("bytes:double_bom", BOM + BOM + valid, "failed")
    if kind == "utf16":
        text = valid.decode("utf-8")
        codec = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32"]))
        return Case(f"bytes:{codec}", text.encode(codec), "failed")
    if kind == "deep":
        depth = draw(st.sampled_from([1, 2, 100, 990, 999, 1000, 1001, 3000, 20_000]))
        close = depth if draw(st.booleans()) else draw(st.integers(0, depth))
        return Case(f"bytes:deep[{depth}]", b"[" * depth + b"]" * close, "failed")
    if kind == "deep_object":
        depth = draw(st.sampled_from([10, 999, 1001, 5000]))
        return Case(
            f"bytes:deep_object[{depth}]",
            b'{"chapters":' * depth + b"[]" + b"}" * depth,
            "failed",
        )
    if kind == "scalar":
        raw = draw(st.sampled_from([b"", b" ", b"null", b"[]", b'"x"', b"1", b"true", b"{}"]))
        return Case("bytes:scalar", raw, "failed")
    if kind == "nul_between_tokens":
        at = valid.index(b"{") + 1
        return Case("bytes:nul", valid[:at] + b"\x00" + valid[at:], "failed")
    # Exactly max_input_bytes is accepted, one byte more is not (default limit).
    limit = Settings.model_fields["max_input_bytes"].default
    padded = valid + b" " * (limit - len(valid))
    if kind == "at_limit":
        return Case("bytes:at_limit", padded, "ok")
    return Case("bytes:over_limit", padded + b" ", "failed")


def cases() -> st.SearchStrategy[Case]:
    # Structure first: three in four cases start from a valid document.
    return st.one_of(hostile_documents(), hostile_documents(), benign_documents(), byte_cases())


# -- checking one case ----------------------------------------------------------------


class Tally:
    """Counts every violation in the Row; keeps one note per distinct problem."""

    def __init__(self, row: Row) -> None:
        self.row = row
        self.seen: Counter[str] = Counter()
        self.samples: dict[str, str] = {}

    def add(self, column: str, signature: str, note: str, n: int = 1) -> None:
        setattr(self.row, column, getattr(self.row, column) + n)
        self.seen[signature] += n
        self.samples.setdefault(signature, note)

    def fail(self, signature: str, note: str) -> None:
        self.add("failures", signature, note)

    def flush(self) -> None:
        for signature, count in self.seen.most_common():
            if len(self.row.notes) >= 20:
                break
            self.row.notes.append(f"[x{count}] {self.samples[signature]}")


def tree(directory: Path) -> dict[str, tuple[str, int, int]]:
    """Every entry (directories too) with kind, size and mtime: proves 'nothing written'."""
    out: dict[str, tuple[str, int, int]] = {}
    if not directory.exists():
        return out
    for path in directory.rglob("*"):
        st_ = path.lstat()
        kind = "dir" if stat.S_ISDIR(st_.st_mode) else "file"
        out[str(path.relative_to(directory))] = (kind, st_.st_size, st_.st_mtime_ns)
    return out


def outside_state(outer: Path, skip: set[Path]) -> dict[str, tuple[str, int, int]]:
    """Everything under `outer` but the outputs root (and our own files): kind, size and
    mtime of each entry, directories without mtime (the root's parent changes)."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(outer):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in dirnames + filenames:
            path = here / name
            if path in skip:
                continue
            st_ = path.lstat()
            if stat.S_ISDIR(st_.st_mode):
                state[str(path.relative_to(outer))] = ("dir", 0, 0)
            else:
                state[str(path.relative_to(outer))] = ("file", st_.st_size, st_.st_mtime_ns)
    return state


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    changed = [k for k in after if before.get(k) != after[k]]
    return sorted(changed + [k for k in before if k not in after])


def reset_outside(outer: Path, skip: set[Path], baseline: dict[str, Any]) -> None:
    """Remove what a case wrote outside the root, so the next case is judged alone."""
    for rel in sorted(outside_state(outer, skip), reverse=True):
        if rel not in baseline:
            path = outer / rel
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()


def product_frame(error: BaseException) -> str:
    """' at handlers/x.py:12': the innermost frame of the product's own code."""
    where = ""
    tb = error.__traceback__
    while tb is not None:
        file = Path(tb.tb_frame.f_code.co_filename)
        if file.is_relative_to(REPO) and not file.is_relative_to(REPO / "tests"):
            where = f" at {file.relative_to(REPO)}:{tb.tb_lineno}"
        tb = tb.tb_next
    return where


def describe(case: Case) -> str:
    head = case.raw[:90]
    return f"{case.kind} ({len(case.raw)} bytes, starts {head!r})"


def parse(raw: bytes) -> Any:
    text = raw.decode("utf-8")
    return json.loads(text.removeprefix("\ufeff"))


def check_ok(tally: Tally, case: Case, episode: Path) -> None:
    """An ok run left one manifest entry per visual (a chapter's first under its id,
    further ones as <id>-v2, ...) and a readable file for each."""
    try:
        chapters = parse(case.raw)["chapters"]
        wanted = []
        for c in chapters:
            visuals = c.get("visuals")
            extra = len(visuals) - 1 if isinstance(visuals, list) and visuals else 0
            wanted += [c["chapter_id"], *(f"{c['chapter_id']}-v{n}" for n in range(2, extra + 2))]
        manifest = json.loads((episode / "images/manifest.json").read_bytes())
        json.loads((episode / "provenance/imagegen_provenance.json").read_bytes())
    except (OSError, ValueError, KeyError, TypeError) as e:
        tally.fail(f"ok-unreadable:{type(e).__name__}", f"{describe(case)}: ok but {e!r:.200}")
        return
    got = [e.get("chapter_id") for e in manifest.get("chapters", [])]
    if got != wanted:
        tally.fail("ok-entries", f"{describe(case)}: ok but manifest has {got!r:.120}")
    for entry in manifest.get("chapters", []):
        if entry.get("status") not in ("generated", "template", "skipped"):
            tally.fail("ok-status", f"{describe(case)}: ok with entry {entry!r:.160}")
        if entry.get("status") in ("generated", "template"):
            png = episode / "images" / str(entry.get("file"))
            try:
                with Image.open(png) as img:
                    size = img.size
            except (OSError, ValueError) as e:
                tally.fail("ok-png", f"{describe(case)}: {png.name} unreadable: {e!r:.120}")
                continue
            if size != (FRAME, FRAME):
                tally.fail("ok-size", f"{describe(case)}: {png.name} is {size}")


def check_failed(tally: Tally, case: Case, message: str, changed: list[str]) -> None:
    """A refused input: one line naming the file, and not one byte written."""
    if "chapters.json" not in message:
        tally.fail("vague", f"{describe(case)}: failure does not name the file: {message!r:.300}")
    elif "\n" in message or len(message) > MAX_MESSAGE or "Traceback" in message:
        tally.fail("not-single", f"{describe(case)}: not one specific error: {message!r:.300}")
    if changed:
        tally.fail("wrote", f"{describe(case)}: failed but wrote {changed[:5]}")


def check_case(
    tally: Tally, case: Case, settings: Settings, outer: Path, skip: set[Path], baseline: Any
) -> None:
    row = tally.row
    row.runs += 1
    root = settings.outputs_dir
    episode = root / EPISODE
    episode.mkdir()
    (episode / "chapters.json").write_bytes(case.raw)
    before = tree(episode)
    result = None
    try:
        result = imagegen.run(episode, imagegen.RunRequest(), settings)
    except Exception as e:  # the handler must never raise for an input
        where = product_frame(e)
        tally.fail(
            f"raised:{type(e).__name__}{where}",
            f"{describe(case)}: handler raised {e!r:.200}{where}",
        )
    if result is not None:
        if result.outcome not in ("ok", "failed", "up_to_date"):
            tally.fail(f"outcome:{result.outcome}", f"{describe(case)}: {result.outcome}")
        if case.expect is not None and result.outcome != case.expect:
            tally.fail(
                f"expected-{case.expect}:{case.kind.split('+')[0]}",
                f"{describe(case)}: expected {case.expect}, got {result.outcome}: "
                f"{result.message!r:.300}",
            )
        if result.outcome == "failed":
            check_failed(tally, case, result.message, diff(before, tree(episode)))
        elif result.outcome == "ok":
            check_ok(tally, case, episode)
    bad = corrupt_files(episode)
    if bad:
        tally.add("corrupt_files", "corrupt", f"{describe(case)}: {bad[0]}", len(bad))
    outside = diff(baseline, outside_state(outer, skip))
    if outside:
        note = f"{describe(case)}: wrote outside the root: {outside[:5]}"
        tally.add("writes_outside_root", "outside", note, len(outside))
        reset_outside(outer, skip, baseline)
    # The tree's own files, ours by design: its gallery page and the media database.
    ours = {EPISODE, layout.ROOT_GALLERY, layout.STATE_DIR}
    strays = [p.name for p in root.iterdir() if p.name not in ours]
    if strays:
        tally.fail("stray", f"{describe(case)}: wrote next to the episode: {strays[:5]}")
    for path in root.iterdir():
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


# -- part 1: the fuzzer ---------------------------------------------------------------


@contextlib.contextmanager
def clean_environment() -> Iterator[None]:
    """No key, base URL or system config of the host may reach the handler."""
    saved = {
        k: os.environ.pop(k)
        for k in list(os.environ)
        if k.startswith("IMAGEGEN_") or k in SECRET_VARS
    }
    system_config = config.loader.SYSTEM_CONFIG
    config.loader.SYSTEM_CONFIG = Path("/nonexistent/imagegen.toml")
    try:
        yield
    finally:
        config.loader.SYSTEM_CONFIG = system_config
        os.environ.update(saved)


@contextlib.contextmanager
def quiet_logs() -> Iterator[None]:
    """Thousands of runs would print thousands of info lines."""
    old = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    try:
        yield
    finally:
        structlog.configure(**old)


def offline_settings(root: Path) -> Settings:
    settings = load_settings(overrides={"outputs_dir": root})
    settings.frame.width = FRAME
    settings.frame.height = FRAME
    settings.image.provider = "offline"
    settings.prompt.writer = "template"
    # A key or a paid provider here would make this fuzzer spend money: refuse to run.
    assert settings.openai.api_key is None and settings.anthropic.api_key is None
    services = build_services(settings)
    assert [step.spec.provider for step in services.chain] == ["offline"], services.chain
    return settings


def fuzz(row: Row, examples: int) -> None:
    with tempfile.TemporaryDirectory(prefix="imagegen-fuzz-") as tmp:
        outer = Path(tmp).resolve() / "outer"  # "../../../x" from images/ lands here
        root = outer / "base" / "outputs"
        root.mkdir(parents=True)
        decoy = outer / "outside"
        decoy.mkdir()
        (decoy / "keep.json").write_text("{}")
        skip = {root}
        baseline = outside_state(outer, skip)
        absolute_targets = [Path("/etc/passwd.png"), Path("/etc/passwd.png.stale")]
        absolute_before = {p: p.exists() for p in absolute_targets}
        settings = offline_settings(root)
        tally = Tally(row)

        @hypothesis_settings(
            max_examples=examples,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
            print_blob=False,
        )
        @given(cases())
        def one(case: Case) -> None:
            check_case(tally, case, settings, outer, skip, baseline)
            for path, existed in absolute_before.items():
                if path.exists() and not existed:
                    tally.add("writes_outside_root", "outside-abs", f"{describe(case)}: {path}")

        one()
        tally.flush()


# -- part 2: hand cases against the real daemon --------------------------------------


@dataclass
class HandCase:
    name: str  # episode folder name under the root
    build: Callable[[Path, Path], None] | None  # (episode dir being built, outside dir)
    expect: str  # the first job's status: "failed", "ok" or "blocked"
    needles: tuple[str, ...]  # the job message (or, for "ok", a warning) must contain these
    cleanup: Callable[[Path], None] | None = None  # remove our own hostile inputs after


def _valid(name: str, chapters: int = 2) -> bytes:
    return json.dumps(episode_doc(name, chapters), ensure_ascii=False).encode()


def _with_id(name: str, chapter_id: str) -> Callable[[Path, Path], None]:
    def build(ep: Path, outside: Path) -> None:
        doc = episode_doc(name, 2)
        doc["chapters"][0]["chapter_id"] = chapter_id
        (ep / "chapters.json").write_text(json.dumps(doc, ensure_ascii=False))

    return build


def _link_dir(sub: str, target: str) -> Callable[[Path, Path], None]:
    def build(ep: Path, outside: Path) -> None:
        (ep / sub).symlink_to(outside / target, target_is_directory=True)
        (ep / "chapters.json").write_bytes(_valid(ep.name))

    return build


def _marker(rel: str | bytes, content: bytes = b"{}") -> Callable[[Path, Path], None]:
    def build(ep: Path, outside: Path) -> None:
        (ep / "images").mkdir(exist_ok=True)
        path = os.path.join(os.fsencode(ep), os.fsencode(rel))
        with open(path, "wb") as f:
            f.write(content)
        (ep / "chapters.json").write_bytes(_valid(ep.name))

    return build


def _marker_dir(rel: str) -> Callable[[Path, Path], None]:
    def build(ep: Path, outside: Path) -> None:
        (ep / rel).mkdir(parents=True)
        (ep / "chapters.json").write_bytes(_valid(ep.name))

    return build


def _chapters_bytes(raw: bytes) -> Callable[[Path, Path], None]:
    def build(ep: Path, outside: Path) -> None:
        (ep / "chapters.json").write_bytes(raw)

    return build


def _symlink_file(rel: str, target: str) -> Callable[[Path, Path], None]:
    def build(ep: Path, outside: Path) -> None:
        (ep / rel).parent.mkdir(parents=True, exist_ok=True)
        (ep / rel).symlink_to(outside / target)
        if rel != "chapters.json":
            (ep / "chapters.json").write_bytes(_valid(ep.name))

    return build


def _fifo_marker(ep: Path, outside: Path) -> None:
    (ep / "images").mkdir()
    os.mkfifo(ep / "images/ch02.png.stale")
    (ep / "chapters.json").write_bytes(_valid(ep.name))


def _big(ep: Path, outside: Path) -> None:
    # A valid document padded to 50 MB: only the size is wrong.
    doc = episode_doc(ep.name, 2)
    with (ep / "chapters.json").open("w", encoding="utf-8") as f:
        f.write(json.dumps(doc)[:-1] + ', "pad": "')
        chunk = "a" * (1 << 20)
        for _ in range(50):
            f.write(chunk)
        f.write('"}')


def _remove(rel: str) -> Callable[[Path], None]:
    def cleanup(ep: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            (ep / rel).unlink()

    return cleanup


def hand_cases() -> list[HandCase]:
    deep = b"[" * 60_000  # under markers' 64 KiB read limit, far past the recursion limit
    unsafe_id = ("chapters.json", "chapter_id", "safe file name")
    # Marker names cannot hold "/" or NUL, so "images/../../evil.png.stale" is a path,
    # never a name: the traversal-like names a file can really have are below (percent
    # escapes, dots, backslashes, newlines, non-UTF-8 bytes, 255 bytes).
    ignored = ("not a regular file",)  # the warning for a marker that is no regular file
    return [
        HandCase(
            "trav-dotdot",
            _with_id("trav-dotdot", "../x"),
            "failed",
            unsafe_id,
        ),
        HandCase(
            "trav-slash",
            _with_id("trav-slash", "a/b"),
            "failed",
            unsafe_id,
        ),
        HandCase(
            "trav-abs",
            _with_id("trav-abs", "/etc/passwd"),
            "failed",
            unsafe_id,
        ),
        HandCase(
            "link-images", _link_dir("images", "images-target"), "failed", ("images", "symlink")
        ),
        HandCase(
            "link-provenance",
            _link_dir("provenance", "prov-target"),
            "failed",
            ("provenance", "symlink"),
        ),
        HandCase(
            "link-render", _link_dir("render", "render-target"), "failed", ("render", "symlink")
        ),
        HandCase(
            "link-chapters",
            _symlink_file("chapters.json", "secret.json"),
            "failed",
            ("chapters.json", "symlink"),
        ),
        HandCase(
            "link-manifest",
            _symlink_file("images/manifest.json", "secret.json"),
            "failed",
            ("manifest.json", "symlink"),
        ),
        HandCase(
            "link-png",
            _symlink_file("images/ch01.png", "decoy.png"),
            "failed",
            ("ch01.png", "symlink"),
        ),
        HandCase("big-50mb", _big, "failed", ("chapters.json", "over the limit")),
        HandCase(
            "deep-100k",
            _chapters_bytes(b"[" * 100_000 + b"]" * 100_000),
            "failed",
            ("chapters.json", "nested too deeply"),
        ),
        HandCase(
            "bad-utf8",
            _chapters_bytes(_valid("bad-utf8").replace("Giriş".encode(), b"Giri\xfe")),
            "failed",
            ("chapters.json", "not valid UTF-8"),
        ),
        HandCase(
            "huge-int",
            _chapters_bytes(_valid("huge-int").replace(b'"order": 1', b'"order": ' + b"7" * 5000)),
            "failed",
            ("chapters.json",),
        ),
        HandCase(
            "mdir-manifest",
            _marker_dir("images/manifest.json.stale"),
            "ok",
            ignored,
        ),
        HandCase("mdir-chapters", _marker_dir("chapters.json.stale"), "ok", ignored),
        HandCase("mdir-ch01", _marker_dir("images/ch01.png.stale"), "ok", ignored),
        HandCase("mname-pct", _marker("images/..%2fx.png.stale"), "ok", ()),
        HandCase("mname-dots", _marker("images/...png.stale"), "ok", ()),
        HandCase("mname-newline", _marker("images/a\nb.png.stale"), "ok", ()),
        HandCase("mname-bytes", _marker(b"images/\xff\xfe.png.stale"), "ok", ()),
        HandCase("mname-long", _marker("images/" + "x" * 245 + ".png.stale"), "ok", ()),
        HandCase("mname-backslash", _marker("images/..\\..\\x.png.stale"), "ok", ()),
        HandCase("mfifo-ch02", _fifo_marker, "ok", ignored),
        HandCase(
            "mlink-ch01",
            _symlink_file("images/ch01.png.stale", "marker.json"),
            "ok",
            ignored,
        ),
        HandCase(
            "mdeep-ch01",
            _marker("images/ch01.png.stale", deep),
            "ok",
            (),
            _remove("images/ch01.png.stale"),
        ),
        HandCase(
            "mdeep-manifest",
            _marker("images/manifest.json.stale", deep),
            "ok",
            (),
            _remove("images/manifest.json.stale"),
        ),
        HandCase(
            "mdeep-chapters",
            _marker("chapters.json.stale", deep),
            "blocked",
            ("chapters.json.stale",),
            _remove("chapters.json.stale"),
        ),
        HandCase("mbigint-manifest", _marker("images/manifest.json.stale", b"7" * 5000), "ok", ()),
        HandCase(os.fsdecode(b"name-\xff\xfe"), _chapters_bytes(_valid("x")), "ok", ()),
    ]


def make_outside(outside: Path) -> None:
    """Targets for the symlinks: none of these may change."""
    for sub in ("images-target", "prov-target", "render-target", "ep-target"):
        (outside / sub).mkdir(parents=True)
    (outside / "images-target/keep.txt").write_text("keep")
    # Markers outside the root: consuming them would delete a file outside the root.
    (outside / "images-target/manifest.json.stale").write_text("{}")
    (outside / "images-target/ch01.png.stale").write_text("{}")
    (outside / "marker.json").write_text('{"invalidated_by": "outside"}')
    (outside / "secret.json").write_bytes(_valid("secret"))
    (outside / "ep-target/chapters.json").write_bytes(_valid("ep-target"))
    Image.new("RGB", (FRAME, FRAME), "red").save(outside / "decoy.png")


def first_job(d: DaemonProcess, name: str) -> dict[str, Any] | None:
    jobs = d.jobs(name)
    return jobs[0] if jobs else None


def wait_all(d: DaemonProcess, names: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(d.jobs(n) for n in names):
            return
        if d.proc is not None and d.proc.poll() is not None:
            return
        time.sleep(0.2)


def main_thread_state(d: DaemonProcess) -> str:
    """Where the daemon's main thread sits (Linux /proc): shows a blocking open()."""
    if d.proc is None:
        return "not started"
    try:
        base = f"/proc/{d.proc.pid}/task/{d.proc.pid}"
        wchan = Path(f"{base}/wchan").read_text().strip()
        syscall = Path(f"{base}/syscall").read_text().split()[0]
    except OSError as e:
        return f"unknown ({e.strerror})"
    return f"kernel wait {wchan!r}, syscall {syscall} (257 = openat)"


def check_hand_case(row: Row, d: DaemonProcess, case: HandCase) -> None:
    job = first_job(d, case.name)
    label = f"daemon {case.name!r}"
    if job is None:
        row.fail(f"{label}: no job_finished (hung or never picked up)")
        return
    message = str(job.get("message", ""))
    crashed = [
        e
        for e in d.events()
        if e.get("event") == "job_crashed" and e.get("episode_id") == case.name
    ]
    if crashed:
        exc = str(crashed[0].get("exception", "")).strip().splitlines()
        row.fail(f"{label}: handler crashed in the daemon: {message!r:.200}; {exc[-1:]}")
        return
    if job.get("status") != case.expect:
        row.fail(f"{label}: expected {case.expect}, got {job.get('status')}: {message!r:.300}")
        return
    if case.expect == "ok":
        warnings = [
            str(e.get("message", ""))
            for e in d.events()
            if e.get("event") == "input_warning" and e.get("episode_id") == case.name
        ]
        if case.needles and not any(all(n in w for n in case.needles) for w in warnings):
            row.fail(f"{label}: no warning with {case.needles}; warnings {warnings[:3]}")
        return
    missing = [n for n in case.needles if n not in message]
    if missing or "\n" in message:
        row.fail(f"{label}: message lacks {missing}: {message!r:.300}")


def daemon_cases(row: Row) -> None:
    with tempfile.TemporaryDirectory(prefix="imagegen-hostile-") as tmp:
        outer = Path(tmp).resolve()
        root = outer / "outputs"
        root.mkdir()
        staging = outer / "staging"  # built here, renamed in whole: the daemon sees it done
        staging.mkdir()
        outside = outer / "outside"
        make_outside(outside)
        d = DaemonProcess(
            root,
            config=(
                f"[frame]\nwidth = {FRAME}\nheight = {FRAME}\n"
                '[image]\nprovider = "offline"\n[prompt]\nwriter = "template"\n'
            ),
            settle=0.3,
        )
        # A failed job is retried after this backoff: one job per bad episode, please.
        d.config_path.write_text(
            d.config_path.read_text().replace(
                "[daemon]\n", "[daemon]\nfailure_backoff_seconds = 600\n"
            )
        )
        skip = {root, staging, d.log_path, d.config_path}
        baseline = outside_state(outer, skip)
        try:
            d.start()
            cases = hand_cases()
            for case in cases:
                ep = staging / case.name
                ep.mkdir()
                assert case.build is not None
                case.build(ep, outside)
                os.rename(ep, root / case.name)
            # An episode dir that is itself a symlink out of the root.
            (root / "ep-link").symlink_to(outside / "ep-target", target_is_directory=True)
            row.runs += len(cases) + 1
            wait_all(d, [c.name for c in cases], DAEMON_TIMEOUT)
            for case in cases:
                check_hand_case(row, d, case)
                if case.cleanup is not None:
                    case.cleanup(root / case.name)
            # A FIFO named chapters.json, then a good episode: the good one must be
            # served whatever the FIFO does to the daemon (one wait for both keeps a
            # hang from costing two timeouts).
            fifo = staging / "fifo"
            fifo.mkdir()
            os.mkfifo(fifo / "chapters.json")
            os.rename(fifo, root / "fifo")
            time.sleep(1.0)  # past the settle time: the FIFO's job is due first
            good = staging / "good"
            good.mkdir()
            (good / "chapters.json").write_bytes(_valid("good", 3))
            os.rename(good, root / "good")
            row.runs += 2
            wait_all(d, ["fifo", "good"], 25)
            fifo_case = HandCase("fifo", None, "failed", ("chapters.json", "regular file"))
            check_hand_case(row, d, fifo_case)
            check_hand_case(row, d, HandCase("good", None, "ok", ()))
            if not d.jobs("good") and not d.jobs("fifo"):
                row.notes.append(
                    f"daemon: main loop blocked after the FIFO: {main_thread_state(d)}"
                )
            # The symlinked episode must be refused out loud, like every other trap.
            link_jobs = d.jobs("ep-link")
            if not link_jobs:
                row.fail(
                    "daemon 'ep-link' (episode dir symlinked out of the root): ignored "
                    "silently, no job_finished and no log line names it"
                )
            elif not (
                link_jobs[0].get("status") == "failed"
                and "not inside the outputs root" in str(link_jobs[0].get("message"))
            ):
                row.fail(f"daemon 'ep-link': {link_jobs[0]!r:.300}")
            if d.proc is not None and d.proc.poll() is not None:
                row.daemon_crashes += 1
                row.notes.append(f"daemon exited {d.proc.returncode}: {d.tail(5)!r:.400}")
            stray = [
                e.get("line", "")
                for e in d.events()
                if e.get("event") == "raw" and "Traceback" in str(e.get("line"))
            ]
            if stray:
                row.fail(f"daemon printed a traceback outside its JSON log: {stray[0]!r:.200}")
        finally:
            d.kill()
        changed = diff(baseline, outside_state(outer, skip))
        row.writes_outside_root += len(changed)
        if changed:
            row.notes.append(f"daemon: changed outside the root: {changed[:8]}")
        for ep in root.iterdir():
            if ep.is_dir() and not ep.is_symlink():
                bad = corrupt_files(ep)
                row.corrupt_files += len(bad)
                row.notes.extend(bad[: max(0, 20 - len(row.notes))])


def run(full: bool) -> Row:
    row = Row(SCENARIO)
    with clean_environment(), quiet_logs():
        fuzz(row, FULL_CASES if full else SHORT_CASES)
    daemon_cases(row)
    return row


if __name__ == "__main__":
    import sys

    print(run(full="--full" in sys.argv))
