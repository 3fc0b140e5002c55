"""What every memory tier shares: the item and stats types, the tenant-scoped backend (store + embedder + BM25),
and recall scoring by relevance, recency and importance."""

from __future__ import annotations

import contextvars
import inspect
import os
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Literal
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

from contextwise._weighting import DAY_S, Weighting
from contextwise.errors import UsageError
from contextwise.registry import resolve
from contextwise.types import Hit, Record, Usage
from contextwise.observe._emit import memory_op

Tier = Literal["short_term", "episodic", "semantic", "working"]
TIERS: tuple[str, ...] = ("short_term", "episodic", "semantic", "working")


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
class RecallWeights(Weighting):
    """How relevance, recency (exponential, `half_life_s`) and importance combine into a recall score."""

    relevance: float = 1.0
    recency: float = 0.15
    importance: float = 0.15
    half_life_s: float = 30 * DAY_S
    components = ("relevance", "recency", "importance")

    def __post_init__(self) -> None:
        self.check()

    def score(self, relevance: float, age_s: float, importance: float) -> float:
        """The weighted mean of the three components, each in [0, 1]."""
        return self.combine(relevance, self.decay(age_s), importance)


Mode = Literal["dense", "lexical", "hybrid"]
# Dense : lexical weight of hybrid recall, chosen on LoCoMo's tuning conversations (conv-26..47) and confirmed on
# the held-out ones: lexical-heavy fusion wins at k <= 20 (benchmarks/bench_locomo.py).
HYBRID_WEIGHTS = (1.0, 4.0)
# HNSW ef_search of a hybrid recall's dense search when it runs beside the lexical one (which takes longer): on a
# 200k tier of MiniLM vectors, hybrid recall@10 against exact hybrid was 0.988 at the store's 800 and 0.991 at
# 1200, in the same wall time (benchmarks/bench_memory.py); a dense-only recall keeps the store's own. Re-checked
# after the lexical search's cheaper second statement (2026-12-07, interleaved): 15.3 ms at 0.9945 (800) against
# 15.4 ms at 0.9955 (1200), so it stays.
HYBRID_EF_SEARCH = 1200


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
    """`text` stripped, if it is a non-empty str every store can hold (no NUL, valid Unicode) of at most
    `max_chars`; else UsageError (InvalidRecordError for unstorable characters)."""
    from contextwise.stores._core import check_storable

    if not isinstance(text, str) or not text.strip():
        raise UsageError("a memory needs non-empty text")
    if len(text) > max_chars:
        raise UsageError(f"a memory of {len(text):,} characters is over the {max_chars:,}-character limit; "
                         "split it or raise max_text_chars")
    return check_storable("(new memory)", text.strip(), "text")


def check_metadata(metadata: Any) -> dict[str, Any]:
    """`metadata` as a dict, if the stores can hold it (JSON, bounded depth and size) and its `created_at`, if
    any, is a finite number of seconds; else InvalidRecordError."""
    from contextwise.stores._core import check_created_at, metadata_json

    if metadata is None:
        return {}
    metadata_json("(new memory)", metadata)
    if "created_at" in metadata:
        check_created_at("(new memory)", metadata["created_at"])
    return dict(metadata)


