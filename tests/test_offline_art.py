"""The offline renderer draws what the description names, makes candidates that
differ, and every image passes the deterministic quality checks' thresholds.

Pillow only: the perceptual hash is computed here, not taken from imagehash, so the
product does not depend on it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable

import pytest
from PIL import Image, ImageChops, ImageStat

from handlers.drawing.broll import scene_for
from handlers.drawing.cards import render_talking_head, render_title_card
from handlers.drawing.keywords import Ask, ask_for, fold, layout_named, subjects_in
from handlers.drawing.market import AWNINGS
from handlers.drawing.offline import OfflineRenderer
from handlers.drawing.people import SKIN
from handlers.drawing.presenter import HAIR
from handlers.drawing.presenter import SKIN as PRESENTER_SKIN
from handlers.providers.base import ImageRequest

# The demo episode's generated chapters: (title, visual type, description).
DEMO = {
    "ch02": ("Takas ve ortak değer", "b_roll", "Eski bir pazar yerinde takas yapan insanlar"),
    "ch03": (
        "Blok zinciri nasıl çalışır?",
        "diagram",
        "Birbirine hash ile bağlı blokların akış diyagramı",
    ),
    "ch04": ("Cüzdan uygulaması", "screen_share", "Mobil cüzdan uygulamasında gönderme ekranı"),
}
# One description per scene and screen the renderer knows, plus nothing at all.
VARIED = [
    ("b_roll", "İstanbul silüeti ve caddede yürüyen insanlar"),
    ("b_roll", "Parkta sohbet eden insanlar"),
    ("b_roll", "Tepelerde evler"),
    ("b_roll", "Masada bilgisayar ve madeni paralar"),
    ("b_roll", ""),
    ("screen_share", ""),
    ("diagram", "Banka ile Bitcoin karşılaştırması"),
    ("diagram", ""),
    ("other", ""),
]


@pytest.fixture(scope="module")
def renderer() -> OfflineRenderer:
    return OfflineRenderer()


def _request(
    visual_type: str,
    description: str,
    candidate: int = 1,
    title: str = "Başlık",
    size: tuple[int, int] = (640, 360),
) -> ImageRequest:
    return ImageRequest(
        chapter_id="ch02",
        title=title,
        visual_type=visual_type,
        prompt=f"{title}. {description}",
        width=size[0],
        height=size[1],
        candidate=candidate,
        description=description,
    )


def _candidates(
    renderer: OfflineRenderer, visual_type: str, description: str, size: tuple[int, int]
) -> list[Image.Image]:
    return [
        renderer.generate(_request(visual_type, description, c, size=size)).image for c in (1, 2, 3)
    ]


# --- measures (Pillow only) --------------------------------------------------------


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def _phash(image: Image.Image) -> list[bool]:
    """The 64-bit perceptual hash (as imagehash.phash computes it): the 8x8 lowest
    frequencies of a 32x32 grey thumbnail's DCT, each above or below their median."""
    small = image.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    pixels = [[float(small.getpixel((x, y))) for x in range(32)] for y in range(32)]  # type: ignore[arg-type]
    cos = [[math.cos(math.pi * k * (2 * n + 1) / 64) for n in range(32)] for k in range(8)]
    # Separable DCT-II: along x for each row, then along y; constant factors don't
    # change which coefficients lie above the median.
    rows = [[sum(row[n] * cos[k][n] for n in range(32)) for k in range(8)] for row in pixels]
    low = [[sum(rows[n][u] * cos[v][n] for n in range(32)) for u in range(8)] for v in range(8)]
    flat = [value for line in low for value in line]
    median = sorted(flat)[31:33]
    threshold = (median[0] + median[1]) / 2
    return [value > threshold for value in flat]


def _distance(a: list[bool], b: list[bool]) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def _lines(image: Image.Image, horizontal: bool) -> Iterable[Image.Image]:
    if horizontal:
        return (image.crop((0, y, image.width, y + 1)) for y in range(image.height))
    return (image.crop((x, 0, x + 1, image.height)) for x in range(image.width))


