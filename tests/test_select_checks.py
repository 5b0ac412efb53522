"""Deterministic checks, OCR, the judge's reply contract and the choice among candidates.

The offline renderer's images and both templates pass; the defects a generated image
can have fail the check named for them."""

from __future__ import annotations

import pytest
from PIL import Image, ImageDraw, ImageFilter

from config.settings import JudgeWeights
from handlers.drawing.cards import render_talking_head, render_title_card
from handlers.drawing.offline import OfflineRenderer
from handlers.drawing.text import find_font, load_font
from handlers.outputs.manifest import Candidate, Check
from handlers.providers.base import ImageRequest
from handlers.select.checks import check_image, check_template_text
from handlers.select.choose import choose, total
from handlers.select.judge import MalformedVerdict, parse_reply, weighted_score
from handlers.select.measures import measure, phash
from handlers.select.words import assess, is_word, matches, turkish_fold, vocabulary

W, H = 1920, 1080


def offline(visual_type: str, candidate: int = 1, title: str = "Bitcoin'in Doğuşu") -> Image.Image:
    request = ImageRequest(
        "ch03", title, visual_type, f"a {visual_type}", W, H, candidate=candidate
    )
    return OfflineRenderer().generate(request).image


def check(image: Image.Image, **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "visual_type": "b_roll",
        "vocab": vocabulary("Bitcoin'in Doğuşu"),
        "native_size": image.size,
        "expected_size": None,
        "siblings": {},
        "read_text": False,
    }
    args.update(kw)
    return check_image(image, **args)  # type: ignore[arg-type]


def failed(result) -> set[str]:  # type: ignore[no-untyped-def]
    return {c.name for c in result.checks if not c.passed}


@pytest.mark.parametrize("visual_type", ["diagram", "b_roll", "screen_share"])
def test_offline_images_pass_every_check(visual_type: str) -> None:
    result = check(offline(visual_type), visual_type=visual_type, read_text=True)
    assert result.passed, [c for c in result.checks if not c.passed]
    assert result.score >= 60


def test_templates_pass_and_ocr_reads_every_word_of_their_turkish_text() -> None:
    title, episode = "İşlem Ücretleri Neden Değişir", "Bitcoin'in Doğuşu: Blok Zinciri"
    card = render_title_card(title, episode, W, H)
    assert len(card.text_boxes) == 2  # the episode's title above the chapter's
    (text,) = check_template_text(
        card.image, card.text_boxes, visual_type="title_card", vocab=vocabulary(title, episode)
    )
    # Read in the boxes where they were drawn, all 8 words come back, dots and all.
    assert text.passed and text.detail.startswith("8 word(s), 100% the chapter's own"), text
    head = render_talking_head(title, W, H)
    (text,) = check_template_text(
        head.image, head.text_boxes, visual_type="talking_head", vocab=vocabulary(title)
    )
    assert text.passed and text.detail.startswith("4 word(s), 100% the chapter's own"), text
    # Nothing to read where the words are elsewhere: a box on the pattern alone.
    (empty,) = check_template_text(
        card.image, [(0, H - 120, 200, H - 20)], visual_type="title_card", vocab=set()
    )
    assert empty.detail == "no text found"
    assert check_template_text(head.image, head.text_boxes, visual_type="b_roll", vocab=set()) == []


def test_blank_frame_fails_not_blank() -> None:
    result = check(Image.new("RGB", (W, H), (120, 130, 140)))
    assert "not_blank" in failed(result)


def test_blurred_frame_fails_sharpness_and_nothing_else() -> None:
    result = check(offline("diagram").filter(ImageFilter.GaussianBlur(5)))
    assert failed(result) == {"sharpness"}


def test_frame_pushed_to_black_fails_exposure() -> None:
    dark = offline("b_roll").point(lambda v: max(0, v - 200))
    assert "exposure" in failed(check(dark))


