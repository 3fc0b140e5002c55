"""Memory at scale: recall latency and recall@10 inside one tier of a 200k-memory tenant, first lexical recall and
resident memory, a store call beside an index build, and batch ingest with the real embedder.

Store figures (one SQLite file, 384-d; one tenant holding --memories episodes plus --facts facts, so every recall
searches one tier of a multi-tier tenant):
  dense / hybrid / lexical recall p50 through `EpisodicMemory.recall`, with the tier's HNSW index and the store's
  pruned lexical search, beside the same recall answered exactly in the same run (a second store on the same file:
  ExactSearch, and lexical search by bm25() over every row of the tier, every query word), and recall@10 of the
  first against the second; each mode's recalls embed their questions anew, as new questions do. Then the two
  parts alone: the store's lexical search beside bm25() over every row (recall@10, ties counted), and the store's
  dense search with HNSW beside exact search (recall@10 and @60).
  Vectors come from HashEmbedder (bag-of-words hashing: texts that
  share words are near, like real embeddings, and 200k of them build in seconds, where the ONNX model would take
  most of an hour on 2 shared cores); texts are LoCoMo turns, so FTS5 sees real language.
  first lexical recall: a new store and memory on the file, its first lexical recall, and RSS before/after;
  beside it the previous design's peer, an in-process BM25 index of the whole tier (what recall used to build).
  count() of another tenant while the tier's HNSW index is built: the build holds no lock (max latency).
  --ef-search 800,1200,1600: dense recall again at each further ef_search (the first is the main figures').
  --embedder onnx: the same with the real ONNX MiniLM (int8) for every vector and question (~13 min to embed
  200k memories on an idle core, then the HNSW build): whether HashEmbedder's near-ties are what costs recall.
Ingest (real ONNX MiniLM): LoCoMo turns recorded one `record` call each (the peer) and by `record_many` batches.

    python benchmarks/bench_memory.py                       # 200k memories, 200 queries, 1,000 ingest turns
    python benchmarks/bench_memory.py --memories 20000 --queries 50 --ingest 300
    python benchmarks/bench_memory.py --queries 100 --ingest 0 --skip-peer --db m200k.db --ef-search 800,1200,1600
    python benchmarks/bench_memory.py --queries 100 --ingest 0 --skip-peer --db m200k-onnx.db --embedder onnx
    CW_BENCH_SQLITE=pysqlite3 python benchmarks/bench_memory.py ...   # the same on pysqlite3-binary's newer SQLite
"""

from __future__ import annotations

from _sqlite_choice import SQLITE  # first: it may put a newer SQLite in place of sqlite3 (CW_BENCH_SQLITE)

import argparse
import functools
import json
import os
import resource
import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from collections.abc import Callable, Sequence

import numpy as np
from _data import shared_data

from contextwise.memory import EpisodicMemory, MemoryBackend
from contextwise.stores import ExactSearch, HnswSearch, SQLiteStore
from contextwise.stores._core import lexical_terms
from contextwise.protocols import Embedder
from contextwise.testing import HashEmbedder
from contextwise.types import Hit

DATA = shared_data() / "locomo" / "locomo10.json"
TENANT = "bench"
NOW = time.time()


@functools.cache
def make_embedder(name: str) -> Embedder:
    """HashEmbedder (seconds for 200k) or the real ONNX MiniLM (`--embedder onnx`), one instance per name."""
    if name == "onnx":
        from contextwise.embed import OnnxMiniLM

        return OnnxMiniLM()
    return HashEmbedder(384)


def backend(store: SQLiteStore, embedder: str) -> MemoryBackend:
    """The tenant's memory on `store`, its clock standing at NOW: recalls compared minutes apart score recency
    alike (recency moved scores between runs), and memories loaded here are all written at NOW."""
    return MemoryBackend(store, make_embedder(embedder), tenant=TENANT, clock=lambda: NOW)