def _flat_band(gray: Image.Image, tolerance: float = 4.0) -> float:
    """Largest share of the frame covered by near-uniform rows (or columns) that run
    unbroken from one of its edges: a plain sky or wall along an edge."""
    worst = 0.0
    for horizontal in (True, False):
        stds = [ImageStat.Stat(line).stddev[0] for line in _lines(gray, horizontal)]
        length = len(stds)
        for ordered in (stds, stds[::-1]):
            run = next((i for i, std in enumerate(ordered) if std >= tolerance), length)
            worst = max(worst, run / length)
    return worst


def _check_figures(image: Image.Image) -> dict[str, float]:
    gray = image.convert("L")
    stat = ImageStat.Stat(gray)
    histogram = gray.histogram()
    total = gray.width * gray.height
    return {
        "std": stat.stddev[0],
        "mean": stat.mean[0],
        "clipped": (histogram[0] + histogram[255]) / total,
        "band": _flat_band(gray),
    }


def _colours(image: Image.Image) -> set[tuple[int, ...]]:
    found = image.getcolors(maxcolors=image.width * image.height) or []
    return {colour for _, colour in found if isinstance(colour, tuple)}


# --- keyword routing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("Pazar", "market"),
        ("PAZAR", "market"),
        ("pazarda alışveriş", "market"),
        ("Kapalı Çarşı", "market"),
        ("a busy market", "market"),
        ("İnsanlar", "people"),
        ("İNSANLAR", "people"),
        ("insanların", "people"),
        ("a crowd of people", "people"),
        ("ŞEHİR", "city"),
        ("Şehirde", "city"),
        ("sehir", "city"),
        ("city skyline", "city"),
        ("Telefon uygulaması", "phone"),
        ("MOBİL", "phone"),
        ("a mobile app", "phone"),
        ("madeni para", "coin"),
        ("Bitcoin'in", "coin"),
        ("BİLGİSAYAR", "computer"),
        ("fiyat grafiği", "chart"),
        ("blok zinciri", "block"),
        ("eşler arası ağ", "network"),
        ("Merkez Bankası", "bank"),
        ("evler", "house"),
        ("dünya haritası", "map"),
    ],
)
def test_subjects_are_found_in_turkish_and_english(text: str, subject: str) -> None:
    assert subject in subjects_in(text)


@pytest.mark.parametrize(
    "text", ["Takas ve ortak değer", "evet", "ağaç", "Altın", "application form", "Kapanış"]
)
def test_words_that_only_look_like_keywords_name_nothing(text: str) -> None:
    assert subjects_in(text) == ()


def test_folding_handles_dotted_and_dotless_i() -> None:
    assert fold("İNSANLAR") == fold("insanlar") == "insanlar"
    assert fold("ŞEHİR") == "sehir"
    assert fold("ILIK") == fold("ılık") == "ilik"


def test_subjects_keep_the_order_they_were_named_in() -> None:
    assert subjects_in("Eski bir pazar yerinde takas yapan insanlar") == ("market", "people")
    assert subjects_in("Banka ile Bitcoin") == ("bank", "coin")
    assert subjects_in("Bitcoin ile banka") == ("coin", "bank")


def test_layout_named_in_the_description() -> None:
    assert layout_named("Birbirine hash ile bağlı blokların akış diyagramı") == "flow"
    assert layout_named("Banka ile Bitcoin KARŞILAŞTIRMASI") == "comparison"
    assert layout_named("Paranın tarihi") == "timeline"
    assert layout_named("Bir diyagram") is None


@pytest.mark.parametrize(
    ("description", "scene"),
    [
        ("Eski bir pazar yerinde takas yapan insanlar", "market"),
        ("İstanbul silüeti", "city"),
        ("Bir banka binası", "city"),
        ("Parkta insanlar", "outdoors"),
        ("Tepelerde evler", "outdoors"),
        ("Masada madeni paralar", "desk"),
        ("Sakin bir manzara", "landscape"),
        ("", "landscape"),
    ],
)
def test_b_roll_scene_follows_the_description(description: str, scene: str) -> None:
    assert scene_for(ask_for("Başlık", description, 0, 0)) == scene


