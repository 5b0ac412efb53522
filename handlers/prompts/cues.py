"""Word cues the rule-based critic looks for in a prompt: a heuristic, said so in every
trace it writes. English cue lists, plus a few Turkish endings and words because the
chapters' own descriptions (quoted in template prompts) are Turkish.

Matching is on casefolded words; "İ" is folded to "i" first so that Turkish words keep
their letters (plain casefold() would split "İnsanlar" at a combining dot)."""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")


def word_set(text: str) -> frozenset[str]:
    """A set of words written as one string (easier to read and extend than a list)."""
    return frozenset(text.split())


def fold(text: str) -> str:
    return text.replace("İ", "i").casefold()


def words(text: str) -> list[str]:
    return _WORD.findall(fold(text))


def phrase_in(text: str, phrase: str) -> bool:
    """A whole-word phrase ("wide shot", "16:9") in folded text."""
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text) is not None


def any_phrase(text: str, phrases: tuple[str, ...]) -> str | None:
    return next((p for p in phrases if phrase_in(text, p)), None)


# -- completeness ---------------------------------------------------------------------

STOP_WORDS = word_set(
    "the and with for from that this into onto its their his her are was "
    "bir ile için gibi çok daha olan veya ama"
)
SETTING_WORDS = word_set(
    "background backdrop setting scene environment interior indoors indoor outdoors outdoor "
    "landscape room street market marketplace bazaar office desk table studio city town "
    "village field farm hall kitchen classroom shop store square harbour harbor surface sky "
    "forest mountain river sea beach home house workshop countryside "
    "pazar oda sokak ofis masa şehir köy tarla mutfak"
)
SETTING_PHRASES = ("in a", "in an", "at a", "on a", "inside a", "against a")
ACTION_WORDS = word_set(
    "show shows showing linked connected connects flow flows arrow arrows moving moves leads "
    "points holds exchanges trades sends taps talks speaks explains caught mid-action "
    "highlighted pressed step steps akış bağlı "
    # Common Turkish participles ("takas yapan insanlar": people who trade).
    "yapan eden veren alan gelen giden konuşan çalışan gösteren koşan satan gönderen "
    "yarışan bakan tutan"
)
_NOT_ACTIONS = word_set(
    "lighting thing something anything nothing everything building ceiling morning evening "
    "setting clothing string spring king ring wing during interesting amazing stunning "
    "bring sibling"
)
# Turkish verb forms: present continuous, participles, verbal nouns.
_TURKISH_ACTION_ENDINGS = (
    "yor",
    "yan",
    "yen",
    "dığı",
    "diği",
    "duğu",
    "düğü",
    "tığı",
    "tiği",
    "tuğu",
    "tüğü",
    "mayı",
    "meyi",
)


def is_action(word: str) -> bool:
    if word in ACTION_WORDS:
        return True
    if len(word) >= 5 and word.endswith("ing") and word not in _NOT_ACTIONS:
        return True
    return len(word) >= 5 and word.endswith(_TURKISH_ACTION_ENDINGS)


def is_setting(word: str) -> bool:
    # Turkish locative: "pazar yerinde", "uygulamasında".
    return word in SETTING_WORDS or (len(word) >= 6 and word.endswith(("nde", "nda")))


# -- specificity ----------------------------------------------------------------------

COLOUR_WORDS = word_set(
    "red orange yellow green blue purple violet pink brown black white grey gray teal "
    "turquoise cyan magenta navy beige cream gold golden silver amber crimson indigo ochre "
    "pastel kırmızı turuncu sarı yeşil mavi mor pembe kahverengi siyah beyaz gri lacivert"
)
COUNT_WORDS = word_set(
    "one two three four five six seven eight nine ten eleven twelve single pair dozen both "
    "iki üç dört beş yedi sekiz dokuz"
)
# Vague English words and what the rule-based writer puts instead ("" drops the word).
VAGUE_WORDS = {
    "beautiful": "",
    "nice": "",
    "good": "",
    "great": "",
    "amazing": "",
    "awesome": "",
    "interesting": "",
    "stunning": "",
    "epic": "",
    "various": "",
    "random": "",
    "some": "",
    "something": "an object",
    "stuff": "objects",
    "things": "objects",
    "thing": "object",
    "etc": "",
}

# -- professionalism ------------------------------------------------------------------