def locomo() -> tuple[list[str], list[str]]:
    """Every turn text ("speaker: text") and every question of LoCoMo."""
    data = json.loads(DATA.read_text())
    turns, questions = [], []
    for conv in data:
        sessions = conv["conversation"]
        for key in sorted(k for k in sessions if k.startswith("session_") and not k.endswith("date_time")):
            turns += [f"{t['speaker']}: {t['text']}" for t in sessions[key]]
        questions += [str(q["question"]) for q in conv["qa"]]
    return turns, questions


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc), in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def load(path: Path, turns: list[str], memories: int, facts: int, embedder: str) -> float:
    """Write `memories` episodes and `facts` facts into the tenant; returns seconds."""
    started = time.perf_counter()
    with SQLiteStore(path, 384, search=ExactSearch()) as store:
        memory = backend(store, embedder)
        episodic = EpisodicMemory(memory)
        for start in range(0, memories, 5000):
            texts = episode_texts(turns, start, min(memories, start + 5000))
            episodic.record_many(texts, importance=0.5)
            print(f"  {start + len(texts):,}/{memories:,} episodes in {time.perf_counter() - started:.0f} s",
                  end="\r", flush=True)
        fact_texts = [f"The user fact number {i}: {turns[(i * 7) % len(turns)]}" for i in range(facts)]
        memory.put("semantic", [(f"semantic:{i}", t, {"importance": 0.8}) for i, t in enumerate(fact_texts)])
    return time.perf_counter() - started


def budget_sweep(path: Path, queries: list[str], embedder: str, budgets: Sequence[int]) -> None:
    """Hybrid recall@10 of episodic recall with the dense side exact, so only the lexical search's row budget
    (`_sqlite_text.MAX_SEARCHED_ROWS`) differs from the same recall over bm25() of every row, and the store's
    lexical search p50 at depth 60, at each budget."""
    from contextwise.memory._context_rank import expand_query
    from contextwise.stores import _sqlite_text as fts

    saved = fts.MAX_SEARCHED_ROWS, fts.ONE_QUERY_ROWS
    pruned, every = SQLiteStore(path, 384, search=ExactSearch()), EveryRowStore(path, 384, search=ExactSearch())
    with pruned, every:
        ours, exact = EpisodicMemory(backend(pruned, embedder)), EpisodicMemory(backend(every, embedder))
        want: list[object] = [exact.recall(q, 10).items for q in queries]
        try:
            for budget in budgets:
                fts.MAX_SEARCHED_ROWS = fts.ONE_QUERY_ROWS = budget
                got: list[object] = [ours.recall(q, 10).items for q in queries]
                ms, _ = p50_ms(lambda q: pruned.search_text(expand_query(q), 60, tenant=TENANT, partition="episodic"),
                               queries)
                print(f"| lexical row budget {budget:,} | hybrid recall@10 (dense exact) vs every row "
                      f"{recall_at_10(got, want):.4f} | store lexical search p50 {ms:.1f} ms |", flush=True)
        finally:
            fts.MAX_SEARCHED_ROWS, fts.ONE_QUERY_ROWS = saved


def episode_texts(turns: list[str], start: int, stop: int) -> list[str]:
    """Episodes start..stop-1: two turns per memory, paired differently each time, so texts are distinct (a cycled
    corpus would hold dozens of copies of each turn, whose ties make recall@10 by id meaningless)."""
    return [f"{turns[i % len(turns)]} {turns[(i * 7919 + i // len(turns)) % len(turns)]}" for i in range(start, stop)]


