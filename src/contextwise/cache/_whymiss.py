"""Why did this miss: for two consecutive requests, the first token where the second stops sharing the first's
prefix, the part of the context it belongs to, and the usual cause (a timestamp or other per-call value in the
system prompt, reordered or changed tools, JSON keys in another order, memory injected before earlier turns, a
compaction that rewrote the history).

Blocks are compared as they were sent (key order kept), so a difference only `budget.canonical_json` would have
removed is named as such.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from contextwise.arrange.layout import volatile_spans
from contextwise.budget import canonical_json
from contextwise.cache._prompt import prompt_layout, request_parts, strip_markers
from contextwise.errors import UsageError
from contextwise.tokens import TokenCounter

Cause = Literal["none", "model", "volatile", "system", "tool order", "tools", "key order", "injected",
                "compaction", "edit", "truncated"]
_SNIPPET_CHARS = 60


@dataclass(frozen=True)
class MissReport:
    """Where request B stops sharing request A's prefix, and why.

    Attributes:
        shared_tokens: tokens of the common prefix: the index of the first differing token.
        part: the context part the difference is in ("tools", "system", "messages"; "" when nothing differs).
        where: the block, e.g. "system[0]", "tools[0] search", "messages[4].content[0] (user)".
        cause: "none" (B extends A: a full hit), "model", "volatile" (a per-call value such as a timestamp),
            "system", "tool order", "tools", "key order", "injected", "compaction", "edit", "truncated".
        detail: the explanation and the fix, in a sentence.
        before / after: the text at the difference in A and in B.
    """

    shared_tokens: int
    part: str
    where: str
    cause: Cause
    detail: str
    before: str = ""
    after: str = ""

    @property
    def missed(self) -> bool:
        """Whether B fails to reuse all of A's prompt."""
        return self.cause != "none"


def why_miss(a: Mapping[str, Any], b: Mapping[str, Any], *, model: str | None = None) -> MissReport:
    """Explain why request `b`, sent after `a`, does not read all of `a`'s prompt from the cache.

    Counts tokens with `model`'s tokenizer (default: the requests' `model` field, else o200k_base).

    >>> a = {"system": "Today is 2026-12-01 09:00.", "messages": [{"role": "user", "content": "hi"}]}
    >>> b = {"system": "Today is 2026-12-01 09:05.", "messages": [{"role": "user", "content": "hi"}]}
    >>> why_miss(a, b).cause, why_miss(a, b).where
    ('volatile', 'system[0]')

    Raises:
        UsageError: either body is not a request.
    """
    if a.get("model") and b.get("model") and a["model"] != b["model"]:
        return MissReport(0, "", "model", "model", f"the model changed ({a['model']} -> {b['model']}); "
                          "prompt caches are kept per model")
    counter = _counter(model or a.get("model") or b.get("model"))
    parts_a, parts_b = request_parts(a), request_parts(b)
    layout = prompt_layout(a, counter)
    raw_a = [_raw(p[3]) for p in parts_a]
    raw_b = [_raw(p[3]) for p in parts_b]
    same = 0
    while same < min(len(raw_a), len(raw_b)) and raw_a[same] == raw_b[same]:
        same += 1
    shared = layout.through[same - 1] if same else 0
    if same == len(raw_a):
        return MissReport(shared, "", "", "none", f"B extends A: all {shared:,} prompt tokens of A can be read "
                          "from the cache")
    if same == len(raw_b):
        return MissReport(shared, parts_a[same][0], parts_a[same][1], "truncated",
                          f"B ends where A still had {len(raw_a) - same} more block(s), from {parts_a[same][1]}: "
                          "the history was cut (a sliding window or truncation), so only the part before is shared")
    block_a, block_b = parts_a[same][3], parts_b[same][3]
    if _is_text(block_a) and _is_text(block_b):
        text_a, text_b = _text(block_a), _text(block_b)
        cut = _first_difference(text_a, text_b)
        shared += counter.count(text_a[:cut])
    else:
        text_a, text_b = raw_a[same], raw_b[same]
        cut = _first_difference(text_a, text_b)
    before, after = _snippet(text_a, cut), _snippet(text_b, cut)
    part, where = parts_b[same][0], parts_b[same][1]
    cause, detail = _explain(parts_a, parts_b, raw_a, raw_b, same)
    return MissReport(shared, part, where, cause, detail, before, after)


def _explain(parts_a: list[Any], parts_b: list[Any], raw_a: list[str], raw_b: list[str],
             at: int) -> tuple[Cause, str]:
    part, where = parts_b[at][0], parts_b[at][1]
    block_a, block_b = strip_markers(parts_a[at][3]), strip_markers(parts_b[at][3])
    if canonical_json(block_a) == canonical_json(block_b):
        return "key order", (f"{where} holds the same JSON with its keys in another order; send every body "
                             "through budget.canonical_json so equal content is equal bytes")
    if part == "tools" or parts_a[at][0] == "tools":
        return _tools(parts_a, parts_b)
    if part == "system" or parts_a[at][0] == "system":
        return _system(parts_a[at][1] if parts_a[at][0] == "system" else where, _text(block_a), _text(block_b))
    return _history(parts_a, parts_b, raw_a, raw_b, at)


