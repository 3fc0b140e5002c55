"""What every memory tier shares: the item and stats types, the tenant-scoped backend (store + embedder + BM25),
and recall scoring by relevance, recency and importance."""

from __future__ import annotations

import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from collections.abc import Callable, Iterator, Mapping, Sequence

from contextwise.errors import UsageError
from contextwise.registry import resolve
from contextwise.types import Record, Usage
from contextwise.observe._emit import memory_op

Tier = Literal["short_term", "episodic", "semantic", "working"]
TIERS: tuple[str, ...] = ("short_term", "episodic", "semantic", "working")
DAY_S = 86_400.0


@dataclass(frozen=True)
class MemoryItem:
    """One remembered thing. `score` is set on recall (relevance, recency and importance combined)."""

    id: str
    text: str
    tier: Tier
    importance: float = 0.5
    created_at: float = 0.0
    metadata: Mapping[str, Any] = field(default_factory=dict)
    score: float = 0.0

    def __hash__(self) -> int:
        return hash((self.id, self.tier))


@dataclass(frozen=True)
class OpStats:
    """What one memory operation cost: tokens of text handled, wall time, and the model calls it made."""

    operation: str
    tokens: int = 0
    latency_s: float = 0.0
    model_calls: int = 0
    usage: Usage = field(default_factory=Usage)
    cost_usd: float | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Stored:
    """What one write did: the item stored (None when it was not kept), the items evicted to make room for it,
    and the stats of the write."""

    item: MemoryItem | None
    stats: OpStats
    evicted: tuple[MemoryItem, ...] = ()


