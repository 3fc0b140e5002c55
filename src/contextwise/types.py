"""The value types that flow through contextwise: messages, completions, usage, records, hits, chunks, citations.

All are frozen dataclasses: cheap to hash, safe to share between threads and to use as cache keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable
from collections.abc import Iterable, Mapping

from contextwise.errors import UsageError

Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: frozenset[str] = frozenset({"system", "developer", "user", "assistant", "tool"})


@dataclass(frozen=True)
class TextPart:
    """A text part of a multi-part message."""

    text: str


@dataclass(frozen=True)
class ImagePart:
    """An image part; `width`/`height` in pixels let token counts follow the provider's tile formula.

    `detail` is OpenAI's "low" | "high" | "auto". Without a size, a high-detail image is priced as the
    largest image the provider accepts, so a budget is never under-counted.
    """

    url: str
    detail: Literal["low", "high", "auto"] = "auto"
    width: int | None = None
    height: int | None = None


ContentPart = TextPart | ImagePart


@dataclass(frozen=True)
class ToolCall:
    """A call the assistant asked for; `arguments` is the JSON text exactly as the model produced it."""

    id: str
    name: str
    arguments: str = "{}"


@dataclass(frozen=True)
class Tool:
    """A tool (function) definition offered to the model; `parameters` is its JSON schema."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.name, self.description, json.dumps(self.parameters, sort_keys=True)))

    def to_openai(self) -> dict[str, Any]:
        """The tool as an OpenAI `tools` entry."""
        fn: dict[str, Any] = {"name": self.name}
        if self.description:
            fn["description"] = self.description
        fn["parameters"] = dict(self.parameters) or {"type": "object", "properties": {}}
        return {"type": "function", "function": fn}

    @classmethod
    def from_openai(cls, data: Mapping[str, Any]) -> Tool:
        """Read an OpenAI `tools` entry (or a bare function object)."""
        fn = data.get("function", data)
        if "name" not in fn:
            raise UsageError(f"a tool definition needs a name, got keys {sorted(fn)}")
        return cls(fn["name"], fn.get("description", ""), fn.get("parameters") or {})


@dataclass(frozen=True)
class Message:
    """One chat message.

    >>> Message.user("hi").text
    'hi'
    """

    role: Role
    content: str | tuple[ContentPart, ...] = ""
    name: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.role, str) or self.role not in ROLES:
            raise UsageError(f"unknown role {self.role!r}; use one of {sorted(ROLES)}")
        if isinstance(self.content, list):
            object.__setattr__(self, "content", tuple(self.content))
        if isinstance(self.tool_calls, list):
            object.__setattr__(self, "tool_calls", tuple(self.tool_calls))
        _check_fields(self)
        if self.role == "tool" and not self.tool_call_id:
            raise UsageError("a tool message needs the tool_call_id of the call it answers")

    @classmethod
    def system(cls, text: str) -> Message:
        return cls("system", text)

    @classmethod
    def user(cls, content: str | tuple[ContentPart, ...], *, name: str | None = None) -> Message:
        return cls("user", content, name=name)

    @classmethod
    def assistant(cls, text: str = "", *, tool_calls: tuple[ToolCall, ...] = ()) -> Message:
        return cls("assistant", text, tool_calls=tuple(tool_calls))

    @classmethod
    def tool(cls, text: str, *, tool_call_id: str, name: str | None = None) -> Message:
        return cls("tool", text, name=name, tool_call_id=tool_call_id)

    @property
    def text(self) -> str:
        """The text content; image parts are left out."""
        if isinstance(self.content, str):
            return self.content
        return "".join(p.text for p in self.content if isinstance(p, TextPart))

    def with_content(self, content: str) -> Message:
        """A copy with new text content (tool calls and ids kept)."""
        return Message(self.role, content, self.name, self.tool_calls, self.tool_call_id)

    def to_openai(self) -> dict[str, Any]:
        """The message in OpenAI chat-completions wire format."""
        out: dict[str, Any] = {"role": self.role}
        if isinstance(self.content, str):
            out["content"] = self.content
        else:
            out["content"] = [_part_to_openai(p) for p in self.content]
        if self.name:
            out["name"] = self.name
        if self.tool_calls:
            out["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in self.tool_calls
            ]
            if out["content"] == "":
                out["content"] = None
        if self.tool_call_id:
            out["tool_call_id"] = self.tool_call_id
        return out

    @classmethod
    def from_openai(cls, data: Mapping[str, Any]) -> Message:
        """Read a message in OpenAI chat-completions wire format."""
        if "role" not in data:
            raise UsageError(f"a message needs a role, got keys {sorted(data)}")
        raw = data.get("content")
        content: str | tuple[ContentPart, ...]
        if raw is None:
            refusal = data.get("refusal")
            content = refusal if isinstance(refusal, str) else ""
        elif isinstance(raw, str):
            content = raw
        elif isinstance(raw, (list, tuple)):
            content = tuple(_part_from_openai(p) for p in raw)
        else:
            raise UsageError(f"message content must be a string or a list of parts, got {type(raw).__name__}")
        calls = data.get("tool_calls") or ()
        if not isinstance(calls, (list, tuple)):
            raise UsageError(f"tool_calls must be a list, got {type(calls).__name__}")
        return cls(data["role"], content, data.get("name"), tuple(_call_from_openai(c) for c in calls),
                   data.get("tool_call_id"))


