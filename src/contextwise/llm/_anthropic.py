"""Anthropic's messages API: system as a top-level field, content blocks, tool_use / tool_result, prompt caching.

Usage is mapped to contextwise's convention, where `input_tokens` includes the cache reads and writes
(Anthropic reports only the uncached rest as its `input_tokens`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Literal
from collections.abc import Mapping, Sequence

from contextwise.errors import ProviderError, UsageError
from contextwise.llm._chat import AsyncChat, SyncChat
from contextwise.observe._preflight import Preflight
from contextwise._wire import HttpRequest, Retry, ServerEvent, error_from_event
from contextwise.types import ChatOptions, Completion, ImagePart, Message, TextPart, ToolCall, Usage

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
MAX_BREAKPOINTS = 4
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls",
           "refusal": "content_filter"}
_TOOL_CHOICE = {"auto": {"type": "auto"}, "required": {"type": "any"}, "none": {"type": "none"}}


@dataclass(frozen=True)
class CacheBreakpoints:
    """Where to put Anthropic `cache_control` breakpoints: after the tools, after the system prompt, and after
    the messages at `messages` (indices into the list passed to `complete`, negative from the end).

    The default caches the whole prompt up to the last message, so the next turn of the conversation reads it
    back. Anthropic allows at most four breakpoints; `ttl` "1h" writes cost more than "5m" ones.

    >>> CacheBreakpoints(messages=(-3,), ttl="1h").ttl
    '1h'
    """

    tools: bool = True
    system: bool = True
    messages: tuple[int, ...] = (-1,)
    ttl: Literal["5m", "1h"] = "5m"

    def __post_init__(self) -> None:
        if self.ttl not in ("5m", "1h"):
            raise UsageError(f"CacheBreakpoints.ttl must be '5m' or '1h', got {self.ttl!r}")
        if self.tools + self.system + len(set(self.messages)) > MAX_BREAKPOINTS:
            raise UsageError(f"Anthropic allows at most {MAX_BREAKPOINTS} cache breakpoints")

    @classmethod
    def from_plan(cls, plan: Any, *, ttl: Literal["5m", "1h"] = "5m") -> CacheBreakpoints:
        """Breakpoints where a cache plan (anything with `breakpoints`, message indexes) puts them; tools and
        system are cached by any later breakpoint, so they get none of their own."""
        return cls(tools=False, system=False, messages=tuple(plan.breakpoints), ttl=ttl)

    @property
    def marker(self) -> dict[str, str]:
        """The `cache_control` object."""
        return {"type": "ephemeral", "ttl": self.ttl}

    def message_indices(self, count: int) -> frozenset[int]:
        """The breakpoint indices resolved against a list of `count` messages (out-of-range ones dropped)."""
        return frozenset(i % count for i in self.messages if -count <= i < count)


class AnthropicDialect:
    """The messages-API wire format, with no I/O."""

    backend = "anthropic"

    def __init__(self, model: str, *, base_url: str, api_key: str | None, headers: Mapping[str, str],
                 default_max_tokens: int, cache: CacheBreakpoints | None) -> None:
        self.model = model
        self.url = base_url.rstrip("/") + "/v1/messages"
        auth = {"x-api-key": api_key} if api_key else {}
        self.headers = {**auth, "anthropic-version": API_VERSION, **headers}
        self.default_max_tokens = default_max_tokens
        self.cache = cache

    def request(self, messages: Sequence[Message], max_tokens: int | None, options: ChatOptions | None, *,
                stream: bool) -> HttpRequest:
        """The HTTP request for one call."""
        marks = self.cache.message_indices(len(messages)) if self.cache else frozenset()
        body: dict[str, Any] = {"model": self.model, "max_tokens": max_tokens or self.default_max_tokens}
        system = _system_blocks(messages, marks, self.cache)
        if system:
            body["system"] = system
        body["messages"] = _conversation(messages, marks, self.cache)
        if options is not None:
            body.update(_options(options, self.cache))
        if stream:
            body["stream"] = True
        if options is not None:
            body.update(options.extra)
        return HttpRequest(self.url, body, self.headers)

    def parse(self, data: Any) -> Completion:
        """A Completion from a messages-API answer."""
        if not isinstance(data, dict) or data.get("type") == "error":
            if isinstance(data, dict):
                raise error_from_event(data, backend=self.backend)
            raise ProviderError(f"unexpected answer: {str(data)[:200]}", backend=self.backend)
        blocks = data.get("content") or ()
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        calls = tuple(
            ToolCall(b.get("id", ""), b.get("name", ""), json.dumps(b.get("input") or {}, ensure_ascii=False))
            for b in blocks if b.get("type") == "tool_use"
        )
        return Completion(text, anthropic_usage(data.get("usage")), calls, data.get("model") or self.model,
                          _finish(data.get("stop_reason")))

    def stream_parser(self) -> AnthropicStream:
        """A fresh parser for one streamed answer."""
        return AnthropicStream(self.model, self.backend)


class AnthropicStream:
    """Accumulates messages-API stream events: text deltas, tool_use input JSON, usage from start and delta."""

    def __init__(self, model: str, backend: str) -> None:
        self._model, self._backend = model, backend
        self._blocks: dict[int, dict[str, Any]] = {}
        self._usage: dict[str, Any] = {}
        self._stop: str | None = None

    def feed(self, event: ServerEvent) -> str:
        """Take one event; return the text it adds."""
        data = event.json()
        kind = data.get("type") or event.event
        if kind == "error":
            raise error_from_event(data, backend=self._backend)
        if kind == "message_start":
            message = data.get("message") or {}
            self._model = message.get("model") or self._model
            self._merge_usage(message.get("usage"))
        elif kind == "content_block_start":
            self._blocks[data.get("index", len(self._blocks))] = dict(data.get("content_block") or {}, json="")
        elif kind == "content_block_delta":
            return self._delta(data.get("index", len(self._blocks) - 1), data.get("delta") or {})
        elif kind == "message_delta":
            self._stop = (data.get("delta") or {}).get("stop_reason") or self._stop
            self._merge_usage(data.get("usage"))
        return ""

    def _delta(self, index: int, delta: Mapping[str, Any]) -> str:
        block = self._blocks.setdefault(index, {"type": "text", "text": "", "json": ""})
        if delta.get("type") == "text_delta":
            block["text"] = block.get("text", "") + delta.get("text", "")
            return str(delta.get("text", ""))
        if delta.get("type") == "input_json_delta":
            block["json"] += delta.get("partial_json", "")
        return ""

    def _merge_usage(self, raw: Mapping[str, Any] | None) -> None:
        # message_delta counts are cumulative, so a later value replaces an earlier one.
        self._usage.update({k: v for k, v in (raw or {}).items() if v is not None})

    def result(self) -> Completion:
        """The whole answer."""
        blocks = [self._blocks[i] for i in sorted(self._blocks)]
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        calls = tuple(
            ToolCall(b.get("id", ""), b.get("name", ""), b["json"] or json.dumps(b.get("input") or {}))
            for b in blocks if b.get("type") == "tool_use"
        )
        return Completion(text, anthropic_usage(self._usage), calls, self._model, _finish(self._stop))


def anthropic_usage(raw: Any) -> Usage:
    """Usage from an Anthropic `usage` object (dict or SDK object); the same as `Usage.from_anthropic`.

    >>> anthropic_usage({"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 5}).input_tokens
    100
    """
    return Usage.from_anthropic(raw)


def _finish(stop_reason: str | None) -> str | None:
    return _FINISH.get(stop_reason, stop_reason) if stop_reason else None


def _system_blocks(messages: Sequence[Message], marks: frozenset[int],
                   cache: CacheBreakpoints | None) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": m.text} for m in messages
                                    if m.role in ("system", "developer") and m.text]
    marked = any(i in marks for i, m in enumerate(messages) if m.role in ("system", "developer"))
    if blocks and cache is not None and (cache.system or marked):
        blocks[-1]["cache_control"] = cache.marker
    return blocks


def _conversation(messages: Sequence[Message], marks: frozenset[int],
                  cache: CacheBreakpoints | None) -> list[dict[str, Any]]:
    """User/assistant turns as content blocks; consecutive same-role turns (e.g. tool results) merged."""
    turns: list[dict[str, Any]] = []
    for index, message in enumerate(messages):
        if message.role in ("system", "developer"):
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message)
        if index in marks and blocks and cache is not None:
            blocks[-1]["cache_control"] = cache.marker
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    if not turns:
        raise UsageError("Anthropic needs at least one user or assistant message besides the system prompt")
    return turns


def _blocks(message: Message) -> list[dict[str, Any]]:
    if message.role == "tool":
        return [{"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.text}]
    parts = (TextPart(message.content),) if isinstance(message.content, str) else message.content
    blocks = [_part(p) for p in parts if not (isinstance(p, TextPart) and not p.text)]
    blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": _arguments(c)} for c in message.tool_calls]
    return blocks or [{"type": "text", "text": message.text}]


def _part(part: TextPart | ImagePart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if part.url.startswith("data:"):
        header, _, data = part.url.partition(",")
        media_type = header[5:].split(";")[0]
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": part.url}}


def _arguments(call: ToolCall) -> Any:
    try:
        return json.loads(call.arguments or "{}")
    except ValueError as exc:
        raise UsageError(f"tool call {call.id!r} has arguments that are not JSON: {call.arguments[:80]!r}; "
                         f"Anthropic needs them as an object") from exc


def _options(options: ChatOptions, cache: CacheBreakpoints | None) -> dict[str, Any]:
    if options.json_schema is not None:
        raise UsageError("AnthropicChat has no json_schema option; offer a tool with that schema instead")
    body: dict[str, Any] = {}
    for key in ("temperature", "top_p"):
        if getattr(options, key) is not None:
            body[key] = getattr(options, key)
    if options.stop:
        body["stop_sequences"] = list(options.stop)
    if options.tools:
        body["tools"] = [{"name": t.name, "description": t.description,
                          "input_schema": dict(t.parameters) or {"type": "object", "properties": {}}}
                         for t in options.tools]
        if cache is not None and cache.tools:
            body["tools"][-1]["cache_control"] = cache.marker
    if options.tool_choice is not None:
        body["tool_choice"] = _TOOL_CHOICE.get(options.tool_choice) or {"type": "tool",
                                                                         "name": options.tool_choice}
    return body


class _AnthropicSetup:
    """The constructor both Anthropic twins share."""

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout_s: float = 120.0, retry: Retry | None = None, headers: Mapping[str, str] | None = None,
                 default_max_tokens: int = 4096, cache: CacheBreakpoints | None = None,
                 http_client: Any = None,
                 preflight: Preflight | bool = True) -> None:
        """Args:
            model: e.g. "claude-sonnet-4-5".
            base_url: the API root; default $ANTHROPIC_BASE_URL, else Anthropic's.
            api_key: default $ANTHROPIC_API_KEY.
            timeout_s: per request.
            retry: retry strategy for RateLimitError/UnavailableError; None means no retries.
            headers: extra HTTP headers (e.g. "anthropic-beta").
            default_max_tokens: used when a call gives no max_tokens (the API requires one).
            cache: where to put prompt-cache breakpoints; None sends no cache_control.
            http_client: an httpx client to use instead of the client's own pool.
            preflight: how each prompt is counted before it is sent and checked against the model's input limit
                (ContextLengthError, nothing sent, when over), and each answer's billed prompt against that
                count (a TruncationWarning when it is smaller). True: automatic for models in the catalog;
                False: off; a Preflight for a model the catalog does not know (a local server) or other margins.
        """
        if default_max_tokens < 1:
            raise UsageError(f"default_max_tokens must be at least 1, got {default_max_tokens}")
        dialect = AnthropicDialect(
            model, base_url=base_url or os.environ.get("ANTHROPIC_BASE_URL") or DEFAULT_BASE_URL,
            api_key=api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY"),
            headers=dict(headers or {}), default_max_tokens=default_max_tokens, cache=cache,
        )
        self._setup(dialect, timeout_s=timeout_s, retry=retry, http_client=http_client,  # type: ignore[attr-defined]
                    preflight=preflight)


class AnthropicChat(_AnthropicSetup, SyncChat):
    """A ChatModel over Anthropic's messages API (blocking).

    >>> AnthropicChat("claude-sonnet-4-5", cache=CacheBreakpoints()).name
    'claude-sonnet-4-5'
    """


class AsyncAnthropicChat(_AnthropicSetup, AsyncChat):
    """The async twin of AnthropicChat."""