def postgres_figures(turns: list[str], questions: list[str], memories: int, folder: Path) -> None:
    """Hybrid recall on PostgreSQL (a pgserver in `folder`, HashEmbedder vectors, the store's default plan): its
    two searches at once (full-text search on a connection of its own) beside one after the other, same tier."""
    from bench_stores import start_postgres

    from contextwise.stores import PostgresStore
    from contextwise.stores.postgres import PG_DEFAULT_SEARCH

    class OneConnectionPG(PostgresStore):  # type: ignore[misc]
        parallel_reads = False

    server = start_postgres(folder)
    try:
        dsn, table = server.get_uri(), "cw_bench_memory"
        with PostgresStore(dsn, 384, table) as store:
            episodic = EpisodicMemory(backend(store, "hash"))
            began = time.perf_counter()
            for start in range(0, memories, 5000):
                episodic.record_many(episode_texts(turns, start, min(memories, start + 5000)), importance=0.5)
            print(f"PostgreSQL: {memories:,} episodes in {time.perf_counter() - began:.0f} s", flush=True)
            if memories >= PG_DEFAULT_SEARCH.min_vectors:  # what a deployment runs once a tier is large
                built = ", ".join(f"{b.vectors:,} vectors in {b.elapsed_s:.0f} s" for b in store.build_indexes())
                print(f"PostgreSQL build_indexes(): {built}", flush=True)
        from contextwise.memory._context_rank import expand_query

        with PostgresStore(dsn, 384, table) as store:
            legs = backend(store, "hash")
            dense_ms, _ = p50_ms(lambda q: legs.search_legs("episodic", q, None, 60), questions)
            lexical_ms, _ = p50_ms(lambda q: legs.search_legs("episodic", None, expand_query(q), 60), questions)
            print(f"PostgreSQL, each search alone at depth 60: dense {dense_ms:.1f} ms, full-text {lexical_ms:.1f} ms",
                  flush=True)
        figures: dict[str, float] = {}
        for cls, label in ((PostgresStore, "at once"), (OneConnectionPG, "one after the other")):
            with cls(dsn, 384, table) as store:
                memory = EpisodicMemory(backend(store, "hash"))
                memory.recall(questions[0], 10)
                figures[label], _ = p50_ms(lambda q: memory.recall(q, 10).items, questions)  # noqa: B023
                print(f"| PostgreSQL hybrid recall p50, {memories:,} memories, the two searches {label} | "
                      f"{figures[label]:.1f} ms (CPU of this process {CPU_MS[0]:.1f} ms) |", flush=True)
        print(f"PostgreSQL hybrid recall, one after the other / at once: "
              f"x{figures['one after the other'] / figures['at once']:.2f}")
    finally:
        server.cleanup()


FTS5_K1 = 1.2  # bm25()'s k1 in FTS5 (ext/fts5/fts5_aux.c): a word adds at most (k1 + 1) * idf to a score
CPU_MS: list[float] = []  # the CPU-time p50 of the last p50_ms call (this process's CPU: the machine is shared)


def p50_ms(call: Callable[[str], object], queries: Sequence[str]) -> tuple[float, list[object]]:
    """Median wall time of `call` per query, in ms, and the results; the median CPU time goes to CPU_MS."""
    times, cpu, results = [], [], []
    for q in queries:
        began, began_cpu = time.perf_counter(), time.process_time()
        results.append(call(q))
        times.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
    CPU_MS[:] = [statistics.median(cpu) * 1000]
    return statistics.median(times) * 1000, results


def new_questions(*memories: EpisodicMemory) -> None:
    """Empty the memories' caches of question vectors, so each figure's recalls embed their questions as new
    questions do (a dense pass before would otherwise leave every question's vector cached for the hybrid one)."""
    from contextwise.embed import MemoryCache

    for memory in memories:
        memory.backend.embedder.cache = MemoryCache()


def recall_at_10(got: list[object], exact: list[object]) -> float:
    """The share of the exact top-10 found, counting a hit that ties the exact 10th score as found."""
    found, wanted = 0, 0
    for g, e in zip(got, exact):
        e, g = list(e), list(g)  # type: ignore[call-overload]
        if not e:
            continue
        floor = min(i.score for i in e) - 1e-6
        found += min(len(e), sum(i.score >= floor for i in g))
        wanted += len(e)
    return found / max(1, wanted)


