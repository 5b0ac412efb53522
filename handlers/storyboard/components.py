"""The template planner's component sheet: the characters, locations and props an
episode's words name, from a fixed catalogue with one short visual description each, so
the same word gives the same look in every clip (free, deterministic, no key).

And the rule every planner's sheet goes through: a component the previous sheet had
keeps its name and description (frames were drawn from them; an LLM rewording them
would repaint every clip), only the chapters it appears in follow the input."""

from __future__ import annotations

from dataclasses import dataclass

from handlers.drawing.keywords import words
from handlers.episode.chapters import Chapter
from handlers.storyboard.model import Component, Components


@dataclass(frozen=True)
class Entry:
    kind: str  # "character", "location", "prop"
    id: str
    name: str
    description: str
    # Folded words ("word*": a prefix); visual types that bring it by themselves.
    keywords: tuple[str, ...] = ()
    types: tuple[str, ...] = ()


CATALOGUE: tuple[Entry, ...] = (
    Entry(
        "character", "presenter", "The presenter",
        "the channel's presenter: short dark-brown hair, navy jacket over a light-blue "
        "shirt, friendly, seated at a wooden desk",
        ("sunucu*", "presenter*", "host", "anlatici*"), ("talking_head",),
    ),
    Entry(
        "character", "shepherd", "The shepherd",
        "a weathered shepherd in a brown wool coat and flat cap, holding a wooden crook",
        ("coban*", "shepherd*"),
    ),
    Entry(
        "character", "farmer", "The farmer",
        "a farmer in a green work jacket and straw hat, carrying a sack of grain",
        ("ciftci*", "farmer*", "koylu*"),
    ),
    Entry(
        "character", "trader", "The market trader",
        "a market trader in a striped apron and rolled-up sleeves behind a wooden stall",
        ("tuccar*", "satici*", "esnaf*", "trader*", "merchant*", "seller*"),
    ),
    Entry(
        "character", "user", "The app user",
        "a young adult in a mustard-yellow sweater, holding a black smartphone",
        ("kullanici*", "user", "users", "musteri*", "customer*"),
    ),
    Entry(
        "character", "townspeople", "The townspeople",
        "a small crowd of townspeople in simple clothes in muted earth tones",
        ("insan*", "kisi", "kisiler*", "halk", "halki", "kalabalik*", "people*", "crowd*"),
    ),
    Entry(
        "location", "studio", "The studio",
        "the channel's studio: a warm grey wall with a bookshelf, a framed picture and a "
        "potted plant behind a wooden desk",
        ("studyo*", "studio*"), ("talking_head",),
    ),
    Entry(
        "location", "market", "The old market square",
        "an old open-air market square: wooden stalls under striped awnings, cobblestones, "
        "warm afternoon light",
        ("pazar*", "market*", "carsi*", "bazaar*", "bazar*", "tezgah*"),
    ),
    Entry(
        "location", "city", "The city street",
        "a modern city street with glass office towers and a stone bank with columns, "
        "overcast daylight",
        ("sehir*", "kent", "kentte*", "city", "cities", "banka*", "bank", "banks", "cadde*"),
    ),
    Entry(
        "location", "village", "The village",
        "rolling green hills with a small village of white houses and red roofs under a "
        "clear sky",
        ("koy", "koyde", "koyler*", "village*", "tarla*", "field*"),
    ),
    Entry(
        "location", "board", "The explainer board",
        "a clean off-white explainer board with soft shadows, flat vector shapes in orange, "
        "navy and teal",
        (), ("diagram",),
    ),
    Entry(
        "prop", "coin", "The coin",
        "a shiny gold coin with a simple engraved emblem and no lettering",
        ("coin*", "bitcoin*", "madeni", "para", "paranin", "parayi", "money", "kripto*"),
    ),
    Entry(
        "prop", "phone", "The smartphone",
        "a black smartphone with rounded corners showing a clean wallet app",
        ("telefon*", "phone*", "smartphone*", "mobil*", "uygulama*", "app", "apps", "cuzdan*"),
        ("screen_share",),
    ),
    Entry(
        "prop", "laptop", "The laptop",
        "a slim silver laptop with a dark keyboard",
        ("bilgisayar*", "laptop*", "computer*", "dizustu*"),
    ),
    Entry(
        "prop", "blocks", "The chain of blocks",
        "glowing orange cubes linked one after another by short bright arrows",
        ("blok*", "block*", "zincir*", "chain*", "hash*"),
    ),
    Entry(
        "prop", "ledger", "The ledger book",
        "a thick leather-bound ledger book lying open, its pages ruled in columns",
        ("defter*", "ledger*", "kayit*", "record*"),
    ),
    Entry(
        "prop", "goods", "The goods for barter",
        "woven baskets of wheat, a clay jar of olive oil and a bundle of wool",
        ("takas*", "barter*", "bugday*", "wheat*", "yun", "wool*"),
    ),
    Entry(
        "prop", "chart", "The price chart",
        "a rising orange line chart on a white panel",
        ("grafik*", "chart*", "graph*", "fiyat*", "price*", "enflasyon*", "inflation*"),
    ),
)  # fmt: skip


def _matches(word: str, keyword: str) -> bool:
    return word.startswith(keyword[:-1]) if keyword.endswith("*") else word == keyword


def _named_in(entry: Entry, chapter_words: set[str], visual_types: set[str]) -> bool:
    if visual_types & set(entry.types):
        return True
    return any(_matches(w, k) for w in chapter_words for k in entry.keywords)


def chapter_text(chapter: Chapter) -> str:
    """What a chapter says about what is seen: title, every visual, narration."""
    visuals = chapter.visuals or [chapter.main_visual]
    parts = [chapter.title, *(v.description for v in visuals), chapter.narration.text]
    return "\n".join(parts)


def template_sheet(chapters: list[Chapter]) -> Components:
    """The catalogue's components each chapter's words (or visual types) name."""
    found: dict[str, tuple[Entry, list[str]]] = {}
    for ch in chapters:
        chapter_words = set(words(chapter_text(ch)))
        types = {v.type for v in (ch.visuals or [ch.main_visual])}
        for entry in CATALOGUE:
            if _named_in(entry, chapter_words, types):
                found.setdefault(entry.id, (entry, []))[1].append(ch.chapter_id)
    sheet = Components()
    lists = {"character": sheet.characters, "location": sheet.locations, "prop": sheet.props}
    for entry, chapter_ids in found.values():
        lists[entry.kind].append(
            Component(
                id=entry.id, name=entry.name, description=entry.description, chapters=chapter_ids
            )
        )
    return sheet


def keep_known(new: Components, previous: Components | None, chapter_ids: list[str]) -> Components:
    """`new` with every component the previous sheet had keeping its name and
    description, its chapters limited to the episode's, and descriptions on one line
    (they go into prompts word for word)."""
    known = previous.by_id() if previous is not None else {}
    valid = set(chapter_ids)
    seen: set[str] = set()  # an id once, whatever list a planner put it in again

    def settle(components: list[Component]) -> list[Component]:
        out = []
        for c in components:
            if c.id in seen:
                continue
            seen.add(c.id)
            old = known.get(c.id)
            out.append(
                Component(
                    id=c.id,
                    name=" ".join((old.name if old else c.name).split()),
                    description=" ".join((old.description if old else c.description).split()),
                    chapters=[cid for cid in dict.fromkeys(c.chapters) if cid in valid],
                )
            )
        return out

    return Components(
        characters=settle(new.characters),
        locations=settle(new.locations),
        props=settle(new.props),
    )
