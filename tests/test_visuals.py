"""`visuals[]`: every visual of a chapter gets an image of its own (`images/ch02.png`
for the first, `images/ch02-v2.png`, ... for the rest), each a manifest entry with its
own status, reuse and markers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config import load_settings
from handlers.api.key_check import forget_verified_keys
from handlers.imagegen import RunRequest, needs_job, run
from handlers.outputs.markers import write_marker
from tests.conftest import snapshot
from tests.support.episodes import episode_doc, write_doc

KEY = "sk-test-fake-key"


def three_visuals_doc(name: str) -> dict[str, Any]:
    """Three chapters; ch02 carries a `visuals` list of three instead of `visual`."""
    doc = episode_doc(name, 3)
    ch = doc["chapters"][1]
    first = ch.pop("visual")
    first["image_prompt"] = f"{name} ch02 visual one: a market square"
    ch["visuals"] = [
        first,
        {
            "type": "diagram",
            "description": "Blokların zincir hâlinde bağlanışı",
            "image_prompt": f"{name} ch02 visual two: a chain of blocks",
        },
        {
            "type": "screen_share",
            "description": "Cüzdan uygulamasında bir ödeme ekranı",
            "image_prompt": f"{name} ch02 visual three: a wallet app screen",
        },
    ]
    return doc


def entries(episode: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))
    return {c["chapter_id"]: c for c in data["chapters"]}


def test_a_chapter_with_three_visuals_gets_three_images_and_entries(outputs, settings):
    episode = write_doc(outputs, "ep-vis", three_visuals_doc("ep-vis"))
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    found = entries(episode)
    assert list(found) == ["ch01", "ch02", "ch02-v2", "ch02-v3", "ch03"]  # document order
    for cid in ("ch02", "ch02-v2", "ch02-v3"):
        assert (episode / "images" / f"{cid}.png").is_file()
        assert found[cid]["status"] == "generated" and found[cid]["file"] == f"{cid}.png"
    assert found["ch02-v2"]["visual_type"] == "diagram"
    assert found["ch02-v3"]["visual_type"] == "screen_share"
    assert (found["ch02-v2"]["source_chapter_id"], found["ch02-v2"]["visual_number"]) == (
        "ch02",
        2,
    )
    assert found["ch02"]["source_chapter_id"] is None  # the chapter's own visual
    assert "a chain of blocks" in found["ch02-v2"]["prompt"]
    assert needs_job(episode) is None, "the daemon's pre-check knows the extra entries"
    before = snapshot(outputs)
    assert run(episode, RunRequest(), settings).outcome == "up_to_date"
    assert snapshot(outputs) == before


def test_each_visual_is_reused_and_regenerated_on_its_own(outputs, settings):
    episode = write_doc(outputs, "ep-vis2", three_visuals_doc("ep-vis2"))
    assert run(episode, RunRequest(), settings).ok
    sha = {cid: e["sha256"] for cid, e in entries(episode).items()}
    write_marker(episode / "images/ch02-v3.png.stale", by="test", reason="redo the screen")
    assert needs_job(episode) == "marker present"
    result = run(episode, RunRequest(), settings)
    assert result.ok and result.generated == 1 and result.reused == 4, result
    assert not (episode / "images/ch02-v3.png.stale").exists()
    after = entries(episode)
    assert after["ch02-v3"]["candidates"][-1]["id"] == "c02"  # a new generation
    assert all(after[c]["sha256"] == sha[c] for c in ("ch01", "ch02", "ch02-v2", "ch03"))

    # Changing the second visual alone redoes only its image.
    doc = three_visuals_doc("ep-vis2")
    doc["chapters"][1]["visuals"][1]["image_prompt"] = "ep-vis2 ch02 visual two: a ledger book"
    write_doc(outputs, "ep-vis2", doc)
    result = run(episode, RunRequest(), settings)
    assert result.generated == 1 and result.chapters["ch02-v2"] == "generated"
    assert entries(episode)["ch02"]["sha256"] == sha["ch02"]

    # --chapter names a chapter: its further visuals come with it.
    result = run(episode, RunRequest(chapters=frozenset({"ch02"})), settings)
    assert result.generated == 3


def test_an_extra_visual_named_like_another_chapter_is_refused(outputs, settings):
    doc = three_visuals_doc("ep-clash")
    doc["chapters"][2]["chapter_id"] = "ch02-v2"
    episode = write_doc(outputs, "ep-clash", doc)
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "failed"
    assert "visuals[1] is drawn as images/ch02-v2.png, the image of chapters[2]" in result.message
    assert not (episode / "images").exists()


@pytest.fixture
def paid_settings(outputs, fake_api):
    forget_verified_keys()
    return load_settings(
        overrides={
            "outputs_dir": outputs,
            "image": {"provider": "openai"},
            "prompt": {"writer": "template"},
            "openai": {"api_key": KEY, "base_url": fake_api.openai_base_url},
        }
    )


def test_three_visuals_through_the_fake_api_are_three_paid_images(outputs, fake_api, paid_settings):
    doc = three_visuals_doc("ep-vis-paid")
    for ch in doc["chapters"]:  # only ch02's visuals are paid images
        if ch["chapter_id"] != "ch02":
            ch["visual"] = {"type": "title_card", "description": "kart", "image_prompt": None}
    episode = write_doc(outputs, "ep-vis-paid", doc)
    result = run(episode, RunRequest(), paid_settings)
    assert result.outcome == "ok", result.message
    prompts = sorted(r.prompt or "" for r in fake_api.requests if r.endpoint == "images")
    assert len(prompts) == 3
    for part in ("visual one", "visual two", "visual three"):
        assert sum(part in p for p in prompts) == 1
    found = entries(episode)
    assert {c for c, e in found.items() if e["status"] == "generated"} == {
        "ch02",
        "ch02-v2",
        "ch02-v3",
    }
    for cid, part in (("ch02", "one"), ("ch02-v2", "two"), ("ch02-v3", "three")):
        record = fake_api.identify((episode / "images" / f"{cid}.png").read_bytes())
        assert record is not None and f"visual {part}" in record.prompt
        assert found[cid]["cost_usd"] > 0
    assert run(episode, RunRequest(), paid_settings).outcome == "up_to_date"
    assert fake_api.count("images") == 3
