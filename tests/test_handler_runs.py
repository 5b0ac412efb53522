"""The handler end to end on real files: routes, idempotence, selection, markers."""

from __future__ import annotations

import json
import os
from pathlib import Path

from PIL import Image

from handlers.imagegen import RunRequest, run
from handlers.outputs.markers import write_marker
from handlers.outputs.png import read_png_meta
from tests.conftest import demo_doc, snapshot, write_episode


def manifest_of(episode: Path) -> dict:
    return json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))


def statuses(episode: Path) -> dict[str, str]:
    return {c["chapter_id"]: c["status"] for c in manifest_of(episode)["chapters"]}


def test_each_visual_type_takes_its_route(episode, settings, counting):
    provider, services = counting
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "ok", result.message
    assert (result.generated, result.templates, result.reused, result.failed) == (3, 2, 0, 0)
    # title_card, talking_head -> templates; diagram, b_roll, screen_share -> provider
    assert statuses(episode) == {
        "ch01": "template",
        "ch02": "generated",
        "ch03": "generated",
        "ch04": "generated",
        "ch05": "template",
    }
    assert sorted(provider.calls) == ["ch02", "ch03", "ch04"]
    entries = {c["chapter_id"]: c for c in manifest_of(episode)["chapters"]}
    assert entries["ch02"]["generation_method"] == "offline"
    assert entries["ch01"]["generation_method"] == "template"
    for cid in ("ch01", "ch02", "ch03", "ch04", "ch05"):
        with Image.open(episode / f"images/{cid}.png") as img:
            img.verify()
        with Image.open(episode / f"images/{cid}.png") as img:
            assert img.size == (1920, 1080)
    # The chapter's own image_prompt is used (style prefix prepended), no writer.
    assert entries["ch03"]["prompt_source"] == "chapter"
    assert entries["ch03"]["prompt"].startswith(settings.prompt.style_prefix)
    assert entries["ch03"]["prompt"].endswith("white background, soft shadows")
    assert entries["ch02"]["prompt_source"] == "writer:template"
    assert "Eski bir pazar yerinde takas yapan insanlar" in entries["ch02"]["prompt"]
    # No render/draft.mp4: there is no render to mark outdated (upstream's rule).
    assert not (episode / "render").exists()
    prov = json.loads((episode / "provenance/imagegen_provenance.json").read_text())
    assert prov["run"]["generated"] == 3 and prov["cost_usd"] == 0.0


def test_run_killed_after_its_last_chapter_completes_its_records(episode, settings, counting):
    provider, services = counting
    run(episode, RunRequest(), settings, services=services)
    # as if SIGKILL came after the last manifest write: no provenance, no render marker
    (episode / "provenance/imagegen_provenance.json").unlink()
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "ok" and result.reused == 5
    assert (episode / "provenance/imagegen_provenance.json").is_file()
    assert run(episode, RunRequest(), settings, services=services).outcome == "up_to_date"
    assert provider.total == 3


def test_unknown_visual_type_is_skipped_with_a_reason(outputs, settings, counting):
    provider, services = counting
    doc = demo_doc()
    doc["chapters"][1]["visual"]["type"] = "hologram"
    episode = write_episode(outputs, doc=doc)
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "ok"
    entry = next(c for c in manifest_of(episode)["chapters"] if c["chapter_id"] == "ch02")
    assert entry["status"] == "skipped" and "hologram" in entry["error"]
    assert "ch02" not in provider.calls
    assert any("hologram" in w for w in result.warnings)


def test_second_run_writes_nothing_and_calls_no_provider(episode, settings, counting):
    provider, services = counting
    run(episode, RunRequest(), settings, services=services)
    before = snapshot(episode)
    calls = provider.total
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "up_to_date"
    assert result.reused == 5
    assert provider.total == calls
    assert snapshot(episode) == before


def draft_exists(episode: Path) -> Path:
    """A downstream render of the episode, which our new images make outdated."""
    (episode / "render").mkdir(exist_ok=True)
    draft = episode / "render/draft.mp4"
    draft.write_bytes(b"\x00\x00\x00\x18ftypmp42")
    return draft


