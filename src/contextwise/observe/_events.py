"""The events: one frozen dataclass per thing that happened, each tagged with the time and the current scope."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from contextwise.observe._bus import Scope, current_scope
from contextwise.observe._composition import Composition, composition_of
from contextwise.types import Usage

# GenAI semantic-convention operation names for memory operations, by the verb that ends an OpStats name.
_MEMORY_OPERATIONS = {"recall": "search_memory", "search": "search_memory", "build_context": "search_memory",
                      "add": "create_memory", "record": "create_memory", "learn": "create_memory",
                      "observe": "create_memory", "set": "update_memory", "update": "update_memory",
                      "undo": "update_memory", "delete": "delete_memory", "forget": "delete_memory",
                      "prune": "delete_memory", "clear": "delete_memory"}


@dataclass(frozen=True, kw_only=True)
class Event:
    """What every event carries: when it happened (`at_s`, Unix seconds) and for whom (`scope`)."""

    kind: ClassVar[str] = "event"
    at_s: float = field(default_factory=time.time)
    scope: Scope = field(default_factory=current_scope)

    @property
    def tenant(self) -> str | None:
        """The tenant of the scope the event was emitted in."""
        return self.scope.tenant

    def fields(self) -> dict[str, Any]:
        """The event's own values, JSON-ready (no message content)."""
        return {}

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON-ready values: kind, time, scope, then its own fields."""
        out: dict[str, Any] = {"event": self.kind, "at_s": self.at_s}
        out.update({k: v for k, v in (("tenant", self.scope.tenant), ("user", self.scope.user),
                                      ("conversation", self.scope.conversation)) if v is not None})
        out.update(self.fields())
        return out


@dataclass(frozen=True, kw_only=True)
class ContextBuilt(Event):
    """A `Context.build()` finished: its Report (and the messages it built, to match them to a model call)."""

    kind: ClassVar[str] = "context_built"
    report: Any
    messages: tuple[Any, ...] = ()

    @cached_property
    def composition(self) -> Composition:
        """The composition record of the build (tokens per part, cache prefix, cuts)."""
        return composition_of(self.report)

    def fields(self) -> dict[str, Any]:
        return {"composition": self.composition.to_dict()}


@dataclass(frozen=True, kw_only=True)
class ModelCall(Event):
    """A model call finished (or failed: `error` names the error class).

    `counted_input_tokens` is the prompt as preflight counted it (calibrated for estimated tokenizers), None
    without preflight; `context` is the build whose messages were sent, when a build was observed in this scope.
    `messages` and `output_text` are there for exporters asked to capture content; none captures them by default.
    """

    kind: ClassVar[str] = "model_call"
    provider: str
    model: str
    usage: Usage = field(default_factory=Usage)
    latency_s: float = 0.0
    response_model: str = ""
    operation: str = "chat"
    streamed: bool = False
    finish_reason: str | None = None
    error: str | None = None
    counted_input_tokens: int | None = None
    cost_usd: float | None = None
    context: ContextBuilt | None = None
    messages: Sequence[Any] = ()
    output_text: str = ""

    def fields(self) -> dict[str, Any]:
        u = self.usage
        out: dict[str, Any] = {
            "provider": self.provider, "model": self.model, "response_model": self.response_model or self.model,
            "operation": self.operation, "latency_s": self.latency_s, "streamed": self.streamed,
            "input_tokens": u.input_tokens, "uncached_input_tokens": u.uncached_input_tokens,
            "cache_read_tokens": u.cached_input_tokens, "cache_write_tokens": u.cache_write_tokens,
            "cache_write_1h_tokens": u.cache_write_1h_tokens, "output_tokens": u.output_tokens,
            "reasoning_tokens": u.reasoning_tokens, "finish_reason": self.finish_reason,
            "counted_input_tokens": self.counted_input_tokens, "cost_usd": self.cost_usd,
        }
        if self.error:
            out["error"] = self.error
        if self.context is not None:
            out["composition"] = self.context.composition.to_dict()
        return out


@dataclass(frozen=True, kw_only=True)
class MemoryOp(Event):
    """A memory operation finished; `stats` is its OpStats (operation, tokens, latency, model calls, usage)."""

    kind: ClassVar[str] = "memory_op"
    stats: Any

    @property
    def operation(self) -> str:
        """The GenAI operation name: search_memory, create_memory, update_memory or delete_memory."""
        verb = str(self.stats.operation).rsplit(".", 1)[-1]
        return _MEMORY_OPERATIONS.get(verb, "update_memory")

    def fields(self) -> dict[str, Any]:
        s = self.stats
        return {"operation": self.operation, "memory_operation": s.operation, "tokens": s.tokens,
                "latency_s": s.latency_s, "model_calls": s.model_calls, "input_tokens": s.usage.input_tokens,
                "output_tokens": s.usage.output_tokens, "cost_usd": s.cost_usd, "warnings": list(s.warnings)}


@dataclass(frozen=True, kw_only=True)
class CacheLookup(Event):
    """A cache lookup: which cache, hit or miss, which tier, under which key, and what a hit saved.

    `tier` is the deepest tier the lookup read: "exact" (a hit there, or a miss with no semantic tier behind
    it), "semantic" (the exact tier missed and the semantic one was asked: a hit or a miss there), or "none"
    (nothing was read: `no_cache`). So the exact tier's hit rate is exact hits over all lookups, and the semantic
    tier's is semantic hits over lookups with tier "semantic". `distance` is the semantic tier's cosine distance
    to the nearest entry (also on a miss), `reason` why a lookup missed ("absent", "expired", "stale: fact f1",
    ...). `cache` names the cache kind ("memory", "sqlite", "redis", "compressed"), never a path.
    The response cache and `CachedCompressor` emit it; other caches can with `observe.emit_cache_lookup(...)`.
    """

    kind: ClassVar[str] = "cache_lookup"
    cache: str
    hit: bool
    tier: str = "exact"
    key: str = ""
    latency_s: float = 0.0
    distance: float | None = None
    reason: str = ""
    saved_tokens: int = 0
    saved_usd: float = 0.0
    model: str = ""

    def fields(self) -> dict[str, Any]:
        return {"cache": self.cache, "hit": self.hit, "tier": self.tier, "key": self.key,
                "latency_s": self.latency_s, "distance": self.distance, "reason": self.reason,
                "saved_tokens": self.saved_tokens, "saved_usd": self.saved_usd, "model": self.model}


@dataclass(frozen=True, kw_only=True)
class Compression(Event):
    """Text was compressed: by which method, from how many tokens to how many, in what time."""

    kind: ClassVar[str] = "compression"
    method: str
    original_tokens: int
    tokens: int
    target_tokens: int
    latency_s: float = 0.0

    @property
    def keep_ratio(self) -> float:
        """tokens / original_tokens (1.0 for empty input)."""
        return self.tokens / self.original_tokens if self.original_tokens else 1.0

    def fields(self) -> dict[str, Any]:
        return {"method": self.method, "original_tokens": self.original_tokens, "tokens": self.tokens,
                "target_tokens": self.target_tokens, "keep_ratio": self.keep_ratio, "latency_s": self.latency_s}


@dataclass(frozen=True, kw_only=True)
class ContextOverflow(Event):
    """Preflight found a prompt over the model's input limit; the call was not sent (ContextLengthError)."""

    kind: ClassVar[str] = "context_overflow"
    provider: str
    model: str
    counted_tokens: int
    limit_tokens: int
    estimate: bool = False

    def fields(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "counted_tokens": self.counted_tokens,
                "limit_tokens": self.limit_tokens, "estimate": self.estimate}