def store_figures(path: Path, queries: list[str], *, skip_peer: bool = False, embedder: str = "hash",
                  ef_search: Sequence[int] = (800,), posting_probe: bool = False) -> None:
    before = rss_mb()
    began = time.perf_counter()
    hnsw_store = SQLiteStore(path, 384, search=HnswSearch(ef_search=ef_search[0]), build_in_background=False)
    hnsw = EpisodicMemory(backend(hnsw_store, embedder))
    first = hnsw.recall(queries[0], 10, mode="lexical")
    first_s = time.perf_counter() - began
    after = rss_mb()
    print(f"first lexical recall (new store + memory, FTS5): {first_s * 1000:.0f} ms, {len(first)} hits; "
          f"RSS {before:.0f} -> {after:.0f} MB (+{after - before:.0f})")
    if not skip_peer:
        peer_lexical(hnsw_store)

    other = EveryRowStore(path, 384, search=ExactSearch())
    other.upsert([hnsw_store.get(["semantic:0"], tenant=TENANT)[0]], tenant="someone-else")
    waits: list[float] = []
    def build() -> None:
        print(f"build_index(episodic): {hnsw_store.build_index(tenant=TENANT, partition='episodic')}")

    builder = threading.Thread(target=build)
    began = time.perf_counter()
    builder.start()
    while builder.is_alive():
        t0 = time.perf_counter()
        hnsw_store.count(tenant="someone-else")
        waits.append(time.perf_counter() - t0)
        time.sleep(0.5)
    builder.join()
    print(f"HNSW build of the tier: {time.perf_counter() - began:.0f} s; meanwhile count() of another tenant on the "
          f"same store: {len(waits)} calls, median {statistics.median(waits) * 1000:.1f} ms, max "
          f"{max(waits) * 1000:.0f} ms (the max is the snapshot: the tier's vectors are read under the lock; the "
          "graph is built outside it)")
    print(f"RSS with the tier's matrix and HNSW index cached: {rss_mb():.0f} MB")

    exact = EpisodicMemory(backend(other, embedder))
    exact_results: dict[str, list[object]] = {}
    for mode in ("dense", "hybrid", "lexical"):
        new_questions(hnsw, exact)
        ours_ms, ours = p50_ms(lambda q: hnsw.recall(q, 10, mode=mode).items, queries)  # noqa: B023
        ours_cpu = CPU_MS[0]
        peer_ms, peer = p50_ms(lambda q: exact.recall(q, 10, mode=mode).items, queries)  # noqa: B023
        exact_results[mode] = peer
        print(f"| {mode} recall p50 | {ours_ms:.1f} ms (HNSW tier; CPU {ours_cpu:.1f} ms) | {peer_ms:.1f} ms "
              f"(exact tier; CPU {CPU_MS[0]:.1f} ms) | "
              f"x{peer_ms / ours_ms:.1f} | recall@10 vs exact {recall_at_10(ours, peer):.4f} |", flush=True)
    lexical_figures(hnsw_store, queries)
    maxscore_floor(hnsw_store, queries)
    if posting_probe:
        posting_floor(hnsw_store, queries)
    dense_figures(hnsw_store, other, queries, embedder)
    hnsw_store.close()
    with OneConnection(path, 384, search=HnswSearch(ef_search=ef_search[0]), build_in_background=False) as one:
        memory = EpisodicMemory(backend(one, embedder))
        memory.recall(queries[0], 10)  # loads the tier's index from beside the file
        new_questions(memory)  # the embedder is shared: its cache holds every question's vector by now
        ours_ms, ours = p50_ms(lambda q: memory.recall(q, 10).items, queries)
        print(f"| hybrid recall p50, the two searches one after the other (one connection; the store's ef_search) | "
              f"{ours_ms:.1f} ms (CPU "
              f"{CPU_MS[0]:.1f} ms) | recall@10 vs exact {recall_at_10(ours, exact_results['hybrid']):.4f} |",
              flush=True)
    for ef in ef_search[1:]:
        with SQLiteStore(path, 384, search=HnswSearch(ef_search=ef), build_in_background=False) as swept:
            memory = EpisodicMemory(backend(swept, embedder))
            memory.recall(queries[0], 10, mode="dense")  # loads the tier's index from beside the file
            new_questions(memory)
            ours_ms, ours = p50_ms(lambda q: memory.recall(q, 10, mode="dense").items, queries)  # noqa: B023
            print(f"| dense recall p50, ef_search {ef} | {ours_ms:.1f} ms (CPU {CPU_MS[0]:.1f} ms) | recall@10 vs "
                  f"exact {recall_at_10(ours, exact_results['dense']):.4f} |", flush=True)
    other.close()


class OneConnection(SQLiteStore):
    """The store reading on its one connection: a hybrid recall's lexical search waits for its dense search (how
    every recall ran before the lexical search had a connection of its own)."""

    parallel_reads = False


class EveryRowStore(SQLiteStore):
    """The exact peer: dense search exact, and lexical search by bm25() over every row of the tier holding any
    query word (every word, in one order), where the store's own search scores only the rows holding the rarer words."""

    def search_text(self, query: str, k: int = 10, *, tenant: str, where: object = None,
                    partition: str = "") -> list[Hit]:
        assert where is None
        with self._read() as conn:
            found = every_row(conn, tenant, partition, lexical_terms(query), k)
            records = self._fetch_rowids(conn, np.array([r for r, _ in found], dtype=np.int64)) if found else []
        return [Hit(record, score) for record, (_, score) in zip(records, found)]