TEXT_WORDS = word_set(
    "text texts word words letter letters lettering label labels labelled labeled caption "
    "captions headline typography writing written numbers logo logos"
)
NEGATIONS = word_set("no without never not avoid zero free")
# Trademarks an image model should not draw, and the generic thing the writer names
# instead. Ambiguous words (apple, amazon, windows, visa) are left out on purpose.
BRANDS = {
    "iphone": "generic smartphone",
    "ipad": "generic tablet",
    "android": "generic smartphone",
    "samsung": "generic smartphone",
    "macbook": "generic laptop",
    "coca-cola": "generic soft drink",
    "pepsi": "generic soft drink",
    "nike": "generic sportswear",
    "adidas": "generic sportswear",
    "mcdonald's": "generic fast-food",
    "starbucks": "generic café",
    "mastercard": "generic payment card",
    "paypal": "generic wallet app",
    "binance": "generic wallet app",
    "coinbase": "generic wallet app",
    "metamask": "generic wallet app",
    "revolut": "generic banking app",
    "google": "generic app",
    "microsoft": "generic software",
    "facebook": "generic social app",
    "instagram": "generic social app",
    "twitter": "generic social app",
    "tiktok": "generic social app",
    "youtube": "generic video app",
    "whatsapp": "generic chat app",
    "tesla": "generic electric car",
    "disney": "generic cartoon",
    "marvel": "generic comic",
}
RISK_WORDS = word_set(
    "blood bloody gore gun guns rifle pistol weapon weapons knife knives kill killing killed "
    "murder corpse nude naked nsfw sexy cocaine heroin drugs suicide bomb terrorist "
    "swastika"
)


def text_requests(text: str) -> list[str]:
    """Words asking for written text that no negation ("no text", "without labels",
    "text-free") covers."""
    found = []
    tokens = words(text)
    for i, word in enumerate(tokens):
        if word.endswith("-free"):
            continue
        if word in TEXT_WORDS and not NEGATIONS.intersection(tokens[max(0, i - 6) : i]):
            found.append(word)
    return found


# -- cinematography -------------------------------------------------------------------

CAMERA_WORDS = word_set(
    "shot angle view lens isometric perspective overhead top-down aerial close-up closeup "
    "panoramic eye-level bird's-eye three-quarter macro"
)
COMPOSITION_WORDS = word_set(
    "left right centre center centred centered foreground middle thirds focal symmetrical "
    "symmetric balanced diagonal framed"
)
OVERLAY_PHRASES = (
    "negative space",
    "empty space",
    "copy space",
    "room for",
    "space for",
    "uncluttered",
    "breathing room",
    "plain area",
)
ASPECT_PHRASES = ("16:9", "widescreen", "wide-screen", "landscape format", "horizontal frame")
LIGHT_WORDS = word_set(
    "lighting lit sunlight daylight sunset sunrise shadow shadows shade glow glowing "
    "illuminated backlit ambient moonlight lamp neon ışık ışığı gölge"
)
# "light" is a colour in "light background": only light not followed by one of these.
_LIGHT_AS_COLOUR = re.compile(
    r"(?<![\w-])light(?:\s+|-)(?:background|grey|gray|blue|green|colou?rs?|tones?|wood|"
    r"beige|pink|yellow)(?![\w-])"
)


def has_lighting(text: str) -> bool:
    folded = fold(text)
    if LIGHT_WORDS.intersection(words(folded)):
        return True
    plain = _LIGHT_AS_COLOUR.sub(" ", folded)
    return phrase_in(plain, "light") or phrase_in(plain, "lights")


# -- brand ----------------------------------------------------------------------------


def colour_name(hex_code: str) -> str:
    """A plain English name for "#RRGGBB" ("#F7931A" -> "orange"): image models follow
    colour names far better than hex codes, and a code may be drawn as text."""
    r, g, b = (int(hex_code[i : i + 2], 16) / 255 for i in (1, 3, 5))
    high, low = max(r, g, b), min(r, g, b)
    saturation = 0.0 if high == 0 else (high - low) / high
    if saturation < 0.15:
        return "white" if high > 0.9 else "black" if high < 0.15 else "grey"
    span = high - low
    if high == r:
        hue = (60 * ((g - b) / span)) % 360
    elif high == g:
        hue = 60 * ((b - r) / span) + 120
    else:
        hue = 60 * ((r - g) / span) + 240
    names = (
        (15, "red"),
        (45, "orange"),
        (70, "yellow"),
        (165, "green"),
        (190, "teal"),
        (250, "blue"),
        (290, "purple"),
        (335, "pink"),
        (360, "red"),
    )
    name = next(n for limit, n in names if hue < limit)
    if name == "orange" and high < 0.55:
        return "brown"
    return name
