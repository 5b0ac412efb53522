"""The storyboard with no key: the template planner and the offline renderer. A clip per
chapter with a start and an end frame, a component sheet, each step redone only when
its inputs change, markers for one clip or all, the daemon's pre-check and triggers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from config import Settings, load_settings
from daemon.cli import main
from daemon.triggers import classify
from handlers.episode.dirs import EpisodeDirs
from handlers.episode.paths import episode_paths
from handlers.imagegen import RunRequest, needs_job, run, state_key
from handlers.outputs.gallery import episode_page
from handlers.outputs.markers import write_marker
from handlers.run.services import build_services
from handlers.storyboard.model import Storyboard
from tests.conftest import CountingProvider, snapshot
from tests.support.episodes import episode_doc, write_doc


def board_settings(outputs: Path, **storyboard: Any) -> Settings:
    return load_settings(
        overrides={"outputs_dir": outputs, "storyboard": {"enabled": True, **storyboard}}
    )


def read_board(episode: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (episode / "storyboard/storyboard.json").read_text(encoding="utf-8")
    )
    return data


def clips(episode: Path) -> dict[str, dict[str, Any]]:
    return {c["chapter_id"]: c for c in read_board(episode)["clips"]}


def counting_services(settings: Settings) -> tuple[CountingProvider, Any]:
    services = build_services(settings)
    provider = CountingProvider()
    services.chain[0] = type(services.chain[0])(services.chain[0].spec, provider)
    return provider, services


def test_eight_chapters_make_eight_clips_of_two_full_frames(outputs):
    episode = write_doc(outputs, "ep-board", episode_doc("ep-board", 8))
    settings = board_settings(outputs)
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "ok", result.message
    assert result.storyboard == "storyboard: 8 clips, 16 frames made"
    board = Storyboard.model_validate(read_board(episode))  # the file is its schema
    assert board.state == "complete" and [c.clip_number for c in board.clips] == list(range(1, 9))
    for clip in board.clips:
        assert clip.status in ("generated", "template"), (clip.chapter_id, clip.error)
        for moment, path in (("start", clip.start_frame_path), ("end", clip.end_frame_path)):
            assert path == f"storyboard/{clip.chapter_id}/{moment}.png"
            with Image.open(episode / path) as img:
                assert img.size == (1920, 1080)
        assert clip.motion_description and clip.camera_movement and clip.shot_size
        assert clip.lens and clip.lens.endswith("mm") and clip.duration_seconds
        assert clip.prompts.start and clip.prompts.end and clip.prompts.start != clip.prompts.end
    ch02 = clips(episode)["ch02"]
    assert ch02["duration_seconds"] == 9  # the narration's estimate
    assert ch02["start"]["selection"]["method"] == "checks"
    assert ch02["start"]["candidates"][0]["file"] == "storyboard/ch02/candidates/start/c01.png"
    sheet = board.components
    assert sheet is not None and sheet.made.planner == "template"
    assert {"market", "townspeople"} <= {c.id for _, c in sheet.of_chapter("ch02")}
    # Every frame prompt carries the descriptions of the components its clip shows.
    by_id = sheet.by_id()
    for clip in board.clips:
        for prompt in (clip.prompts.start, clip.prompts.end):
            for cid in clip.components:
                assert by_id[cid].description in (prompt or "")
    provenance = json.loads((episode / "provenance/imagegen_provenance.json").read_text())
    assert provenance["storyboard"]["frames_made"] == 16
    assert needs_job(episode) is None

    # A rerun with nothing changed writes nothing and asks for nothing.
    before = snapshot(outputs)
    provider, services = counting_services(settings)
    assert run(episode, RunRequest(), settings, services=services).outcome == "up_to_date"
    assert snapshot(outputs) == before and provider.total == 0


@pytest.mark.parametrize("estimate", [float("inf"), float("nan"), 1e308, 10**25, -3, "9"])
def test_a_nonsense_narration_estimate_is_replaced_by_the_words(outputs, estimate):
    """JSON carries inf, nan, huge numbers and strings as readily as good ones; the clip
    then lasts as long as its words, as when the estimate is missing."""
    durations = {}
    for name, value in (("ep-words", None), ("ep-hostile", estimate)):
        doc = episode_doc(name, 2)
        doc["chapters"][1]["narration"]["estimated_duration_seconds"] = value
        result = run(write_doc(outputs, name, doc), RunRequest(), board_settings(outputs))
        assert result.outcome == "ok", result.message
        durations[name] = clips(outputs / name)["ch02"]["duration_seconds"]
        told = [w for w in result.warnings if "narration.estimated_duration_seconds" in w]
        if value is None:
            assert told == []
        else:  # the upstream author learns which chapter, which field, what was done
            assert len(told) == 1 and "chapter_id 'ch02'" in told[0], told
            assert "taken from the narration's words" in told[0]
    assert durations["ep-hostile"] == durations["ep-words"] >= 1


def test_one_changed_description_redoes_only_its_clip(outputs):
    episode = write_doc(outputs, "ep-change", episode_doc("ep-change", 8))
    settings = board_settings(outputs)
    assert run(episode, RunRequest(), settings).ok
    before = clips(episode)
    doc = episode_doc("ep-change", 8)
    doc["chapters"][3]["visual"]["description"] = "Bir telefonda açık duran kripto cüzdanı"
    write_doc(outputs, "ep-change", doc)
    provider, services = counting_services(settings)
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "ok", result.message
    after = clips(episode)
    # ch04's image and its two frames; nothing else was drawn.
    assert dict(provider.calls) == {"ch04": 3}
    assert after["ch04"]["plan"]["input_hash"] != before["ch04"]["plan"]["input_hash"]
    assert "kripto cüzdanı" in after["ch04"]["prompts"]["start"]
    for cid in before:
        if cid == "ch04":
            continue
        assert after[cid]["plan"] == before[cid]["plan"], cid
        assert after[cid]["start"]["sha256"] == before[cid]["start"]["sha256"], cid
        assert after[cid]["end"]["sha256"] == before[cid]["end"]["sha256"], cid
    assert result.storyboard == "storyboard: 8 clips, 2 frames made"


def test_a_clip_marker_redoes_that_clip_and_is_consumed(outputs):
    episode = write_doc(outputs, "ep-marker", episode_doc("ep-marker", 4))
    settings = board_settings(outputs)
    assert run(episode, RunRequest(), settings).ok
    before = clips(episode)
    marker = episode / "storyboard/ch03.stale"
    write_marker(marker, by="editor", reason="the blocks look wrong")
    assert needs_job(episode) == "storyboard marker present"
    trigger = classify(outputs, "closed", str(marker), None, False)
    assert trigger is not None and (trigger.episode, trigger.kind) == (episode, "marker")
    provider, services = counting_services(settings)
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "ok", result.message
    assert dict(provider.calls) == {"ch03": 2}  # its two frames; no chapter image
    assert not marker.exists()
    after = clips(episode)
    assert after["ch03"]["start"]["candidates"][-1]["id"] == "c02"  # a new generation
    assert after["ch02"]["start"] == before["ch02"]["start"]
    assert needs_job(episode) is None
    # The whole storyboard: storyboard.json.stale.
    write_marker(episode / "storyboard/storyboard.json.stale", by="editor", reason="all")
    provider, services = counting_services(settings)
    assert run(episode, RunRequest(), settings, services=services).ok
    assert provider.total == 6  # two frames for each of the three generated clips
    assert not (episode / "storyboard/storyboard.json.stale").exists()


def test_an_episode_with_a_storyboard_keeps_it_current_without_the_setting(outputs):
    episode = write_doc(outputs, "ep-sticky", episode_doc("ep-sticky", 3))
    assert run(episode, RunRequest(), board_settings(outputs)).ok
    doc = episode_doc("ep-sticky", 3)
    doc["chapters"][1]["visual"]["description"] = "Kalabalık bir şehir meydanı"
    write_doc(outputs, "ep-sticky", doc)
    plain = load_settings(overrides={"outputs_dir": outputs})
    assert not plain.storyboard.enabled
    result = run(episode, RunRequest(), plain)
    assert result.ok and result.storyboard == "storyboard: 3 clips, 2 frames made"
    assert "şehir meydanı" in clips(episode)["ch02"]["prompts"]["start"]


def test_off_by_default_and_on_for_one_run_with_the_flag(outputs, capsys):
    episode = write_doc(outputs, "ep-flag", episode_doc("ep-flag", 2))
    assert run(episode, RunRequest(), load_settings(overrides={"outputs_dir": outputs})).ok
    assert not (episode / "storyboard").exists()
    code = main(["run", "--outputs-dir", str(outputs), "--storyboard", str(episode)])
    assert code == 0
    assert "storyboard: 2 clips, 4 frames made" in capsys.readouterr().out
    assert clips(episode)["ch02"]["status"] == "generated"


def test_a_stopped_storyboard_is_finished_by_the_next_job(outputs):
    episode = write_doc(outputs, "ep-resume", episode_doc("ep-resume", 3))
    settings = board_settings(outputs)
    assert run(episode, RunRequest(), settings).ok
    board = read_board(episode)
    board["state"] = "in_progress"  # what a kill mid-storyboard leaves
    clip = board["clips"][2]
    end = clip["end"]
    clip["end"] = None
    (episode / "storyboard/storyboard.json").write_text(json.dumps(board), encoding="utf-8")
    (episode / "storyboard/ch03/end.png").unlink()
    assert needs_job(episode) == "storyboard unfinished (a run was stopped)"
    provider, services = counting_services(settings)
    result = run(episode, RunRequest(), settings, services=services)
    assert result.ok, result.message
    # The end frame's kept candidate is used again: nothing is drawn.
    assert provider.total == 0
    again = clips(episode)["ch03"]["end"]
    assert again["candidates"][0]["note"].startswith("recovered")
    assert again["candidates"][0]["sha256"] == end["candidates"][0]["sha256"]
    assert needs_job(episode) is None and read_board(episode)["state"] == "complete"


def test_state_key_sees_a_clip_marker(outputs, monkeypatch):
    episode = write_doc(outputs, "ep-key", episode_doc("ep-key", 2))
    assert run(episode, RunRequest(), board_settings(outputs)).ok
    later = time.time_ns() + 60 * 10**9  # past the racy window, without waiting for it
    monkeypatch.setattr("handlers.outputs.current.time.time_ns", lambda: later)
    before = state_key(episode)
    assert before is not None
    write_marker(episode / "storyboard/ch01.stale", by="test", reason="redo")
    assert state_key(episode) != before  # the daemon's cache does not hide the marker


@pytest.mark.parametrize("camera", ["push in", "pan right", "tilt up", "pull out", "static"])
def test_offline_frames_of_a_clip_show_one_scene_moved_by_the_camera(camera):
    """The offline end frame is the start frame's scene after the camera move: for a
    push in, the centre of the start frame scaled up is close to the end frame."""
    from handlers.drawing.offline import OfflineRenderer
    from handlers.drawing.scene import canvas_size
    from handlers.drawing.shots import box, windows
    from handlers.providers.base import ImageRequest, Shot

    renderer = OfflineRenderer()

    def frame(moment: str, candidate: int = 1, look: int | None = None) -> Image.Image:
        request = ImageRequest(
            chapter_id="ch02",
            title="Takas",
            visual_type="b_roll",
            prompt=f"{moment} prompt",
            width=480,
            height=270,
            candidate=candidate,
            shot=Shot("Takas\nEski bir pazar yerinde insanlar", camera, moment, look),  # type: ignore[arg-type]
        )
        return renderer.generate(request).image

    start, end = frame("start"), frame("end", look=1)
    assert start.size == end.size == (480, 270)
    if camera != "static":  # end candidates carry the move to different lengths
        assert frame("end", candidate=2, look=1).tobytes() != end.tobytes()
    if camera == "push in":
        # The end window lies inside the start one: cut it out of the start frame.
        width, height = canvas_size(720, 405)
        first, last = (box(w, width, height) for w in windows(camera))
        scale = 480 / (first[2] - first[0])
        origin = (first[0], first[1], first[0], first[1])
        inner = [round((v - o) * scale) for v, o in zip(last, origin, strict=True)]
        crop = start.crop((inner[0], inner[1], inner[2], inner[3]))
        assert _similar(crop.resize((96, 54)), end.resize((96, 54)))
        assert not _similar(start.resize((96, 54)), end.resize((96, 54)))
    if camera == "static":
        assert _similar(start.resize((96, 54)), end.resize((96, 54)))


def _similar(a: Image.Image, b: Image.Image) -> bool:
    """Mean absolute difference of the upper two thirds (above the title band and the
    drawn camera marks) under 40 of 255."""
    w, h = a.size
    pa = a.convert("L").crop((0, 0, w, h * 2 // 3)).tobytes()
    pb = b.convert("L").crop((0, 0, w, h * 2 // 3)).tobytes()
    return sum(abs(x - y) for x, y in zip(pa, pb, strict=True)) / len(pa) < 40


def test_an_up_to_date_storyboard_loads_no_sdk_and_no_pillow(outputs):
    from tests.test_imports import _cli

    episode = write_doc(outputs, "ep-light", episode_doc("ep-light", 4))
    args = ["run", "--storyboard", "--outputs-dir", str(outputs), str(episode)]
    first = _cli(args)
    assert first["code"] == 0 and "storyboard: 4 clips, 8 frames made" in str(first["stdout"])
    again = _cli(args)
    assert "[SKIP] ep-light -> up to date" in str(again["stdout"])
    assert again["loaded"] == [], again


def test_the_daemon_wakes_on_a_clip_marker(outputs):
    from tests.support.daemon_proc import DaemonProcess

    daemon = DaemonProcess(outputs, config="[storyboard]\nenabled = true\n", settle=0.1)
    try:
        daemon.start()
        episode = write_doc(outputs, "ep-wake", episode_doc("ep-wake", 3))
        assert daemon.wait_jobs("ep-wake", timeout=60)[0]["status"] == "ok"
        first = clips(episode)["ch02"]["start"]["sha256"]
        write_marker(episode / "storyboard/ch02.stale", by="editor", reason="again")
        jobs = daemon.wait_jobs("ep-wake", count=2, timeout=30)
        assert jobs[1]["status"] == "ok"
        assert not (episode / "storyboard/ch02.stale").exists()
        assert clips(episode)["ch02"]["start"]["sha256"] != first
        # Woken by the marker itself (its watch), not by a rescan (every 300 s).
        assert any(
            e.get("event") == "job_started" and "marker storyboard/ch02.stale" in e["message"]
            for e in daemon.events()
        )
    finally:
        daemon.stop()


def test_the_gallery_shows_each_clip_as_a_strip(outputs):
    episode = write_doc(outputs, "ep-strip", episode_doc("ep-strip", 3))
    assert run(episode, RunRequest(), board_settings(outputs)).ok
    page = (episode / "images/index.html").read_text(encoding="utf-8")
    board = clips(episode)
    for cid, clip in board.items():
        section = page.split(f'id="{cid}"', 1)[1].split("<section", 1)[0]
        assert f'data-clip="{clip["clip_number"]}"' in section
        assert clip["camera_movement"] in section and clip["motion_description"] in section
        for moment in ("start", "end"):
            sha = clip[moment]["sha256"]
            link = f'../storyboard/{cid}/{moment}.png?v={sha[:12]}"'
            assert link in section
            thumb = section.split(link, 1)[1].split('src="', 1)[1].split('"', 1)[0]
            assert (episode / "images" / thumb).is_file()  # a small copy, not the frame

    # A damaged storyboard.json costs the strips, never the page (the next job rebuilds it).
    (episode / "storyboard/storyboard.json").write_text("{", encoding="utf-8")
    with EpisodeDirs(episode_paths(outputs, episode)) as dirs:
        html = episode_page(dirs, served=True)
    assert 'class="strip"' not in html and 'id="ch01"' in html