class MemoryBackend:
    """One tenant's view of a store and an embedder; all tiers of a memory share one.

    Each tier is a partition of the tenant in the store, so dense search (exact or HNSW) and lexical search
    (FTS5 / PostgreSQL full-text / in-memory BM25) run inside one tier, in the store, on every call: recall
    always reflects the store, deletes and writes of other processes included, and this object holds no
    records. The only process-local state is the embedder's cache of vectors (CachedEmbedder: bounded, keyed by
    text). A store without `search_text` and `upsert_partitions` (a third-party VectorStore) still works: tiers
    are then a metadata filter and lexical recall reads the tier on each call, which is correct but slow.

    Args:
        store: a VectorStore or spec ("sqlite:memory.db", "memory:", "postgres:<dsn>").
        embedder: an Embedder or spec ("onnx:all-minilm-l6-v2"); wrapped so a text is never embedded twice. The
            store is bound to its name (`bind_embedder`): a store whose vectors another embedder made raises
            EmbedderMismatchError here (an async store: at the first `awrite` / `asearch`).
        tenant: the hard partition every call is scoped to.
        clock: seconds since the epoch (injectable for tests of recency and TTL).
        counter: the TokenCounter for the token figures in OpStats (default: gpt-4o-mini's).
        hybrid_weights: (dense, lexical) weights of the reciprocal-rank fusion in hybrid search.
        hybrid_ef_search: HNSW ef_search of the dense search of a hybrid recall whose two searches run at once
            (`parallel_reads`), for a store whose `query` takes one; None: the store's own.
    """

    def __init__(self, store: Any, embedder: Any, *, tenant: str, clock: Callable[[], float] = time.time,
                 max_text_chars: int = 20_000, counter: Any = None,
                 hybrid_weights: tuple[float, float] = HYBRID_WEIGHTS,
                 hybrid_ef_search: int | None = HYBRID_EF_SEARCH) -> None:
        from contextwise.embed import AsyncCachedEmbedder, CachedEmbedder
        from contextwise.stores._core import check_ef_search, check_tenant
        from contextwise.tokens import TokenCounter

        self.counter = counter or TokenCounter.for_model("gpt-4o-mini")
        self.tenant = check_tenant(tenant)
        inner = resolve("embedder", embedder)
        self.async_embedder = inspect.iscoroutinefunction(getattr(inner, "embed", None))
        wrapper = AsyncCachedEmbedder if self.async_embedder else CachedEmbedder
        self.embedder: Any = inner if isinstance(inner, (CachedEmbedder, AsyncCachedEmbedder)) else wrapper(inner)
        self.store = _open_store(store, inner.dimensions)
        if getattr(self.store, "dimensions", inner.dimensions) != inner.dimensions:
            raise UsageError(f"the store holds {self.store.dimensions}-d vectors but the embedder makes "
                             f"{inner.dimensions}-d ones")
        self.async_store = inspect.iscoroutinefunction(getattr(self.store, "query", None))
        self.clock = clock
        self.max_text_chars = max_text_chars
        self.hybrid_weights = hybrid_weights
        self.hybrid_ef_search = check_ef_search(hybrid_ef_search)
        self.partitioned = hasattr(self.store, "search_text") and hasattr(self.store, "upsert_partitions")
        self._query_takes_ef = _takes(getattr(self.store, "query", None), "ef_search")
        # Recall reads the hits' texts and metadata, never their vectors: a store that can leave them out does.
        self._query_takes_vectors = _takes(getattr(self.store, "query", None), "vectors")
        self._text_takes_vectors = _takes(getattr(self.store, "search_text", None), "vectors")
        # A store that can record its embedder is bound to this one's name before any read or write (an async
        # store at its first awrite / asearch); a third-party store without `bind_embedder` is left as it is.
        self._unbound = hasattr(self.store, "bind_embedder")
        if not self.async_store:
            self._bind()
        if self.partitioned and not self.async_store:
            self._adopt_unpartitioned()

    def _bind(self) -> None:
        if self._unbound:
            self.store.bind_embedder(self.embedder.name)
            self._unbound = False

    async def _abind(self) -> None:
        if self._unbound:
            await maybe_await(self.store.bind_embedder(self.embedder.name))
            self._unbound = False

    @property
    def is_async(self) -> bool:
        """Whether the store or the embedder is async: then only the `a*` methods of the tiers work."""
        return self.async_store or self.async_embedder

    def new_id(self, tier: str) -> str:
        return f"{tier}:{uuid.uuid4().hex}"

    # --- the pure steps both drivers share ------------------------------------------------------------------

    def records(self, entries: Sequence[Entry], vectors: Sequence[Any]) -> list[Record]:
        """The records for `entries`, given the vectors of those marked `embed` (in order). Pure."""
        now = self.clock()
        found = iter(vectors)
        return [Record(e.id, e.text, tuple(float(x) for x in next(found)) if e.embed else None,
                       {**e.metadata, "tier": e.tier}, float(e.metadata.get("created_at", now)))
                for e in entries]

    def _upsert_call(self, records: Sequence[Record], expect: Mapping[str, str | int | None] | None) -> Any:
        if not self.partitioned:
            if expect:
                raise UsageError("compare-and-set writes need a store with upsert_partitions")
            return self.store.upsert(list(records), tenant=self.tenant)
        batches: dict[str, list[Record]] = {}
        for r in records:
            batches.setdefault(str(r.metadata["tier"]), []).append(r)
        return self.store.upsert_partitions(batches, tenant=self.tenant, expect=expect)

    def _scan_call(self, tier: str, where: Mapping[str, Any] | None) -> Any:
        if self.partitioned:
            return self.store.scan(tenant=self.tenant, where=where, partition=tier)
        return self.store.scan(tenant=self.tenant, where={**(where or {}), "tier": tier})

    def _query_call(self, tier: str, vector: Any, k: int, where: Mapping[str, Any] | None,
                    ef_search: int | None = None) -> Any:
        tuned: dict[str, Any] = {"ef_search": ef_search} if ef_search is not None and self._query_takes_ef else {}
        if self._query_takes_vectors:
            tuned["vectors"] = False
        if self.partitioned:
            return self.store.query(vector, k, tenant=self.tenant, where=where, partition=tier, **tuned)
        return self.store.query(vector, k, tenant=self.tenant, where={**(where or {}), "tier": tier}, **tuned)

    def _text_call(self, tier: str, query: str, k: int, where: Mapping[str, Any] | None) -> Any:
        bare = {"vectors": False} if self._text_takes_vectors else {}
        return self.store.search_text(query, k, tenant=self.tenant, where=where, partition=tier, **bare)

    # --- sync driver ----------------------------------------------------------------------------------------

    def _sync(self, *, embeds: bool = False) -> None:
        if self.async_store or (embeds and self.async_embedder):
            raise UsageError("this memory's store or embedder is async: use the a* methods (aobserve, arecall, "
                             "abuild_context, alearn), or give it a sync store and embedder")

    def put(self, tier: str, items: Sequence[tuple[str, str, Mapping[str, Any]]], *, embed: bool = True) -> None:
        """Store (id, text, metadata) triples in `tier`, embedding their texts; atomic per call."""
        self.write([Entry(tier, i, text, meta, embed) for i, text, meta in items])

    def write(self, entries: Sequence[Entry], *, expect: Mapping[str, str | int | None] | None = None) -> None:
        """Store entries of any tiers in one atomic write; only entries marked `embed` get a vector (one
        embedder batch for all of them).

        Args:
            expect: compare-and-set (record id -> the version it must have now, `Record.version` as read, or
                the text it must hold now; None: absent); when it does not
                hold, WriteConflictError is raised and nothing is written.
        """
        self._sync(embeds=any(e.embed for e in entries))
        if not entries and not expect:
            return
        texts = [e.text for e in entries if e.embed]
        vectors: Sequence[Any] = list(self.embedder.embed(texts, kind="document")) if texts else []
        self._upsert_call(self.records(entries, vectors), expect)

    def upsert(self, records: Sequence[Record], *, expect: Mapping[str, str | int | None] | None = None) -> None:
        """Write records (their tier in metadata) in one transaction, each into its tier's partition."""
        self._sync()
        self._upsert_call(records, expect)

    def delete(self, tier: str, ids: Sequence[str]) -> int:
        self._sync()
        return int(self.store.delete(list(ids), tenant=self.tenant))

    def get(self, ids: Sequence[str]) -> list[Record]:
        self._sync()
        return list(self.store.get(list(ids), tenant=self.tenant))

    def scan(self, tier: str, where: Mapping[str, Any] | None = None) -> list[Record]:
        self._sync()
        return list(self._scan_call(tier, where))

    def count(self, tier: str) -> int:
        self._sync()
        if self.partitioned:
            return int(self.store.count(tenant=self.tenant, partition=tier))
        return len(self.scan(tier))

    def search(self, tier: str, query: str, k: int, *, mode: Mode = "hybrid",
               where: Mapping[str, Any] | None = None,
               weights: tuple[float, float] | None = None) -> list[tuple[Record, float]]:
        """Records of `tier` for `query`, best first, each with a relevance in [0, 1] (without vectors where the
        store can leave them out: recall never reads them).

        Hybrid search fuses the dense and lexical rankings by reciprocal rank with `weights` (dense, lexical),
        by default the backend's `hybrid_weights`."""
        mode, k = check_mode(mode), check_k(k)
        dense, lexical = self.search_legs(tier, query if mode != "lexical" else None,
                                          query if mode != "dense" else None, _pool(mode, k), where)
        return _combine(mode, dense, lexical, k, weights or self.hybrid_weights)

    @property
    def parallel_reads(self) -> bool:
        """Whether the two searches of a hybrid recall run at once: the store searches text on a connection of its
        own (`parallel_reads`, e.g. an SQLite file), so the lexical search needs no lock the dense one holds."""
        return self.partitioned and bool(getattr(self.store, "parallel_reads", False))

    def search_legs(self, tier: str, dense_query: str | None, lexical_query: str | None, k: int,
                    where: Mapping[str, Any] | None = None) -> tuple[list[tuple[Record, float]],
                                                                     list[tuple[Record, float]]]:
        """The dense ranking of `dense_query` and the lexical ranking of `lexical_query` in `tier`, each `k`
        deep with relevances in [0, 1] ([] for a query of None).

        When both are asked and the store reads in parallel (`parallel_reads`), the lexical search runs on a
        worker thread while this one embeds the query and searches by vector: the recall then takes as long as
        the slower search, not both (SQLite and FTS5 leave Python's lock while they work, as do ONNX and HNSW).
        An error of either search is raised here, after both have ended."""
        self._sync(embeds=dense_query is not None)
        k = check_k(k)

        def dense(ef_search: int | None = None) -> list[tuple[Record, float]]:
            if dense_query is None:
                return []
            vector = self.embedder.embed([dense_query], kind="query")[0]
            return _dense_hits(self._query_call(tier, vector, k, where, ef_search))

        def lexical() -> list[tuple[Record, float]]:
            if lexical_query is None:
                return []
            if self.partitioned:
                return _lexical_hits(self._text_call(tier, lexical_query, k, where))
            return _scan_bm25(self.scan(tier, where), lexical_query, k)

        if dense_query is None or lexical_query is None or not self.parallel_reads \
                or not _SPARE_WORKERS.acquire(blocking=False):  # every worker busy: no worse than one by one
            return dense(), lexical()

        def on_a_worker() -> list[tuple[Record, float]]:
            try:
                return lexical()
            finally:
                _SPARE_WORKERS.release()

        try:
            pending: Future[list[tuple[Record, float]]] = _workers().submit(contextvars.copy_context().run,
                                                                            on_a_worker)
        except RuntimeError:  # the interpreter is shutting down: no new threads
            _SPARE_WORKERS.release()
            return dense(), lexical()
        try:
            found = dense(self.hybrid_ef_search)  # hidden behind the lexical search: room for a wider HNSW search
        finally:
            wait([pending])
        return found, pending.result()

    # --- async driver (the same steps; awaits what is async, calls what is not) ----------------------------

    async def awrite(self, entries: Sequence[Entry], *,
                     expect: Mapping[str, str | int | None] | None = None) -> None:
        """The async twin of `write`."""
        if not entries and not expect:
            return
        await self._abind()
        texts = [e.text for e in entries if e.embed]
        vectors: Sequence[Any] = list(await maybe_await(self.embedder.embed(texts, kind="document"))) if texts else []
        await maybe_await(self._upsert_call(self.records(entries, vectors), expect))

    async def aget(self, ids: Sequence[str]) -> list[Record]:
        """The async twin of `get`."""
        return list(await maybe_await(self.store.get(list(ids), tenant=self.tenant)))

    async def ascan(self, tier: str, where: Mapping[str, Any] | None = None) -> list[Record]:
        """The async twin of `scan`."""
        return list(await maybe_await(self._scan_call(tier, where)))

    async def asearch(self, tier: str, query: str, k: int, *, mode: Mode = "hybrid",
                      where: Mapping[str, Any] | None = None,
                      weights: tuple[float, float] | None = None) -> list[tuple[Record, float]]:
        """The async twin of `search`."""
        mode, k = check_mode(mode), check_k(k)
        dense, lexical = await self.asearch_legs(tier, query if mode != "lexical" else None,
                                                 query if mode != "dense" else None, _pool(mode, k), where)
        return _combine(mode, dense, lexical, k, weights or self.hybrid_weights)

    async def asearch_legs(self, tier: str, dense_query: str | None, lexical_query: str | None, k: int,
                           where: Mapping[str, Any] | None = None) -> tuple[list[tuple[Record, float]],
                                                                            list[tuple[Record, float]]]:
        """The async twin of `search_legs` (one search after the other: an async store has one connection)."""
        await self._abind()
        k = check_k(k)
        dense: list[tuple[Record, float]] = []
        lexical: list[tuple[Record, float]] = []
        if dense_query is not None:
            vector = (await maybe_await(self.embedder.embed([dense_query], kind="query")))[0]
            dense = _dense_hits(await maybe_await(self._query_call(tier, vector, k, where)))
        if lexical_query is not None:
            lexical = _lexical_hits(await maybe_await(self._text_call(tier, lexical_query, k, where))) \
                if self.partitioned else _scan_bm25(await self.ascan(tier, where), lexical_query, k)
        return dense, lexical

    def _adopt_unpartitioned(self) -> None:
        """Memories written before tiers were partitions sit in partition '' with their tier in metadata: move
        them into their tier's partition (one transaction; nothing to do, and one indexed lookup, after)."""
        legacy = self.store.scan(tenant=self.tenant, where={"tier": {"$in": list(TIERS) + ["fact_history"]}},
                                 partition="")
        if legacy:
            self._upsert_call(legacy, None)


