"""The review pages in a real headless Chromium (Debian's chromium + chromium-driver,
installed by scripts/install-system-deps), driven by Selenium:

- the static gallery opens from file:// with every image decoded;
- on `imagegen web`, "Use this" on a candidate writes the pick, the daemon's job (run
  here in the test, as the daemon would) applies it, and the page shows the new image
  within seconds, the manifest saying `method: manual`;
- an action without the token is refused;
- a chapter titled <script> shows as text.

Screenshots go to the test's own directory (pytest's tmp_path), named in the output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import Settings, load_settings
from handlers.imagegen import RunRequest, run
from tests.conftest import REPO, demo_doc, write_episode

CHROMIUM = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
SCRIPT_TITLE = "<script>alert(1)</script> Şeker"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is a dev dependency")
from selenium.common.exceptions import (  # noqa: E402
    NoAlertPresentException,
    SessionNotCreatedException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    missing = [p for p in (CHROMIUM, DRIVER) if not os.path.exists(p)]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: run scripts/install-system-deps")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",  # as root the sandbox cannot start
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--window-size=1400,1600",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    try:
        driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    except (SessionNotCreatedException, WebDriverException) as e:
        pytest.skip(f"Chromium cannot start here: {str(e).splitlines()[0]}")
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def reviewed(outputs: Path) -> tuple[Path, Settings]:
    """An episode of the demo with three candidates per generated chapter and a
    chapter title that is a script."""
    settings = load_settings(overrides={"outputs_dir": outputs, "selection": {"candidates": 3}})
    doc = demo_doc()
    doc["chapters"][2]["title"] = SCRIPT_TITLE
    episode = write_episode(outputs, "ep001", doc)
    assert run(episode, RunRequest(), settings).outcome == "ok"
    return episode, settings


def all_images_decoded(driver: webdriver.Chrome) -> tuple[int, list[str]]:
    """(images on the page, the sources of those that did not decode)."""
    WebDriverWait(driver, 10).until(
        lambda d: d.execute_script("return Array.from(document.images).every(i => i.complete)")
    )
    found = driver.execute_script(
        "return Array.from(document.images).map(i => [i.currentSrc, i.naturalWidth])"
    )
    return len(found), [src for src, width in found if not width]


def assert_no_alert(driver: webdriver.Chrome) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018


def test_static_gallery_opens_from_disk(browser, reviewed, tmp_path):
    episode, _ = reviewed
    browser.get((episode / "images/index.html").as_uri())
    count, broken = all_images_decoded(browser)
    assert count == 5 + 9 and broken == []  # 5 chosen images, 3 x 3 candidates
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, ".chapter-title")]
    assert titles[2] == SCRIPT_TITLE  # shown as text, Turkish intact
    assert_no_alert(browser)
    assert browser.execute_script("return document.scripts.length") == 0
    assert browser.find_elements(By.CSS_SELECTOR, "button") == []  # buttons need the server
    shot = tmp_path / "static-gallery.png"
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    # The tree's page links the episode, from disk too.
    browser.get((episode.parent / "index.html").as_uri())
    browser.find_element(By.LINK_TEXT, "ep001").click()
    assert browser.current_url.endswith("/ep001/images/index.html")


def test_storyboard_strips_open_from_disk(browser, outputs, tmp_path):
    settings = load_settings(overrides={"outputs_dir": outputs, "storyboard": {"enabled": True}})
    episode = write_episode(outputs, "ep-board", demo_doc())
    assert run(episode, RunRequest(), settings).outcome == "ok"
    browser.get((episode / "images/index.html").as_uri())
    # Every strip image now, not when scrolled to (they are lazy).
    browser.execute_script("document.querySelectorAll('img').forEach(i => i.loading = 'eager')")
    _, broken = all_images_decoded(browser)
    strips = browser.find_elements(By.CSS_SELECTOR, ".strip")
    assert len(strips) == 5 and broken == []  # a clip per chapter, every frame decoded
    for strip in strips:
        moments = [
            f.get_attribute("data-frame") for f in strip.find_elements(By.TAG_NAME, "figure")
        ]
        assert moments == ["start", "end"]
        assert strip.find_element(By.CSS_SELECTOR, ".motion").text  # the move, in words
    # The full frame behind a thumbnail opens from disk too.
    link = strips[1].find_element(By.CSS_SELECTOR, 'figure[data-frame="end"] a')
    assert link.get_attribute("href").split("?")[0].endswith("/storyboard/ch02/end.png")
    strips[1].screenshot(str(tmp_path / "storyboard-strip.png"))
    print(f"screenshot: {tmp_path / 'storyboard-strip.png'}")
    link.click()
    assert browser.execute_script("return document.images[0].naturalWidth") == 1920


@pytest.fixture
def web(reviewed: tuple[Path, Settings]) -> Iterator[str]:
    """`imagegen web` as a subprocess on a free port; yields the address it printed."""
    episode, _ = reviewed
    env = {k: v for k, v in os.environ.items() if not k.startswith("IMAGEGEN_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daemon",
            "web",
            "--outputs-dir",
            str(episode.parent),
            "--port",
            "0",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            match = re.search(r"open (http://127\.0\.0\.1:\d+/\?token=\S+)", line)
            url = match.group(1) if match else None
        assert url, "imagegen web printed no address"
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_use_this_on_a_candidate_changes_the_chosen_image(browser, reviewed, web, tmp_path):
    episode, settings = reviewed
    base = web.split("/?token=")[0]
    browser.get(web)  # the token once: then a cookie, and the address without it
    assert browser.current_url == base + "/"
    browser.get(f"{base}/ep001/images/index.html")
    count, broken = all_images_decoded(browser)
    assert count == 14 and broken == []
    assert browser.find_elements(By.CSS_SELECTOR, ".chapter-title")[2].text == SCRIPT_TITLE
    assert_no_alert(browser)

    chapter = browser.find_element(By.ID, "ch03")
    chosen = chapter.find_element(By.CSS_SELECTOR, "img.chosen-image")
    before = chosen.get_attribute("data-selected")
    button = next(
        b
        for b in chapter.find_elements(By.CSS_SELECTOR, "button[data-action=select]")
        if b.get_attribute("data-candidate") != before
    )
    wanted = button.get_attribute("data-candidate")
    button.click()

    # The server wrote the pick; the daemon's job applies it (here, the same run()).
    select = episode / "images/ch03.select"
    WebDriverWait(browser, 10).until(lambda _: select.exists())
    assert json.loads(select.read_text())["candidate"] == wanted
    # The page reloads itself when its files change: an element found just before a
    # reload is stale, and the wait looks again.
    reloading = WebDriverWait(browser, 10, ignored_exceptions=[StaleElementReferenceException])
    reloading.until(
        lambda d: "pick of" in d.find_element(By.ID, "ch03").text
    )  # the page polled, reloaded and shows the request as waiting
    assert run(episode, RunRequest(trigger="daemon: pick"), settings).picked == 1
    reloading.until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, "#ch03 img.chosen-image").get_attribute("data-selected")
            == wanted
        )
    )  # within the wait's 10 s: the page's own polling, not a wall-clock assertion
    manifest = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))
    entry = manifest["chapters"][2]
    assert entry["selected"] == wanted and entry["selection"]["method"] == "manual"
    new_sha = browser.find_element(By.CSS_SELECTOR, "#ch03 img.chosen-image").get_attribute(
        "data-sha256"
    )
    assert new_sha == entry["sha256"]
    _, broken = all_images_decoded(browser)
    assert broken == []
    marked = browser.find_element(By.CSS_SELECTOR, f"#ch03 .cand[data-candidate={wanted}]")
    assert "picked by a person" in marked.text
    shot = tmp_path / "review-after-pick.png"
    browser.execute_script("document.getElementById('ch03').scrollIntoView()")
    browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")
    if os.environ.get("REVIEW_SCREENSHOT_TO"):  # for the README's picture
        shutil.copy(shot, os.environ["REVIEW_SCREENSHOT_TO"])


def test_action_without_the_token_is_refused(browser, reviewed, web):
    episode, _ = reviewed
    base = web.split("/?token=")[0]
    browser.get(base + "/")  # no token, no cookie
    assert "403" in browser.find_element(By.TAG_NAME, "body").text
    status = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch("/.api/action", {method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({action: "select", episode: "ep001", chapter_id: "ch02",
                                  candidate: "c02"})})
          .then(r => done(r.status), e => done(String(e)));
        """
    )
    assert status == 403
    assert not (episode / "images/ch02.select").exists()
    # With the token the same request goes through: the refusal was the token's doing.
    browser.get(web)
    status = browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        fetch("/.api/action", {method: "POST", headers: {"Content-Type": "application/json"},
            body: JSON.stringify({action: "select", episode: "ep001", chapter_id: "ch02",
                                  candidate: "c02"})})
          .then(r => done(r.status), e => done(String(e)));
        """
    )
    assert status == 200 and (episode / "images/ch02.select").exists()
