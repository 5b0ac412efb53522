"""Deterministic checks of one candidate. A candidate that fails any of them is never
selected, whatever a judge says. Each check records what it measured and its limit,
so the review page and the manifest can say exactly why.

The limits were set on this project's own images: the offline renderer's three
visual types, both templates and 300 clean images of the test fake (sharpness 57 at
the lowest) pass; a blank frame, a Gaussian blur of radius 5 at 1080p (sharpness 17-30),
a frame pushed to black and one whose top half is a flat fill all fail
(tests/test_select_checks.py keeps them so)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PIL import Image

from handlers.outputs.manifest import Check
from handlers.select import ocr, words
from handlers.select.measures import Measures, measure
from handlers.select.words import TextFindings, assess

if TYPE_CHECKING:
    import imagehash

MIN_STD = 12.0
MAX_FLAT = 0.97
MAX_BLACK = 0.4
MAX_WHITE = 0.6
MEAN_RANGE = (15.0, 245.0)
MIN_EDGES = 40.0
MAX_FLAT_BAND = 0.35
MIN_HASH_DISTANCE = 7  # of 64 bits: closer is the same picture again
ASPECT_TOLERANCE = 0.03
MAX_GARBLED = 0.4
MIN_WORDS_FOR_GARBLED = 3
# Visuals whose text OCR reads back: diagrams and screens carry labels, templates the title.
TEXT_VISUALS = frozenset({"diagram", "screen_share", "title_card", "talking_head"})


@dataclass
class CheckedImage:
    checks: list[Check]
    measures: Measures
    text: TextFindings | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def score(self) -> float:
        """0-100 from the measures: contrast, sharpness, exposure, and the text's share
        of the chapter's own words where text was read."""
        m = self.measures
        parts = [
            min(1.0, m.std / 50.0),
            min(1.0, m.edges / 150.0),
            1.0 - min(1.0, 2 * max(m.black - 0.1, 0.0) + 2 * max(m.white - 0.3, 0.0)),
            1.0 - min(1.0, m.flat_band / 0.5),
        ]
        if self.text is not None and self.text.words:
            parts.append(self.text.matched * (1.0 - self.text.garbled))
        return round(100.0 * sum(parts) / len(parts), 1)


def check_image(
    image: Image.Image,
    *,
    visual_type: str,
    vocab: set[str],
    native_size: tuple[int, int],
    expected_size: tuple[int, int] | None,
    siblings: dict[str, imagehash.ImageHash],
    read_text: bool,
) -> CheckedImage:
    """`image` is the frame as it will be written; `native_size` what the provider
    returned, `expected_size` what it was asked for (None: any)."""
    m = measure(image)
    result = CheckedImage(_picture_checks(m, native_size, expected_size, siblings), m)
    if read_text and visual_type in TEXT_VISUALS:
        try:
            result.text = assess([w.text for w in ocr.read_words(image)], vocab)
        except ocr.OCRUnavailable as e:
            result.notes.append(f"text not checked: {e}")
            return result
        result.checks.append(_text_check(result.text))
    return result


