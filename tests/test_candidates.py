"""Several candidates per generated chapter, checked, the best chosen; a person's pick;
re-ranking. Offline provider in-process (the wire, the judge and money are in
tests/test_selection_wire.py)."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections import Counter
from pathlib import Path

import pytest
from PIL import Image, ImageFilter

from config import Settings, load_settings
from daemon.cli import main
from handlers.drawing.offline import OfflineRenderer
from handlers.errors import UsageError
from handlers.imagegen import RunRequest, pick, rescore, run
from handlers.outputs.markers import write_marker
from handlers.providers.base import GeneratedImage, ImageRequest
from handlers.run.services import Services, build_services
from tests.conftest import snapshot


class DefectProvider:
    """The offline renderer, a different picture per candidate, with scripted defects:
    defects[(chapter_id, candidate)] = "blank" | "blurred"."""

    name = "offline"

    def __init__(self, defects: dict[tuple[str, int], str] | None = None) -> None:
        self.inner = OfflineRenderer()
        self.defects = defects or {}
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def generate(self, request: ImageRequest) -> GeneratedImage:
        with self._lock:
            self.calls[request.chapter_id] += 1
        varied = dataclasses.replace(request, seed=request.seed + 7919 * request.candidate)
        made = self.inner.generate(varied)
        defect = self.defects.get((request.chapter_id, request.candidate))
        if defect == "blank":
            made.image = Image.new("RGB", made.image.size, (128, 128, 128))
        elif defect == "blurred":
            made.image = made.image.filter(ImageFilter.GaussianBlur(6))
        return made


@pytest.fixture
def three(outputs: Path) -> Settings:
    return load_settings(overrides={"outputs_dir": outputs, "selection": {"candidates": 3}})


def services_with(settings: Settings, provider: DefectProvider) -> Services:
    services = build_services(settings)
    services.chain[0] = type(services.chain[0])(services.chain[0].spec, provider)
    return services


def manifest(episode: Path) -> dict:
    return json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))


def entry(episode: Path, cid: str) -> dict:
    return next(e for e in manifest(episode)["chapters"] if e["chapter_id"] == cid)


def test_three_candidates_per_generated_chapter_checked_and_kept(episode, three):
    provider = DefectProvider()
    result = run(episode, RunRequest(), three, services=services_with(three, provider))
    assert result.outcome == "ok", result.message
    assert provider.calls == Counter({"ch02": 3, "ch03": 3, "ch04": 3})
    for cid in ("ch02", "ch03", "ch04"):
        e = entry(episode, cid)
        assert [c["id"] for c in e["candidates"]] == ["c01", "c02", "c03"]
        assert e["selected"] in ("c01", "c02", "c03")
        assert e["selection"]["method"] == "checks"  # no key: no judge, and it says so
        assert e["selection"]["why"].startswith(e["selected"])
        for c in e["candidates"]:
            path = episode / "images" / c["file"]
            assert path.is_file() and path.stat().st_size == c["bytes"]
            assert c["passed"] and {k["name"] for k in c["checks"]} >= {
                "size",
                "not_blank",
                "exposure",
                "sharpness",
                "framing",
            }
        # The chosen candidate is the chapter's image, at today's path.
        chosen = Image.open(episode / "images" / f"{cid}.png").convert("RGB")
        kept = Image.open(episode / "images" / f"candidates/{cid}/{e['selected']}.png")
        assert chosen.tobytes() == kept.convert("RGB").tobytes()
    # Templates carry their own checks: OCR reads the title back.
    assert entry(episode, "ch01")["checks"][0]["name"] == "text"
    assert "candidates" not in json.dumps(entry(episode, "ch01")["candidates"])


def test_a_defective_candidate_is_never_selected(episode, three):
    provider = DefectProvider({("ch02", 1): "blank", ("ch03", 1): "blurred", ("ch03", 2): "blank"})
    result = run(episode, RunRequest(), three, services=services_with(three, provider))
    assert result.outcome == "ok", result.message
    ch02, ch03 = entry(episode, "ch02"), entry(episode, "ch03")
    assert ch02["selected"] in ("c02", "c03")
    assert ch03["selected"] == "c03"
    failed = {
        c["id"]: [k["name"] for k in c["checks"] if not k["passed"]] for c in ch03["candidates"]
    }
    assert failed == {"c01": ["sharpness"], "c02": ["not_blank", "sharpness", "framing"], "c03": []}
    assert "c01 failed sharpness" in ch03["selection"]["why"]


def test_every_candidate_failing_marks_the_chapter_failed_checks(episode, three):
    provider = DefectProvider({("ch04", n): "blank" for n in (1, 2, 3)})
    result = run(episode, RunRequest(), three, services=services_with(three, provider))
    assert result.outcome == "failed" and "ch04 failed_checks" in result.message
    ch04 = entry(episode, "ch04")
    assert ch04["status"] == "failed_checks" and ch04["selected"] is None
    assert "every candidate failed its checks: c01: not_blank" in ch04["error"]
    assert len(ch04["candidates"]) == 3  # kept for a person to look at (and pick)
    assert not (episode / "images/ch04.png").exists()


def test_turkish_intact_in_candidates_and_selection(episode, three):
    run(episode, RunRequest(), three, services=services_with(three, DefectProvider()))
    raw = (episode / "images/manifest.json").read_text(encoding="utf-8")
    assert "Blok zinciri nasıl çalışır" in raw  # OCR read the title band back, as written
    assert "\\u0131" not in raw


def test_pick_then_rerun_keeps_the_choice_and_pays_nothing(episode, three):
    (episode / "render").mkdir()
    (episode / "render/draft.mp4").write_bytes(b"draft")  # a render the pick outdates
    provider = DefectProvider()
    services = services_with(three, provider)
    run(episode, RunRequest(), three, services=services)
    before = entry(episode, "ch03")["selected"]
    other = "c02" if before != "c02" else "c03"
    (episode / "render/draft.mp4.stale").unlink()
    calls = sum(provider.calls.values())

    result = pick(episode, "ch03", other, three, by="ayşe")
    assert result.outcome == "ok" and result.picked == 1, result.message
    e = entry(episode, "ch03")
    assert e["selected"] == other and e["selection"]["method"] == "manual"
    assert "picked by ayşe" in e["selection"]["why"] and f"over {before}" in e["selection"]["why"]
    chosen = Image.open(episode / "images/ch03.png").convert("RGB")
    kept = Image.open(episode / f"images/candidates/ch03/{other}.png").convert("RGB")
    assert chosen.tobytes() == kept.tobytes()
    assert not (episode / "images/ch03.select").exists()  # consumed once applied
    assert (episode / "render/draft.mp4.stale").is_file()  # the render is outdated

    # A later run (the daemon's, a marker elsewhere) keeps the pick and pays nothing.
    files = snapshot(episode)
    again = run(episode, RunRequest(), three, services=services)
    assert again.outcome == "up_to_date" and snapshot(episode) == files
    assert sum(provider.calls.values()) == calls
    write_marker(episode / "images/ch02.png.stale", by="test", reason="redo ch02")
    run(episode, RunRequest(), three, services=services)
    assert entry(episode, "ch03")["selected"] == other
    assert entry(episode, "ch03")["selection"]["method"] == "manual"

    # Until the chapter's input changes: then new candidates, chosen afresh.
    doc = json.loads((episode / "chapters.json").read_text(encoding="utf-8"))
    doc["chapters"][2]["visual"]["description"] += " Daha yakından."
    (episode / "chapters.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    run(episode, RunRequest(), three, services=services)
    e = entry(episode, "ch03")
    assert e["selection"]["method"] == "checks"
    assert [c["id"] for c in e["candidates"]] == ["c04", "c05", "c06"]  # numbers go on
    assert sorted(p.name for p in (episode / "images/candidates/ch03").iterdir()) == [
        "c04.png",
        "c05.png",
        "c06.png",
    ]  # the old generation's files went once the manifest stopped naming them


def test_a_pick_by_hand_is_applied_by_the_next_run(episode, three):
    provider = DefectProvider({("ch02", 1): "blurred"})
    services = services_with(three, provider)
    run(episode, RunRequest(), three, services=services)
    calls = sum(provider.calls.values())
    (episode / "images/ch02.select").write_text("c01\n")  # a person overrules the checks
    result = run(episode, RunRequest(), three, services=services)
    assert result.outcome == "ok" and result.picked == 1
    e = entry(episode, "ch02")
    assert (
        e["selected"] == "c01"
        and "overruling its failed checks: sharpness" in (e["selection"]["why"])
    )
    assert sum(provider.calls.values()) == calls


def test_pick_of_an_unknown_candidate_or_chapter_is_a_usage_error(episode, three):
    run(episode, RunRequest(), three, services=services_with(three, DefectProvider()))
    with pytest.raises(
        UsageError, match=r"ch03 has no candidate 'c09' \(candidates: c01, c02, c03\)"
    ):
        pick(episode, "ch03", "c09", three, by="x")
    with pytest.raises(UsageError, match="no chapter 'ch99'"):
        pick(episode, "ch99", "c01", three, by="x")
    assert not list((episode / "images").glob("*.select"))


def test_a_stale_pick_by_hand_is_refused_and_removed(episode, three):
    run(episode, RunRequest(), three, services=services_with(three, DefectProvider()))
    (episode / "images/ch04.select").write_text('{"candidate": "c07"}')
    selected = entry(episode, "ch04")["selected"]
    result = run(episode, RunRequest(), three, services=services_with(three, DefectProvider()))
    assert result.ok and entry(episode, "ch04")["selected"] == selected
    assert not (episode / "images/ch04.select").exists()


def test_rescore_makes_no_image_call(episode, three):
    provider = DefectProvider()
    services = services_with(three, provider)
    run(episode, RunRequest(), three, services=services)
    calls = sum(provider.calls.values())
    # A candidate file corrupted after the fact is refused, never silently re-chosen.
    result = rescore(episode, three)
    assert result.ok and result.rescored == 3, result.message
    assert sum(provider.calls.values()) == calls
    e = entry(episode, "ch02")
    assert e["selection"]["why"].startswith("re-ranked: ")


def test_keep_candidates_off_writes_only_the_chosen_image(episode, outputs):
    settings = load_settings(
        overrides={
            "outputs_dir": outputs,
            "selection": {"candidates": 2, "keep_candidates": False},
        }
    )
    run(episode, RunRequest(), settings, services=services_with(settings, DefectProvider()))
    assert not (episode / "images/candidates").exists()
    e = entry(episode, "ch02")
    assert len(e["candidates"]) == 2 and all(c["file"] is None for c in e["candidates"])


def test_select_command_lists_candidates_then_picks_one(episode, three, capsys):
    provider = DefectProvider({("ch02", 2): "blank"})
    run(episode, RunRequest(), three, services=services_with(three, provider))
    args = ["--outputs-dir", str(three.outputs_dir)]
    files = snapshot(episode)

    assert main(["select", str(episode), "ch02", *args]) == 0
    listing = capsys.readouterr().out
    e = entry(episode, "ch02")
    rows = [line for line in listing.splitlines() if line[3:4] == "c"]
    assert [line[3:].split()[0] for line in rows] == [c["id"] for c in e["candidates"]]
    chosen = next(line for line in rows if line.startswith(" *"))
    assert e["selected"] in chosen
    assert "failed: not_blank" in next(line for line in rows if " c02 " in line)
    assert f"chosen by {e['selection']['method']}" in listing
    assert snapshot(episode) == files  # listing writes nothing

    other = next(c["id"] for c in e["candidates"] if c["id"] not in (e["selected"], "c02"))
    assert main(["select", str(episode), "ch02", other, *args]) == 0
    assert entry(episode, "ch02")["selected"] == other
    assert main(["select", str(episode), "ch02", "c09", *args]) == 2
    assert "ch02 has no candidate 'c09'" in capsys.readouterr().err
