"""Standalone fake for other processes: ``python -m tests.fakeapi --port 0 ...``.

Prints ``READY http://127.0.0.1:PORT`` once listening, serves until SIGTERM/SIGINT, and
(with ``--state-file``) rewrites its counters atomically after every request. Serves the
OpenAI (``/v1``), Anthropic, Gemini (``/v1beta``) and Replicate faces on the same port;
``--script`` rules may use every endpoint and response kind, judge and critic included.
Other processes can ask ``GET /_fake/generated`` and ``POST /_fake/identify`` (image
bytes) which generated image a file is.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from tests.fakeapi.server import FakeAPI
from tests.fakeapi.wire import ENDPOINTS


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakeapi", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--api-key", default="sk-test-fake-key", help="OpenAI and Anthropic")
    parser.add_argument("--gemini-api-key", default="AIzaSy-fake-gemini-key")
    parser.add_argument("--replicate-api-token", default="r8_fake_replicate_token")
    parser.add_argument(
        "--replicate-polls", type=int, default=None, help="polls before a prediction ends"
    )
    parser.add_argument(
        "--replicate-data-urls", action="store_true", help="Replicate outputs as data: URLs"
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds, successful answers")
    for endpoint in ENDPOINTS:
        parser.add_argument(f"--latency-{endpoint}", type=float, default=None)
    parser.add_argument("--script", type=Path, help="JSON list of rules (or {'rules': [...]})")
    parser.add_argument("--state-file", type=Path, help="counters JSON, rewritten per request")
    parser.add_argument("--reply-text", help="answer text of chat and messages")
    parser.add_argument(
        "--retired-model", action="append", default=[], help="answer 404 model_not_found"
    )
    parser.add_argument(
        "--lenient-images", action="store_true", help="accept any WxH size and quality"
    )
    return parser.parse_args(argv)


def load_script(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    rules = data.get("rules", []) if isinstance(data, dict) else data
    if not isinstance(rules, list):
        raise ValueError(f"{path}: expected a list of rules")
    return rules


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    fake = FakeAPI(
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        default_latency=args.latency,
        state_file=args.state_file,
        strict_images=not args.lenient_images,
        gemini_api_key=args.gemini_api_key,
        replicate_api_token=args.replicate_api_token,
    )
    if args.replicate_polls is not None:
        fake.replicate_polls = args.replicate_polls
    fake.replicate_data_urls = args.replicate_data_urls
    for endpoint in ENDPOINTS:
        value = getattr(args, f"latency_{endpoint}")
        if value is not None:
            fake.latency[endpoint] = value
    fake.reply_text = args.reply_text
    fake.retired_models = set(args.retired_model)
    if args.script is not None:
        # Loaded before listening so no request can slip in ahead of its rule.
        for rule in load_script(args.script):
            fake.add_rule_json(rule)

    stopping = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    fake.start()
    print(f"READY {fake.base_url}", flush=True)
    try:
        # A timed wait lets the main thread run the signal handler promptly.
        while not stopping.wait(0.2):
            pass
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
