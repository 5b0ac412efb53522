"""A loopback fake of the OpenAI (images, chat) and Anthropic (messages) HTTP APIs.

Point the real SDKs at ``fake.openai_base_url`` / ``fake.anthropic_base_url`` and script
faults with ``fake.add_rule(endpoint, [spec, ...], match=...)``.
"""

from tests.fakeapi.images import prompt_colour
from tests.fakeapi.responses import (
    Fail,
    Ok,
    Spec,
    bad_auth,
    bad_base64,
    connection_reset,
    content_policy,
    empty_body,
    empty_data,
    forbidden,
    insufficient_quota,
    malformed_body,
    model_not_found,
    overloaded,
    rate_limited,
    server_error,
    spec_from_json,
    timeout,
)
from tests.fakeapi.rules import Rule
from tests.fakeapi.server import FakeAPI, RequestRecord

__all__ = [
    "Fail",
    "FakeAPI",
    "Ok",
    "RequestRecord",
    "Rule",
    "Spec",
    "bad_auth",
    "bad_base64",
    "connection_reset",
    "content_policy",
    "empty_body",
    "empty_data",
    "forbidden",
    "insufficient_quota",
    "malformed_body",
    "model_not_found",
    "overloaded",
    "prompt_colour",
    "rate_limited",
    "server_error",
    "spec_from_json",
    "timeout",
]