def test_half_empty_frame_fails_framing() -> None:
    image = offline("diagram")
    ImageDraw.Draw(image).rectangle((0, 0, W, H // 2), fill=(200, 200, 200))
    assert failed(check(image)) == {"framing"}


@pytest.mark.parametrize("visual_type", ["diagram", "b_roll", "screen_share", "landscape"])
def test_our_phash_is_imagehashs_bit_for_bit(visual_type: str) -> None:
    # Ours skips scipy (its import: ~30 MB, ~0.25 s); hashes already in manifests and
    # the near-duplicate threshold stay valid only if every bit agrees.
    import imagehash

    for candidate in (1, 2, 3):
        image = offline(visual_type, candidate=candidate)
        for size in ((W, H), (960, 540), (333, 187)):
            scaled = image.resize(size)
            assert phash(scaled) == imagehash.phash(scaled), (visual_type, candidate, size)
    assert phash(image) - phash(offline(visual_type, candidate=2)) > 0


def test_near_duplicate_of_a_sibling_fails_distinct() -> None:
    image = offline("b_roll")
    sibling = {"c01": measure(image.resize((W - 2, H))).phash}
    assert failed(check(image, siblings=sibling)) == {"distinct"}
    other = {"c01": measure(offline("diagram")).phash}
    assert check(image, siblings=other).passed


def test_wrong_aspect_from_the_provider_fails_size() -> None:
    image = offline("b_roll")
    result = check(image, native_size=(1024, 1024), expected_size=(1536, 1024))
    assert failed(result) == {"size"}
    assert check(image, native_size=(1536, 1024), expected_size=(1536, 1024)).passed


def _text_image(lines: list[str]) -> Image.Image:
    image = offline("diagram")
    draw = ImageDraw.Draw(image)
    font = load_font(72, path=find_font(True))
    for i, line in enumerate(lines):
        draw.rectangle((150, 150 + i * 130, 1750, 260 + i * 130), fill=(255, 255, 255))
        draw.text((180, 160 + i * 130), line, font=font, fill=(10, 10, 10))
    return image


def test_garbled_text_fails_and_the_chapters_own_words_pass() -> None:
    vocab = vocabulary(
        "İşlem zinciri nasıl çalışır", "Madenciler blokları doğrular", "Bitcoin'in Doğuşu"
    )
    soup = check(
        _text_image(["Xqzv Blrp Wnntk", "Grrzt Kxvq Pflm"]),
        visual_type="diagram",
        vocab=vocab,
        read_text=True,
    )
    assert "text" in failed(soup), soup.text
    own = check(
        _text_image(["İŞLEM ZİNCİRİ", "Madenciler doğrular"]),
        visual_type="diagram",
        vocab=vocab,
        read_text=True,
    )
    assert own.passed, own.text
    assert own.text is not None and own.text.matched >= 0.75


def test_turkish_folding_and_matching() -> None:
    assert turkish_fold("İŞLEM ISLAK") == "işlem ıslak"
    vocab = vocabulary("işlemler ıslak kağıt")
    assert matches("İŞLEMLER", vocab) and matches("ISLAK", vocab)
    assert matches("islem", vocab)  # OCR lost the cedilla, and a suffix
    assert matches("kagit", vocab)
    assert not matches("banka", vocab)
    for soup in ("Xqzv", "Duzcsl", "Kejatw", "Tranaction"):
        assert not is_word(soup), soup
    for word in ("Madenciler", "blockchain", "uygulaması", "İNSANLAR", "Transaction"):
        assert is_word(word), word
    found = assess(["İŞLEM", "Xqzv", "banka"], vocab)
    assert found.matched == pytest.approx(1 / 3) and found.garbled == pytest.approx(1 / 3)


def test_is_word_decides_as_wordfreq_does() -> None:
    # Ours looks words up in tables of hashes; wordfreq's zipf_frequency is the rule.
    # Every 50th word of both lists, and each changed as OCR changes words: case,
    # dotless i, a letter lost or added.
    import random

    import wordfreq

    rng = random.Random(7)
    listed = [
        w
        for lang in ("en", "tr")
        for bucket in wordfreq.get_frequency_list(lang, "small")
        for w in bucket
    ][::50]
    letters = "abcdefghijklmnopqrstuvwxyzçğıöşüâîİI"
    changed = [
        v
        for w in listed
        for v in (w.upper(), w.title(), w.replace("i", "ı"), w[1:], w + rng.choice(letters))
    ]
    soup = ["".join(rng.choice(letters) for _ in range(rng.randint(3, 10))) for _ in range(500)]
    words = listed + changed + soup
    expected = [
        any(wordfreq.zipf_frequency(w, lang, wordlist="small") > 0 for lang in ("en", "tr"))
        for w in words
    ]
    assert [is_word(w) for w in words] == expected
    assert 0.2 < sum(expected) / len(expected) < 0.9  # both answers are well represented


GOOD = (
    '{"scores": {"matches_description": 9, "clarity": 8, "composition": 7, "text": 10, '
    '"artifacts": 8}, "rationale": "Clear market scene."}'
)


def test_judge_reply_contract() -> None:
    assert parse_reply(GOOD).scores.clarity == 8
    assert parse_reply(f"Here you go:\n```json\n{GOOD}\n```").rationale == "Clear market scene."
    for bad in (
        "The image is great, 9/10.",
        '{"scores": {"clarity": 8}, "rationale": "x"}',
        GOOD.replace('"clarity": 8', '"clarity": 11'),
        GOOD.replace('"clarity": 8', '"clarity": "8"'),
        '{"scores": {"matches_description": 9, "clarity": 8, "composition": 7, "text": 10',
    ):
        with pytest.raises(MalformedVerdict):
            parse_reply(bad)
    scores = parse_reply(GOOD).scores
    assert weighted_score(scores, JudgeWeights()) == pytest.approx(84.0)
    only_text = JudgeWeights(matches_description=0, clarity=0, composition=0, text=1, artifacts=0)
    assert weighted_score(scores, only_text) == 100.0


def _candidate(cid: str, passed: bool, judge: float | None, checks: float = 80.0) -> Candidate:
    failing = [] if passed else [Check(name="not_blank", passed=False, detail="blank")]
    return Candidate(
        id=cid,
        passed=passed,
        checks=failing,
        checks_score=checks,
        judge_score=judge,
        rationale="fits the description" if judge is not None else None,
        total=total(checks, judge, 0.25),
    )


def test_a_failed_candidate_is_never_chosen_whatever_the_judge_says() -> None:
    blank = _candidate("c01", passed=False, judge=100.0)
    good = _candidate("c02", passed=True, judge=60.0)
    better = _candidate("c03", passed=True, judge=70.0)
    chosen = choose([blank, good, better])
    assert chosen is not None
    best, selection = chosen
    assert best.id == "c03" and selection.method == "judge"
    assert "c01 failed not_blank" in selection.why and "ahead of c02" in selection.why
    assert choose([blank]) is None


def test_a_tie_goes_to_the_earlier_candidate_and_checks_only_says_so() -> None:
    first, second = _candidate("c01", True, None), _candidate("c02", True, None)
    chosen = choose([first, second])
    assert chosen is not None and chosen[0].id == "c01" and chosen[1].method == "checks"
