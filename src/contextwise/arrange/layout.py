"""Cache-friendly layout: stable content first, so providers' prompt caches hit; where the breakpoints go; and
warnings when something volatile sits in the part meant to be cached."""

from __future__ import annotations

import re
from typing import Any
from dataclasses import dataclass
from collections.abc import Sequence

# Things that change every call and silently defeat a prefix cache when they sit early in the prompt.
_VOLATILE = (
    ("a timestamp", re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2})?")),
    ("a clock time", re.compile(r"\b\d{1,2}:\d{2}:\d{2}\b")),
    ("a UUID", re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I)),
    ("a long hex id", re.compile(r"\b[0-9a-f]{24,}\b", re.I)),
    ("a date", re.compile(r"\b(today is|current date|now:)", re.I)),
)


@dataclass(frozen=True)
class CachePlan:
    """How a built prompt meets the provider's prompt cache.

    `prefix_tokens` is the stable prefix (system, tools, stable sections, and history when it is append-only);
    `breakpoints` are message indexes after which to place an explicit cache marker (Anthropic cache_control);
    `cacheable` says whether the prefix reaches the provider's minimum.
    """

    provider: str
    mode: str
    prefix_tokens: int
    min_cacheable_tokens: int
    breakpoints: tuple[int, ...]
    warnings: tuple[str, ...] = ()

    @property
    def cacheable(self) -> bool:
        return self.mode != "none" and self.prefix_tokens >= self.min_cacheable_tokens


def volatile_spans(text: str) -> list[tuple[str, int, int]]:
    """What in `text` changes per call, as (what, start, end): "a timestamp", "a UUID", ... (first of each)."""
    return [(what, m.start(), m.end()) for what, rx in _VOLATILE if (m := rx.search(text))]


def volatile_findings(name: str, text: str) -> list[str]:
    """Warnings for content in `text` that changes per call (timestamps, UUIDs, ids)."""
    return [f"section {name!r} is in the cached prefix but contains {what} ({text[start:end]!r}); "
            "move it after the stable part or mark the section stable=False"
            for what, start, end in volatile_spans(text)]


def plan_cache(provider: str, prefix_tokens: int, stable_message_ends: Sequence[int], *,
               min_cacheable_tokens: int | None = None, mode: str | None = None,
               warnings: Sequence[str] = (), catalog: Any = None) -> CachePlan:
    """The cache plan for a prompt whose stable part ends after the given message indexes (in order).

    `mode` and `min_cacheable_tokens` come from the model's catalog entry when known; otherwise from the
    provider's defaults in `catalog` (default: the default catalog): how it caches, its minimum prefix, how many
    markers it takes. An explicit cache whose stable prefix is below the minimum gets a warning: its markers
    would cache nothing.

    For the markers and lifetimes that cost least over a recorded sequence of calls, see
    `contextwise.cache.plan_prompt_cache`."""
    from contextwise.models import default_catalog

    rules = (catalog if catalog is not None else default_catalog()).provider_defaults(provider)
    mode = mode or rules.get("cache_kind") or "none"
    minimum = min_cacheable_tokens or rules.get("min_cacheable_tokens") or 0
    most = rules.get("cache_breakpoints_max") or (4 if mode == "explicit" else 0)
    points = tuple(stable_message_ends[-most:]) if mode == "explicit" and most else ()
    found = list(warnings)
    if points and prefix_tokens < minimum:
        found.append(f"the stable prefix is {prefix_tokens:,} tokens, below {provider}'s {minimum:,}-token minimum "
                     "for a cached prefix: its cache markers will cache nothing")
    return CachePlan(provider, mode, prefix_tokens, minimum, points, tuple(found))