def every_row(conn: sqlite3.Connection, tenant: str, partition: str, terms: list[str],
              k: int) -> list[tuple[int, float]]:
    """bm25() over every row of the tier's own FTS5 table holding any of `terms`, best first, ties by rowid."""
    from contextwise.stores._sqlite_schema import lexical_table
    from contextwise.stores._sqlite_text import text_query

    table = lexical_table(conn, tenant, partition)
    assert table is not None, "the tier has no FTS5 table of its own: load more memories"
    df = {t: conn.execute(f"SELECT count(*) FROM {table} WHERE {table} MATCH ?", (text_query([t]),)).fetchone()[0]
          for t in terms}
    order = sorted((t for t in terms if df[t]), key=lambda t: (-df[t], t))
    if not order:
        return []
    sql = f"SELECT rowid, -bm25({table}) FROM {table} WHERE {table} MATCH ? ORDER BY bm25({table}), rowid LIMIT ?"
    return [(int(r), float(s)) for r, s in conn.execute(sql, (text_query(order), k))]


def lexical_figures(store: SQLiteStore, queries: list[str]) -> None:
    """The tier's lexical search (bm25() of the rows holding the rarer words, within the row budget) beside bm25()
    over every row of the tier, at the depth episodic recall reads."""
    from contextwise.memory._context_rank import expand_query
    from contextwise.stores import _sqlite_text
    from contextwise.stores._sqlite_schema import lexical_table

    depth = 60
    with store._read() as conn:
        table = lexical_table(conn, TENANT, "episodic")
    assert table is not None

    def pruned(q: str) -> list[tuple[int, float]]:  # as search_text runs it: on its two connections at once
        with store._transaction("BEGIN", text=True) as conn:
            return _sqlite_text.search(conn, table, lexical_terms(expand_query(q)), depth, "1", [], store._terms,
                                       tenant=TENANT, beside=store._beside_connection())

    def everything(q: str) -> list[tuple[int, float]]:
        with store._read() as conn:
            return every_row(conn, TENANT, "episodic", lexical_terms(expand_query(q)), depth)

    ours_ms, ours = p50_ms(pruned, queries)
    ours_cpu = CPU_MS[0]
    peer_ms, peer = p50_ms(everything, queries)
    same = sum([r for r, _ in o] == [r for r, _ in p] for o, p in zip(ours, peer))  # type: ignore[attr-defined]
    print(f"| lexical store search p50 (k={depth}) | {ours_ms:.1f} ms (bm25() within the row budget, two statements "
          f"at once; CPU {ours_cpu:.1f} ms) | {peer_ms:.1f} ms (bm25() over every matching row; CPU "
          f"{CPU_MS[0]:.1f} ms) | "
          f"x{peer_ms / ours_ms:.1f} | recall@10 vs every row {rows_recall(ours, peer):.4f}; identical top-{depth} "
          f"in {same}/{len(queries)} queries |", flush=True)


def tier_table(store: SQLiteStore) -> tuple[sqlite3.Connection, str]:
    """The store's connection and the episodic tier's own FTS5 table (the probes below read both directly)."""
    from contextwise.stores._sqlite_schema import lexical_table

    conn = store._conn
    assert conn is not None
    table = lexical_table(conn, TENANT, "episodic")
    assert table is not None, "the tier has no FTS5 table of its own: load more memories"
    return conn, table


def searched_words(store: SQLiteStore, conn: sqlite3.Connection, table: str,
                   question: str) -> tuple[list[str], int, dict[str, int]]:
    """The words the store searches for `question` (episodic recall's expanded query), the tier's row count and
    their document frequencies."""
    from contextwise.memory._context_rank import expand_query
    from contextwise.stores import _sqlite_text as fts

    terms = lexical_terms(expand_query(question))
    rows, df = fts._frequencies(conn, table, terms, store._terms, TENANT)
    return fts._words(terms, rows, df), rows, df


