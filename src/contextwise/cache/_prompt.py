"""A request as the provider's prompt cache sees it: content blocks in prefix order (tools, then system, then
messages), each with its tokens and a digest of its canonical bytes, and where explicit markers go.

Every digest is taken over `budget.canonical_json`, the one serialisation every sending path uses, with the
`cache_control` markers removed (a marker is not content). Anthropic-shaped bodies (`system`, content blocks,
`tools` with `input_schema`) and OpenAI-shaped ones (system messages, `tools` wrapping a `function`) both read.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from contextwise.budget import canonical_json
from contextwise.errors import UsageError
from contextwise.tokens import TokenCounter

Part = Literal["tools", "system", "messages"]
Anchor = Literal["tools", "system", "history", "last"]
ANCHORS: tuple[Anchor, ...] = ("tools", "system", "history", "last")
_SYSTEM_ROLES = ("system", "developer")


@dataclass(frozen=True)
class PromptBlock:
    """One content block of a request, in prefix order.

    Attributes:
        part: "tools", "system" or "messages".
        label: where it sits, e.g. "tools[1] search", "system[0]", "messages[3].content[0] (user)".
        message: the index into the request's `messages` list (None for tools and a top-level system).
        tokens: its tokens for the model.
        digest: a digest of its canonical bytes, markers removed.
    """

    part: Part
    label: str
    message: int | None
    tokens: int
    digest: bytes


@dataclass(frozen=True)
class PromptLayout:
    """A request's blocks with their running token totals and chained prefix digests.

    `prefix[i]` identifies blocks 0..i exactly (equal prefixes, equal digests); `through[i]` is their tokens.
    """

    blocks: tuple[PromptBlock, ...]
    prefix: tuple[bytes, ...]
    through: tuple[int, ...]

    @property
    def tokens(self) -> int:
        """All the request's prompt tokens (the sum over blocks)."""
        return self.through[-1] if self.through else 0

    def last_of(self, part: Part) -> int | None:
        """The index of the last block of `part`, or None when the request has none."""
        found = None
        for index, block in enumerate(self.blocks):
            if block.part == part:
                found = index
        return found

    def shared_blocks(self, other: PromptLayout) -> int:
        """How many leading blocks this prompt shares with `other` (one comparison of prefix digests per block)."""
        lo, hi = 0, min(len(self.prefix), len(other.prefix))
        while lo < hi:  # prefix digests chain, so "shares i blocks" is monotone: binary search
            mid = (lo + hi + 1) // 2
            if self.prefix[mid - 1] == other.prefix[mid - 1]:
                lo = mid
            else:
                hi = mid - 1
        return lo


