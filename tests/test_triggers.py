"""The trigger whitelist: what wakes the daemon and what never does."""

from __future__ import annotations

from pathlib import Path

import pytest

from daemon.triggers import classify

ROOT = Path("/srv/out")
EP = ROOT / "ep1"


@pytest.mark.parametrize("event", ["created", "modified", "closed"])
def test_chapters_json_written(event):
    t = classify(ROOT, event, str(EP / "chapters.json"), None, False)
    assert t is not None and t.episode == EP and t.kind == "input"


def test_atomic_rename_uses_the_destination():
    t = classify(ROOT, "moved", str(EP / ".chapters.json.tmp"), str(EP / "chapters.json"), False)
    assert t is not None and t.episode == EP and t.kind == "input"


@pytest.mark.parametrize("name", ["manifest.json.stale", "ch02.png.stale"])
def test_markers(name):
    t = classify(ROOT, "created", str(EP / "images" / name), None, False)
    assert t is not None and t.episode == EP and t.kind == "marker"


def test_input_stale_removed_unblocks():
    t = classify(ROOT, "deleted", str(EP / "chapters.json.stale"), None, False)
    assert t is not None and t.kind == "unblocked"
    moved = classify(ROOT, "moved", str(EP / "chapters.json.stale"), str(ROOT / "trash/x"), False)
    assert moved is not None and moved.kind == "unblocked"


def test_new_directory_is_scanned():
    t = classify(ROOT, "created", str(ROOT / "ep9"), None, True)
    assert t is not None and t.kind == "directory" and t.episode == ROOT / "ep9"


@pytest.mark.parametrize(
    ("event", "path"),
    [
        ("created", EP / "images/ch01.png"),
        ("modified", EP / "images/manifest.json"),
        ("created", EP / "images/.manifest.json.abc.tmp"),
        ("moved", EP / "images/manifest.json"),
        ("created", EP / "provenance/imagegen_provenance.json"),
        ("created", EP / "render/draft.mp4.stale"),
        ("created", EP / "chapters.json.stale"),
        ("deleted", EP / "chapters.json"),
        ("opened", EP / "chapters.json"),
        ("closed_no_write", EP / "chapters.json"),
        ("created", ROOT / "chapters.json"),
        ("created", Path("/elsewhere/ep/chapters.json")),
        ("created", EP / "images/.ch01.png.stale"),
    ],
)
def test_our_own_writes_and_noise_never_trigger(event, path):
    dest = str(path) if event == "moved" else None
    src = str(path.with_name(".x.tmp")) if event == "moved" else str(path)
    assert classify(ROOT, event, src, dest, False) is None
