"""The manifest's peer-readable images[], the static gallery written after every job,
and the review server's rules (token, confinement, the files it writes), over HTTP
without a browser (tests/test_review_browser.py drives a real Chromium)."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from config import Settings, load_settings
from config.settings import StoryboardSettings
from daemon.web import build_app
from handlers.episode.dirs import EpisodeDirs
from handlers.episode.paths import episode_paths
from handlers.imagegen import RunRequest, run
from handlers.outputs.gallery import write_episode_gallery
from handlers.outputs.markers import write_marker
from tests.conftest import demo_doc, snapshot, write_episode
from tests.support.episodes import episode_doc, write_doc

SCRIPT_TITLE = "<script>alert(1)</script>"


@pytest.fixture
def three(outputs: Path) -> Settings:
    return load_settings(overrides={"outputs_dir": outputs, "selection": {"candidates": 3}})


def hostile_episode(outputs: Path) -> Path:
    doc = demo_doc()
    doc["chapters"][2]["title"] = f"{SCRIPT_TITLE} Şeker & <b>kalın</b>"
    doc["chapters"][1]["visual"]["description"] = 'Pazar "yeri" <img src=x onerror=alert(2)>'
    return write_episode(outputs, "ep001", doc)


def test_manifest_images_for_peer_tools(episode, three):
    run(episode, RunRequest(), three)
    manifest = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))
    images = manifest["images"]
    assert [i["chapter_id"] for i in images] == ["ch01", "ch02", "ch03", "ch04", "ch05"]
    assert manifest["chapters"]  # today's fields stay
    for image, entry in zip(images, manifest["chapters"], strict=True):
        assert image["file_path"] == f"images/{entry['chapter_id']}.png"
        assert image["size_bytes"] == (episode / image["file_path"]).stat().st_size
        assert image["mime_type"] == "image/png"
        assert image["chapter_title"] == entry["title"]
        assert image["visual_type"] == entry["visual_type"]
        assert image["generation_method"] == entry["generation_method"]
        meta = image["metadata"]
        assert meta["prompt"] == entry["prompt"] and meta["model"] == entry["model"]
        assert meta["cost_usd"] == entry["cost_usd"]
        assert meta["candidates"]["count"] == len(entry["candidates"])
        assert meta["candidates"]["selected"] == entry["selected"]
    assert images[1]["metadata"]["candidates"]["count"] == 3
    assert images[1]["metadata"]["candidates"]["method"] == "checks"
    assert images[0]["chapter_title"] == "Giriş: Para nedir?"  # Turkish as written


def test_failed_chapter_is_listed_without_a_file(outputs, settings):
    doc = demo_doc()
    doc["chapters"][2]["visual"]["type"] = "hologram"  # unknown visual type: skipped
    episode = write_episode(outputs, "ep001", doc)
    run(episode, RunRequest(), settings)
    images = json.loads((episode / "images/manifest.json").read_text())["images"]
    assert images[2]["file_path"] is None and images[2]["metadata"]["status"] == "skipped"


def test_gallery_after_a_job(outputs, three):
    episode = hostile_episode(outputs)
    assert run(episode, RunRequest(), three).outcome == "ok"
    assert "refinement trace" not in (episode / "images/index.html").read_text(encoding="utf-8")
    # The writer + critic loop leaves this trace when it refines a prompt (the template
    # writer here leaves none): the page links it.
    trace = episode / "images/prompts/ch02/trace.json"
    trace.parent.mkdir(parents=True, exist_ok=True)
    trace.write_text('{"rounds": []}', encoding="utf-8")
    with EpisodeDirs(episode_paths(outputs, episode)) as dirs:
        assert write_episode_gallery(dirs) == []
    page = (episode / "images/index.html").read_text(encoding="utf-8")
    manifest = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))

    # Escaped, never markup; Turkish letters intact (UTF-8, no entities needed).
    assert "<script>alert(1)</script>" not in page and "<script" not in page
    assert html.escape(SCRIPT_TITLE, quote=False) in page
    assert "Şeker &amp; &lt;b&gt;kalın&lt;/b&gt;" in page
    assert "onerror=alert(2)" not in page.replace("&lt;img src=x onerror=alert(2)&gt;", "")
    assert "Para Nedir ve Bitcoin Neden Farklı?" in page
    # Nothing from outside, nothing absolute: opens from disk anywhere.
    links = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert links and not [u for u in links if re.match(r"^(?:[a-z]+:|/)", u)]
    for link in links:
        assert (episode / "images" / link.split("?")[0]).resolve().exists(), link
    assert 'href="prompts/ch02/trace.json"' in page
    assert "refinement trace" in page
    # Every chapter, every candidate with its checks and scores, the choice and why.
    for e in manifest["chapters"]:
        assert f'id="{e["chapter_id"]}"' in page
        for c in e["candidates"]:
            assert f'data-candidate="{c["id"]}"' in page
    assert manifest["chapters"][1]["selection"]["why"].split(";")[0] in html.unescape(page)
    assert "not_blank" in page and "checks passed" in page
    # One small thumbnail per picture, made while the images were written: a chapter
    # image shows its chosen candidate's (the same pixels), a template its own.
    shas = {e["sha256"] for e in manifest["chapters"] if not e["candidates"]} | {
        c["sha256"] for e in manifest["chapters"] for c in e["candidates"]
    }
    ch02 = manifest["chapters"][1]
    chosen = next(c for c in ch02["candidates"] if c["id"] == ch02["selected"])
    assert f'src="thumbs/{chosen["sha256"][:20]}.jpg" alt="Takas' in page
    thumbs = sorted((episode / "images/thumbs").iterdir())
    assert {p.stem for p in thumbs} == {s[:20] for s in shas}
    for p in thumbs:
        with Image.open(p) as img:
            assert img.format == "JPEG" and img.size == (480, 270)
        assert p.stat().st_size < 60_000
    # The tree's page lists the episode.
    tree = (outputs / "index.html").read_text(encoding="utf-8")
    assert 'href="ep001/images/index.html"' in tree and "Para Nedir" in tree


def test_gallery_made_for_an_older_episode_and_thumbnails_pruned(episode, three):
    run(episode, RunRequest(), three)
    # An episode from before galleries: no page, no thumbnails.
    gallery = episode / "images/index.html"
    gallery.unlink()
    for p in (episode / "images/thumbs").iterdir():
        p.unlink()
    assert run(episode, RunRequest(), three).outcome == "up_to_date"
    # 9 candidates and 2 templates: the generated chapters show their chosen candidate's.
    assert gallery.is_file() and len(list((episode / "images/thumbs").iterdir())) == 11
    before = {p.name for p in (episode / "images/thumbs").iterdir()}
    write_marker(episode / "images/ch02.png.stale", by="test", reason="redo")
    run(episode, RunRequest(), three)
    after = {p.name for p in (episode / "images/thumbs").iterdir()}
    assert len(after) == 11 and len(before - after) == 3  # ch02's first 3 candidates


def test_gallery_is_written_and_up_to_date_runs_do_not_touch_it(outputs, three):
    episode = write_doc(outputs, "ep15", episode_doc("ep15", 15))
    run(episode, RunRequest(), three)
    with EpisodeDirs(episode_paths(outputs, episode)) as dirs:
        assert write_episode_gallery(dirs) == []  # its time: bench/bench_review.py
    files = snapshot(outputs)
    assert run(episode, RunRequest(), three).outcome == "up_to_date"
    assert snapshot(outputs) == files


# -- the review server over HTTP --------------------------------------------------------

TOKEN = "t0ken-for-tests"


@pytest.fixture
def client(outputs: Path, three: Settings) -> TestClient:
    run(hostile_episode(outputs), RunRequest(), three)
    app = build_app(three, TOKEN, "imagegen_token_test", "imagegen web (test)")
    return TestClient(app, base_url="http://127.0.0.1:8765")


def authed(client: TestClient) -> TestClient:
    answer = client.get(f"/?token={TOKEN}", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    assert "imagegen_token_test" in client.cookies
    return client


def act(client: TestClient, **body: object) -> tuple[int, dict[str, object]]:
    answer = client.post("/.api/action", json=body)
    return answer.status_code, answer.json() if answer.headers["content-type"].startswith(
        "application/json"
    ) else {"text": answer.text}


def test_every_request_needs_the_token(client, outputs):
    assert client.get("/").status_code == 403
    assert client.get("/ep001/images/index.html").status_code == 403
    assert client.get("/ep001/images/ch01.png").status_code == 403
    assert client.get("/?token=wrong").status_code == 403
    status, _ = act(client, action="select", episode="ep001", chapter_id="ch02", candidate="c02")
    assert status == 403
    assert not (outputs / "ep001/images/ch02.select").exists()
    # A script may send the token as a header instead of the cookie.
    header = {"Authorization": f"token {TOKEN}"}
    assert client.get("/ep001/images/index.html", headers=header).status_code == 200


def test_served_pages_and_files(client, outputs):
    authed(client)
    page = client.get("/ep001/images/index.html")
    assert page.status_code == 200
    assert "Content-Security-Policy" in page.headers
    assert html.escape(SCRIPT_TITLE, quote=False) in page.text
    assert page.text.count("<script>") == 1  # the page's own, and the title is text
    assert page.text.count('data-action="select"') == 6  # 3 chapters x 2 other candidates
    tree = client.get("/")
    assert tree.status_code == 200 and 'href="ep001/images/index.html"' in tree.text
    image = client.get("/ep001/images/ch01.png")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert client.get("/ep001/images/manifest.json").json()["episode_id"] == "ep001"
    version = client.get("/.api/state", params={"episode": "ep001"}).json()["version"]
    assert version and version == client.get("/.api/state?episode=ep001").json()["version"]
    # Confinement: nothing outside the root, nothing hidden, nothing but media and JSON.
    assert client.get("/.imagegen/media.sqlite3").status_code in (403, 404)
    assert client.get("/ep001/../../etc/passwd").status_code in (403, 404)
    assert client.get("/ep001/images/%2e%2e/%2e%2e/%2e%2e/etc/passwd").status_code in (403, 404)
    (outputs.parent / "secret.json").write_text("{}")
    (outputs / "ep001/images/escape.json").symlink_to(outputs.parent / "secret.json")
    assert client.get("/ep001/images/escape.json").status_code == 403


def test_actions_write_only_the_request_files_a_person_could(client, outputs):
    authed(client)
    images = outputs / "ep001/images"
    before = snapshot(outputs)
    status, answer = act(
        client, action="select", episode="ep001", chapter_id="ch02", candidate="c03"
    )
    assert status == 200, answer
    pick = json.loads((images / "ch02.select").read_text())
    assert pick["candidate"] == "c03" and pick["selected_by"] == "imagegen web (test)"
    status, _ = act(client, action="regenerate_chapter", episode="ep001", chapter_id="ch04")
    assert status == 200
    assert (
        json.loads((images / "ch04.png.stale").read_text())["invalidated_by"]
        == "imagegen web (test)"
    )
    status, _ = act(client, action="regenerate_episode", episode="ep001")
    assert status == 200 and (images / "manifest.json.stale").is_file()
    written = set(snapshot(outputs)) - set(before)
    assert written == {
        "ep001/images/ch02.select",
        "ep001/images/ch04.png.stale",
        "ep001/images/manifest.json.stale",
    }
    # The served page shows them as waiting for the daemon.
    page = client.get("/ep001/images/index.html").text
    assert "pick of c03 requested" in page and "regeneration requested" in page

    # Refused: unknown chapter or candidate, a path as episode, a form post, another site.
    assert (
        act(client, action="select", episode="ep001", chapter_id="ch02", candidate="c09")[0] == 400
    )
    assert (
        act(client, action="select", episode="ep001", chapter_id="../x", candidate="c01")[0] == 400
    )
    assert act(client, action="regenerate_episode", episode="../outside")[0] == 403
    assert act(client, action="regenerate_episode", episode="nope")[0] == 404
    assert act(client, action="delete_everything", episode="ep001")[0] == 400
    form = client.post("/.api/action", data={"action": "regenerate_episode", "episode": "ep001"})
    assert form.status_code == 415
    other_site = client.post(
        "/.api/action",
        json={"action": "regenerate_episode", "episode": "ep001"},
        headers={"Origin": "http://evil.example"},
    )
    assert other_site.status_code == 403
    assert set(snapshot(outputs)) - set(before) == written


def test_a_clip_is_regenerated_from_the_page_by_its_marker(outputs, three):
    board = three.model_copy(update={"storyboard": StoryboardSettings(enabled=True)})
    episode = write_doc(outputs, "ep-board", episode_doc("ep-board", 3))
    assert run(episode, RunRequest(), board).ok
    client = authed(
        TestClient(
            build_app(board, TOKEN, "imagegen_token_test", "imagegen web (test)"),
            base_url="http://127.0.0.1:8765",
        )
    )
    page = client.get("/ep-board/images/index.html").text
    assert page.count('data-action="regenerate_clip"') == 3
    version = client.get("/.api/state", params={"episode": "ep-board"}).json()["version"]
    before = snapshot(outputs)

    status, answer = act(client, action="regenerate_clip", episode="ep-board", chapter_id="ch02")
    assert status == 200, answer
    written = set(snapshot(outputs)) - set(before)
    assert written == {"ep-board/storyboard/ch02.stale"}
    marker = json.loads((episode / "storyboard/ch02.stale").read_text())
    assert marker["invalidated_by"] == "imagegen web (test)"
    assert client.get("/.api/state", params={"episode": "ep-board"}).json()["version"] != version
    page = client.get("/ep-board/images/index.html").text
    section = page.split('id="ch02"', 1)[1].split("<section", 1)[0]
    assert "new clip requested" in section
    assert re.search(r'data-action="regenerate_clip" data-chapter="ch02" disabled', section)

    # The daemon's next job (here: a run) redoes that clip and consumes the marker.
    frames = {
        m: (episode / f"storyboard/ch02/{m}.png").stat().st_mtime_ns for m in ("start", "end")
    }
    assert run(episode, RunRequest(), board).ok
    assert not (episode / "storyboard/ch02.stale").exists()
    assert all(
        (episode / f"storyboard/ch02/{m}.png").stat().st_mtime_ns != t for m, t in frames.items()
    )
    assert "new clip requested" not in client.get("/ep-board/images/index.html").text

    # Refused: a chapter with no clip, an episode with no storyboard.
    assert act(client, action="regenerate_clip", episode="ep-board", chapter_id="ch09")[0] == 400
    plain = write_doc(outputs, "ep-plain", episode_doc("ep-plain", 2))
    assert run(plain, RunRequest(), three).ok
    assert act(client, action="regenerate_clip", episode="ep-plain", chapter_id="ch01")[0] == 400
    assert not list(plain.rglob("*.stale"))