def test_consecutive_candidates_take_different_options() -> None:
    options = ("a", "b", "c", "d", "e")
    for base in (0, 12345, 2**63 - 1):
        picks = [Ask(variant=v, base=base).pick(options, salt=1) for v in range(3)]
        assert len(set(picks)) == 3
    assert Ask(variant=0, base=99).pick(options, salt=1, first=3) == "d"


# --- what gets drawn ---------------------------------------------------------------


def test_phone_request_draws_a_tall_phone(renderer: OfflineRenderer) -> None:
    for candidate in (1, 2, 3):
        image = renderer.generate(_request("screen_share", "Telefon uygulaması", candidate)).image
        # The phone's body colour outlines a portrait rectangle most of the frame tall.
        body = ImageChops.difference(image, Image.new("RGB", image.size, (28, 30, 34)))
        box = body.convert("L").point(lambda v: 255 if v == 0 else 0).getbbox()
        assert box is not None
        width, height = box[2] - box[0], box[3] - box[1]
        assert height > 1.7 * width
        assert height > 0.7 * image.height * 0.85


def test_phone_and_desktop_differ(renderer: OfflineRenderer) -> None:
    phone = renderer.generate(_request("screen_share", "Telefon uygulaması")).image
    desktop = renderer.generate(_request("screen_share", "Bir web sitesi")).image
    assert _mean_difference(phone, desktop) > 20
    # The desktop window keeps its three title-bar buttons; the phone has none.
    buttons = {(255, 95, 87), (254, 188, 46), (40, 200, 64)}
    assert buttons <= _colours(desktop)
    assert not buttons & _colours(phone)


def test_market_has_striped_awnings_and_people(renderer: OfflineRenderer) -> None:
    market = renderer.generate(_request("b_roll", "Eski bir pazar yerinde insanlar")).image
    landscape = renderer.generate(_request("b_roll", "")).image
    awning_colours = {colour for pair in AWNINGS for colour in pair}
    assert len(awning_colours & _colours(market)) >= 3
    assert not awning_colours & _colours(landscape)
    assert set(SKIN) & _colours(market)
    assert _mean_difference(market, landscape) > 20


@pytest.mark.parametrize("description", ["İnsanlar", "İstanbul silüeti", "Bir pazar"])
def test_named_subject_is_not_the_fallback_landscape(
    renderer: OfflineRenderer, description: str
) -> None:
    for candidate in (1, 2, 3):
        named = renderer.generate(_request("b_roll", description, candidate)).image
        fallback = renderer.generate(_request("b_roll", "", candidate)).image
        assert _mean_difference(named, fallback) > 10


def test_people_are_drawn_with_skin_tones(renderer: OfflineRenderer) -> None:
    image = renderer.generate(_request("b_roll", "Parkta sohbet eden insanlar")).image
    assert set(SKIN) & _colours(image)
    nobody = renderer.generate(_request("b_roll", "Sakin bir manzara")).image
    assert not set(SKIN) & _colours(nobody)


def test_diagram_icons_follow_the_description(renderer: OfflineRenderer) -> None:
    blocks = renderer.generate(_request("diagram", "blok zinciri")).image
    plain = renderer.generate(_request("diagram", "bir süreç")).image
    coins = renderer.generate(_request("diagram", "madeni paralar")).image
    gold = (238, 170, 40)
    assert gold in _colours(coins)
    assert gold not in _colours(blocks)
    assert gold not in _colours(plain)


def test_talking_head_is_a_person() -> None:
    image = render_talking_head("Kapanış", 960, 540).image
    # Face below the hair, hair on top, shirt under the chin: a head, not a bell.
    assert image.getpixel((480, round(540 * 0.42))) == PRESENTER_SKIN
    assert image.getpixel((480, round(540 * 0.28))) == HAIR
    assert image.getpixel((480 - 60, round(540 * 0.45))) != PRESENTER_SKIN  # not a disc


