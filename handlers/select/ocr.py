"""Read the words in an image with Tesseract (English and Turkish models).

tesserocr keeps one Tesseract engine loaded in the process: the command line that
pytesseract runs would load both language models again for every image, about
150-350 ms here before a word is read, which alone is over the budget of a whole
candidate's checks. The language data is Debian's (tesseract-ocr-eng,
tesseract-ocr-tur), installed by scripts/install-system-deps."""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from PIL import Image

LANGUAGES = "eng+tur"
MIN_CONFIDENCE = 50.0
# Read at this width: on this project's frames Tesseract's page layout finds both dark
# text on light and light text on a dark band at 1280 px, and misses or splits some at
# 1920 (and takes twice as long).
MAX_WIDTH = 1280
_TESSDATA_GLOBS = ("/usr/share/tesseract-ocr/*/tessdata", "/usr/share/tessdata")

# One engine for the process, lent to one reader at a time. A second one would let two
# candidates be read at once, for about 25 MB more held for the process's life (the
# daemon's); reading takes 20-80 ms of a candidate's checks, which the other CPU slot
# spends measuring and encoding meanwhile.
_lock = threading.Lock()
_loaded: list[Any] = []  # the engine, once made


class OCRUnavailable(Exception):
    """No OCR here; the message says what to install."""


@dataclass(frozen=True)
class Word:
    text: str
    confidence: float


def tessdata_dir() -> str:
    env = os.environ.get("TESSDATA_PREFIX")
    candidates = [env] if env else []
    for pattern in _TESSDATA_GLOBS:
        candidates.extend(sorted(glob.glob(pattern), reverse=True))
    for directory in candidates:
        if all(
            os.path.isfile(os.path.join(directory, f"{lang}.traineddata"))
            for lang in LANGUAGES.split("+")
        ):
            return directory
    raise OCRUnavailable(
        "Tesseract language data for English and Turkish not found; install the Debian "
        "packages tesseract-ocr-eng and tesseract-ocr-tur (scripts/install-system-deps "
        "does), or set selection.ocr = false"
    )


def _quiet_leptonica(tesserocr_module: Any) -> None:
    """Leptonica (under Tesseract) prints "Error in boxClipToRectangle ..." to stderr for
    harmless layout oddities of some images; under systemd that is journal noise with no
    context. Lower its message severity to none (L_SEVERITY_NONE = 6) where its library
    can be found; harmless to skip when it cannot."""
    candidates = glob.glob(
        os.path.join(
            os.path.dirname(tesserocr_module.__file__), "..", "tesserocr.libs", "libleptonica*"
        )
    )
    found = ctypes.util.find_library("leptonica") or ctypes.util.find_library("lept")
    for path in [*candidates, *([found] if found else [])]:
        try:
            ctypes.CDLL(path).setMsgSeverity(6)
            return
        except (OSError, AttributeError):
            continue


@contextmanager
def _engine() -> Iterator[Any]:
    with _lock:
        if not _loaded:
            try:
                import tesserocr
            except ImportError as e:
                raise OCRUnavailable(
                    f"the tesserocr package cannot be loaded ({e}); reinstall imagegen's "
                    "Python dependencies, or set selection.ocr = false"
                ) from None
            _quiet_leptonica(tesserocr)
            _loaded.append(
                tesserocr.PyTessBaseAPI(path=tessdata_dir(), lang=LANGUAGES, psm=tesserocr.PSM.AUTO)
            )
        yield _loaded[0]


def warm_up() -> None:
    """Load one engine now (about 0.3 s of CPU) so the first candidate does not wait for
    it; a run starts this beside its first paid call."""
    try:
        with _engine():
            pass
    except OCRUnavailable:
        pass  # said once per candidate where it matters, by the text check


def read_words(image: Image.Image) -> list[Word]:
    """Every word Tesseract is reasonably sure of (confidence >= MIN_CONFIDENCE)."""
    from tesserocr import RIL, iterate_level

    gray = image.convert("L")
    if gray.width > MAX_WIDTH:
        gray = gray.resize((MAX_WIDTH, round(gray.height * MAX_WIDTH / gray.width)))
    words: list[Word] = []
    with _engine() as engine:
        engine.SetImage(gray)
        engine.Recognize()
        iterator = engine.GetIterator()
        if iterator is None:
            return words
        for item in iterate_level(iterator, RIL.WORD):
            try:
                text = item.GetUTF8Text(RIL.WORD)
            except RuntimeError:  # an empty word box
                continue
            confidence = float(item.Confidence(RIL.WORD))
            if text.strip() and confidence >= MIN_CONFIDENCE:
                words.append(Word(text.strip(), confidence))
    return words