@dataclass(frozen=True, kw_only=True)
class PromptTruncated(Event):
    """The provider billed fewer prompt tokens than were sent: something cut the prompt without saying so
    (Ollama's `num_ctx`, a proxy). A `TruncationWarning` is warned as well."""

    kind: ClassVar[str] = "prompt_truncated"
    provider: str
    model: str
    counted_tokens: int
    returned_tokens: int

    @property
    def lost_tokens(self) -> int:
        """How many tokens the provider did not see."""
        return self.counted_tokens - self.returned_tokens

    def fields(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "counted_tokens": self.counted_tokens,
                "returned_tokens": self.returned_tokens, "lost_tokens": self.lost_tokens}


@dataclass(frozen=True, kw_only=True)
class SpendAlert(Event):
    """A tenant's spend over a window passed its limit."""

    kind: ClassVar[str] = "spend_alert"
    spent_usd: float
    limit_usd: float
    window_s: float

    def fields(self) -> dict[str, Any]:
        return {"spent_usd": self.spent_usd, "limit_usd": self.limit_usd, "window_s": self.window_s}


EVENT_TYPES: tuple[type[Event], ...] = (ContextBuilt, ModelCall, MemoryOp, CacheLookup, Compression,
                                        ContextOverflow, PromptTruncated, SpendAlert)
