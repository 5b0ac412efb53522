"""Start-up and rescan read only what changed: the state cache decides an unchanged
episode from stat facts, sees every kind of change, and is rebuilt from the files
when it is lost or damaged, without a job paying twice."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from config import load_settings
from daemon import reconcile
from daemon.reconcile import Reconciler
from handlers.imagegen import RunRequest, run
from handlers.outputs import current
from handlers.outputs.markers import write_marker
from tests.conftest import demo_doc, write_episode


@pytest.fixture(autouse=True)
def _trust_fresh_files(monkeypatch: pytest.MonkeyPatch) -> None:
    # Test files are milliseconds old; the guard against racy timestamps has its own test.
    monkeypatch.setattr(current, "RACY_NS", 0)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every episode the scan reads in full."""
    seen: list[Path] = []
    real = reconcile.needs_job

    def counting(episode: Path) -> str | None:
        seen.append(episode)
        return real(episode)

    monkeypatch.setattr(reconcile, "needs_job", counting)
    return seen


def tree(outputs: Path, n: int = 3) -> list[Path]:
    settings = load_settings(overrides={"outputs_dir": outputs})
    episodes = [write_episode(outputs, f"ep{i}") for i in range(n)]
    for episode in episodes:
        assert run(episode, RunRequest(), settings).outcome == "ok"
    return episodes


def names(needed: list[tuple[Path, str]]) -> list[str]:
    return sorted(episode.name for episode, _ in needed)


def test_unchanged_episodes_are_decided_without_reading_them(outputs, reads):
    tree(outputs)
    assert Reconciler(outputs).scan(None) == []
    assert len(reads) == 3  # the first scan reads each once and remembers
    reads.clear()
    assert Reconciler(outputs).scan(None) == []  # a restart: from the cache file
    assert reads == []


@pytest.mark.parametrize(
    "change",
    [
        "input rewritten",
        "input replaced",
        "marker",
        "chapter marker",
        "image deleted",
        "manifest deleted",
        "provenance deleted",
        "input blocked",
        "temp file",
    ],
)
def test_every_change_needs_job_sees_is_seen(outputs, reads, change):
    ep0, ep1, _ = tree(outputs)
    scanner = Reconciler(outputs)
    assert scanner.scan(None) == []
    reads.clear()
    doc = demo_doc()
    doc["episode_id"] = "ep1"
    doc["title"] = "Yeni başlık"
    if change == "input rewritten":  # in place, as a plain write does
        with (ep1 / "chapters.json").open("r+", encoding="utf-8") as f:
            f.write(json.dumps(doc, ensure_ascii=False))
            f.truncate()
    elif change == "input replaced":
        tmp = ep1 / ".chapters.json.part"
        tmp.write_text(json.dumps(doc, ensure_ascii=False))
        os.replace(tmp, ep1 / "chapters.json")
    elif change == "marker":
        write_marker(ep1 / "images/manifest.json.stale", by="test", reason="all")
    elif change == "chapter marker":
        write_marker(ep1 / "images/ch02.png.stale", by="test", reason="one")
    elif change == "image deleted":
        (ep1 / "images/ch02.png").unlink()
    elif change == "manifest deleted":
        (ep1 / "images/manifest.json").unlink()
    elif change == "provenance deleted":
        (ep1 / "provenance/imagegen_provenance.json").unlink()
    elif change == "input blocked":
        write_marker(ep1 / "chapters.json.stale", by="test", reason="rewriting")
    elif change == "temp file":
        (ep1 / "images/.manifest.json.x.tmp").write_bytes(b"half")
    needed = scanner.scan(None)
    assert reads == [ep1], "only the changed episode is read"
    assert names(needed) == ([] if change == "input blocked" else ["ep1"])
    assert ep0 not in reads


def test_a_new_episode_is_read_and_a_removed_one_forgotten(outputs, reads):
    ep0, _, _ = tree(outputs)
    scanner = Reconciler(outputs)
    scanner.scan(None)
    reads.clear()
    new = write_episode(outputs, "ep-new")
    os.rename(ep0, outputs.parent / "gone")
    assert names(scanner.scan(None)) == ["ep-new"]
    assert reads == [new]
    assert "ep0" not in json.loads(scanner.cache.path.read_text())["episodes"]


@pytest.mark.parametrize("damage", ["deleted", "garbage", "wrong shape", "a directory"])
def test_a_lost_or_damaged_cache_is_rebuilt_from_the_files(outputs, reads, damage, capsys):
    episodes = tree(outputs)
    Reconciler(outputs).scan(None)
    path = outputs / ".imagegen/daemon-state.json"
    if damage == "deleted":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"\x00{not json")
    elif damage == "wrong shape":
        path.write_text(json.dumps({"version": 1, "episodes": ["ep0"]}))
    else:
        path.unlink()
        path.mkdir()
    reads.clear()
    scanner = Reconciler(outputs)
    assert scanner.scan(None) == [], "the same verdicts: nothing is queued, nothing paid"
    assert sorted(reads) == sorted(episodes), "each episode read once"
    if damage != "a directory":
        reads.clear()
        assert Reconciler(outputs).scan(None) == [] and reads == [], "and written again"


def test_a_cache_that_says_current_never_makes_a_job_pay(outputs):
    """The cache only spares reads: a job on an episode it calls current still plans
    from the files (here the input changed behind a cache entry made to lie)."""
    (ep0, *_) = tree(outputs, 1)
    scanner = Reconciler(outputs)
    scanner.scan(None)
    doc = demo_doc()
    doc["episode_id"] = "ep0"
    doc["title"] = "Başka"
    (ep0 / "chapters.json").write_text(json.dumps(doc, ensure_ascii=False))
    scanner.cache.put("ep0", current.state_key(ep0) or "")
    assert scanner.scan(None) == []  # fooled, by construction
    settings = load_settings(overrides={"outputs_dir": outputs})
    result = run(ep0, RunRequest(), settings)
    assert result.outcome == "ok" and result.templates == 1 and result.generated == 0


def test_facts_too_fresh_to_trust_are_not_remembered(outputs, monkeypatch, reads):
    tree(outputs, 1)
    monkeypatch.setattr(current, "RACY_NS", 3600 * 10**9)
    scanner = Reconciler(outputs)
    scanner.scan(None)
    reads.clear()
    scanner.scan(None)
    assert len(reads) == 1, "an episode written within the racy window is read again"
