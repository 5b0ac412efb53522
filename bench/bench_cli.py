"""`imagegen run` on an up-to-date episode, as a whole process (what a pipeline calling
it per episode pays), without keys and with keys configured.

Baselines in the same run, interleaved with it: `python -c "import pydantic_settings"`
(the configuration layer alone), and a process importing what an eager CLI would load
(pydantic-settings, both SDKs, Pillow)."""

from __future__ import annotations

import shutil
import statistics

from bench.common import IMAGEGEN, PYTHON, WORK, clean_env, interleaved, record, run_process, spread
from tests.fakeapi import FakeAPI
from tests.support.episodes import episode_doc, write_doc

PEER_NOOP_SECONDS = 1.97  # quoted in issue 17: not re-measurable here


def main(short: bool) -> None:
    n = 7 if short else 15
    print(f"\nno-op `imagegen run` (whole process, median of {n}, interleaved with baselines)")
    root = WORK / "cli"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    try:
        with FakeAPI() as fake:
            keys = clean_env(
                {
                    "OPENAI_API_KEY": fake.api_key,
                    "ANTHROPIC_API_KEY": fake.api_key,
                    "IMAGEGEN_OPENAI__BASE_URL": fake.openai_base_url,
                    "IMAGEGEN_ANTHROPIC__BASE_URL": fake.anthropic_base_url,
                }
            )
            plain = clean_env()
            offline = write_doc(root, "ep-offline", episode_doc("ep-offline", 8))
            paid = write_doc(root, "ep-paid", episode_doc("ep-paid", 8))
            for episode, env in ((offline, plain), (paid, keys)):
                first = run_process(
                    [IMAGEGEN, "run", "--outputs-dir", str(root), str(episode)], env
                )
                assert first.returncode == 0 and "[OK]" in first.stdout, first.stdout
            requests = len(fake.requests)
            cmds = {
                "pydantic_settings": [PYTHON, "-c", "import pydantic_settings"],
                "eager": [PYTHON, "-c", "import pydantic_settings, openai, anthropic, PIL.Image"],
                "noop": [IMAGEGEN, "run", "--outputs-dir", str(root), str(offline)],
                "noop_keys": [IMAGEGEN, "run", "--outputs-dir", str(root), str(paid)],
            }
            envs = {"pydantic_settings": plain, "eager": plain, "noop": plain, "noop_keys": keys}
            times = interleaved(cmds, envs, n)
            assert len(fake.requests) == requests, "a no-op run made a request"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = statistics.median(times["pydantic_settings"])
    noop = statistics.median(times["noop"])
    record(
        "no-op `imagegen run`, no keys",
        f"{spread(times['noop'])}, {noop / base:.2f}x the baseline",
        '<= 1.5x `python -c "import pydantic_settings"`',
        noop <= 1.5 * base,
        f'`python -c "import pydantic_settings"` {spread(times["pydantic_settings"])}',
    )
    keyed = statistics.median(times["noop_keys"])
    record(
        "no-op `imagegen run`, keys configured (paid path)",
        f"{spread(times['noop_keys'])}",
        f"< 0.5 s and < 1/4 of the peer's {PEER_NOOP_SECONDS} s ({PEER_NOOP_SECONDS / 4:.2f} s)",
        keyed < min(0.5, PEER_NOOP_SECONDS / 4),
        f"an eager CLI's imports alone {spread(times['eager'])}; no request sent",
    )