@dataclass(frozen=True)
class Recalled:
    """Items recalled for a query, best first, with the stats of the recall."""

    items: tuple[MemoryItem, ...]
    stats: OpStats

    def __iter__(self) -> Iterator[MemoryItem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class RecallWeights:
    """How relevance, recency (exponential, `half_life_s`) and importance combine into a recall score."""

    relevance: float = 1.0
    recency: float = 0.15
    importance: float = 0.15
    half_life_s: float = 30 * DAY_S

    def __post_init__(self) -> None:
        parts = (self.relevance, self.recency, self.importance)
        if any(not math.isfinite(p) or p < 0 for p in parts) or sum(parts) <= 0 or self.half_life_s <= 0:
            raise UsageError("recall weights must be finite, >= 0, not all 0, and half_life_s > 0")

    def score(self, relevance: float, age_s: float, importance: float) -> float:
        """The weighted mean of the three components, each in [0, 1]."""
        recency = 0.5 ** (max(age_s, 0.0) / self.half_life_s)
        total = self.relevance + self.recency + self.importance
        return (self.relevance * relevance + self.recency * recency + self.importance * importance) / total


Mode = Literal["dense", "lexical", "hybrid"]
# Dense : lexical weight of hybrid recall, chosen on LoCoMo's tuning conversations (conv-26..47) and confirmed on
# the held-out ones: lexical-heavy fusion wins at k <= 20 (benchmarks/bench_locomo.py).
HYBRID_WEIGHTS = (1.0, 4.0)


@dataclass(frozen=True)
class Entry:
    """One record to write: its tier, id, text, metadata, and whether to embed its text."""

    tier: str
    id: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    embed: bool = True


def check_importance(importance: float) -> float:
    if not (isinstance(importance, (int, float)) and 0.0 <= importance <= 1.0):
        raise UsageError(f"importance must be a number in [0, 1], got {importance!r}")
    return float(importance)


def check_text(text: str, max_chars: int) -> str:
    if not isinstance(text, str) or not text.strip():
        raise UsageError("a memory needs non-empty text")
    if len(text) > max_chars:
        raise UsageError(f"a memory of {len(text):,} characters is over the {max_chars:,}-character limit; "
                         "split it or raise max_text_chars")
    return text.strip()


class MemoryBackend:
    """One tenant's view of a store, an embedder and a lexical index; all tiers of a memory share one.

    Args:
        store: a VectorStore or spec ("sqlite:memory.db", "memory:", "postgres:<dsn>").
        embedder: an Embedder or spec ("onnx:all-minilm-l6-v2"); wrapped so a text is never embedded twice.
        tenant: the hard partition every call is scoped to.
        clock: seconds since the epoch (injectable for tests of recency and TTL).
        counter: the TokenCounter for the token figures in OpStats (default: gpt-4o-mini's).
        hybrid_weights: (dense, lexical) weights of the reciprocal-rank fusion in hybrid search.
    """

    def __init__(self, store: Any, embedder: Any, *, tenant: str, clock: Callable[[], float] = time.time,
                 max_text_chars: int = 20_000, counter: Any = None,
                 hybrid_weights: tuple[float, float] = HYBRID_WEIGHTS) -> None:
        from contextwise.embed import BM25Index, CachedEmbedder
        from contextwise.tokens import TokenCounter

        self.counter = counter or TokenCounter.for_model("gpt-4o-mini")

        inner = resolve("embedder", embedder)
        self.embedder = inner if isinstance(inner, CachedEmbedder) else CachedEmbedder(inner)
        self.store = _open_store(store, inner.dimensions)
        if getattr(self.store, "dimensions", inner.dimensions) != inner.dimensions:
            raise UsageError(f"the store holds {self.store.dimensions}-d vectors but the embedder makes "
                             f"{inner.dimensions}-d ones")
        self.tenant = tenant
        self.clock = clock
        self.max_text_chars = max_text_chars
        self.hybrid_weights = hybrid_weights
        self._lexical = BM25Index()
        # Per tier whose lexical index is loaded: its records by id, so a lexical hit costs no store round trip.
        self._lexical_records: dict[str, dict[str, Record]] = {}
        self._lock = threading.RLock()

    def new_id(self, tier: str) -> str:
        return f"{tier}:{uuid.uuid4().hex}"

    def put(self, tier: str, items: Sequence[tuple[str, str, Mapping[str, Any]]], *, embed: bool = True) -> None:
        """Store (id, text, metadata) triples in `tier`, embedding their texts; atomic per call."""
        self.write([Entry(tier, i, text, meta, embed) for i, text, meta in items])

    def write(self, entries: Sequence[Entry]) -> None:
        """Store entries of any tiers in one atomic upsert; only entries marked `embed` get a vector."""
        if not entries:
            return
        to_embed = [e for e in entries if e.embed]
        vectors = dict(zip((e.id for e in to_embed),
                           self.embedder.embed([e.text for e in to_embed], kind="document"))) if to_embed else {}
        now = self.clock()
        records = [Record(e.id, e.text, tuple(float(x) for x in vectors[e.id]) if e.id in vectors else None,
                          {**e.metadata, "tier": e.tier}, float(e.metadata.get("created_at", now)))
                   for e in entries]
        with self._lock:
            self.store.upsert(records, tenant=self.tenant)
            for r in records:
                tier = r.metadata["tier"]
                if tier in self._lexical_records:
                    self._lexical.add([r.id], [r.text], tenant=tier)
                    self._lexical_records[tier][r.id] = r

    def delete(self, tier: str, ids: Sequence[str]) -> int:
        with self._lock:
            removed = self.store.delete(list(ids), tenant=self.tenant)
            if tier in self._lexical_records:
                self._lexical.remove(list(ids), tenant=tier)
                for i in ids:
                    self._lexical_records[tier].pop(i, None)
            return removed

    def get(self, ids: Sequence[str]) -> list[Record]:
        return self.store.get(list(ids), tenant=self.tenant)

    def scan(self, tier: str, where: Mapping[str, Any] | None = None) -> list[Record]:
        return self.store.scan(tenant=self.tenant, where={**(where or {}), "tier": tier})

    def search(self, tier: str, query: str, k: int, *, mode: Mode = "hybrid",
               where: Mapping[str, Any] | None = None,
               weights: tuple[float, float] | None = None) -> list[tuple[Record, float]]:
        """Records of `tier` for `query`, best first, each with a relevance in [0, 1].

        Hybrid search fuses the dense and lexical rankings by reciprocal rank with `weights` (dense, lexical),
        by default the backend's `hybrid_weights`."""
        if k < 1:
            raise UsageError(f"k must be at least 1, got {k}")
        pool = max(k * 4, 20)
        dense = self._dense(tier, query, pool, where) if mode != "lexical" else []
        lexical = self._lexical_search(tier, query, pool, where) if mode != "dense" else []
        if mode == "dense":
            return dense[:k]
        if mode == "lexical":
            return lexical[:k]
        return _fuse(dense, lexical, weights or self.hybrid_weights)[:k]

    def _dense(self, tier: str, query: str, k: int, where: Mapping[str, Any] | None) -> list[tuple[Record, float]]:
        vector = self.embedder.embed([query], kind="query")[0]
        hits = self.store.query(vector, k, tenant=self.tenant, where={**(where or {}), "tier": tier})
        return [(h.record, max(0.0, min(1.0, float(h.score)))) for h in hits]

    def _lexical_search(self, tier: str, query: str, k: int,
                        where: Mapping[str, Any] | None) -> list[tuple[Record, float]]:
        with self._lock:
            if tier not in self._lexical_records:
                loaded = self.scan(tier)
                self._lexical.add([r.id for r in loaded], [r.text for r in loaded], tenant=tier)
                self._lexical_records[tier] = {r.id: r for r in loaded}
            found = self._lexical.search(query, k if not where else k * 4, tenant=tier)
            records = self._lexical_records[tier]
        if not found:
            return []
        peak = found[0].score or 1.0
        out = [(records[s.id], s.score / peak) for s in found if s.id in records]
        if where:
            from contextwise.stores._filter import matches, parse_where

            conditions = parse_where(where)
            out = [(r, s) for r, s in out if matches(conditions, r.metadata)]
        return out[:k]


def _fuse(dense: list[tuple[Record, float]], lexical: list[tuple[Record, float]],
          weights: tuple[float, float]) -> list[tuple[Record, float]]:
    """Weighted reciprocal-rank fusion of the two lists, keeping each record's best relevance as its score."""
    from contextwise.embed import fuse_rrf

    records = {r.id: r for r, _ in dense + lexical}
    best: dict[str, float] = {}
    for r, s in dense + lexical:
        best[r.id] = max(best.get(r.id, 0.0), s)
    order = fuse_rrf([r.id for r, _ in dense], [r.id for r, _ in lexical], weights=list(weights))
    return [(records[s.id], best[s.id]) for s in order]


def _open_store(store: Any, dimensions: int) -> Any:
    if isinstance(store, str):
        from contextwise.stores import open_store

        return open_store(store, dimensions=dimensions)
    return store


def to_item(record: Record, relevance: float, weights: RecallWeights, now: float) -> MemoryItem:
    """A stored record as a MemoryItem scored for recall."""
    meta = dict(record.metadata)
    importance = float(meta.pop("importance", 0.5))
    tier = meta.pop("tier", "semantic")
    score = weights.score(relevance, now - record.created_at, importance)
    return MemoryItem(record.id, record.text, tier, importance, record.created_at, meta, score)


class Timer:
    """Measures one operation; `stats(...)` builds its OpStats."""

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self.start = time.perf_counter()

    def stats(self, *, tokens: int = 0, model_calls: int = 0, usage: Usage | None = None,
              cost_usd: float | None = None, warnings: Sequence[str] = ()) -> OpStats:
        return memory_op(OpStats(self.operation, tokens, time.perf_counter() - self.start, model_calls,  # observe
                                 usage or Usage(), cost_usd, tuple(warnings)))
