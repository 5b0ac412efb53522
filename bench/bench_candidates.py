"""Several candidates per chapter: throughput, the cost of checking a candidate, and
what early stopping saves.

- 8 chapters x 3 candidates against the loopback fake at 1.0 s per image, c=3, each
  candidate judged (scripted, never good enough to stop early): wall time of the run
  against the ideal ceil(24/3) x 1.0 s = 8 s (the same run's baseline: that ideal, and
  the judge calls' own time on the fake).
- checks + OCR of one 1920x1080 candidate (textured images as a provider returns
  them, and offline diagrams with text): median, against the checks without OCR.
- early stop: images paid per chapter on scripted mixes of good and defective first
  candidates, against the 3 a chapter costs without it.
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from pathlib import Path

from bench.common import record
from config import load_settings
from handlers.api.key_check import forget_verified_keys
from handlers.imagegen import RunRequest, provider_report, run, warm_up
from tests.fakeapi import FakeAPI, JudgeScript, Ok
from tests.support.episodes import paid_episode_doc, paid_per_chapter, write_doc

CHAPTERS = 8
N = 3
LATENCY = 1.0


def _settings(root: Path, fake: FakeAPI, **selection: object) -> object:
    return load_settings(
        overrides={
            "outputs_dir": root,
            "image": {"provider": "openai", "concurrency": 3},
            "prompt": {"writer": "template"},
            "refine": {"enabled": False},
            "selection": {"candidates": N, "judge": "openai", **selection},
            "openai": {"api_key": fake.api_key, "base_url": fake.openai_base_url},
        }
    )


def throughput(root: Path) -> None:
    with FakeAPI() as fake:
        fake.latency["images"] = LATENCY
        fake.vision_reply = JudgeScript(default=5)  # 50: below accept_score, all 3 made
        forget_verified_keys()
        episode = write_doc(root, "cand", paid_episode_doc("cand", CHAPTERS))
        settings = _settings(root, fake, accept_score=0)
        # As the daemon is once READY: the run machinery, OCR and the SDK loaded (its
        # start-up key check imports it). The figure is the candidates' throughput; the
        # one-off start-up of a whole process is bench_concurrency's.
        t_warm = time.perf_counter()
        warm_up(settings)  # type: ignore[arg-type]
        provider_report(settings, check=True)  # type: ignore[arg-type]
        warm_s = time.perf_counter() - t_warm
        t0 = time.perf_counter()
        result = run(episode, RunRequest(), settings)  # type: ignore[arg-type]
        took = time.perf_counter() - t0
        assert result.outcome == "ok" and fake.images_paid == CHAPTERS * N, result.message
        judged = [r for r in fake.requests if r.endpoint == "chat" and r.input_images]
        judge_s = sum(r.answered_at - r.received_at for r in judged)
    ideal = math.ceil(CHAPTERS * N / 3) * LATENCY
    record(
        "8 chapters x 3 candidates, 1 s per image, c=3, judged",
        f"{took:.2f} s = {took / ideal:.3f}x the ideal",
        "<= 1.1x the ideal",
        took <= 1.1 * ideal,
        f"ideal ceil(24/3) x {LATENCY:.1f} s = {ideal:.1f} s; {len(judged)} judge calls took "
        f"{judge_s:.2f} s on the fake in all; the warm-up before it {warm_s:.2f} s",
    )


def check_cost() -> None:
    from PIL import ImageDraw

    from handlers.drawing.offline import OfflineRenderer
    from handlers.outputs.png import fit_to_frame
    from handlers.providers.base import ImageRequest
    from handlers.select import ocr
    from handlers.select.checks import check_image
    from handlers.select.words import vocabulary
    from tests.fakeapi import render

    frames = []
    for i in range(10):
        drawn = render.render(render.seed_for(f"bench {i}", 0), 1536, 1024)
        frames.append(fit_to_frame(drawn.image.convert("RGB"), 1920, 1080))
    renderer = OfflineRenderer()
    for i in range(10):
        request = ImageRequest("c", "İşlem zinciri", "diagram", f"p{i}", 1920, 1080, candidate=i)
        image = renderer.generate(request).image
        ImageDraw.Draw(image).text((200, 200), "Madenciler blokları doğrular", fill=(0, 0, 0))
        frames.append(image)
    vocab = vocabulary("İşlem zinciri", "Madenciler blokları doğrular")
    ocr.warm_up()

    def timed(read_text: bool) -> list[float]:
        times = []
        for frame in frames:
            t0 = time.perf_counter()
            check_image(
                frame,
                visual_type="diagram",
                vocab=vocab,
                native_size=frame.size,
                expected_size=None,
                siblings={},
                read_text=read_text,
            )
            times.append(time.perf_counter() - t0)
        return times

    without = statistics.median(timed(False))
    with_ocr = statistics.median(timed(True))
    record(
        "checks + OCR of one 1920x1080 candidate",
        f"{with_ocr * 1000:.0f} ms median of {len(frames)}",
        "< 300 ms",
        with_ocr < 0.3,
        f"the checks without OCR: {without * 1000:.0f} ms (OCR itself "
        f"{(with_ocr - without) * 1000:.0f} ms)",
    )


def early_stop(root: Path) -> None:
    """Chapters whose first candidate is good cost one image; a defective first one
    costs one more. Mix: 3 of 8 chapters get a blank first image."""
    with FakeAPI() as fake:
        fake.vision_reply = JudgeScript(default=9)  # a clean image scores 90 >= 80
        forget_verified_keys()
        name = "stop"
        episode = write_doc(root, name, paid_episode_doc(name, CHAPTERS))
        for cid in ("ch01", "ch04", "ch07"):
            fake.add_rule("images", [Ok(defect="blank")], match=f"{name} chapter {cid}")
        result = run(episode, RunRequest(), _settings(root, fake))  # type: ignore[arg-type]
        assert result.outcome == "ok", result.message
        paid = paid_per_chapter(fake.paid_prompts, name)
    average = sum(paid.values()) / CHAPTERS
    record(
        "images paid per chapter with early stop (3 of 8 first images blank)",
        f"{average:.3f} on average ({sum(paid.values())} for {CHAPTERS} chapters)",
        "<= 1.5 (the mix's own floor: 11 / 8 = 1.375)",
        average <= 1.5,
        f"without early stop: {N}.000 a chapter ({CHAPTERS * N} images)",
    )


def main(short: bool = False) -> None:
    print("\ncandidates, checks and judging")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        throughput(root)
        check_cost()
        early_stop(root)