def check_template_text(
    image: Image.Image,
    text_boxes: Sequence[tuple[int, int, int, int]],
    *,
    visual_type: str,
    vocab: set[str],
) -> list[Check]:
    """Templates are ours and deterministic: only their text is checked (a flat brand
    card is by design, so the picture measures would say nothing), read in the boxes
    where it was drawn."""
    if visual_type not in TEXT_VISUALS:
        return []
    found: list[str] = []
    try:
        for left, top, right, bottom in text_boxes:
            pad = max(8, (bottom - top) // 4)  # Tesseract wants a margin round the words
            crop = image.crop((left - pad, top - pad, right + pad, bottom + pad))
            found += [w.text for w in ocr.read_words(crop)]
    except ocr.OCRUnavailable:
        return []  # the candidates' checks say so, where text matters
    return [_text_check(assess(found, vocab))]


def warm_up(read_text: bool) -> None:
    """Load what checking a candidate needs (numpy and imagehash, the word lists, and
    with OCR a Tesseract engine: about 0.5 s of CPU) before the first candidate: a run
    calls it beside its first paid call, the daemon once READY."""
    import imagehash  # noqa: F401

    if read_text:  # the word lists (about 19 MB) judge only words OCR read
        words.warm_up()
        ocr.warm_up()


def _picture_checks(
    m: Measures,
    native_size: tuple[int, int],
    expected_size: tuple[int, int] | None,
    siblings: dict[str, imagehash.ImageHash],
) -> list[Check]:
    w, h = native_size
    size_ok, size_limit = True, "any (the provider was asked for no fixed size)"
    if expected_size is not None:
        # What was asked for: its aspect, and not a thumbnail of it.
        ew, eh = expected_size
        want = ew / eh
        size_ok = abs(w / max(h, 1) - want) <= ASPECT_TOLERANCE * want and w * 2 >= ew
        size_limit = f"the aspect of {ew}x{eh}, at least half its width"
    low, high = MEAN_RANGE
    exposure_ok = m.black <= MAX_BLACK and m.white <= MAX_WHITE and low <= m.mean <= high
    closest = min(((m.phash - other, name) for name, other in siblings.items()), default=None)
    checks = [
        Check(
            name="size",
            passed=size_ok,
            value=f"{w}x{h}",
            limit=size_limit,
            detail="" if size_ok else f"the provider returned {w}x{h}",
        ),
        Check(
            name="not_blank",
            passed=m.std >= MIN_STD and m.flat <= MAX_FLAT,
            value=round(m.std, 1),
            limit=f"contrast (std) >= {MIN_STD:g}, flat share <= {MAX_FLAT:g}",
            detail="" if m.std >= MIN_STD else "blank or near-uniform frame",
        ),
        Check(
            name="exposure",
            passed=exposure_ok,
            value=f"mean {m.mean:.0f}, black {m.black:.0%}, white {m.white:.0%}",
            limit=f"black <= {MAX_BLACK:.0%}, white <= {MAX_WHITE:.0%}, mean {low:g}-{high:g}",
            detail="" if exposure_ok else "exposure clipped (too dark or blown out)",
        ),
        Check(
            name="sharpness",
            passed=m.edges >= MIN_EDGES,
            value=round(m.edges, 1),
            limit=f"edge strength >= {MIN_EDGES:g}",
            detail="" if m.edges >= MIN_EDGES else "blurred: no crisp edge anywhere",
        ),
        Check(
            name="framing",
            passed=m.flat_band <= MAX_FLAT_BAND,
            value=round(m.flat_band, 2),
            limit=f"flat band from an edge <= {MAX_FLAT_BAND:.0%} of the frame",
            detail=""
            if m.flat_band <= MAX_FLAT_BAND
            else f"{m.flat_band:.0%} of the frame is empty from one edge (cropped subject?)",
        ),
    ]
    if closest is not None:
        distance, name = closest
        checks.append(
            Check(
                name="distinct",
                passed=distance >= MIN_HASH_DISTANCE,
                value=int(distance),
                limit=f"perceptual hash distance to siblings >= {MIN_HASH_DISTANCE}",
                detail="" if distance >= MIN_HASH_DISTANCE else f"near-duplicate of {name}",
            )
        )
    return checks


def _text_check(text: TextFindings) -> Check:
    garbled = len(text.words) >= MIN_WORDS_FOR_GARBLED and text.garbled > MAX_GARBLED
    if not text.words:
        detail = "no text found"
    else:
        detail = (
            f"{len(text.words)} word(s), {text.matched:.0%} the chapter's own, "
            f"{text.garbled:.0%} garbled"
        )
    return Check(
        name="text",
        passed=not garbled,
        value=round(text.garbled, 2),
        limit=f"garbled share <= {MAX_GARBLED:.0%} (from {MIN_WORDS_FOR_GARBLED} words)",
        detail=detail,
    )
