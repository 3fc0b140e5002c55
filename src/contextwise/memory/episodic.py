"""Episodic memory: what happened, with its outcome, kept when important enough; similar episodes recalled."""

from __future__ import annotations

from typing import Any
from collections.abc import Mapping

from contextwise.memory._base import (
    Entry, MemoryBackend, MemoryItem, Mode, Recalled, RecallWeights, Stored, Timer, check_importance, check_text,
    to_item,
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
        timer = Timer("episodic.record")
        text = check_text(text, self.backend.max_text_chars)
        importance = check_importance(importance)
        if importance < self.threshold:
            self.skipped += 1
            return Stored(None, timer.stats())
        positions, counter = self.positions(1)
        meta = {**(metadata or {}), "importance": importance, "outcome": outcome, POSITION: positions[0]}
        item_id = self.backend.new_id(self.tier)
        self.backend.write([Entry(self.tier, item_id, text, meta), counter])
        item = MemoryItem(item_id, text, "episodic", importance, self.backend.clock(), dict(meta))
        return Stored(item, timer.stats(tokens=self.backend.counter.count(text)))

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
        query = check_text(query, self.backend.max_text_chars)
        depth = max(self.ranking.pool, 3 * k)
        dense = self.backend.search(self.tier, query, depth, mode="dense", where=where) if mode != "lexical" else []
        lexical = self.backend.search(self.tier, expand_query(query), depth, mode="lexical", where=where) \
            if mode != "dense" else []
        now = self.backend.clock()
        ranked = self.ranking.rank(dense, lexical)[:max(k * 2, k)]
        items = sorted((to_item(r, rel, self.weights, now) for r, rel in ranked), key=lambda i: -i.score)[:k]
        return Recalled(tuple(items), timer.stats(tokens=sum(self.backend.counter.count(i.text) for i in items)))


def recall_tier(backend: MemoryBackend, tier: str, query: str, k: int, weights: RecallWeights, *,
                mode: Mode, where: Mapping[str, Any] | None) -> Recalled:
    """Search one tier and rank the hits with `weights` (shared by the episodic and semantic tiers)."""
    timer = Timer(f"{tier}.recall")
    query = check_text(query, backend.max_text_chars)
    now = backend.clock()
    hits = backend.search(tier, query, max(k * 2, k), mode=mode, where=where)
    items = sorted((to_item(r, rel, weights, now) for r, rel in hits), key=lambda i: -i.score)[:k]
    return Recalled(tuple(items), timer.stats(tokens=sum(backend.counter.count(i.text) for i in items)))
