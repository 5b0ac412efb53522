"""The ``/_fake/...`` control endpoints for other processes (no auth, not recorded).

``GET /_fake/state`` counters; ``POST /_fake/reset``; ``POST /_fake/rules`` (JSON rules);
``GET /_fake/generated`` every generated image; ``POST /_fake/identify`` (image bytes in
the body) which generated image they are; ``GET /_fake/files/{id}.{png|jpeg|webp}`` a
generated image (DALL-E and Replicate answers link here).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from tests.fakeapi.registry import DEFAULT_THRESHOLD
from tests.fakeapi.wire import Reply, json_reply

if TYPE_CHECKING:
    from tests.fakeapi.server import FakeAPI

FILE_RE = re.compile(r"^/_fake/files/(\d+)\.(png|jpeg|webp)$")
CONTENT_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


def answer(fake: FakeAPI, method: str, path: str, raw: bytes) -> Reply:
    if method == "GET" and path == "/_fake/state":
        return json_reply(200, fake.state())
    if method == "POST" and path == "/_fake/reset":
        fake.reset()
        return json_reply(200, {"ok": True})
    if method == "POST" and path == "/_fake/rules":
        try:
            data = json.loads(raw)
            items = data if isinstance(data, list) else [data]
            for item in items:
                fake.add_rule_json(item)
        except (ValueError, TypeError) as error:
            return json_reply(400, {"error": str(error)})
        return json_reply(200, {"added": len(items)})
    if method == "GET" and path == "/_fake/generated":
        return json_reply(200, [record.summary() for record in fake.registry.records])
    if method == "POST" and path == "/_fake/identify":
        # Body: image bytes. Answer: the generated image they came from, or null.
        try:
            match = fake.registry.nearest(raw)
        except Exception as error:
            return json_reply(400, {"error": f"not an image: {type(error).__name__}"})
        close = match is not None and match[1] <= DEFAULT_THRESHOLD
        record = match[0] if match is not None and close else None
        return json_reply(
            200,
            {
                "record": None if record is None else record.summary(),
                "distance": None if match is None else round(match[1], 3),
            },
        )
    found = FILE_RE.match(path) if method == "GET" else None
    if found is not None:
        served = fake.registry.file(int(found.group(1)))
        if served is not None and served[0].format == found.group(2):
            return Reply(200, served[1], {"content-type": CONTENT_TYPES[found.group(2)]})
    return json_reply(404, {"error": f"no control endpoint {method} {path}"})