def maxscore_floor(store: SQLiteStore, queries: list[str], depth: int = 60) -> None:
    """The rows an exact top-`depth` by bm25() must score at the least, by MaxScore (a row holding only words whose
    maxima add up to less than the depth-th best score cannot rank): with bm25()'s own bound ((k1 + 1) * idf) and
    with each word's true maximum in the tier (found here by bm25() over the word's rows: what an index of our own
    could keep), beside the rows the store's search scores (its row budget; see stores/_sqlite_text.py for why it
    keeps no such proof). bm25() costs ~1.3-2 us a row."""
    from contextwise.embed._bm25 import idf
    from contextwise.stores import _sqlite_text as fts

    began = time.perf_counter()
    conn, table = tier_table(store)
    maxima: dict[str, float] = {}
    scored: list[int] = []
    original, best = fts._scored, fts._best

    def counted(conn: sqlite3.Connection, table: str, match: str, clause: str, params: Sequence[object],
                k: int) -> list[tuple[int, float]]:
        scored.append(rows_matching(match))
        return original(conn, table, match, clause, params, k)

    def counted_best(conn: sqlite3.Connection, table: str, match: str, common: str | None, clause: str,
                     params: Sequence[object], k: int, **beside: Any) -> list[tuple[int, float]]:
        if common is not None:  # else it calls _scored, counted there; each row is scored once
            scored.append(rows_matching(match))
        return best(conn, table, match, common, clause, params, k, **beside)

    def rows_matching(match: str) -> int:
        return int(conn.execute(f"SELECT count(*) FROM {table} WHERE {table} MATCH ?", (match,)).fetchone()[0])

    def needed(words: list[str], bound: dict[str, float], threshold: float) -> int:
        essential, ceiling = sorted(words, key=lambda t: bound[t]), 0.0
        while essential and ceiling + bound[essential[0]] < threshold:
            ceiling += bound[essential.pop(0)]
        return rows_matching(fts.text_query(essential)) if essential else 0

    figures: list[tuple[int, int, int, int]] = []
    fts._scored, fts._best = counted, counted_best
    try:
        for q in queries:
            words, rows, df = searched_words(store, conn, table, q)
            if not words:
                continue
            exact = every_row(conn, TENANT, "episodic", words, depth)
            threshold = exact[-1][1] if len(exact) >= depth else 0.0
            scored.clear()
            fts.search(conn, table, words, depth, "1", [], store._terms, tenant=TENANT)
            for t in words:
                if t not in maxima:
                    top = original(conn, table, fts.text_query([t]), "1", [], 1)
                    maxima[t] = top[0][1] if top else 0.0
            loose = {t: (FTS5_K1 + 1.0) * float(idf(rows, df[t])) for t in words}
            figures.append((sum(df[t] for t in words), sum(scored), needed(words, loose, threshold),
                            needed(words, {t: maxima[t] for t in words}, threshold)))
    finally:
        fts._scored, fts._best = original, best
    median = [statistics.median(f[i] for f in figures) for i in range(4)]
    print(f"| MaxScore floor at depth {depth} (median rows per question, {len(figures)} questions) | "
          f"{median[0]:,.0f} rows hold a query word; the store's search scores {median[1]:,.0f} | an exact top-{depth} "
          f"needs {median[2]:,.0f} with the (k1+1)*idf bound, {median[3]:,.0f} with each word's true maximum "
          f"({len(maxima)} words) | {time.perf_counter() - began:.0f} s |", flush=True)