#: The threads that run the lexical searches of hybrid recalls, one pool for the process (made at first use); a
#: recall that finds none of them idle runs its two searches one after the other on its own thread.
_WORKER_COUNT = min(32, (os.cpu_count() or 1) + 4)
_SPARE_WORKERS = threading.BoundedSemaphore(_WORKER_COUNT)
_WORKERS: list[ThreadPoolExecutor] = []
_WORKERS_LOCK = threading.Lock()


def _workers() -> ThreadPoolExecutor:
    with _WORKERS_LOCK:
        if not _WORKERS:
            _WORKERS.append(ThreadPoolExecutor(max_workers=_WORKER_COUNT, thread_name_prefix="contextwise-recall"))
        return _WORKERS[0]


def _forget_workers() -> None:
    """In a forked child: the parent's worker threads do not exist here, and a pool that believes it has idle
    ones would queue work nobody runs; the child makes its own pool at its first hybrid recall."""
    global _SPARE_WORKERS, _WORKERS_LOCK
    _WORKERS.clear()
    _SPARE_WORKERS = threading.BoundedSemaphore(_WORKER_COUNT)
    _WORKERS_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):  # not on Windows, which has no fork
    os.register_at_fork(after_in_child=_forget_workers)


def _takes(call: Any, name: str) -> bool:
    """Whether `call` takes a keyword argument `name` (a store's optional knob)."""
    try:
        return name in inspect.signature(call).parameters
    except (TypeError, ValueError):
        return False


