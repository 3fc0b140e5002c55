"""Episodic memory: what happened, with its outcome, kept when important enough; similar episodes recalled."""

from __future__ import annotations

from typing import Any
from collections.abc import Mapping

from contextwise.memory._base import (
    MemoryBackend, MemoryItem, Mode, Recalled, RecallWeights, Stored, Timer, check_importance, check_text, to_item,
)


class EpisodicMemory:
    """Episodes (an event, what was done, how it turned out) above an importance threshold.

    Args:
        backend: the tenant's MemoryBackend.
        threshold: episodes less important than this are not stored (`record` returns no item and counts it).
        weights: how relevance, recency and importance rank a recall.
    """

    tier = "episodic"

    def __init__(self, backend: MemoryBackend, *, threshold: float = 0.3,
                 weights: RecallWeights | None = None) -> None:
        self.backend = backend
        self.threshold = check_importance(threshold)
        self.weights = weights or RecallWeights()
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
        meta = {**(metadata or {}), "importance": importance, "outcome": outcome}
        item_id = self.backend.new_id(self.tier)
        self.backend.put(self.tier, [(item_id, text, meta)])
        item = MemoryItem(item_id, text, "episodic", importance, self.backend.clock(), dict(meta))
        return Stored(item, timer.stats(tokens=self.backend.counter.count(text)))

    def recall(self, query: str, k: int = 5, *, mode: Mode = "hybrid",
               where: Mapping[str, Any] | None = None) -> Recalled:
        """The `k` episodes most like `query`, ranked by relevance, recency and importance."""
        return recall_tier(self.backend, self.tier, query, k, self.weights, mode=mode, where=where)


def recall_tier(backend: MemoryBackend, tier: str, query: str, k: int, weights: RecallWeights, *,
                mode: Mode, where: Mapping[str, Any] | None) -> Recalled:
    """Search one tier and rank the hits with `weights` (shared by the episodic and semantic tiers)."""
    timer = Timer(f"{tier}.recall")
    query = check_text(query, backend.max_text_chars)
    now = backend.clock()
    hits = backend.search(tier, query, max(k * 2, k), mode=mode, where=where)
    items = sorted((to_item(r, rel, weights, now) for r, rel in hits), key=lambda i: -i.score)[:k]
    return Recalled(tuple(items), timer.stats(tokens=sum(backend.counter.count(i.text) for i in items)))