def posting_floor(store: SQLiteStore, queries: list[str], depth: int = 60) -> None:
    """What an index of our own could do (a design probe, not the store's code): each word's rows and counts as
    two blobs in a SQLite table (built here from the tier's FTS5 tokens, fts5vocab "instance"), and bm25 over every
    row holding a query word computed by numpy, exact top `depth`; beside FTS5's bm25() over every row."""
    import math

    from contextwise.embed._bm25 import length_norm

    began = time.perf_counter()
    conn, table = tier_table(store)
    conn.execute(f"CREATE VIRTUAL TABLE IF NOT EXISTS temp.{table}_instances USING fts5vocab(main, {table}, instance)")
    counts: dict[str, dict[int, int]] = {}
    lengths: dict[int, int] = {}
    for term, doc, _col, _offset in conn.execute(f"SELECT term, doc, col, offset FROM temp.{table}_instances"):
        row = counts.setdefault(term, {})
        row[doc] = row.get(doc, 0) + 1
        lengths[doc] = lengths.get(doc, 0) + 1
    docs = np.array(sorted(lengths))
    position = {d: i for i, d in enumerate(docs.tolist())}
    k1 = FTS5_K1
    norm = length_norm(np.array([lengths[d] for d in docs.tolist()], dtype=np.float64), k1, 0.75)
    index = sqlite3.connect(":memory:")
    index.execute("CREATE TABLE postings (term TEXT PRIMARY KEY, rows BLOB, counts BLOB)")
    index.executemany("INSERT INTO postings VALUES (?, ?, ?)", (
        (t, np.array([position[d] for d in m], np.int32).tobytes(), np.array(list(m.values()), np.uint16).tobytes())
        for t, m in counts.items()))
    built = time.perf_counter() - began

    def scored(words: list[str]) -> list[tuple[int, float]]:
        marks = ",".join("?" * len(words))
        score = np.zeros(len(docs))
        for _term, rows, tf in index.execute(f"SELECT term, rows, counts FROM postings WHERE term IN ({marks})", words):
            at, f = np.frombuffer(rows, np.int32), np.frombuffer(tf, np.uint16).astype(np.float64)
            # FTS5's IDF, not contextwise's (Lucene's, embed._bm25.idf): the probe must equal the reference it is timed
            # against, bm25() over every row.
            idf = max(math.log((len(docs) - len(at) + 0.5) / (len(at) + 0.5)), 0.0) or 1e-6
            score[at] += idf * (f * (k1 + 1)) / (f + norm[at])
        top = np.argpartition(-score, depth)[:depth]
        top = top[np.lexsort((docs[top], -score[top]))]
        return [(int(docs[i]), float(score[i])) for i in top if score[i] > 0]

    times, ours, exact = [], [], []
    for q in queries:
        words, _, _ = searched_words(store, conn, table, q)
        if not words:
            continue
        start = time.perf_counter()
        ours.append(scored(words))
        times.append(time.perf_counter() - start)
        exact.append(every_row(conn, TENANT, "episodic", words, depth))
    same = sum([r for r, _ in o] == [r for r, _ in e] for o, e in zip(ours, exact))
    print(f"| posting floor at depth {depth} (a probe: per-word blobs of rows and counts, bm25 in numpy over every "
          f"row holding a query word) | {statistics.median(times) * 1000:.2f} ms p50 | recall@10 vs FTS5 over every "
          f"row {rows_recall(ours, exact):.4f}; identical top-{depth} in {same}/{len(ours)} | built in {built:.0f} s "
          f"from {len(counts):,} words |", flush=True)


def rows_recall(got: Sequence[object], exact: Sequence[object], k: int = 10) -> float:
    """recall@k of (rowid, score) lists, counting a row that ties the exact k-th score (within 1e-5) as found."""
    found = wanted = 0
    for g, e in zip(got, exact):
        g, e = list(g)[:k], list(e)[:k]  # type: ignore[call-overload]
        if e:
            floor = e[-1][1] - 1e-5
            found += min(len(e), sum(s >= floor for _, s in g))
            wanted += len(e)
    return found / max(1, wanted)


def dense_figures(hnsw: SQLiteStore, exact: SQLiteStore, queries: list[str], embedder: str) -> None:
    """Store-level recall@10 of the tier's HNSW index against exact search (question vectors, k=10 and 60)."""
    vectors = make_embedder(embedder).embed(queries, kind="query")
    for k in (10, 60):
        got = [[(h.record.id, h.score) for h in hnsw.query(v, k, tenant=TENANT, partition="episodic")]
               for v in vectors]
        want = [[(h.record.id, h.score) for h in exact.query(v, k, tenant=TENANT, partition="episodic")]
                for v in vectors]
        print(f"dense store search, HNSW (ef_search {hnsw.search.ef_search}) vs exact, k={k}: "  # type: ignore[union-attr]
              f"recall@{k} {rows_recall(got, want, k):.4f} (ties counted); ids identical in "
              f"{sum([i for i, _ in a] == [i for i, _ in b] for a, b in zip(got, want))}/{len(queries)}", flush=True)