def strip_markers(value: Any) -> Any:
    """`value` without any `cache_control` key, at any depth."""
    if isinstance(value, Mapping):
        return {k: strip_markers(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, (list, tuple)):
        return [strip_markers(v) for v in value]
    return value


def request_parts(request: Mapping[str, Any]) -> list[tuple[Part, str, int | None, Any]]:
    """The request's content blocks in the order a prefix cache reads them: (part, label, message index, block).

    Raises:
        UsageError: `request` is not a request body (no `messages` list, or a malformed part).
    """
    if not isinstance(request, Mapping) or not isinstance(request.get("messages"), list):
        raise UsageError("a request body needs a 'messages' list (Anthropic or OpenAI chat format)")
    out: list[tuple[Part, str, int | None, Any]] = []
    tools = request.get("tools") or []
    if not isinstance(tools, list):
        raise UsageError("a request's 'tools' must be a list")
    for i, tool in enumerate(tools):
        out.append(("tools", f"tools[{i}] {_tool_name(tool)}".rstrip(), None, tool))
    system = request.get("system")
    for j, block in enumerate(_content(system) if system else ()):
        out.append(("system", f"system[{j}]", None, block))
    for i, message in enumerate(request["messages"]):
        if not isinstance(message, Mapping):
            raise UsageError(f"messages[{i}] must be an object with 'role' and 'content'")
        role = str(message.get("role", ""))
        part: Part = "system" if role in _SYSTEM_ROLES else "messages"
        blocks = _content(message.get("content"))
        extra = {k: v for k, v in message.items() if k not in ("role", "content")}
        if extra:  # tool calls, tool_call_id, name: part of what the model reads
            blocks = [*blocks, extra]
        for j, block in enumerate(blocks or [""]):
            out.append((part, f"messages[{i}].content[{j}] ({role})", i, block))
    return out


def prompt_layout(request: Mapping[str, Any], counter: TokenCounter) -> PromptLayout:
    """The PromptLayout of a request body, counted with `counter` (the model's TokenCounter).

    >>> p = prompt_layout({"system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]},
    ...                 TokenCounter("o200k_base"))
    >>> [b.label for b in p.blocks]
    ['system[0]', 'messages[0].content[0] (user)']
    """
    blocks = []
    for part, label, message, raw in request_parts(request):
        body = strip_markers(raw)
        if isinstance(body, str):  # a string content is the same prompt as one text block holding it
            body = {"type": "text", "text": body}
        text = body.get("text") if isinstance(body, Mapping) and set(body) <= {"type", "text"} else body
        serial = text if isinstance(text, str) else canonical_json(body)
        digest = hashlib.blake2b(canonical_json(body).encode(), digest_size=16).digest()
        blocks.append(PromptBlock(part, label, message, counter.count(serial), digest))
    prefix, through, chain, total = [], [], b"", 0
    for block in blocks:
        chain = hashlib.blake2b(chain + block.digest, digest_size=16).digest()
        total += block.tokens
        prefix.append(chain)
        through.append(total)
    return PromptLayout(tuple(blocks), tuple(prefix), tuple(through))


def _content(content: Any) -> list[Any]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return list(content)
    if isinstance(content, Mapping):
        return [content]
    raise UsageError(f"message content must be a string or a list of blocks, got {type(content).__name__}")


def _tool_name(tool: Any) -> str:
    if not isinstance(tool, Mapping):
        raise UsageError(f"a tool must be an object, got {type(tool).__name__}")
    inner = tool.get("function")
    name = inner.get("name") if isinstance(inner, Mapping) else tool.get("name")
    return str(name or "")


# -- explicit markers (Anthropic cache_control) -----------------------------------------------------------------

@dataclass(frozen=True)
class CacheMarker:
    """An explicit cache marker after block `block`, writing with a lifetime of `ttl_s` seconds."""

    block: int
    ttl_s: int


@dataclass(frozen=True)
class MarkerPolicy:
    """Where to put explicit cache markers, by anchor, and each one's lifetime.

    Anchors: "tools" (the last tool definition), "system" (the end of the system prompt), "history" (the end of
    what this request shares with the previous request of its session, so the next call reads the whole turn
    back however many blocks it added), "last" (the last block: the whole prompt). `marks` pairs each anchor with
    a TTL in seconds and lists them in that order; a longer lifetime never follows a shorter one.

    >>> MarkerPolicy((("system", 3600), ("last", 300))).name
    'system:1h+last:5m'
    """

    marks: tuple[tuple[Anchor, int], ...]

    def __post_init__(self) -> None:
        anchors = [a for a, _ in self.marks]
        if any(a not in ANCHORS for a in anchors) or len(set(anchors)) != len(anchors):
            raise UsageError(f"marker anchors are distinct ones of {', '.join(ANCHORS)}; got {anchors}")
        if anchors != sorted(anchors, key=ANCHORS.index):
            raise UsageError(f"marker anchors go in prefix order ({', '.join(ANCHORS)}); got {anchors}")
        ttls = [t for _, t in self.marks]
        if any(t <= 0 for t in ttls) or ttls != sorted(ttls, reverse=True):
            raise UsageError(f"marker lifetimes are positive and never grow along the prompt; got {ttls}")

    @property
    def name(self) -> str:
        """A short name: anchors with lifetimes, "none" for no markers."""
        return "+".join(f"{a}:{_duration(t)}" for a, t in self.marks) or "none"

    def place(self, prompt: PromptLayout, *, history_end: int | None = None,
              max_markers: int = 4) -> tuple[CacheMarker, ...]:
        """The markers for one request, in block order, at most `max_markers`, lifetimes never growing.

        `history_end` is the last block this request shares with its session's previous one (None: no anchor).
        Anchors that fall on the same block merge, keeping the longer lifetime.
        """
        where = {"tools": prompt.last_of("tools"), "system": _system_end(prompt), "history": history_end,
                 "last": len(prompt.blocks) - 1 if prompt.blocks else None}
        chosen: dict[int, int] = {}
        for anchor, ttl in self.marks:
            index = where[anchor]
            if index is not None and 0 <= index < len(prompt.blocks):
                chosen[index] = max(ttl, chosen.get(index, 0))
        markers: list[CacheMarker] = []
        ceiling = None
        for index in sorted(chosen):
            ttl = chosen[index] if ceiling is None else min(chosen[index], ceiling)
            markers.append(CacheMarker(index, ttl))
            ceiling = ttl
        return tuple(markers[-max_markers:]) if max_markers > 0 else ()


def _system_end(prompt: PromptLayout) -> int | None:
    """The last block of the leading system part (tools, then system): a system message later in the
    conversation is not part of the stable prefix."""
    end = None
    for index, block in enumerate(prompt.blocks):
        if block.part == "messages":
            break
        if block.part == "system":
            end = index
    return end


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def mark_request(request: Mapping[str, Any], markers: Sequence[CacheMarker]) -> dict[str, Any]:
    """An Anthropic request body with `cache_control` on the marked blocks (string contents become text
    blocks so they can carry one) and no other markers; everything else unchanged.

    Raises:
        UsageError: a marker points past the request's blocks, or the body is not a request.
    """
    parts = request_parts(request)
    wanted = {m.block: m.ttl_s for m in markers}
    if any(not 0 <= b < len(parts) for b in wanted):
        raise UsageError(f"a marker points past the request's {len(parts)} blocks: {sorted(wanted)}")
    body = strip_markers(request)
    system = _as_blocks(body.get("system")) if body.get("system") else None
    tools = body.get("tools") or []
    messages = [dict(m, content=_as_blocks(m.get("content"))) for m in body["messages"]]
    for index, (part, _label, message, _raw) in enumerate(parts):
        if index not in wanted:
            continue
        marker = {"type": "ephemeral", "ttl": _duration(wanted[index])}
        if part == "tools":
            tools[index] = {**tools[index], "cache_control": marker}
        elif message is None and system is not None:
            position = index - len(tools)
            system[position] = {**system[position], "cache_control": marker}
        elif message is not None:
            target = messages[message]["content"]
            offset = next(j for j, (_p, _l, m, _r) in enumerate(parts) if m == message)
            at = min(index - offset, len(target) - 1)  # a tool call rides on the message's last block
            target[at] = {**target[at], "cache_control": marker}
    out = {**body, "messages": messages}
    if system is not None:
        out["system"] = system
    if tools:
        out["tools"] = tools
    return out


def _as_blocks(content: Any) -> list[Any]:
    return [{"type": "text", "text": c} if isinstance(c, str) else dict(c) for c in _content(content)] \
        or [{"type": "text", "text": ""}]


def count_markers(body: Any) -> int:
    """How many `cache_control` markers a request body carries, at any depth."""
    if isinstance(body, Mapping):
        return ("cache_control" in body) + sum(count_markers(v) for v in body.values())
    if isinstance(body, (list, tuple)):
        return sum(count_markers(v) for v in body)
    return 0
