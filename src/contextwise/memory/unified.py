"""UnifiedMemory: the four tiers over one tenant's store, a recall that fills a token budget through the budget
engine, and retention (TTL per tier, pruning of low-importance items)."""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Mapping, Sequence

from contextwise._deprecated import UNSET, renamed_keyword
from contextwise._paths import data_dir
from contextwise.budget import Context, Item, Report, Section
from contextwise.errors import TruncationWarning, UsageError
from contextwise._weighting import DAY_S
from contextwise.memory._base import (
    MemoryBackend, MemoryItem, Mode, OpStats, RecallWeights, Stored, Timer, check_importance, check_text,
)
from contextwise.memory.episodic import EpisodicMemory
from contextwise.memory.semantic import HISTORY_TIER, Learned, SemanticMemory
from contextwise.memory.short_term import ShortTermMemory
from contextwise.memory.working import WorkingMemory
from contextwise.types import Message, MessageLike, as_message, as_messages


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
        store: a VectorStore or spec ("sqlite:<path>", "memory:", "postgres:<dsn>"), or None for the default: a
            SQLite file `memory.db` in the user's data directory ($CONTEXTWISE_DATA_DIR, else
            $XDG_DATA_HOME/contextwise or ~/.local/share/contextwise; ~/Library/Application Support/contextwise
            on macOS, %LOCALAPPDATA%\\contextwise on Windows). Its path is logged (logger
            "contextwise.memory", INFO) and kept in `store_path`; never the current directory.
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
    >>> "Lyon" in mem.build_context("where does she live?", 200).text
    True
    """

    def __init__(self, *, store: Any = None, embedder: Any = "onnx:all-minilm-l6-v2",
                 tenant: str, model: Any = None, model_name: str = "gpt-4o-mini", short_term_tokens: int = 2000,
                 keep_last: int = 4, episode_threshold: float = 0.3, retention: Retention | None = None,
                 weights: RecallWeights | None = None, clock: Callable[[], float] = time.time) -> None:
        from contextwise.tokens import TokenCounter

        self.model_name = model_name
        counter = TokenCounter.for_model(model_name)
        self.store_path: Path | None = None
        if store is None:
            self.store_path = default_store_path()
            store = f"sqlite:{self.store_path}"
        self.backend = MemoryBackend(store, embedder, tenant=tenant, clock=clock, counter=counter)
        self.short_term = ShortTermMemory(short_term_tokens, keep_last=keep_last, counter=counter, clock=clock)
        self.episodic = EpisodicMemory(self.backend, threshold=episode_threshold, weights=weights)
        self.semantic = SemanticMemory(self.backend, model=model, weights=weights)
        self.working = WorkingMemory(self.backend)
        self.retention = retention or Retention()

    @property
    def tenant(self) -> str:
        return self.backend.tenant

    def observe(self, message: MessageLike | str, *, importance: float = 0.5, learn: bool = True,
                timestamp: float | None = None) -> Observed:
        """Take in one conversation message: it enters short-term memory, and a user message is learned from.

        `message` is a `Message`, an OpenAI dict, an SDK message object, or a plain string (a user turn).
        `timestamp` is when it was said (seconds since the epoch; default now): relative times in it
        ("yesterday") are resolved against it, and facts it supersedes end then.
        Everything is checked before anything changes, and learning (the store write) happens before the
        message enters short-term memory, so a failure leaves both as they were.

        Raises:
            UsageError: a bad message (no text, NUL, too long to learn from or to hold in short-term memory),
                or an async model, store or embedder (use `aobserve`).
        """
        message = _observed(message)
        to_learn = self._check_observed(message, importance, learn)
        learned = self.semantic.learn(to_learn, source="conversation", timestamp=timestamp) if to_learn else None
        return Observed(self.short_term.add(message, importance=importance), learned)

    async def aobserve(self, message: MessageLike | str, *, importance: float = 0.5, learn: bool = True,
                       timestamp: float | None = None) -> Observed:
        """The async twin of `observe`: awaits an async model, store and embedder (`alearn`)."""
        message = _observed(message)
        to_learn = self._check_observed(message, importance, learn)
        learned = await self.semantic.alearn(to_learn, source="conversation",
                                             timestamp=timestamp) if to_learn else None
        return Observed(self.short_term.add(message, importance=importance), learned)

    def observe_many(self, messages: Sequence[MessageLike], *, importance: float = 0.5,
                     record: bool = True, learn: bool = False) -> tuple[Stored, ...]:
        """Take in many messages at once (a transcript being imported): each is checked first, then all of them
        are recorded as episodes with one embedder batch and one transaction (`episodic.record_many`; `record`
        False skips that), the user messages are learned from if `learn`, and the messages enter short-term
        memory. Returns the short-term writes.

        Raises:
            UsageError: any bad message (nothing is written).
        """
        if isinstance(messages, (Message, str, Mapping)) or not isinstance(messages, Sequence):
            raise UsageError("observe_many takes a sequence of messages")
        messages = as_messages(messages)
        to_learn = [self._check_observed(m, importance, learn) for m in messages]
        if record and messages:
            self.episodic.record_many([f"{m.role}: {m.text}" for m in messages], importance=max(
                importance, self.episodic.threshold), metadata=[{"role": m.role} for m in messages])
        for text in to_learn:
            if text:
                self.semantic.learn(text, source="conversation")
        return tuple(self.short_term.add(m, importance=importance) for m in messages)

    def _check_observed(self, message: Message, importance: float, learn: bool) -> str:
        """The text to learn from ("" for none), once `message` is known to be acceptable everywhere."""
        if not isinstance(message, Message):
            raise UsageError(f"observe takes a Message, got {type(message).__name__}; use Message.user(...)")
        check_importance(importance)
        self.short_term.check(message)
        if not (learn and message.role == "user" and message.text.strip()):
            return ""
        return check_text(message.text, self.backend.max_text_chars)

    def sections(self, query: str, *, k: int = 10, mode: Mode = "hybrid", prefix: str = "",
                 **options: Any) -> list[Section]:
        """One budget Section per tier recalled for `query`, each with its priority (working > facts >
        episodes > recent turns) and, inside a tier, items ordered by relevance, recency and importance.

        This is what `Context.memory(mem, query=...)` adds; `prefix` names them "<prefix>.<tier>"."""
        recalled = {"semantic": self.semantic.recall(query, k, mode=mode).items,
                    "episodic": self.episodic.recall(query, k, mode=mode).items}
        return self._sections(recalled, prefix, options)

    async def asections(self, query: str, *, k: int = 10, mode: Mode = "hybrid", prefix: str = "",
                        **options: Any) -> list[Section]:
        """The async twin of `sections`: the recalls are awaited."""
        recalled = {"semantic": (await self.semantic.arecall(query, k, mode=mode)).items,
                    "episodic": (await self.episodic.arecall(query, k, mode=mode)).items}
        return self._sections(recalled, prefix, options)

    def _sections(self, recalled: dict[str, tuple[MemoryItem, ...]], prefix: str,
                  options: Mapping[str, Any]) -> list[Section]:
        from contextwise.budget._sources import memory_items

        recalled["short_term"] = tuple(self.short_term.items())
        out = []
        task = self.working.render()
        if task:
            out.append(_section("working", (Item(task, 1.0, "task"),), prefix, options))
        for tier in ("semantic", "episodic", "short_term"):
            items = recalled[tier]
            if items:
                ranked = memory_items(items) if tier != "short_term" else tuple(
                    Item(i.text, float(n), i.id, i) for n, i in enumerate(items))
                out.append(_section(tier, ranked, prefix, options))
        return out

    def build_context(self, query: str, budget_tokens: Any = UNSET, *, k: int = 10, mode: Mode = "hybrid",
                      max_tokens: Any = UNSET) -> MemoryContext:
        """Recall from every tier for `query` and fill `budget_tokens` by priority: a shortcut for
        `Context(...).memory(self, query=query).build()` with the whole window as the budget.

        Raises:
            UsageError: budget_tokens is not positive or the query is empty.
        """
        budget = _check_budget(renamed_keyword("UnifiedMemory.build_context", "max_tokens", "budget_tokens",
                                               max_tokens, budget_tokens, None))
        timer = Timer("memory.build_context")
        return self._fill(self.sections(query, k=k, mode=mode), budget, timer)

    async def abuild_context(self, query: str, budget_tokens: Any = UNSET, *, k: int = 10,
                             mode: Mode = "hybrid", max_tokens: Any = UNSET) -> MemoryContext:
        """The async twin of `build_context`: the recalls are awaited (`asections`), the budget is filled the
        same way."""
        budget = _check_budget(renamed_keyword("UnifiedMemory.abuild_context", "max_tokens", "budget_tokens",
                                               max_tokens, budget_tokens, None))
        timer = Timer("memory.build_context")
        return self._fill(await self.asections(query, k=k, mode=mode), budget, timer)

    def _fill(self, sections: Sequence[Section], budget_tokens: int, timer: Timer) -> MemoryContext:
        # The window is the budget itself: no output reserve, so `budget_tokens` bounds the memory block.
        ctx = Context(self.model_name, window_tokens=budget_tokens, output_reserve_tokens=0,
                      counter=self.backend.counter)
        for section in sections:
            ctx.add(section)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            built = ctx.build()
        text = built.messages[-1].text if built.messages else ""
        kept = tuple(i.origin for s in built.report.sections for i in s.kept if isinstance(i.origin, MemoryItem))
        return MemoryContext(text, kept, built.report, timer.stats(tokens=built.report.prompt_tokens))

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
        return {"short_term": len(self.short_term), "episodic": self.backend.count("episodic"),
                "semantic": len(self.semantic.facts()), "working": int(bool(self.working.task)),
                HISTORY_TIER: self.backend.count(HISTORY_TIER)}


def default_store_path() -> Path:
    """Where UnifiedMemory keeps its SQLite file when given no store (see UnifiedMemory); the folder is made
    and the path logged."""
    folder = data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "memory.db"
    logging.getLogger("contextwise.memory").info("memory is stored in %s (pass store=... to choose)", path)
    return path


def _check_budget(budget_tokens: Any) -> int:
    if isinstance(budget_tokens, bool) or not isinstance(budget_tokens, int) or budget_tokens <= 0:
        raise UsageError(f"budget_tokens must be a positive int, got {budget_tokens!r}")
    return budget_tokens


def _observed(message: Any) -> Message:
    return Message.user(message) if isinstance(message, str) else as_message(message)


def _section(tier: str, items: Sequence[Item], prefix: str, options: Mapping[str, Any]) -> Section:
    priority, title = _SECTIONS[tier]
    fields = {"priority": priority, "title": title, "stable": False, **options}
    return Section(f"{prefix}.{tier}" if prefix else tier, tuple(items), "memory", **fields)
