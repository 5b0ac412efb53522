"""What a chapter asks the offline renderer to draw, read from its words.

Descriptions are mostly Turkish and agglutinative ("pazarda", "insanların",
"şehirde"), so a keyword is a word prefix unless it is short enough to start
unrelated words ("ev" would match "evet", "ağ" would match "ağaç"); those are listed
with their usual suffixed forms and matched exactly.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

# Folding to plain ASCII letters lets "ŞEHİR", "şehir" and a hurried "sehir" match the
# same keyword. str.lower() turns "İ" into "i" plus a combining dot (U+0307), which is
# dropped; dotless "ı" becomes "i" so upper-case "I" and Turkish "ı" agree.
_FOLD = str.maketrans(
    {
        "ı": "i",
        "ş": "s",
        "ç": "c",
        "ğ": "g",
        "ö": "o",
        "ü": "u",
        "â": "a",
        "î": "i",
        "û": "u",
        "\u0307": None,
    }
)
_WORD = re.compile(r"[a-z0-9]+")

# subject -> keywords; "word*" matches words starting with "word", "word" only itself.
# Written folded (no Turkish letters), like the text they are compared with.
SUBJECT_WORDS: dict[str, tuple[str, ...]] = {
    "market": (
        "pazar*", "market*", "carsi*", "bazaar*", "bazar*", "tezgah*", "stall*", "dukkan*",
        "shop", "shops", "shopping", "esnaf*", "manav*", "seller*",
    ),
    "people": (
        "insan*", "kisi", "kisiler*", "kisinin", "kisiye", "people*", "person*", "crowd*",
        "kalabalik*", "halk", "halki", "adam", "adamlar*", "kadin*", "erkek*", "man", "men",
        "woman", "women", "cocuk*", "child*", "kids", "musteri*", "customer*", "satici*",
        "ciftci*", "farmer*", "coban*", "shepherd*", "user", "users", "kullanici*", "aile*",
        "family", "families", "topluluk*", "community", "ogrenci*", "student*", "tuccar*",
        "trader*", "merchant*", "vatandas*", "citizen*",
    ),
    "city": (
        "sehir*", "kent", "kentler*", "kentte*", "kentin", "kentsel", "city", "cities",
        "skyline*", "town*", "kasaba*", "bina*", "building*", "cadde*", "street*", "sokak*",
        "downtown", "metropol*", "istanbul*", "gokdelen*", "skyscraper*",
    ),
    "phone": (
        "telefon*", "phone*", "smartphone*", "mobil*", "mobile*", "app", "apps", "uygulama*",
        "cep", "iphone*", "android*",
    ),
    "coin": (
        "madeni", "coin*", "bitcoin*", "btc", "para", "paralar*", "parasi*", "paranin",
        "parayi", "parada", "paraya", "paradan", "parasal", "money", "cash", "nakit*",
        "kripto*", "crypto*", "cuzdan*", "wallet*", "dolar*", "dollar*", "lira*", "euro*",
        "satoshi*",
    ),
    "computer": (
        "bilgisayar*", "laptop*", "computer*", "pc", "dizustu*", "masaustu*", "desktop*",
    ),
    "chart": (
        "grafik*", "chart*", "graph*", "istatistik*", "statistic*", "fiyat*", "price*",
        "enflasyon*", "inflation*", "trend*",
    ),
    "network": (
        "ag", "agi", "aga", "agin", "agda", "agdaki", "aglar*", "network*", "node*",
        "dugum*", "p2p", "peer*",
    ),
    "block": ("blok*", "block*", "zincir*", "chain*", "hash*", "defter*", "ledger*"),
    "bank": ("banka*", "bank", "banks", "banking", "banker*", "vault*"),
    "house": (
        "ev", "evi", "eve", "evde", "evin", "evler*", "house*", "home*", "konut*", "village*",
        "koyde", "koyler*", "koylu*",
    ),
    "map": (
        "harita*", "map", "maps", "dunya*", "world*", "globe*", "kure*", "ulke*", "country",
        "countries",
    ),
}  # fmt: skip

# Diagram layouts a description can name; the first candidate follows the text.
LAYOUTS: tuple[str, ...] = ("flow", "hub", "stacked", "comparison", "timeline")
LAYOUT_WORDS: dict[str, tuple[str, ...]] = {
    "flow": ("akis*", "flow*", "adim*", "step*", "surec*", "process*", "pipeline*"),
    "hub": ("merkez*", "hub", "hubs", "ekosistem*", "ecosystem*", "central*"),
    "stacked": ("katman*", "layer*", "stack*", "yigin*", "hiyerarsi*", "hierarch*", "piramit*"),
    "comparison": (
        "karsilastir*", "compar*", "versus", "vs", "fark*", "differ*", "kiyas*", "contrast*",
    ),
    "timeline": (
        "zaman*", "timeline*", "tarih*", "history*", "kronoloji*", "chronolog*", "evrim*",
        "evolution*", "yil", "yillar*", "year*",
    ),
}  # fmt: skip


def fold(text: str) -> str:
    """Lower-case and strip Turkish letters to ASCII, for matching only (never drawn)."""
    return text.lower().translate(_FOLD)


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def _matches(word: str, keyword: str) -> bool:
    if keyword.endswith("*"):
        return word.startswith(keyword[:-1])
    return word == keyword


def _named(text: str, table: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Keys of ``table`` whose keywords occur in ``text``, in order of first mention
    ("Banka ile Bitcoin" puts the bank first, as a comparison's left column)."""
    found = words(text)
    first: dict[str, int] = {}
    for position, word in enumerate(found):
        for key, keywords in table.items():
            if key not in first and any(_matches(word, keyword) for keyword in keywords):
                first[key] = position
    return tuple(sorted(first, key=first.__getitem__))


def subjects_in(text: str) -> tuple[str, ...]:
    """The things ``text`` names, as SUBJECT_WORDS keys in order of first mention:
    "Pazarda insanlar" -> ("market", "people")."""
    return _named(text, SUBJECT_WORDS)


def layout_named(text: str) -> str | None:
    """The diagram layout ``text`` asks for, if any: "akış diyagramı" -> "flow"."""
    named = _named(text, LAYOUT_WORDS)
    return named[0] if named else None


@dataclass(frozen=True)
class Ask:
    """What one image should show, and which of the chapter's candidates it is.

    ``variant`` (0-based candidate) and ``base`` (the same for every candidate of a
    chapter) pick layout, palette and composition by rotation, not by chance, so the
    first three candidates of a chapter never share one.
    """

    subjects: tuple[str, ...] = ()
    layout: str | None = None
    variant: int = 0
    base: int = 0

    def has(self, *subjects: str) -> bool:
        return any(subject in self.subjects for subject in subjects)

    def pick(self, options: Sequence[T], salt: int, first: int | None = None) -> T:
        """Option for this candidate: consecutive candidates take consecutive options,
        starting at ``first`` (what the text asked for) or at a chapter-stable offset."""
        start = first if first is not None else (self.base >> (7 * salt)) % len(options)
        return options[(start + self.variant) % len(options)]


def ask_for(title: str, description: str, variant: int, base: int) -> Ask:
    text = f"{description}\n{title}"
    return Ask(subjects_in(text), layout_named(text), max(0, variant), base)