def _tools(parts_a: list[Any], parts_b: list[Any]) -> tuple[Cause, str]:
    names_a = [p[1].split(" ", 1)[-1] for p in parts_a if p[0] == "tools"]
    names_b = [p[1].split(" ", 1)[-1] for p in parts_b if p[0] == "tools"]
    if sorted(names_a) == sorted(names_b) and names_a != names_b:
        return "tool order", (f"the same tools in another order ({', '.join(names_a)} -> {', '.join(names_b)}); "
                              "send tools in a fixed order (sorted by name)")
    added = sorted(set(names_b) - set(names_a))
    removed = sorted(set(names_a) - set(names_b))
    if added or removed:
        change = "; ".join(s for s in (f"added {', '.join(added)}" if added else "",
                                       f"removed {', '.join(removed)}" if removed else "") if s)
        return "tools", f"the tool set changed ({change}); everything after the tools is written again"
    changed = next((a for a, b in zip(parts_a, parts_b) if a[0] == "tools" and _raw(a[3]) != _raw(b[3])), None)
    name = changed[1].split(" ", 1)[-1] if changed else "?"
    return "tools", f"the definition of tool {name!r} changed; everything after the tools is written again"


def _system(where: str, text_a: str, text_b: str) -> tuple[Cause, str]:
    cut = _first_difference(text_a, text_b)
    line_a, line_no = _line_at(text_a, cut)
    line_b, _ = _line_at(text_b, cut)
    field = line_b.split(":", 1)[0].strip() if ":" in line_b[:40] else ""
    label = f"{where} line {line_no}" + (f" (field {field!r})" if field else "")
    for what, start, end in volatile_spans(line_b):
        if line_a[start:end] != line_b[start:end]:
            return "volatile", (f"{label} contains {what} that changes per call ({line_a[start:end]!r} -> "
                                f"{line_b[start:end]!r}); move it after the cached prefix (the last user turn)")
    return "system", f"{label} changed ({line_a.strip()[:_SNIPPET_CHARS]!r} -> {line_b.strip()[:_SNIPPET_CHARS]!r})"


def _history(parts_a: list[Any], parts_b: list[Any], raw_a: list[str], raw_b: list[str],
             at: int) -> tuple[Cause, str]:
    where_a, where_b = parts_a[at][1], parts_b[at][1]
    if raw_a[at] in raw_b[at + 1:]:
        moved = raw_b.index(raw_a[at], at + 1)
        return "injected", (f"{moved - at} block(s) were inserted at {where_b} before earlier turns (injected "
                            "memory or retrieved context); put injected content after the history, in the last "
                            "user turn")
    count_a = len({p[2] for p in parts_a if p[2] is not None})
    count_b = len({p[2] for p in parts_b if p[2] is not None})
    # Where the two agree again: blocks of A replaced by fewer blocks of B is a compaction; one for one, an edit.
    again = next(((k, raw_a.index(raw_b[k], at + 1)) for k in range(at + 1, len(raw_b)) if raw_b[k] in raw_a[at + 1:]),
                 None)
    if count_b < count_a or (again is not None and again[1] > again[0]):
        return "compaction", (f"the history from {where_a} on was rewritten ({count_a} -> {count_b} messages): a "
                              "compaction or summary replaced earlier turns; compact rarely and in large steps, "
                              "since each one writes the rest of the prompt again")
    return "edit", (f"{where_a} was edited: the history is not append-only; keep sent turns byte-for-byte as "
                    "they were")


def _counter(model: Any) -> TokenCounter:
    if isinstance(model, str) and model:
        try:
            return TokenCounter.for_model(model)
        except UsageError:
            pass
    return TokenCounter("o200k_base")


def _raw(block: Any) -> str:
    """The block as it was sent: key order kept, markers removed."""
    return json.dumps(strip_markers(block), ensure_ascii=False, separators=(",", ":"))


def _is_text(block: Any) -> bool:
    return isinstance(block, str) or (isinstance(block, Mapping) and isinstance(block.get("text"), str))


def _text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if isinstance(block, Mapping) and isinstance(block.get("text"), str):
        return str(block["text"])
    return _raw(block)


def _first_difference(a: str, b: str) -> int:
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return min(len(a), len(b))


def _line_at(text: str, index: int) -> tuple[str, int]:
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", index)
    return text[start:end if end >= 0 else len(text)], text.count("\n", 0, index) + 1


def _snippet(text: str, index: int) -> str:
    return text[max(0, index - 20):index + _SNIPPET_CHARS - 20]
