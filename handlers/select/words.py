"""Words read from an image against the chapter's own words, Turkish-aware.

Folding: Turkish dotted and dotless i are distinct letters (İ/i, I/ı), and Python's
str.lower() gets them wrong ("İ".lower() is "i" plus a combining dot). Matching also
forgives what OCR often drops (the dots and cedillas: ş/s, ğ/g, ı/i) and Turkish
suffixes ("işlem" in the chapter, "işlemler" in the image).

A word that is not the chapter's own is garbled when it is no word of English or
Turkish either: wordfreq's word lists (bundled with the package, no download) know
inflected Turkish forms ("uygulaması", "zinciri") and English terms ("blockchain"),
and not letter soup ("Duzcsl", "Xqzv") or a model's misspellings ("Tranaction")."""

from __future__ import annotations

import bisect
import difflib
import functools
import re
import unicodedata
from array import array
from dataclasses import dataclass

_LETTERS = re.compile(r"[^\W\d_]+", re.UNICODE)
LANGUAGES = ("en", "tr")
MIN_LETTERS = 3
PREFIX = 4
FUZZY = 0.8


def turkish_fold(text: str) -> str:
    """Lower case the Turkish way: İ -> i, I -> ı, then the rest."""
    return unicodedata.normalize("NFC", text).replace("İ", "i").replace("I", "ı").lower()


def match_key(word: str) -> str:
    """A loose key: folded, then without marks, dotless i as i (what OCR confuses)."""
    decomposed = unicodedata.normalize("NFD", turkish_fold(word).replace("ı", "i"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def tokens(text: str) -> list[str]:
    """Runs of letters, at least MIN_LETTERS long (shorter ones are mostly OCR noise)."""
    return [t for t in _LETTERS.findall(text) if len(t) >= MIN_LETTERS]


def vocabulary(*texts: str | None) -> set[str]:
    return {match_key(t) for text in texts if text for t in tokens(text)}


def matches(word: str, vocab: set[str]) -> bool:
    key = match_key(word)
    if key in vocab:
        return True
    for known in vocab:
        if (
            len(key) >= PREFIX
            and len(known) >= PREFIX
            and (key.startswith(known) or known.startswith(key))
        ):
            return True
        if (
            abs(len(known) - len(key)) <= 2
            and difflib.SequenceMatcher(None, key, known).ratio() >= FUZZY
        ):
            return True
    return False


def is_word(word: str) -> bool:
    """A word of English or Turkish (in wordfreq's small lists: about 29,000 and 63,000),
    exactly as `wordfreq.zipf_frequency(word, lang, wordlist="small") > 0` decides it."""
    from wordfreq.tokens import lossy_tokenize  # loaded by warm_up, beside the first call

    for lang in LANGUAGES:
        known = _known(lang)
        found = lossy_tokenize(word, lang)
        if found and all(_contains(known, hash(t)) for t in found):
            return True
    return False


def warm_up() -> None:
    """Load wordfreq's tokenizer and both word tables now (about 0.2 s), not in a
    candidate's checks."""
    from wordfreq.tokens import lossy_tokenize

    for lang in LANGUAGES:
        _known(lang)
        lossy_tokenize("warm", lang)


@functools.cache
def _known(lang: str) -> array[int]:
    """The language's words as their sorted hashes: 8 bytes a word, 0.7 MB for both
    languages. wordfreq's own lookup keeps the list and a dictionary of the words for
    the process's life: measured after loading both, +11 MB of RSS against +4 MB for
    these (reading the lists included), in every run and in the daemon. `hash` of a
    str is fixed for a process's life, and a word outside the list that shares a
    word's 64-bit hash is a chance of about 1 in 10^14."""
    import wordfreq

    path = wordfreq.available_languages(wordlist="small")[lang]
    return array("q", sorted({hash(w) for bucket in wordfreq.read_cBpack(path) for w in bucket}))


def _contains(table: array[int], value: int) -> bool:
    i = bisect.bisect_left(table, value)
    return i < len(table) and table[i] == value


@dataclass(frozen=True)
class TextFindings:
    words: list[str]
    matched: float  # share of the words found that are the chapter's own
    garbled: float  # share of the words found that are letter soup

    @property
    def text(self) -> str:
        return " ".join(self.words)


def assess(found: list[str], vocab: set[str]) -> TextFindings:
    words = [t for w in found for t in tokens(w)]
    if not words:
        return TextFindings([], 1.0, 0.0)
    own = [w for w in words if matches(w, vocab)]
    garbled = [w for w in words if w not in own and not is_word(w)]
    return TextFindings(words, len(own) / len(words), len(garbled) / len(words))