def test_talking_head_draws_the_turkish_title_exactly() -> None:
    exact = render_talking_head("Kapanış ve İçgörü", 960, 540).image
    upper = render_talking_head("KAPANIŞ VE İÇGÖRÜ", 960, 540).image
    folded = render_talking_head("Kapanis ve Icgoru", 960, 540).image
    assert len({exact.tobytes(), upper.tobytes(), folded.tobytes()}) == 3


# --- candidates --------------------------------------------------------------------


@pytest.mark.parametrize("chapter", sorted(DEMO))
def test_demo_candidates_differ_in_pixels_and_perceptually(
    renderer: OfflineRenderer, chapter: str
) -> None:
    title, visual_type, description = DEMO[chapter]
    images = [
        renderer.generate(_request(visual_type, description, c, title, (960, 540))).image
        for c in (1, 2, 3)
    ]
    hashes = [_phash(image) for image in images]
    for (a, ha), (b, hb) in itertools.combinations(zip(images, hashes, strict=True), 2):
        assert _mean_difference(a, b) > 15
        assert _distance(ha, hb) > 12


@pytest.mark.parametrize(("visual_type", "description"), VARIED)
def test_candidates_differ_for_every_scene(
    renderer: OfflineRenderer, visual_type: str, description: str
) -> None:
    images = _candidates(renderer, visual_type, description, (480, 270))
    hashes = [_phash(image) for image in images]
    for (a, ha), (b, hb) in itertools.combinations(zip(images, hashes, strict=True), 2):
        assert _mean_difference(a, b) > 10
        assert _distance(ha, hb) > 10


def test_candidate_is_deterministic_and_keeps_its_number() -> None:
    request = _request("b_roll", "Eski bir pazar yerinde takas yapan insanlar", 2)
    first = OfflineRenderer().generate(request).image.tobytes()
    assert OfflineRenderer().generate(request).image.tobytes() == first
    other = OfflineRenderer().generate(_request("b_roll", request.description, 3))
    assert other.image.tobytes() != first


def test_first_diagram_candidate_is_light_and_second_dark(renderer: OfflineRenderer) -> None:
    light, dark, _ = _candidates(renderer, "diagram", "akış", (480, 270))
    assert ImageStat.Stat(light.convert("L")).mean[0] > 150
    assert ImageStat.Stat(dark.convert("L")).mean[0] < 110


# --- the quality checks' thresholds ------------------------------------------------


def _demo_images(renderer: OfflineRenderer) -> Iterable[tuple[str, Image.Image]]:
    for chapter, (title, visual_type, description) in DEMO.items():
        for candidate in (1, 2, 3):
            request = _request(visual_type, description, candidate, title, (960, 540))
            yield f"{chapter}-c{candidate}", renderer.generate(request).image
    yield "title", render_title_card("Giriş: Para nedir?", "Para Nedir?", 960, 540).image
    yield "head", render_talking_head("Kapanış", 960, 540).image


def test_every_demo_image_passes_the_check_thresholds(renderer: OfflineRenderer) -> None:
    for name, image in _demo_images(renderer):
        figures = _check_figures(image)
        assert figures["std"] > 20, (name, figures)
        assert figures["clipped"] < 0.05, (name, figures)
        assert 40 < figures["mean"] < 215, (name, figures)
        assert figures["band"] < 0.35, (name, figures)


@pytest.mark.parametrize(("visual_type", "description"), VARIED)
def test_every_scene_passes_the_check_thresholds(
    renderer: OfflineRenderer, visual_type: str, description: str
) -> None:
    for candidate, image in enumerate(_candidates(renderer, visual_type, description, (480, 270))):
        figures = _check_figures(image)
        assert figures["std"] > 25, (candidate, figures)
        assert figures["clipped"] < 0.05, (candidate, figures)
        assert 40 < figures["mean"] < 215, (candidate, figures)
        assert figures["band"] < 0.35, (candidate, figures)
