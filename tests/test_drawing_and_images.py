"""Pillow helpers, the offline renderer and the template cards."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageStat

from handlers.drawing import text as drawing
from handlers.drawing.cards import render_talking_head, render_title_card
from handlers.drawing.offline import OfflineRenderer
from handlers.drawing.text import draw_text_block, find_font, fit_text, load_font
from handlers.errors import ImagegenError
from handlers.providers.base import ImageProvider, ImageRequest

TURKISH = "çğıİöşüÇĞÖŞÜ"
GENERATED_TYPES = ("diagram", "b_roll", "screen_share")
ORANGE = (0xF7, 0x93, 0x1A)
GREY = (0x8A, 0x8A, 0x8A)


def _request(
    visual_type: str = "diagram", prompt: str = "takas", **changes: object
) -> ImageRequest:
    values: dict[str, object] = {
        "chapter_id": "ch02",
        "title": "Takas ve ortak değer",
        "visual_type": visual_type,
        "prompt": prompt,
        "width": 640,
        "height": 360,
        "seed": 0,
    }
    values.update(changes)
    return ImageRequest(**values)  # type: ignore[arg-type]


def _mean_difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel, 0..255."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def _dominant_colour(image: Image.Image) -> tuple[int, ...]:
    colours = image.getcolors(maxcolors=image.width * image.height)
    assert colours is not None
    colour = max(colours, key=lambda entry: entry[0])[1]
    assert isinstance(colour, tuple)
    return colour


def _glyph(char: str, font: ImageFont.FreeTypeFont) -> Image.Image:
    canvas = Image.new("L", (160, 160))
    ImageDraw.Draw(canvas).text((30, 20), char, font=font, fill=255)
    return canvas


@pytest.fixture
def renderer() -> OfflineRenderer:
    return OfflineRenderer()


# --- offline renderer --------------------------------------------------------------


def test_offline_renderer_satisfies_the_protocol(renderer: OfflineRenderer) -> None:
    provider: ImageProvider = renderer
    result = provider.generate(_request())
    assert provider.name == "offline"
    assert result.provider == "offline"
    assert result.model == "offline-pillow-1"
    assert result.generation_method == "offline"
    assert result.cost_usd == 0.0


@pytest.mark.parametrize("visual_type", [*GENERATED_TYPES, "title_card", "whatever"])
@pytest.mark.parametrize("size", [(1920, 1080), (1024, 1024), (320, 180), (64, 36)])
def test_offline_image_has_exact_size_and_mode(
    renderer: OfflineRenderer, visual_type: str, size: tuple[int, int]
) -> None:
    image = renderer.generate(_request(visual_type, width=size[0], height=size[1])).image
    assert image.size == size
    assert image.mode == "RGB"


@pytest.mark.parametrize("visual_type", [*GENERATED_TYPES, "other"])
def test_offline_image_is_deterministic(visual_type: str) -> None:
    # Two renderer instances: nothing may leak through instance or global state.
    first = OfflineRenderer().generate(_request(visual_type)).image
    second = OfflineRenderer().generate(_request(visual_type)).image
    assert first.tobytes() == second.tobytes()


@pytest.mark.parametrize("visual_type", [*GENERATED_TYPES, "other"])
def test_offline_image_changes_with_prompt_and_seed(
    renderer: OfflineRenderer, visual_type: str
) -> None:
    base = renderer.generate(_request(visual_type, prompt="takas")).image.tobytes()
    other_prompt = renderer.generate(_request(visual_type, prompt="altın")).image.tobytes()
    other_seed = renderer.generate(_request(visual_type, prompt="takas", seed=1)).image.tobytes()
    assert base != other_prompt
    assert base != other_seed


@pytest.mark.parametrize("prompt", ["takas", "altın ve güven", "blok zinciri"])
def test_generated_types_look_different(renderer: OfflineRenderer, prompt: str) -> None:
    images = {kind: renderer.generate(_request(kind, prompt)).image for kind in GENERATED_TYPES}
    for first, second in itertools.combinations(GENERATED_TYPES, 2):
        assert _mean_difference(images[first], images[second]) > 25, (first, second)


def test_diagram_background_is_light(renderer: OfflineRenderer) -> None:
    for prompt in ("a", "b", "c", "d"):
        image = renderer.generate(_request("diagram", prompt)).image.convert("L")
        assert image.getpixel((3, image.height // 2)) > 215  # type: ignore[operator]


def test_screen_share_has_window_buttons(renderer: OfflineRenderer) -> None:
    image = renderer.generate(_request("screen_share", width=1920, height=1080)).image
    colours = {colour for _, colour in image.getcolors(maxcolors=1920 * 1080) or []}
    assert {(255, 95, 87), (254, 188, 46), (40, 200, 64)} <= colours


def test_title_is_drawn_in_the_bottom_band(renderer: OfflineRenderer) -> None:
    first = renderer.generate(_request(title="Takas")).image
    second = renderer.generate(_request(title="Altın")).image
    box = ImageChops.difference(first, second).getbbox()
    assert box is not None
    assert box[1] >= first.height * 0.8


def test_missing_brand_font_fails_at_construction(tmp_path: Path) -> None:
    missing = str(tmp_path / "yok.ttf")
    with pytest.raises(ImagegenError) as caught:
        OfflineRenderer(font_path=missing)
    assert missing in str(caught.value)
    assert "brand.font_path" in str(caught.value)


# --- fonts and Turkish glyphs ------------------------------------------------------


@pytest.fixture
def no_system_fonts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    find_font.cache_clear()
    monkeypatch.setattr(drawing, "_FONT_DIRS", (str(tmp_path),))
    yield
    find_font.cache_clear()


@pytest.mark.usefixtures("no_system_fonts")
def test_find_font_names_the_debian_package_when_nothing_is_installed() -> None:
    with pytest.raises(ImagegenError) as caught:
        find_font(bold=True)
    assert "fonts-dejavu-core" in str(caught.value)
    assert "brand.font_path" in str(caught.value)


def test_explicit_font_path_is_used_for_both_weights() -> None:
    regular = find_font(bold=False)
    assert find_font(bold=True, path=regular) == regular
    assert find_font(bold=True) != regular


@pytest.mark.parametrize("bold", [True, False])
def test_font_has_real_turkish_glyphs(bold: bool) -> None:
    font = load_font(64, bold=bold)
    notdef = _glyph("\ue000", font).tobytes()
    for char in TURKISH:
        glyph = _glyph(char, font)
        assert glyph.getbbox() is not None, f"{char!r} renders empty"
        assert glyph.tobytes() != notdef, f"{char!r} renders as the missing-glyph box"


@pytest.mark.parametrize(("turkish", "ascii"), [("ı", "i"), ("İ", "I"), ("ğ", "g"), ("ş", "s")])
def test_turkish_letters_differ_from_their_ascii_lookalikes(turkish: str, ascii: str) -> None:
    font = load_font(64)
    assert _glyph(turkish, font).tobytes() != _glyph(ascii, font).tobytes()


def test_turkish_title_card_differs_from_ascii_folded() -> None:
    turkish = render_title_card("Giriş: Para nedir? İğüşöç", None, 960, 540).image
    folded = render_title_card("Giris: Para nedir? Iguso", None, 960, 540).image
    assert turkish.tobytes() != folded.tobytes()


# --- fit_text and draw_text_block --------------------------------------------------


def _block_fits(font: ImageFont.FreeTypeFont, lines: list[str], width: int, height: int) -> bool:
    ascent, descent = font.getmetrics()
    advance = round((ascent + descent) * 1.1)
    block = advance * (len(lines) - 1) + ascent + descent
    return block <= height and all(font.getlength(line) <= width for line in lines)


def test_fit_text_wraps_a_long_title_into_lines_that_fit() -> None:
    title = "Bitcoin'in merkeziyetsiz yapısı ve güvenin matematiğe devredilmesi üzerine"
    font, lines = fit_text(title, find_font(), 800, 300, max_size=120, min_size=20)
    assert len(lines) >= 2
    assert " ".join(lines) == title  # nothing lost, nothing re-cased
    assert _block_fits(font, lines, 800, 300)
    assert font.size < 120


def test_fit_text_keeps_the_largest_size_when_it_fits() -> None:
    font, lines = fit_text("Kapanış", find_font(), 1600, 400, max_size=90, min_size=20)
    assert lines == ["Kapanış"]
    assert font.size == 90


def test_fit_text_breaks_a_single_overlong_word() -> None:
    word = "Kriptoparaekosistemininmerkeziyetsizliğiüzerine"
    font, lines = fit_text(word, find_font(), 300, 600, max_size=80, min_size=40)
    assert len(lines) >= 2
    assert "".join(lines) == word
    assert _block_fits(font, lines, 300, 600)


def test_fit_text_truncates_with_ellipsis_when_nothing_fits() -> None:
    text = " ".join(["uzun"] * 200)
    font, lines = fit_text(text, find_font(), 300, 100, max_size=40, min_size=20)
    assert lines[-1].endswith("…")
    assert _block_fits(font, lines, 300, 100)


@pytest.mark.parametrize("text", ["", "   \n  "])
def test_fit_text_and_draw_handle_empty_text(text: str) -> None:
    _font, lines = fit_text(text, find_font(), 400, 100, max_size=50)
    assert lines == []
    image = Image.new("RGB", (400, 100), "black")
    draw_text_block(ImageDraw.Draw(image), text, (0, 0, 400, 100), "white", find_font(), 50)
    assert image.getbbox() is None


def test_draw_text_block_stays_inside_its_box() -> None:
    image = Image.new("RGB", (800, 400), "black")
    box = (100, 100, 500, 300)
    text = "Takas ve ortak değer: İnsanlar önce takas yaptı"
    drawn = draw_text_block(ImageDraw.Draw(image), text, box, "white", find_font(), 90)
    ink = image.getbbox()
    assert ink is not None
    assert box[0] <= ink[0] and box[1] <= ink[1] and ink[2] <= box[2] and ink[3] <= box[3]
    assert box[0] <= drawn[0] < drawn[2] <= box[2]


# --- cards -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [(1920, 1080), (1080, 1920), (320, 180)])
def test_cards_have_exact_size_and_mode(size: tuple[int, int]) -> None:
    title = render_title_card("Giriş: Para nedir?", "Para Nedir?", size[0], size[1]).image
    head = render_talking_head("Kapanış", size[0], size[1]).image
    for image in (title, head):
        assert image.size == size
        assert image.mode == "RGB"


def test_cards_are_deterministic() -> None:
    first = render_title_card("Giriş: Para nedir?", "Bölüm 1", 960, 540).image
    second = render_title_card("Giriş: Para nedir?", "Bölüm 1", 960, 540).image
    assert first.tobytes() == second.tobytes()
    head = render_talking_head("Kapanış", 960, 540).image
    assert head.tobytes() == render_talking_head("Kapanış", 960, 540).image.tobytes()


def test_title_card_is_brand_orange() -> None:
    image = render_title_card(
        "Giriş: Para nedir?", "Para Nedir ve Bitcoin Neden Farklı?", 960, 540
    ).image
    assert _dominant_colour(image) == ORANGE
    for point in ((2, 2), (957, 2), (2, 537), (957, 537), (480, 10)):
        assert image.getpixel(point) == ORANGE


def test_title_card_follows_the_colour_setting() -> None:
    image = render_title_card("Başlık", None, 320, 180, color="#123456").image
    assert _dominant_colour(image) == (0x12, 0x34, 0x56)


def test_title_card_subtitle_is_drawn() -> None:
    without = render_title_card("Başlık", None, 960, 540).image
    with_subtitle = render_title_card("Başlık", "Bölüm adı", 960, 540).image
    assert without.tobytes() != with_subtitle.tobytes()


def test_bad_colour_is_an_imagegen_error() -> None:
    with pytest.raises(ImagegenError, match="not-a-colour"):
        render_title_card("Başlık", None, 320, 180, color="not-a-colour")


def test_talking_head_is_grey_with_a_silhouette() -> None:
    image = render_talking_head("Kapanış", 960, 540).image
    assert _dominant_colour(image) == GREY
    assert image.getpixel((2, 2)) == GREY
    # The head sits in the middle and is darker than the background.
    head = image.getpixel((480, int(540 * 0.34)))
    assert isinstance(head, tuple)
    assert sum(head) < sum(GREY) - 60


def test_a_hostile_title_is_clipped_before_fitting():
    from handlers.drawing.text import MAX_DRAWN_CHARS, find_font, fit_text

    _, lines = fit_text("Ş" * 100_000, find_font(), 1600, 800, 120)
    assert sum(len(line) for line in lines) <= MAX_DRAWN_CHARS + 1
