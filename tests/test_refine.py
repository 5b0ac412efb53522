"""Prompt refinement with no key: the rule-based critic and writer on the demo episode,
their trace files, the fingerprint, and the watcher ignoring the traces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from config import Settings, load_settings
from daemon.triggers import classify
from handlers.episode import layout
from handlers.imagegen import RunRequest, run
from handlers.prompts.critic import PromptBrief
from handlers.prompts.rule_writer import RuleWriter
from handlers.prompts.rules import RuleCritic
from tests.conftest import snapshot, write_episode

STYLE = load_settings().prompt.style_prefix
PALETTE = (("orange", "#F7931A"), ("grey", "#8A8A8A"))


def refine_on(outputs: Path, **refine: Any) -> Settings:
    """The defaults with refinement on (conftest turns it off for the older suites)."""
    return load_settings(overrides={"outputs_dir": outputs, "refine": {"enabled": True, **refine}})


def entries(episode: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((episode / "images/manifest.json").read_text(encoding="utf-8"))
    return {c["chapter_id"]: c for c in data["chapters"]}


def trace_of(episode: Path, chapter_id: str) -> dict[str, Any]:
    path = episode / "images/prompts" / chapter_id / "trace.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def brief(description: str, visual_type: str = "b_roll") -> PromptBrief:
    return PromptBrief("Takas ve ortak değer", visual_type, description, STYLE, PALETTE)


# -- the demo, offline -----------------------------------------------------------------


def test_demo_prompts_are_refined_by_the_rules_and_read_well(outputs):
    episode = write_episode(outputs)
    result = run(episode, RunRequest(), refine_on(outputs))
    assert result.outcome == "ok", result.message
    assert result.cost_usd == 0
    by_id = entries(episode)
    # Written prompts (ch02 b_roll, ch04 screen_share) are refined; ch03's own
    # image_prompt stands, and template chapters have no prompt at all.
    assert sorted(p.name for p in (episode / "images/prompts").iterdir()) == ["ch02", "ch04"]
    assert by_id["ch03"]["prompt_trace"] is None and by_id["ch01"]["prompt_trace"] is None
    for cid in ("ch02", "ch04"):
        entry = by_id[cid]
        trace = trace_of(episode, cid)
        folder = episode / "images/prompts" / cid
        assert entry["prompt_trace"] == f"prompts/{cid}/trace.json"
        assert entry["prompt_source"] == "writer:template"
        assert entry["prompt_refinement"]["critic"] == "rules"
        assert "heuristic" in trace["critic_note"]
        assert trace["writer"] == "rules" and trace["cost_usd"] == 0
        assert trace["assessment"]["overall"] < 75  # below skip_above: a round was made
        assert trace["stop_reason"] == "threshold"
        assert [r["round"] for r in trace["rounds"]] == [1]
        assert sorted(p.name for p in folder.iterdir()) == [
            "00_original.txt",
            "01_writer_r1.txt",
            "02_critic_r1.json",
            "final.txt",
            "trace.json",
        ]
        final = (folder / "final.txt").read_text(encoding="utf-8").strip()
        assert final == entry["prompt"]
        assert final == (folder / "01_writer_r1.txt").read_text(encoding="utf-8").strip()
        original = (folder / "00_original.txt").read_text(encoding="utf-8").strip()
        # The rules add sentences; they never rewrite the chapter's Turkish.
        head, _, tail = original.partition(" Topic: ")
        assert final.startswith(head.rstrip(".")) and final.endswith(tail)
        assert "Palette: orange and grey accents" in final
        assert "negative space on the left third for a title overlay" in final
        assert "?." not in final and ".." not in final and "  " not in final
    ch02 = (episode / "images/prompts/ch02/final.txt").read_text(encoding="utf-8")
    assert "Eski bir pazar yerinde takas yapan insanlar" in ch02
    assert "Ama bir çoban ile bir çiftçinin ihtiyaçları her zaman aynı anda örtüşmez." in ch02
    raw = (episode / "images/prompts/ch02/trace.json").read_text(encoding="utf-8")
    assert "Takas ve ortak değer" in raw  # UTF-8, not \\u escapes
    prov = json.loads((episode / "provenance/imagegen_provenance.json").read_text())
    assert prov["models"]["critic"] == "rules"
    # Nothing changed: nothing is refined, written or paid again.
    before = snapshot(outputs)
    again = run(episode, RunRequest(), refine_on(outputs))
    assert again.outcome == "up_to_date" and snapshot(outputs) == before


def test_chapter_prompts_are_refined_only_when_asked(outputs):
    episode = write_episode(outputs)
    run(episode, RunRequest(), refine_on(outputs))
    assert not (episode / "images/prompts/ch03").exists()
    result = run(episode, RunRequest(), refine_on(outputs, chapter_prompts=True))
    # The setting is part of ch03's fingerprint only: the others are reused.
    assert result.generated == 1 and result.reused == 4, result.message
    trace = trace_of(episode, "ch03")
    assert trace["original"]["source"] == "chapter"
    final = (episode / "images/prompts/ch03/final.txt").read_text(encoding="utf-8")
    assert "glowing orange arrow labelled only with icons" in final  # the author's words
    # The rules cannot tell an English prompt says the Turkish description in other
    # words: they do not paste it in.
    assert "Birbirine hash" not in final


def test_turning_refinement_off_restores_the_old_fingerprints_and_drops_traces(outputs):
    episode = write_episode(outputs)
    plain = load_settings(overrides={"outputs_dir": outputs, "refine": {"enabled": False}})
    run(episode, RunRequest(), plain)
    plain_hashes = {c: e["settings_hash"] for c, e in entries(episode).items()}
    run(episode, RunRequest(), refine_on(outputs))
    refined = entries(episode)
    assert refined["ch02"]["settings_hash"] != plain_hashes["ch02"]
    assert refined["ch03"]["settings_hash"] == plain_hashes["ch03"]  # its own prompt stands
    assert refined["ch01"]["settings_hash"] == plain_hashes["ch01"]
    result = run(episode, RunRequest(), plain)
    assert result.generated == 2 and result.reused == 3
    assert {c: e["settings_hash"] for c, e in entries(episode).items()} == plain_hashes
    assert not (episode / "images/prompts/ch02").exists()
    assert entries(episode)["ch02"]["prompt_trace"] is None


def test_demo_ep002_reads_well(outputs):
    doc = json.loads(Path("examples/demo-ep002/chapters.json").read_text(encoding="utf-8"))
    episode = write_episode(outputs, "demo-ep002", doc)
    assert run(episode, RunRequest(), refine_on(outputs)).outcome == "ok"
    final = (episode / "images/prompts/ch02/final.txt").read_text(encoding="utf-8")
    assert "Madencilerin bir bloğu eklemek için yarıştığı akış diyagramı" in final
    assert "Straight-on front view" in final
    assert "?." not in final


# -- the rules themselves --------------------------------------------------------------


def test_rule_critic_scores_five_dimensions_with_concrete_fixes():
    critic = RuleCritic(load_settings().refine.weights)
    vague = critic.assess(
        STYLE + "A beautiful iPhone with some text and a gun.", brief("Eski bir pazar")
    )
    assert set(vague.scores) == {
        "completeness",
        "specificity",
        "professionalism",
        "cinematography",
        "brand_alignment",
    }
    assert vague.scores["professionalism"] == 0  # text, a brand and a weapon
    assert vague.overall < 50
    labels = {f.text.split(":", 1)[0] for f in vague.fixes}
    assert {"Completeness", "Specificity", "Professionalism", "Cinematography"} <= labels
    assert any("iphone" in f.text for f in vague.fixes)
    assert any("gun" in f.text and f.dimension == "professionalism" for f in vague.fixes)
    good = critic.assess(
        STYLE + "Eski bir pazar yerinde takas yapan insanlar, eye-level wide shot, two "
        "traders in the foreground on the right two thirds, clear negative space on the "
        "left third for a title overlay, soft daylight, orange and grey accents.",
        brief("Eski bir pazar yerinde takas yapan insanlar"),
    )
    assert good.overall == 100 and good.fixes == []


def test_rule_writer_applies_fixes_once_and_keeps_the_chapters_words():
    critic = RuleCritic(load_settings().refine.weights)
    writer = RuleWriter(critic)
    original = (
        STYLE + "Eski bir pazar yerinde takas yapan insanlar, shown as a scene with some "
        "beautiful stalls and an iPhone. Topic: Takas ve ortak değer. Context: İnsanlar önce "
        "takas yaptı."
    )
    given = brief("Eski bir pazar yerinde takas yapan insanlar")
    revised = writer.revise(original, given, [])
    assert "some" not in revised.split() and "beautiful" not in revised
    assert "a generic smartphone" in revised
    assert revised.index("Palette:") < revised.index("Topic: Takas ve ortak değer.")
    assert revised.endswith("Context: İnsanlar önce takas yaptı.")
    assert writer.revise(revised, given, []) == revised  # nothing left the rules can fix
    assert critic.assess(revised, given).overall > critic.assess(original, given).overall


def test_trace_file_names_are_written_once_in_layout():
    assert layout.trace_step_name(1, "writer", 1) == "01_writer_r1.txt"
    assert layout.trace_step_name(2, "critic", 1) == "02_critic_r1.json"
    assert layout.trace_step_name(7, "findings", 4) == "07_findings_r4.json"
    assert all(
        layout.is_trace_file(n)
        for n in ("00_original.txt", "03_writer_r2.txt", "final.txt", "trace.json")
    )
    assert not any(layout.is_trace_file(n) for n in ("notes.txt", "01_writer_r1.json", "c01.png"))


# -- the watcher -----------------------------------------------------------------------

ROOT = Path("/srv/out")
EP = ROOT / "ep1"


@pytest.mark.parametrize(
    "name",
    [
        "00_original.txt",
        "01_writer_r1.txt",
        "02_critic_r1.json",
        "final.txt",
        "trace.json",
        ".trace.json.k2j3.tmp",
    ],
)
@pytest.mark.parametrize("event", ["created", "modified", "closed", "moved"])
def test_trace_files_never_wake_the_daemon(name, event):
    path = EP / "images/prompts/ch02" / name
    src = str(path.with_name(f".{name}.x.tmp")) if event == "moved" else str(path)
    dest = str(path) if event == "moved" else None
    assert classify(ROOT, event, src, dest, False) is None


@pytest.mark.parametrize(
    "folder", ["images/prompts", "images/prompts/ch02", "images/candidates/ch02"]
)
def test_our_folders_inside_images_are_not_new_episodes(folder):
    assert classify(ROOT, "created", str(EP / folder), None, True) is None


def test_dry_run_estimates_every_round_and_calls_nothing(outputs):
    episode = write_episode(outputs)
    settings = load_settings(
        overrides={
            "outputs_dir": outputs,
            "refine": {"enabled": True},
            "anthropic": {"api_key": "sk-ant-test", "base_url": "http://127.0.0.1:9"},
        }
    )
    result = run(episode, RunRequest(dry_run=True), settings)
    assert result.outcome == "dry_run", result.message
    request = json.loads((episode / "images/imagegen_request.json").read_text(encoding="utf-8"))
    by_id = {c["chapter_id"]: c for c in request["chapters"]}
    refine = by_id["ch02"]["refine"]
    assert refine["critic"] == "anthropic:claude-haiku-4-5" and refine["max_rounds"] == 3
    assert 0 < refine["estimated_cost_usd"] < by_id["ch02"]["estimated_cost_usd"]
    assert "refine" not in by_id["ch03"]  # its own prompt stands
    assert not (episode / "images/prompts").exists()
