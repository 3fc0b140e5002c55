"""UnifiedMemory: the four tiers over one tenant's store, a recall that fills a token budget through the budget
engine, and retention (TTL per tier, pruning of low-importance items)."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Mapping, Sequence

from contextwise.budget import Context, Item, Report
from contextwise.errors import TruncationWarning, UsageError
from contextwise.memory._base import (
    DAY_S, MemoryBackend, MemoryItem, Mode, OpStats, RecallWeights, Stored, Timer,
)
from contextwise.memory.episodic import EpisodicMemory
from contextwise.memory.semantic import HISTORY_TIER, Learned, SemanticMemory
from contextwise.memory.short_term import ShortTermMemory
from contextwise.memory.working import WorkingMemory
from contextwise.types import Message, MessageLike, as_message


@dataclass(frozen=True)
class Retention:
    """How long items live per tier (None: forever) and the importance below which `prune` removes them."""

    ttl_s: Mapping[str, float | None] = field(default_factory=lambda: {"episodic": 90 * DAY_S, "semantic": None})
    min_importance: float = 0.0


@dataclass(frozen=True)
class Observed:
    """What `observe` did: the short-term write, and what was learned from the message (None if not learned)."""

    stored: Stored
    learned: Learned | None

    @property
    def stats(self) -> tuple[OpStats, ...]:
        """The stats of each operation, short-term first."""
        return (self.stored.stats,) + ((self.learned.stats,) if self.learned else ())


@dataclass(frozen=True)
class Pruned:
    """What `prune` removed, per tier and reason."""

    expired: Mapping[str, int]
    unimportant: Mapping[str, int]
    stats: OpStats

    @property
    def total(self) -> int:
        return sum(self.expired.values()) + sum(self.unimportant.values())


@dataclass(frozen=True)
class MemoryContext:
    """Memory recalled for a query within a token budget: the text to put in a prompt, the items it holds (per
    tier), the budget Report and the stats."""

    text: str
    items: tuple[MemoryItem, ...]
    report: Report
    stats: OpStats


# Section per tier in a recall: (priority, title). Working memory is the task at hand; facts outrank episodes.
_SECTIONS = {"working": (90, "Current task"), "semantic": (70, "Known facts"),
             "episodic": (60, "Relevant past episodes"), "short_term": (50, "Recent conversation")}


class UnifiedMemory:
    """All memory tiers of one tenant.

    Args:
        store: a VectorStore or spec; the embedded default is a SQLite file ("sqlite:memory.db").
        embedder: an Embedder or spec; the embedded default is "onnx:all-minilm-l6-v2".
        tenant: the hard partition; two tenants never see each other's memories.
        model: a ChatModel for fact extraction and decisions (None: rules).
        model_name: the catalog model whose tokenizer counts the budget (default gpt-4o-mini).
        short_term_tokens / keep_last: the short-term buffer's size and protected tail.
        episode_threshold: episodes less important than this are not kept.
        retention: TTLs and the importance floor for `prune`.

    >>> from contextwise.testing import HashEmbedder
    >>> mem = UnifiedMemory(store="memory:", embedder=HashEmbedder(384), tenant="alice")
    >>> _ = mem.semantic.learn("I live in Lyon. I'm allergic to nuts.")
    >>> "Lyon" in mem.build_context("where does she live?", max_tokens=200).text
    True
    """

    def __init__(self, *, store: Any = "sqlite:contextwise-memory.db", embedder: Any = "onnx:all-minilm-l6-v2",
                 tenant: str, model: Any = None, model_name: str = "gpt-4o-mini", short_term_tokens: int = 2000,
                 keep_last: int = 4, episode_threshold: float = 0.3, retention: Retention | None = None,
                 weights: RecallWeights | None = None, clock: Callable[[], float] = time.time) -> None:
        from contextwise.tokens import TokenCounter

        self.model_name = model_name
        counter = TokenCounter.for_model(model_name)
        self.backend = MemoryBackend(store, embedder, tenant=tenant, clock=clock, counter=counter)
        self.short_term = ShortTermMemory(short_term_tokens, keep_last=keep_last, counter=counter, clock=clock)
        self.episodic = EpisodicMemory(self.backend, threshold=episode_threshold, weights=weights)
        self.semantic = SemanticMemory(self.backend, model=model, weights=weights)
        self.working = WorkingMemory(self.backend)
        self.retention = retention or Retention()

    @property
    def tenant(self) -> str:
        return self.backend.tenant

    def observe(self, message: MessageLike | str, *, importance: float = 0.5, learn: bool = True) -> Observed:
        """Take in one conversation message: it enters short-term memory, and a user message is learned from.

        `message` is a `Message`, an OpenAI dict, an SDK message object, or a plain string (a user turn).
        """
        message = Message.user(message) if isinstance(message, str) else as_message(message)
        stored = self.short_term.add(message, importance=importance)
        learned = None
        if learn and message.role == "user" and message.text.strip():
            learned = self.semantic.learn(message.text, source="conversation")
        return Observed(stored, learned)

    def build_context(self, query: str, max_tokens: int, *, k: int = 10, mode: Mode = "hybrid") -> MemoryContext:
        """Recall from every tier for `query` and fill `max_tokens` by priority (working > facts > episodes >
        recent turns) and, inside a tier, by relevance, recency and importance.

        Raises:
            UsageError: max_tokens is not positive or the query is empty.
        """
        if max_tokens <= 0:
            raise UsageError(f"max_tokens must be positive, got {max_tokens}")
        timer = Timer("memory.build_context")
        recalled = {"semantic": self.semantic.recall(query, k, mode=mode).items,
                    "episodic": self.episodic.recall(query, k, mode=mode).items,
                    "short_term": tuple(self.short_term.items())}
        ctx = self._context(max_tokens)
        task = self.working.render()
        if task:
            ctx.add(_section("working", [Item(task, 1.0)]))
        for tier in ("semantic", "episodic", "short_term"):
            items = recalled[tier]
            if items:
                ctx.add(_section(tier, [_as_item(i, n, len(items), tier) for n, i in enumerate(items)]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            built = ctx.build()
        text = built.messages[-1].text if built.messages else ""
        kept = tuple(i for tier in recalled for i in recalled[tier] if i.text in text)
        return MemoryContext(text, kept, built.report,
                             timer.stats(tokens=built.report.prompt_tokens))

    def _context(self, max_tokens: int) -> Context:
        # The window is the budget itself: no output reserve, so `max_tokens` bounds the memory block.
        return Context(self.model_name, window_tokens=max_tokens, output_reserve=0,
                       counter=self.backend.counter)

    def prune(self, *, now: float | None = None) -> Pruned:
        """Remove expired items (TTL per tier) and items below the importance floor; returns the counts."""
        timer = Timer("memory.prune")
        now = self.backend.clock() if now is None else now
        expired: dict[str, int] = {}
        unimportant: dict[str, int] = {}
        for tier in ("episodic", "semantic"):
            records = self.backend.scan(tier)
            ttl = self.retention.ttl_s.get(tier)
            old = [r.id for r in records if ttl is not None and now - r.created_at > ttl]
            weak = [r.id for r in records if r.id not in set(old)
                    and float(r.metadata.get("importance", 1.0)) < self.retention.min_importance]
            expired[tier] = self.backend.delete(tier, old) if old else 0
            unimportant[tier] = self.backend.delete(tier, weak) if weak else 0
        return Pruned(expired, unimportant, timer.stats())

    def counts(self) -> dict[str, int]:
        """Items held per tier (facts counted live, history apart)."""
        return {"short_term": len(self.short_term), "episodic": len(self.backend.scan("episodic")),
                "semantic": len(self.semantic.facts()), "working": int(bool(self.working.task)),
                HISTORY_TIER: len(self.backend.scan(HISTORY_TIER))}


def _section(tier: str, items: Sequence[Item]) -> Any:
    from contextwise.budget import Section

    priority, title = _SECTIONS[tier]
    return Section(tier, tuple(items), "memory", priority=priority, title=title, stable=False)


def _as_item(item: MemoryItem, rank: int, total: int, tier: str) -> Item:
    # Recent conversation keeps its order (newest kept first); recalled items keep their ranking.
    priority = float(rank) if tier == "short_term" else float(total - rank) + item.score
    return Item(item.text, priority)