def test_changing_one_chapter_regenerates_only_it(episode, settings, counting):
    provider, services = counting
    run(episode, RunRequest(), settings, services=services)
    draft_exists(episode)
    before = snapshot(episode)
    doc = demo_doc()
    doc["chapters"][3]["visual"]["description"] = "Masaüstü cüzdanında alma ekranı"
    doc["chapters"][0]["overlays"] = []  # not an image field: must not regenerate ch01
    (episode / "chapters.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    provider.calls.clear()
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "ok"
    assert dict(provider.calls) == {"ch04": 1}
    assert (result.generated, result.templates, result.reused) == (1, 0, 4)
    after = snapshot(episode)
    for cid in ("ch01", "ch02", "ch03", "ch05"):
        assert after[f"images/{cid}.png"] == before[f"images/{cid}.png"]
    assert after["images/ch04.png"] != before["images/ch04.png"]
    marker = json.loads((episode / "render/draft.mp4.stale").read_text())
    assert marker["reason"] == "images regenerated: ch04"
    assert (episode / "render/draft.mp4").read_bytes().endswith(b"mp42")  # never touched


def test_render_marker_only_when_a_draft_exists(episode, settings, counting):
    _, services = counting
    run(episode, RunRequest(), settings, services=services)
    assert not (episode / "render").exists()  # no draft: no marker, no render/ folder
    draft_exists(episode)
    write_marker(episode / "images/ch02.png.stale", by="test", reason="redo")
    assert run(episode, RunRequest(), settings, services=services).outcome == "ok"
    marker = json.loads((episode / "render/draft.mp4.stale").read_text())
    assert marker["reason"] == "images regenerated: ch02"
    # A run that changes no image leaves the render alone even with a draft there.
    (episode / "render/draft.mp4.stale").unlink()
    assert run(episode, RunRequest(), settings, services=services).outcome == "up_to_date"
    assert not (episode / "render/draft.mp4.stale").exists()


def test_changed_style_prefix_regenerates_generated_chapters_only(episode, settings, counting):
    provider, services = counting
    run(episode, RunRequest(), settings, services=services)
    provider.calls.clear()
    settings.prompt.style_prefix = "Watercolour. "
    result = run(episode, RunRequest(), settings, services=services)
    assert sorted(provider.calls) == ["ch02", "ch03", "ch04"]
    assert result.templates == 0 and result.reused == 2


def test_force_regenerates_everything(episode, settings, counting):
    provider, services = counting
    run(episode, RunRequest(), settings, services=services)
    provider.calls.clear()
    result = run(episode, RunRequest(force=True), settings, services=services)
    assert (result.generated, result.templates, result.reused) == (3, 2, 0)
    assert sorted(provider.calls) == ["ch02", "ch03", "ch04"]


def test_chapter_selection(episode, settings, counting):
    provider, services = counting
    run(episode, RunRequest(), settings, services=services)
    provider.calls.clear()
    result = run(episode, RunRequest(chapters=frozenset({"ch03"})), settings, services=services)
    assert result.outcome == "ok"
    assert dict(provider.calls) == {"ch03": 1}
    assert len(statuses(episode)) == 5  # the others keep their entries
    bad = run(episode, RunRequest(chapters=frozenset({"ch99"})), settings, services=services)
    assert bad.outcome == "failed" and "ch99" in bad.message and "ch01" in bad.message


def test_selection_on_first_run_only_makes_that_chapter(episode, settings, counting):
    _provider, services = counting
    result = run(episode, RunRequest(chapters=frozenset({"ch02"})), settings, services=services)
    assert result.outcome == "ok"
    assert statuses(episode) == {"ch02": "generated"}


def test_manifest_marker_regenerates_all_and_is_consumed(episode, settings, counting):
    provider, services = counting
    run(episode, RunRequest(), settings, services=services)
    provider.calls.clear()
    marker = episode / "images/manifest.json.stale"
    write_marker(marker, by="a person", reason="new brand colours")
    result = run(episode, RunRequest(), settings, services=services)
    assert (result.generated, result.templates) == (3, 2)
    assert not marker.exists()
    prov = json.loads((episode / "provenance/imagegen_provenance.json").read_text())
    assert any("new brand colours" in m for m in prov["inputs"]["markers"])


def test_chapter_marker_regenerates_that_chapter_and_is_consumed(episode, settings, counting):
    provider, services = counting
    run(episode, RunRequest(), settings, services=services)
    provider.calls.clear()
    marker = episode / "images/ch02.png.stale"
    marker.write_text("not even json")  # a marker counts whatever its content
    result = run(episode, RunRequest(), settings, services=services)
    assert dict(provider.calls) == {"ch02": 1}
    assert result.reused == 4
    assert not marker.exists()


def test_marker_rewritten_during_the_run_is_kept(episode, settings, counting):
    provider, services = counting
    run(episode, RunRequest(), settings, services=services)
    marker = episode / "images/ch02.png.stale"
    write_marker(marker, by="upstream", reason="first")

    def rewrite(req):
        if req.chapter_id == "ch02":
            os.utime(marker, ns=(1, 1))  # upstream touched it again meanwhile

    provider.hook = rewrite
    run(episode, RunRequest(), settings, services=services)
    assert marker.exists(), "a marker changed mid-run asks for another regeneration"


def test_marker_for_failed_chapter_is_kept(episode, settings, counting):
    from handlers.errors import ProviderError

    provider, services = counting
    run(episode, RunRequest(), settings, services=services)
    marker = episode / "images/manifest.json.stale"
    write_marker(marker, by="upstream", reason="redo")

    def fail(req):
        if req.chapter_id == "ch03":
            raise ProviderError("scripted failure")

    provider.hook = fail
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "failed" and result.failed == 1
    assert "ch03 failed: scripted failure" in result.message
    assert marker.exists()
    assert statuses(episode)["ch03"] == "failed"
    assert statuses(episode)["ch02"] == "generated"
    # the next run retries only the failed chapter
    provider.hook = None
    provider.calls.clear()
    again = run(episode, RunRequest(), settings, services=services)
    assert dict(provider.calls) == {"ch02": 1, "ch03": 1, "ch04": 1}  # marker still asks for all
    assert again.outcome == "ok" and not marker.exists()


def test_stale_input_blocks_and_spends_nothing(episode, settings, counting):
    provider, services = counting
    write_marker(episode / "chapters.json.stale", by="chapterize", reason="script edited")
    before = snapshot(episode)
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "blocked"
    assert "script edited" in result.message and "chapters.json.stale" in result.message
    assert provider.total == 0
    assert snapshot(episode) == before


def test_dry_run_writes_only_the_request_file(episode, settings, counting):
    provider, services = counting
    before = snapshot(episode)
    result = run(episode, RunRequest(dry_run=True), settings, services=services)
    assert result.outcome == "dry_run"
    after = snapshot(episode)
    assert set(after) - set(before) == {"images/imagegen_request.json"}
    assert provider.total == 0
    req = json.loads((episode / "images/imagegen_request.json").read_text(encoding="utf-8"))
    by_id = {c["chapter_id"]: c for c in req["chapters"]}
    assert by_id["ch02"]["action"] == "generate" and by_id["ch01"]["action"] == "template"
    assert by_id["ch02"]["model"] == "offline-pillow-1"
    assert by_id["ch02"]["size"] == "auto" and by_id["ch02"]["frame"] == "1920x1080"
    assert "Eski bir pazar" in by_id["ch02"]["prompt"]
    assert req["estimated_cost_usd"] == 0.0


def test_a_real_run_removes_the_request_file_of_an_earlier_dry_run(episode, settings, counting):
    _, services = counting
    request_file = episode / "images/imagegen_request.json"
    run(episode, RunRequest(dry_run=True), settings, services=services)
    assert request_file.is_file()
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "ok", result.message
    assert not request_file.exists()
    # Also when the real run finds nothing to do: the plan it described is not followed.
    run(episode, RunRequest(dry_run=True), settings, services=services)
    assert run(episode, RunRequest(), settings, services=services).outcome == "up_to_date"
    assert not request_file.exists()


def test_lost_manifest_is_rebuilt_from_png_metadata_without_paying(episode, settings, counting):
    provider, services = counting
    run(episode, RunRequest(), settings, services=services)
    first = manifest_of(episode)
    (episode / "images/manifest.json").unlink()
    provider.calls.clear()
    result = run(episode, RunRequest(), settings, services=services)
    assert provider.total == 0
    assert result.reused == 5
    rebuilt = manifest_of(episode)
    for old, new in zip(first["chapters"], rebuilt["chapters"], strict=True):
        for key in ("chapter_id", "status", "prompt", "model", "sha256", "chapter_hash"):
            assert old[key] == new[key], key


def test_damaged_image_is_regenerated(episode, settings, counting):
    provider, services = counting
    run(episode, RunRequest(), settings, services=services)
    img = episode / "images/ch03.png"
    data = bytearray(img.read_bytes())
    data[-100] ^= 0xFF  # same size, new mtime, different bytes
    img.write_bytes(bytes(data))
    provider.calls.clear()
    run(episode, RunRequest(), settings, services=services)
    assert dict(provider.calls) == {"ch03": 1}


def test_turkish_text_intact_in_manifest_and_png(episode, settings, counting):
    _, services = counting
    run(episode, RunRequest(), settings, services=services)
    raw = (episode / "images/manifest.json").read_bytes().decode("utf-8")
    assert "Giriş: Para nedir?" in raw and "\\u" not in raw
    assert "Cüzdan uygulaması" in raw
    meta = read_png_meta(episode / "images/ch01.png")
    assert meta["title"] == "Giriş: Para nedir?"
    assert "örtüşmez" in read_png_meta(episode / "images/ch02.png")["prompt"]


def test_concurrent_generation_is_bounded(episode, settings, counting):
    import threading
    import time

    provider, services = counting
    active = 0
    peak = 0
    lock = threading.Lock()

    def slow(req):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.2)
        with lock:
            active -= 1

    provider.hook = slow
    settings.image.concurrency = 2
    run(episode, RunRequest(), settings, services=services)
    assert peak == 2


def test_cancel_starts_no_new_chapter(episode, settings, counting):
    import threading

    provider, services = counting
    cancel = threading.Event()
    settings.image.concurrency = 1

    def stop_after_first(req):
        cancel.set()

    provider.hook = stop_after_first
    result = run(episode, RunRequest(cancel=cancel), settings, services=services)
    assert result.outcome == "interrupted"
    assert provider.total == 1
    done = statuses(episode)
    assert list(done.values()).count("generated") == 1
    # a later run finishes the rest without redoing the finished one
    provider.hook = None
    provider.calls.clear()
    settings_done = run(episode, RunRequest(), settings, services=services)
    assert settings_done.outcome == "ok" and provider.total == 2