class ToolCallGrouper:
    """Groups messages, in order, into units kept or dropped whole: a tool message joins the assistant message
    whose call it answers; any other message starts a unit (and opens the calls it makes).

    >>> g = ToolCallGrouper()
    >>> [g.joins(m) for m in (Message.assistant(tool_calls=(ToolCall("c1", "f"),)),
    ...                       Message.tool("42", tool_call_id="c1"), Message.tool("?", tool_call_id="c9"))]
    [False, True, False]
    """

    def __init__(self) -> None:
        self._open: frozenset[str] = frozenset()

    def joins(self, message: Message) -> bool:
        """True when `message` answers an open call of the current unit; otherwise it starts the next unit."""
        if message.role == "tool" and message.tool_call_id in self._open:
            return True
        self._open = frozenset(c.id for c in message.tool_calls)
        return False


MessageLike = Any
"""A `Message`, an OpenAI chat-completions dict, or an SDK message object (anything with `model_dump()`)."""


def as_message(value: MessageLike) -> Message:
    """One message from the formats users already have: a `Message`, an OpenAI-format dict, or an SDK message
    object such as the `openai` package's `ChatCompletionMessage` (read through its `model_dump()`).

    Anthropic-format messages are read too; one that `as_messages` would split (a user turn carrying several
    tool results) is refused here.

    Raises:
        UsageError: the value is none of these, or a field has the wrong type.

    >>> as_message({"role": "user", "content": "hi"}) == Message.user("hi")
    True
    """
    out = _convert(value)
    if len(out) != 1:
        raise UsageError(f"this message holds {len(out)} messages (tool results and text); use as_messages()")
    return out[0]


def as_messages(value: MessageLike | Iterable[MessageLike]) -> list[Message]:
    """A list of messages from a list (or any iterable) of message-likes, or from one message-like alone.

    Converting is done once, at the edge: every API that takes messages calls this, so each accepts
    `Message`s, OpenAI dicts, Anthropic-format dicts and SDK objects alike (an Anthropic user turn with
    `tool_result` blocks becomes one tool message per result). A string is refused, never split into characters.

    Raises:
        UsageError: a string, a non-iterable, or an element that is not a message (its index is named).

    >>> [m.role for m in as_messages([{"role": "system", "content": "Be brief."}, Message.user("hi")])]
    ['system', 'user']
    """
    if isinstance(value, (Message, Mapping)) or _is_sdk_object(value):
        return _convert(value)
    if isinstance(value, (str, bytes)):
        raise UsageError("expected a list of messages, got a string; wrap it: [Message.user(text)]")
    if not isinstance(value, Iterable):
        raise UsageError(f"expected a list of messages, got {type(value).__name__}")
    out: list[Message] = []
    for index, item in enumerate(value):
        try:
            out.extend(_convert(item))
        except UsageError as exc:
            raise UsageError(f"message {index}: {exc}") from exc
    return out


def _convert(value: object) -> list[Message]:
    if isinstance(value, Message):
        return [value]
    if _is_sdk_object(value):
        value = value.model_dump(exclude_none=True)  # type: ignore[attr-defined]
    if not isinstance(value, Mapping):
        hint = "; use Message.user(text) for a plain string" if isinstance(value, str) else ""
        raise UsageError(f"expected a Message, an OpenAI-format dict or an SDK message object, "
                         f"got {type(value).__name__}{hint}")
    if _is_anthropic(value):
        return _from_anthropic(value)
    return [Message.from_openai(value)]