def peer_lexical(store: SQLiteStore) -> None:
    """The previous design: the tier's records loaded into an in-process BM25 index at the first lexical recall."""
    from contextwise.embed import BM25Index

    before, began = rss_mb(), time.perf_counter()
    records = store.scan(tenant=TENANT, partition="episodic")
    index = BM25Index()
    index.add([r.id for r in records], [r.text for r in records], tenant="episodic")
    index.search("what did she paint", 10, tenant="episodic")
    print(f"peer (in-process BM25 of the tier, the old first lexical recall): {time.perf_counter() - began:.1f} s, "
          f"RSS +{rss_mb() - before:.0f} MB")
    del records, index


def ingest(turns: list[str], count: int, folder: Path) -> None:
    embedder = make_embedder("onnx")
    embedder.embed(["warm up"], kind="document")
    with SQLiteStore(folder / "one.db", 384) as store:
        one = EpisodicMemory(MemoryBackend(store, embedder, tenant="t"))
        sample = turns[:max(50, count // 10)]
        began = time.perf_counter()
        for t in sample:
            one.record(t)
        one_rate = len(sample) / (time.perf_counter() - began)
    with SQLiteStore(folder / "many.db", 384) as store:
        many = EpisodicMemory(MemoryBackend(store, embedder, tenant="t"))
        batch = turns[len(sample):len(sample) + count]
        began = time.perf_counter()
        for start in range(0, len(batch), 64):
            many.record_many(batch[start:start + 64])
        many_rate = len(batch) / (time.perf_counter() - began)
    began = time.perf_counter()
    for start in range(0, len(batch), 64):
        embedder.embed(batch[start:start + 64], kind="document")
    alone = len(batch) / (time.perf_counter() - began)
    print(f"| ingest, ONNX MiniLM | record_many (64 a batch) {many_rate:.0f} turns/s | record one by one "
          f"{one_rate:.0f} turns/s | x{many_rate / one_rate:.1f} | the embedder alone on the same batches "
          f"{alone:.0f} texts/s (ceiling) |")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--memories", type=int, default=200_000)
    parser.add_argument("--facts", type=int, default=2_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ingest", type=int, default=1_000, help="turns for the ingest figure (0: skip)")
    parser.add_argument("--skip-store", action="store_true")
    parser.add_argument("--skip-peer", action="store_true", help="skip the in-process BM25 peer (minutes at 200k)")
    parser.add_argument("--db", type=Path, help="keep the loaded store in this file (and its HNSW index beside it) "
                        "and reuse it when it exists, instead of a temporary one loaded every run")
    parser.add_argument("--embedder", choices=("hash", "onnx"), default="hash",
                        help="vectors of the loaded memories and the questions (onnx: the real MiniLM, int8)")
    parser.add_argument("--budgets", default="", help="lexical row budgets to sweep, comma-separated (see "
                        "budget_sweep; needs the store)")
    parser.add_argument("--posting-floor", action="store_true", help="also probe an index of our own: bm25 in "
                        "numpy over per-word blobs (see posting_floor; ~20 s at 200k)")
    parser.add_argument("--postgres", type=int, default=0, help="memories for the PostgreSQL hybrid figure (0: skip)")
    parser.add_argument("--ef-search", default="800", help="HNSW ef_search values, comma-separated: the first for "
                        "the main figures, dense recall again at each of the others")
    args = parser.parse_args(argv)
    turns, questions = locomo()
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {os.cpu_count()} cores; {SQLITE}", flush=True)
    with tempfile.TemporaryDirectory(prefix="cw-bench-memory-") as tmp:
        folder = Path(tmp)
        if args.ingest:
            ingest(turns, args.ingest, folder)
        if not args.skip_store:
            path = args.db or folder / "memory.db"
            if path.exists():
                print(f"reusing {path} (loaded by an earlier run)", flush=True)
            else:
                seconds = load(path, turns, args.memories, args.facts, args.embedder)
                print(f"loaded {args.memories:,} episodes + {args.facts:,} facts in {seconds:.0f} s "
                      f"({args.memories / seconds:.0f}/s, {args.embedder} vectors)", flush=True)
            store_figures(path, questions[:args.queries], skip_peer=args.skip_peer, embedder=args.embedder,
                          ef_search=[int(v) for v in args.ef_search.split(",")], posting_probe=args.posting_floor)
        if args.budgets and not args.skip_store:
            budget_sweep(path, questions[:args.queries], args.embedder, [int(v) for v in args.budgets.split(",")])
        if args.postgres:
            postgres_figures(turns, questions[:args.queries], args.postgres, folder)
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
