"""Bad input: a specific error (file, chapter, field), nothing written, nothing paid."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from handlers.imagegen import RunRequest, run, status
from tests.conftest import demo_doc, snapshot, write_episode


def tree_files(outputs: Path) -> dict[str, tuple[int, int]]:
    """Every file of the tree but imagegen's own record of its jobs: the media database
    (.imagegen/) and the tree's page (index.html), which list the failed job as the
    log does."""
    return {
        k: v
        for k, v in snapshot(outputs).items()
        if not k.startswith(".imagegen/") and k != "index.html"
    }


def run_bad(outputs: Path, settings, counting, raw: bytes, name: str = "ep001"):
    provider, services = counting
    episode = outputs / name
    episode.mkdir()
    (episode / "chapters.json").write_bytes(raw)
    before = tree_files(outputs)
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "failed"
    assert tree_files(outputs) == before, "a bad input must leave the tree untouched"
    assert provider.total == 0
    # ... and the failure is on record, for `imagegen status`.
    recorded = {s.episode_id: s for s in status(settings)}[name]
    assert recorded.status == "failed" and recorded.error == result.message
    assert recorded.images == 0
    return result.message


def doc_bytes(mutate) -> bytes:
    doc = demo_doc()
    doc["episode_id"] = "ep001"
    mutate(doc)
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")


def test_truncated_json(outputs, settings, counting):
    raw = doc_bytes(lambda d: None)[:500]
    msg = run_bad(outputs, settings, counting, raw)
    assert "ep001/chapters.json" in msg
    assert "invalid JSON at line 1 column" in msg and "truncated" in msg


def test_wrong_types_name_chapter_and_field(outputs, settings, counting):
    def mutate(d):
        d["chapters"][1]["title"] = 42
        d["chapters"][2]["visual"]["image_prompt"] = ["not", "a", "string"]

    msg = run_bad(outputs, settings, counting, doc_bytes(mutate))
    assert "chapters[1] (chapter_id 'ch02'): title: Input should be a valid string (got 42)" in msg
    assert "chapters[2] (chapter_id 'ch03'): visual.image_prompt" in msg


def test_string_where_int_expected_is_not_coerced(outputs, settings, counting):
    msg = run_bad(outputs, settings, counting, doc_bytes(lambda d: d.update(total_chapters="5")))
    assert "total_chapters" in msg and "'5'" in msg


def test_duplicate_ids(outputs, settings, counting):
    msg = run_bad(
        outputs,
        settings,
        counting,
        doc_bytes(lambda d: d["chapters"][3].update(chapter_id="CH02".lower())),
    )
    assert "chapters[3] (chapter_id 'ch02'): chapter_id duplicates chapters[1]" in msg


@pytest.mark.parametrize("bad_id", ["../x", "a/b", ".hidden", "", "x" * 65, "ch\x00"])
def test_unsafe_chapter_ids(outputs, settings, counting, bad_id):
    msg = run_bad(
        outputs, settings, counting, doc_bytes(lambda d: d["chapters"][0].update(chapter_id=bad_id))
    )
    assert "chapters[0]" in msg and "chapter_id: must be a safe file name" in msg
    assert not (outputs / "x").exists()


def test_schema_major_2(outputs, settings, counting):
    msg = run_bad(outputs, settings, counting, doc_bytes(lambda d: d.update(schema_version="2.0")))
    assert "schema_version: major version 2 is not supported" in msg


def test_non_utf8(outputs, settings, counting):
    raw = doc_bytes(lambda d: None).replace("Giriş".encode(), "Giri\xfe".encode("latin-1"))
    msg = run_bad(outputs, settings, counting, raw)
    assert "not valid UTF-8" in msg and "byte" in msg


def test_50_mb_file(outputs, settings, counting):
    raw = b'{"pad": "' + b"a" * (50 * 1024 * 1024) + b'"}'
    msg = run_bad(outputs, settings, counting, raw)
    assert "over the limit of 5000000" in msg and "max_input_bytes" in msg


def test_deeply_nested_json(outputs, settings, counting):
    raw = b"[" * 100_000 + b"]" * 100_000
    msg = run_bad(outputs, settings, counting, raw)
    assert "nested too deeply" in msg or "top level must be a JSON object" in msg


def test_total_chapters_mismatch(outputs, settings, counting):
    msg = run_bad(outputs, settings, counting, doc_bytes(lambda d: d.update(total_chapters=7)))
    assert "total_chapters is 7 but the document has 5 chapters" in msg


def test_missing_visual(outputs, settings, counting):
    msg = run_bad(outputs, settings, counting, doc_bytes(lambda d: d["chapters"][4].pop("visual")))
    assert "chapters[4] (chapter_id 'ch05'): needs 'visual'" in msg


def test_visuals_list_is_accepted(outputs, settings, counting):
    _, services = counting
    doc = demo_doc()
    visual = doc["chapters"][1].pop("visual")
    doc["chapters"][1]["visuals"] = [visual, {"type": "diagram", "description": "second"}]
    doc["chapters"][1]["unknown_future_field"] = {"x": 1}
    episode = write_episode(outputs, doc=doc)
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "ok", result.message


@pytest.mark.parametrize("kind", ["", "video", "DIAGRAM"])
def test_an_unknown_visual_type_skips_that_visual_with_a_warning(outputs, settings, counting, kind):
    provider, services = counting
    doc = demo_doc()
    doc["chapters"][1]["visual"]["type"] = kind
    visual = doc["chapters"][2].pop("visual")
    doc["chapters"][2]["visuals"] = [visual, {"type": kind, "description": "ikinci"}]
    result = run(write_episode(outputs, doc=doc), RunRequest(), settings, services=services)
    assert result.outcome == "ok", result.message
    assert any(
        f"chapters[1] (chapter_id 'ch02'): visual.type {kind!r} is unknown" in w
        and "chapter skipped" in w
        for w in result.warnings
    ), result.warnings
    assert any(
        f"chapters[2] (chapter_id 'ch03'): visuals[1].type {kind!r} is unknown" in w
        for w in result.warnings
    ), result.warnings
    assert "ch02" not in provider.calls and "ch03-v2" not in provider.calls
    assert provider.calls["ch03"] == 1


def test_episode_symlink_out_of_root(outputs, settings, counting, tmp_path):
    provider, services = counting
    outside = write_episode(tmp_path / "elsewhere")
    link = outputs / "ep-link"
    link.symlink_to(outside, target_is_directory=True)
    before = snapshot(tmp_path)
    result = run(link, RunRequest(), settings, services=services)
    assert result.outcome == "failed"
    assert "not inside the outputs root" in result.message
    assert snapshot(tmp_path) == before
    assert provider.total == 0


def test_images_dir_symlink_out_of_root(outputs, settings, counting, tmp_path):
    _provider, services = counting
    episode = write_episode(outputs)
    outside = tmp_path / "outside-images"
    outside.mkdir()
    (episode / "images").symlink_to(outside, target_is_directory=True)
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "failed"
    assert "images is a symlink; imagegen does not write through symlinks" in result.message
    assert list(outside.iterdir()) == []


def test_chapters_json_symlink_is_refused(outputs, settings, counting, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps(demo_doc()))
    episode = outputs / "ep001"
    episode.mkdir()
    (episode / "chapters.json").symlink_to(secret)
    _, services = counting
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "failed" and "is a symlink" in result.message


def test_fifo_named_chapters_json_does_not_block(outputs, settings, counting):
    episode = outputs / "ep001"
    episode.mkdir()
    os.mkfifo(episode / "chapters.json")
    _, services = counting
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "failed" and "not a regular file" in result.message


def test_marker_that_is_a_directory_is_ignored_with_a_warning(episode, settings, counting):
    _, services = counting
    (episode / "images/ch02.png.stale").mkdir(parents=True)
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "ok"
    assert any("ch02.png.stale is not a regular file" in w for w in result.warnings)


def test_episode_outside_root_by_path(outputs, settings, counting, tmp_path):
    episode = write_episode(tmp_path / "other")
    _, services = counting
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "failed" and "not inside the outputs root" in result.message
    assert not (episode / "images").exists()


# -- regressions found by the hostile-input torture scenario ---------------------------


def test_giant_integer_is_a_specific_error(outputs, settings, counting):
    raw = doc_bytes(lambda d: None).replace(b'"order": 1,', b'"order": ' + b"7" * 5000 + b",", 1)
    msg = run_bad(outputs, settings, counting, raw)
    assert "ep001/chapters.json" in msg and "a number with 5000 digits" in msg


def test_deeply_nested_marker_does_not_break_the_run(episode, settings, counting):
    _, services = counting
    (episode / "images").mkdir()
    (episode / "images/ch02.png.stale").write_text("[" * 60_000)
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "ok", result.message
    (episode / "chapters.json.stale").write_text("[" * 60_000)
    assert run(episode, RunRequest(), settings, services=services).outcome == "blocked"


def test_trigger_with_undecodable_file_name_keeps_provenance_valid(episode, settings, counting):
    _, services = counting
    request = RunRequest(trigger="daemon: marker images/\udcff\udcfe.png.stale")
    result = run(episode, request, settings, services=services)
    assert result.outcome == "ok", result.message
    prov = json.loads((episode / "provenance/imagegen_provenance.json").read_bytes())
    assert prov["trigger"] == "daemon: marker images/\udcff\udcfe.png.stale"


def test_fifo_manifest_does_not_block(episode, settings, counting):
    _, services = counting
    (episode / "images").mkdir()
    os.mkfifo(episode / "images/manifest.json")
    result = run(episode, RunRequest(), settings, services=services)
    assert result.outcome == "ok"
    assert any("manifest" in w and "not a regular file" in w for w in result.warnings)


@pytest.mark.parametrize("version", ["1.0", "1.7", "01.0", "1.10"])
def test_every_schema_1_version_is_accepted(outputs, settings, counting, version):
    _, services = counting
    doc = demo_doc()
    doc["schema_version"] = version
    episode = write_episode(outputs, doc=doc)
    assert run(episode, RunRequest(), settings, services=services).outcome == "ok"


def test_unwritable_episode_dir_says_what_to_do(episode, settings, counting):
    import shutil
    import subprocess

    _, services = counting
    if os.geteuid() == 0:
        # Root ignores permission bits but not the immutable flag: a real EPERM.
        if shutil.which("chattr") is None:
            pytest.skip("as root only chattr +i can refuse a write, and chattr is missing")
        lock, unlock = ["chattr", "+i", str(episode)], ["chattr", "-i", str(episode)]
        if subprocess.run(lock, capture_output=True).returncode != 0:
            pytest.skip("this filesystem does not support chattr +i")
    else:
        episode.chmod(0o555)
        unlock = ["chmod", "755", str(episode)]
    try:
        result = run(episode, RunRequest(), settings, services=services)
    finally:
        subprocess.run(unlock, check=True)
    assert result.outcome == "failed", result.message
    assert "writable by its group" in result.message and str(episode) in result.message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"# System\nno front matter\n", "must start with YAML front matter"),
        (b"---\nname: [unclosed\n---\n# System\n", "front matter is not valid YAML"),
        (b"---\nname: x\n---\n# System\n", "front matter lacks 'model'"),
        ("---\nname: ç\n".encode("latin-1"), "not UTF-8 text"),
    ],
)
def test_a_broken_prompt_template_fails_the_run_before_anything_is_made(
    outputs, settings, tmp_path, text, expected
):
    template = tmp_path / "my-template.md"
    template.write_bytes(text)
    settings.prompt.template = template
    episode = write_episode(outputs)
    before = tree_files(outputs)
    result = run(episode, RunRequest(), settings)
    assert result.outcome == "failed"
    assert str(template) in result.message and expected in result.message, result.message
    assert tree_files(outputs) == before


@pytest.mark.parametrize("kind", ["fifo", "directory", "missing", "huge"])
def test_a_prompt_template_that_is_no_readable_file_is_a_clear_error(
    outputs, settings, tmp_path, kind
):
    import threading

    template = tmp_path / "imagegen.md"
    if kind == "fifo":
        os.mkfifo(template)  # reading it would wait for a writer forever
    elif kind == "directory":
        template.mkdir()
    elif kind == "huge":
        template.write_bytes(b"---\n" + b"x" * 1_000_001)
    settings.prompt.template = template
    episode = write_episode(outputs)
    before = tree_files(outputs)
    results = []
    worker = threading.Thread(target=lambda: results.append(run(episode, RunRequest(), settings)))
    worker.daemon = True
    worker.start()
    worker.join(timeout=30)
    assert results, "the run blocked on the template"
    (result,) = results
    assert result.outcome == "failed" and str(template) in result.message, result.message
    assert "prompt.template" in result.message
    assert tree_files(outputs) == before
