"""Two daemons on one tree (in production: hosts sharing a network filesystem, in
polling mode): every episode is processed exactly once, through the episode lock."""

from __future__ import annotations

import json
import os
import time
from collections import Counter

from handlers.outputs.current import needs_job
from tests.support.daemon_proc import DaemonProcess
from tests.support.episodes import paid_episode_doc

DROPS = 100


def test_two_daemons_100_drops_100_jobs_none_twice_nothing_paid_twice(outputs, tmp_path, fake_api):
    env = {
        "OPENAI_API_KEY": fake_api.api_key,
        "IMAGEGEN_OPENAI__BASE_URL": fake_api.openai_base_url,
        "IMAGEGEN_IMAGE__PROVIDER": "openai",
    }
    config = "polling = true\npoll_interval_seconds = 0.3\n"
    daemons = [
        DaemonProcess(outputs, env=env, config=config, log_path=tmp_path / f"daemon{i}.log")
        for i in range(2)
    ]
    try:
        for d in daemons:
            d.start()
        episodes = []
        for i in range(DROPS):
            name = f"ep{i:03d}"
            episode = outputs / name
            episode.mkdir()
            tmp = episode / ".chapters.json.part"
            tmp.write_text(json.dumps(paid_episode_doc(name, 1)), encoding="utf-8")
            os.replace(tmp, episode / "chapters.json")
            episodes.append(episode)
            time.sleep(0.02)
        deadline = time.monotonic() + 120
        while any(needs_job(e) is not None for e in episodes) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [e.name for e in episodes if needs_job(e) is not None] == []
        time.sleep(2.0)  # time for a late duplicate to show
    finally:
        for d in daemons:
            d.stop()
    started = Counter(
        e["episode_id"] for d in daemons for e in d.events() if e.get("event") == "job_started"
    )
    finished = [e for d in daemons for e in d.events() if e.get("event") == "job_finished"]
    assert sum(started.values()) == DROPS, started
    assert [name for name, n in started.items() if n > 1] == [], "an episode run twice"
    assert sorted(started) == [e.name for e in episodes]
    assert all(e["status"] == "ok" for e in finished) and len(finished) == DROPS
    assert all(n == 1 for n in fake_api.paid_prompts.values()), "an image paid twice"
    assert fake_api.images_paid == DROPS
    # Both served: the lock shared the work, it did not idle one of them.
    assert all(any(e.get("event") == "job_started" for e in d.events()) for d in daemons)
