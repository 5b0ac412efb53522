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

import difflib
import re
import unicodedata
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
    """A word of English or Turkish (in wordfreq's small lists: about 30,000 each)."""
    import wordfreq  # ~0.1 s: loaded by warm_up beside the first image call, not at import

    return any(wordfreq.zipf_frequency(word, lang, wordlist="small") > 0 for lang in LANGUAGES)


def warm_up() -> None:
    """Load wordfreq and both word lists now (about 0.15 s), not in a candidate's
    checks."""
    import wordfreq

    for lang in LANGUAGES:
        wordfreq.zipf_frequency("warm", lang, wordlist="small")


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