def _is_sdk_object(value: object) -> bool:
    """A pydantic-style SDK object, duck-typed so that no SDK is ever imported."""
    return callable(getattr(value, "model_dump", None)) and not isinstance(value, type)


_ANTHROPIC_BLOCKS = frozenset({"tool_use", "tool_result", "image", "thinking", "redacted_thinking"})


def _is_anthropic(data: Mapping[str, Any]) -> bool:
    content = data.get("content")
    return isinstance(content, (list, tuple)) and any(
        isinstance(b, Mapping) and b.get("type") in _ANTHROPIC_BLOCKS for b in content)


def _from_anthropic(data: Mapping[str, Any]) -> list[Message]:
    """Messages from one Anthropic-format message: tool_use blocks become tool calls, each tool_result block a
    tool message (placed first, as OpenAI expects), thinking blocks are left out (they are not prompt text)."""
    role: Any = data.get("role")
    parts: list[ContentPart] = []
    calls: list[ToolCall] = []
    results: list[Message] = []
    for block in data["content"]:
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "tool_use":
            calls.append(ToolCall(str(block.get("id", "")), str(block.get("name", "")),
                                  json.dumps(block.get("input") or {}, separators=(",", ":"))))
        elif kind == "tool_result":
            inner = block.get("content") or ""
            text = inner if isinstance(inner, str) else "".join(
                p.text for p in map(_anthropic_part, inner) if isinstance(p, TextPart))
            results.append(Message.tool(text, tool_call_id=str(block.get("tool_use_id", ""))))
        elif kind not in ("thinking", "redacted_thinking"):
            parts.append(_anthropic_part(block))
    rest = [Message(role, tuple(parts), tool_calls=tuple(calls))] if parts or calls or not results else []
    return results + rest


def _anthropic_part(block: Any) -> ContentPart:
    if isinstance(block, Mapping) and block.get("type") == "image":
        source = block.get("source") or {}
        if source.get("type") == "base64":
            return ImagePart(f"data:{source.get('media_type', 'image/png')};base64,{source.get('data', '')}")
        if source.get("type") == "url" and isinstance(source.get("url"), str):
            return ImagePart(source["url"])
        raise UsageError(f"unsupported image source {source.get('type')!r}; use 'base64' or 'url'")
    return _part_from_openai(block)


def _call_from_openai(data: Any) -> ToolCall:
    if not isinstance(data, Mapping) or not isinstance(data.get("id"), str):
        raise UsageError(f"a tool call needs an id and a function, got {data!r:.120}")
    if data.get("type") == "custom" and isinstance(data.get("custom"), Mapping):
        fn, args_key = data["custom"], "input"
    else:
        fn, args_key = data.get("function"), "arguments"
    if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
        raise UsageError(f"tool call {data['id']!r} needs a function with a name")
    arguments = fn.get(args_key) or "{}"
    if not isinstance(arguments, str):
        raise UsageError(f"tool call {data['id']!r}: arguments must be the JSON text, got {type(arguments).__name__}")
    return ToolCall(data["id"], fn["name"], arguments)


def _check_fields(msg: Message) -> None:
    if isinstance(msg.content, tuple):
        bad = next((p for p in msg.content if not isinstance(p, (TextPart, ImagePart))), None)
        if bad is not None:
            raise UsageError(f"content parts must be TextPart or ImagePart, got {type(bad).__name__}")
    elif not isinstance(msg.content, str):
        raise UsageError(f"message content must be a string or a tuple of parts, got {type(msg.content).__name__}")
    for name in ("name", "tool_call_id"):
        value = getattr(msg, name)
        if value is not None and not isinstance(value, str):
            raise UsageError(f"Message.{name} must be a string or None, got {type(value).__name__}")
    if not isinstance(msg.tool_calls, tuple) or not all(isinstance(c, ToolCall) for c in msg.tool_calls):
        raise UsageError("Message.tool_calls must be a tuple of ToolCall")


