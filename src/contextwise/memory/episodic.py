"""Episodic memory: what happened, with its outcome, kept when important enough; similar episodes recalled."""

from __future__ import annotations

from typing import Any
from collections.abc import Mapping, Sequence

from contextwise.errors import UsageError
from contextwise.memory._base import (
    Entry, MemoryBackend, MemoryItem, Mode, Recalled, RecallWeights, Stored, Timer, check_importance, check_k,
    check_metadata, check_mode, check_text, to_item,
)
from contextwise.memory._context_rank import POSITION, ContextRanking, expand_query

#: Where each tenant's next episode position is kept (one record, no vector; not an episode).
_COUNTER_TIER = "episodic_position"
_COUNTER_ID = "episodic_position:next"


class EpisodicMemory:
    """Episodes (an event, what was done, how it turned out) above an importance threshold.

    Args:
        backend: the tenant's MemoryBackend.
        threshold: episodes less important than this are not stored (`record` returns no item and counts it).
        weights: how relevance, recency and importance rank a recall.
        ranking: how relevance is measured: dense and lexical fused, and lifted by the episodes recorded next to
            each one (the default); `ContextRanking(neighbour_weight=0, window=0)` ranks episodes on their own.
    """

    tier = "episodic"

    def __init__(self, backend: MemoryBackend, *, threshold: float = 0.3,
                 weights: RecallWeights | None = None, ranking: ContextRanking | None = None) -> None:
        self.backend = backend
        self.threshold = check_importance(threshold)
        self.weights = weights or RecallWeights()
        self.ranking = ranking or ContextRanking()
        self.skipped = 0

    def record(self, text: str, *, outcome: str = "", importance: float = 0.5,
               metadata: Mapping[str, Any] | None = None) -> Stored:
        """Store an episode if it is at least `threshold` important; the result's item is None when skipped.

        Raises:
            UsageError: empty or oversized text, or an importance outside [0, 1] (nothing is written).
        """
        return self.record_many([text], outcome=outcome, importance=importance,
                                metadata=None if metadata is None else [metadata])[0]

    def record_many(self, texts: Sequence[str], *, outcome: str = "", importance: float = 0.5,
                    metadata: Sequence[Mapping[str, Any]] | None = None) -> tuple[Stored, ...]:
        """`record` for many episodes at once: one embedder batch and one transaction for all of them (about
        ten times the episodes per second of one call each; benchmarks/bench_memory.py).

        Args:
            texts: the episodes.
            outcome / importance: shared by all of them.
            metadata: one mapping per text, or None.

        Raises:
            UsageError: any bad text, importance or metadata (nothing is written).
        """
        timer = Timer("episodic.record")
        if isinstance(texts, str) or not isinstance(texts, Sequence):
            raise UsageError("record_many takes a sequence of texts (wrap a single text in a list)")
        if metadata is not None and len(metadata) != len(texts):
            raise UsageError(f"got {len(metadata)} metadata mappings for {len(texts)} texts; give one per text")
        cleaned = [check_text(t, self.backend.max_text_chars) for t in texts]
        importance = check_importance(importance)
        metas = [check_metadata(m) for m in (metadata or [{}] * len(texts))]
        if importance < self.threshold:
            self.skipped += len(texts)
            return tuple(Stored(None, timer.stats()) for _ in texts)
        positions, counter = self.positions(len(cleaned))
        entries = [Entry(self.tier, self.backend.new_id(self.tier), text,
                         {**meta, "importance": importance, "outcome": outcome, POSITION: position})
                   for text, meta, position in zip(cleaned, metas, positions)]
        self.backend.write([*entries, counter])
        now = self.backend.clock()
        return tuple(Stored(MemoryItem(e.id, e.text, "episodic", importance, float(e.metadata.get("created_at", now)),
                                       dict(e.metadata)), timer.stats(tokens=self.backend.counter.count(e.text)))
                     for e in entries)

    def positions(self, count: int) -> tuple[list[int], Entry]:
        """The next `count` positions in the order recorded, and the counter entry to write with the episodes
        (in the same write, so a failed write takes no position). Two processes writing at once may share a
        position; ranking only reads which episodes are near each other, so that costs nothing but precision."""
        found = self.backend.get([_COUNTER_ID])
        start = int(found[0].metadata.get("next", 0)) if found else 0
        return list(range(start, start + count)), Entry(_COUNTER_TIER, _COUNTER_ID, "next episode position",
                                                        {"next": start + count}, embed=False)

    def recall(self, query: str, k: int = 5, *, mode: Mode = "hybrid",
               where: Mapping[str, Any] | None = None) -> Recalled:
        """The `k` episodes most like `query`, ranked by relevance in context (see `ranking`), recency and
        importance."""
        timer = Timer(f"{self.tier}.recall")
        query, k, mode = check_text(query, self.backend.max_text_chars), check_k(k), check_mode(mode)
        depth = max(self.ranking.pool, 3 * k)
        dense, lexical = self.backend.search_legs(self.tier, query if mode != "lexical" else None,
                                                  expand_query(query) if mode != "dense" else None, depth, where)
        return self._in_context(dense, lexical, k, timer)

    async def arecall(self, query: str, k: int = 5, *, mode: Mode = "hybrid",
                      where: Mapping[str, Any] | None = None) -> Recalled:
        """The async twin of `recall` (awaits an async store or embedder); the same ranking."""
        timer = Timer(f"{self.tier}.recall")
        query, k, mode = check_text(query, self.backend.max_text_chars), check_k(k), check_mode(mode)
        depth = max(self.ranking.pool, 3 * k)
        dense, lexical = await self.backend.asearch_legs(self.tier, query if mode != "lexical" else None,
                                                         expand_query(query) if mode != "dense" else None, depth,
                                                         where)
        return self._in_context(dense, lexical, k, timer)

    def _in_context(self, dense: Any, lexical: Any, k: int, timer: Timer) -> Recalled:
        ranked = self.ranking.rank(dense, lexical)[:max(k * 2, k)]
        return _ranked(self.backend, ranked, k, self.weights, timer)


def recall_tier(backend: MemoryBackend, tier: str, query: str, k: int, weights: RecallWeights, *,
                mode: Mode, where: Mapping[str, Any] | None) -> Recalled:
    """Search one tier and rank the hits with `weights` (shared by the episodic and semantic tiers)."""
    timer = Timer(f"{tier}.recall")
    query, k, mode = check_text(query, backend.max_text_chars), check_k(k), check_mode(mode)
    hits = backend.search(tier, query, max(k * 2, k), mode=mode, where=where)
    return _ranked(backend, hits, k, weights, timer)


async def arecall_tier(backend: MemoryBackend, tier: str, query: str, k: int, weights: RecallWeights, *,
                       mode: Mode, where: Mapping[str, Any] | None) -> Recalled:
    """The async twin of `recall_tier`."""
    timer = Timer(f"{tier}.recall")
    query, k, mode = check_text(query, backend.max_text_chars), check_k(k), check_mode(mode)
    hits = await backend.asearch(tier, query, max(k * 2, k), mode=mode, where=where)
    return _ranked(backend, hits, k, weights, timer)


def _ranked(backend: MemoryBackend, hits: Any, k: int, weights: RecallWeights, timer: Timer) -> Recalled:
    now = backend.clock()
    items = sorted((to_item(r, rel, weights, now) for r, rel in hits), key=lambda i: -i.score)[:k]
    return Recalled(tuple(items), timer.stats(tokens=sum(backend.counter.count(i.text) for i in items)))
