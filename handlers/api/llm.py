"""One LLM call through the SDKs imagegen uses, for every role that needs one: the
prompt writer, the critic and the judge. Anthropic Messages or OpenAI Chat Completions;
text, and an image where a judge shows one (Anthropic's base64 `image` block, OpenAI's
`image_url` data URL). The SDK client is made on the first call (importing an SDK costs
about a second), the key is checked once alongside it, transport faults are retried by
handlers/api/retry.py, and the answer's cost comes from its token usage.

Replies meant to be JSON (critic, judge) are read with `json_object`: a fence or stray
prose around the object is forgiven; anything else is the caller's malformed reply."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from config.settings import Settings
from handlers.api.clients import anthropic_client, openai_client
from handlers.api.key_check import ensure_key_works
from handlers.api.retry import MalformedResponse, RateGate, call_with_retries
from handlers.errors import ContentRejected
from handlers.money.pricing import PriceTable

Provider = Literal["anthropic", "openai"]


def keyed_llm(settings: Settings) -> Provider | None:
    """What `auto` means for every LLM role (prompt writer, critic, judge, storyboard
    planner): Anthropic when its key is present, else OpenAI, else none."""
    if settings.anthropic.api_key is not None:
        return "anthropic"
    if settings.openai.api_key is not None:
        return "openai"
    return None


@dataclass
class Reply:
    """One answer: its text, its token usage, what it cost."""

    text: str
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float = 0.0


class LLM:
    """One model of one provider. Thread-safe: the SDK client is shared by the workers."""

    def __init__(self, provider: Provider, model: str, settings: Settings, prices: PriceTable):
        self.name: str = provider
        self.model = model
        self.prices = prices
        self._settings = settings
        self._retry = settings.retry
        self._gate = RateGate()

    @property
    def label(self) -> str:
        return f"{self.name}:{self.model}"

    @property
    def client(self) -> Any:
        # Made (and the SDK imported) on the first call: see handlers/api/clients.py.
        if self.name == "anthropic":
            return anthropic_client(self._settings.anthropic)
        return openai_client(self._settings.openai)

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return self.prices.text_cost(self.model, input_tokens, output_tokens)

    def ask(
        self,
        system: str,
        user: str,
        *,
        max_tokens: int,
        what: str,
        image_jpeg: bytes | None = None,
        temperature: float | None = None,
        json_mode: bool = False,
        empty_is_fault: bool = False,
        stopped: Callable[[], bool] | None = None,
    ) -> Reply:
        """One answer to `user` under `system`. `temperature` goes to OpenAI only (the
        Messages API of anthropic SDK 2.x takes none), and so does `json_mode` (OpenAI's
        JSON mode: the reply is one JSON object). With `empty_is_fault` an empty
        answer is retried like a broken body; otherwise it is returned for the caller to
        judge. ContentRejected when the model refuses."""
        client = self.client
        ensure_key_works(self.name, str(client.base_url), client.api_key or "", client.models.list)
        image = base64.b64encode(image_jpeg).decode("ascii") if image_jpeg else None

        def once() -> tuple[str, dict[str, int]]:
            if self.name == "anthropic":
                text, usage = self._anthropic(system, user, image, max_tokens, what)
            else:
                text, usage = self._openai(
                    system, user, image, max_tokens, temperature, json_mode, what
                )
            if empty_is_fault and not text.strip():
                raise MalformedResponse(f"{self.label} answered no text ({what})")
            return text, usage

        (text, usage), _ = call_with_retries(
            once, what=f"{self.label} {what}", policy=self._retry, gate=self._gate, stopped=stopped
        )
        return Reply(text, usage, self.cost(usage["input_tokens"], usage["output_tokens"]))

    def _anthropic(
        self, system: str, user: str, image: str | None, max_tokens: int, what: str
    ) -> tuple[str, dict[str, int]]:
        content: list[dict[str, Any]] = []
        if image is not None:
            source = {"type": "base64", "media_type": "image/jpeg", "data": image}
            content.append({"type": "image", "source": source})
        content.append({"type": "text", "text": user})
        msg: Any = self.client.messages.create(
            model=self.model,
            max_tokens=max_tokens,
            system=system,
            messages=[{"role": "user", "content": content if image else user}],
        )
        if getattr(msg, "stop_reason", None) == "refusal":
            raise ContentRejected(f"{self.label} refused ({what})")
        text = "".join(
            getattr(block, "text", "")
            for block in (msg.content or [])
            if getattr(block, "type", None) == "text"
        )
        u = msg.usage
        return text, {"input_tokens": u.input_tokens, "output_tokens": u.output_tokens}

    def _openai(
        self,
        system: str,
        user: str,
        image: str | None,
        max_tokens: int,
        temperature: float | None,
        json_mode: bool,
        what: str,
    ) -> tuple[str, dict[str, int]]:
        parts: str | list[dict[str, Any]] = user
        if image is not None:
            url = {"url": f"data:image/jpeg;base64,{image}"}
            parts = [{"type": "text", "text": user}, {"type": "image_url", "image_url": url}]
        extra: dict[str, Any] = {} if temperature is None else {"temperature": temperature}
        if json_mode:
            extra["response_format"] = {"type": "json_object"}
        resp: Any = self.client.chat.completions.create(
            model=self.model,
            max_tokens=max_tokens,
            messages=[{"role": "system", "content": system}, {"role": "user", "content": parts}],
            **extra,
        )
        if not resp.choices:
            raise MalformedResponse(f"{self.label} answered no choices ({what})")
        choice = resp.choices[0]
        if choice.finish_reason == "content_filter":
            raise ContentRejected(f"{self.label} content filter stopped it ({what})")
        u = resp.usage
        return choice.message.content or "", {
            "input_tokens": getattr(u, "prompt_tokens", 0) or 0,
            "output_tokens": getattr(u, "completion_tokens", 0) or 0,
        }


_FENCED = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def json_object(text: str) -> Mapping[str, Any]:
    """The JSON object in an LLM's reply. ValueError says what is wrong with it."""
    body = text.strip()
    if not body:
        raise ValueError("an empty reply")
    fenced = _FENCED.search(body)
    if fenced:
        body = fenced.group(1).strip()
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the reply")
    try:
        data = json.loads(body[start : end + 1])
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("the reply's JSON is not an object")
    return data