def _pool(mode: str, k: int) -> int:
    """How deep each ranking is read: fusion needs depth (hybrid weights were tuned on lists this deep); a
    single ranking needs only its top k."""
    return max(k * 4, 20) if mode == "hybrid" else k


async def maybe_await(value: Any) -> Any:
    """`value`, awaited if it is awaitable (an async store or embedder), as is (a sync one)."""
    return await value if inspect.isawaitable(value) else value


def _dense_hits(hits: Sequence[Any]) -> list[tuple[Record, float]]:
    return [(h.record, max(0.0, min(1.0, float(h.score)))) for h in hits]


def _lexical_hits(hits: Sequence[Hit]) -> list[tuple[Record, float]]:
    """Lexical hits with relevances in [0, 1]: each score over the best (embed's ByPeak), never below 0."""
    from contextwise.embed import ByPeak

    if not hits:
        return []
    scores = np.array([float(h.score) for h in hits], dtype=np.float64)
    relative = np.maximum(ByPeak().normalize(scores, np.ones(len(scores), dtype=bool)), 0.0)
    return [(h.record, float(x)) for h, x in zip(hits, relative)]


def _combine(mode: str, dense: list[tuple[Record, float]], lexical: list[tuple[Record, float]], k: int,
             weights: tuple[float, float]) -> list[tuple[Record, float]]:
    if mode == "dense":
        return dense[:k]
    if mode == "lexical":
        return lexical[:k]
    return _fuse(dense, lexical, weights)[:k]


def check_mode(mode: Any) -> Mode:
    """Return `mode` if it is "dense", "lexical" or "hybrid", else raise UsageError."""
    if mode not in ("dense", "lexical", "hybrid"):
        raise UsageError(f"mode must be 'dense', 'lexical' or 'hybrid', got {mode!r}")
    return mode  # type: ignore[no-any-return]


def check_k(k: Any) -> int:
    """Return `k` if it is an int in 1..10,000, else raise UsageError."""
    if not isinstance(k, int) or isinstance(k, bool) or not 0 < k <= 10_000:
        raise UsageError(f"k must be an int in 1..10000, got {k!r}")
    return k


def _scan_bm25(records: list[Record], query: str, k: int) -> list[tuple[Record, float]]:
    """BM25 over records read just now (for stores without lexical search of their own); nothing is kept."""
    from contextwise.embed import BM25Index

    index = BM25Index()
    index.add([r.id for r in records], [r.text for r in records], tenant="scan")
    by_id = {r.id: r for r in records}
    return _lexical_hits([Hit(by_id[s.id], s.score) for s in index.search(query, k, tenant="scan")])


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