def _part_to_openai(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    return {"type": "image_url", "image_url": {"url": part.url, "detail": part.detail}}


def _part_from_openai(data: Any) -> ContentPart:
    if not isinstance(data, Mapping):
        raise UsageError(f"a content part must be a dict with a type, got {type(data).__name__}")
    kind = data.get("type")
    if kind in ("text", "refusal"):
        text = data.get(kind, "") if kind == "refusal" else data.get("text", "")
        if not isinstance(text, str):
            raise UsageError(f"a {kind} part needs a string, got {type(text).__name__}")
        return TextPart(text)
    if kind == "image_url":
        img = data["image_url"]
        img = {"url": img} if isinstance(img, str) else img
        return ImagePart(img["url"], img.get("detail", "auto"), img.get("width"), img.get("height"))
    raise UsageError(f"unsupported content part type {kind!r}; use 'text' or 'image_url'")


_USAGE_FIELDS = ("input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
                 "cache_write_1h_tokens", "reasoning_tokens")


@dataclass(frozen=True)
class Usage:
    """Tokens a call consumed, in one shape whatever the provider, split the way providers bill them.

    `input_tokens` is the whole prompt: `uncached_input_tokens + cached_input_tokens + cache_write_tokens +
    cache_write_1h_tokens` (OpenAI counts the cache inside its `prompt_tokens`; Anthropic reports it beside its
    `input_tokens`; both become this). `cached_input_tokens` was read from the provider's prompt cache;
    `cache_write_tokens` / `cache_write_1h_tokens` were written to the provider's short / long cache (Anthropic's
    5-minute / 1-hour; OpenAI's 30-minute / 12-hour). `output_tokens` is
    everything generated, `reasoning_tokens` (thinking) included, so reasoning is priced as output.

    Read a provider's usage with `Usage.parse` (any of them, found by its fields) or `from_openai`,
    `from_anthropic`, `from_gemini`: dicts and SDK objects alike.

    >>> u = Usage.from_anthropic({"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 5})
    >>> u.input_tokens, u.cached_input_tokens, u.uncached_input_tokens
    (100, 90, 10)

    Raises:
        UsageError: a count that is not a whole number >= 0, or parts that exceed their whole.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    reasoning_tokens: int = 0

    def __post_init__(self) -> None:
        for name in _USAGE_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                value = _whole(name, value)
                object.__setattr__(self, name, value)
            if value < 0:
                raise UsageError(f"Usage.{name} cannot be negative, got {value}")
        if self.cached_input_tokens + self.cache_write_tokens + self.cache_write_1h_tokens > self.input_tokens:
            raise UsageError("cached and cache-write tokens are part of input_tokens and cannot exceed it "
                             f"({self.cached_input_tokens} + {self.cache_write_tokens} + "
                             f"{self.cache_write_1h_tokens} > {self.input_tokens})")
        if self.reasoning_tokens > self.output_tokens:
            raise UsageError(f"reasoning tokens are part of output_tokens and cannot exceed it "
                             f"({self.reasoning_tokens} > {self.output_tokens})")

    @property
    def total_tokens(self) -> int:
        """Input and output tokens together."""
        return self.input_tokens + self.output_tokens

    @property
    def uncached_input_tokens(self) -> int:
        """Input tokens billed at the plain input price."""
        return self.input_tokens - self.cached_input_tokens - self.cache_write_tokens - self.cache_write_1h_tokens

    @property
    def cache_written_tokens(self) -> int:
        """Input tokens written to the prompt cache, both durations."""
        return self.cache_write_tokens + self.cache_write_1h_tokens

    @property
    def visible_output_tokens(self) -> int:
        """Output tokens of the answer itself, reasoning left out."""
        return self.output_tokens - self.reasoning_tokens

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(*(getattr(self, n) + getattr(other, n) for n in _USAGE_FIELDS))

    @classmethod
    def from_openai(cls, raw: Any) -> Usage:
        """Usage from an OpenAI `usage` (chat completions or responses; dict or SDK object): the cached part is
        inside `prompt_tokens`, reasoning inside `completion_tokens`."""
        from contextwise.observe._usage import openai

        return openai(raw)

    @classmethod
    def from_anthropic(cls, raw: Any) -> Usage:
        """Usage from an Anthropic `usage` (dict or SDK object): cache reads and writes are beside `input_tokens`,
        and are folded into this input; the 5-minute and 1-hour writes stay apart."""
        from contextwise.observe._usage import anthropic

        return anthropic(raw)

    @classmethod
    def from_gemini(cls, raw: Any) -> Usage:
        """Usage from a Gemini `usageMetadata` (REST dict or google-genai object): `cachedContentTokenCount` is
        inside `promptTokenCount`, thinking tokens (`thoughtsTokenCount`) are added to the output."""
        from contextwise.observe._usage import gemini

        return gemini(raw)

    @classmethod
    def parse(cls, raw: Any) -> Usage:
        """A Usage from any provider's usage, or a whole response carrying one, told apart by its fields.

        >>> Usage.parse({"prompt_tokens": 100, "completion_tokens": 5,
        ...              "prompt_tokens_details": {"cached_tokens": 64}}).uncached_input_tokens
        36

        Raises:
            UsageError: nothing in `raw` looks like usage from a known provider.
        """
        from contextwise.observe._usage import parse

        return parse(raw)


def _whole(name: str, value: Any) -> int:
    """`value` as an int when it is a whole number (numpy ints, 3.0); UsageError otherwise (NaN, 2.5, "3")."""
    import operator

    if isinstance(value, bool):
        raise UsageError(f"Usage.{name} must be a whole number of tokens, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        pass
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise UsageError(f"Usage.{name} must be a whole number of tokens, got {value!r}")


@dataclass(frozen=True)
class ChatOptions:
    """Sampling and tool options for one ChatModel call. `extra` is passed to the provider as-is."""

    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    tools: tuple[Tool, ...] = ()
    tool_choice: str | None = None
    logprobs: bool = False
    json_schema: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.temperature, self.top_p, self.stop, self.seed, self.tools, self.tool_choice,
                     self.logprobs, json.dumps(self.json_schema, sort_keys=True),
                     json.dumps(dict(self.extra), sort_keys=True, default=str)))


@dataclass(frozen=True)
class TokenLogprob:
    """One generated token with its log-probability."""

    token: str
    logprob: float


@dataclass(frozen=True)
class Completion:
    """What a ChatModel returned."""

    text: str
    usage: Usage = field(default_factory=Usage)
    tool_calls: tuple[ToolCall, ...] = ()
    model: str = ""
    finish_reason: str | None = None
    logprobs: tuple[TokenLogprob, ...] | None = None

    def to_message(self) -> Message:
        """The completion as the assistant message to append to a history."""
        return Message.assistant(self.text, tool_calls=self.tool_calls)


@dataclass(frozen=True)
class Record:
    """A stored item: text, optional vector and metadata. Its tenant is the scope of the store call, not a field,
    so a record can never claim a tenant other than the one it was written and read under.

    `version` is set by the store on read: how many times the record has been written (1 after its first
    write; 0 for a record not read from a store). A compare-and-set write (`upsert_partitions(expect=...)`)
    can require it, which sees every change, a change of metadata alone included. It is ignored on write and
    by equality."""

    id: str
    text: str
    vector: tuple[float, ...] | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    version: int = field(default=0, compare=False)

    def __hash__(self) -> int:
        return hash(self.id)


@runtime_checkable
class ScoredResult(Protocol):
    """The one shape of a scored result: an `id` and a `score` (higher is better). Store hits, ranked chunks,
    recalled memories and fused rankings all have it, so any of them can be fused, compared or cut alike."""

    @property
    def id(self) -> str: ...

    @property
    def score(self) -> float: ...


@dataclass(frozen=True)
class Hit:
    """A search result: a record and its score (higher is better)."""

    record: Record
    score: float

    @property
    def id(self) -> str:
        """The record's id."""
        return self.record.id


@dataclass(frozen=True)
class Chunk:
    """A piece of a document offered as context."""

    id: str
    text: str
    source: str = ""
    title: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    timestamp: float | None = None
    authority: float = 0.5
    start_char: int = 0

    def __hash__(self) -> int:
        return hash((self.id, self.text))


@dataclass(frozen=True)
class Citation:
    """A citation marker mapped back to its source and span."""

    marker: str
    chunk_id: str
    source: str = ""
    title: str = ""
    start_char: int = 0
    end_char: int = 0


@dataclass(frozen=True)
class Compressed:
    """Compressed text with exact token counts under the tokenizer that was used."""

    text: str
    original_tokens: int
    tokens: int
    method: str = ""

    @property
    def keep_ratio(self) -> float:
        """tokens / original_tokens (1.0 for empty input)."""
        return self.tokens / self.original_tokens if self.original_tokens else 1.0
