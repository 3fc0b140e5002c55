"""Memory at scale: recall latency and recall@10 inside one tier of a 200k-memory tenant, first lexical recall and
resident memory, a store call beside an index build, and batch ingest with the real embedder.

Store figures (one SQLite file, 384-d; one tenant holding --memories episodes plus --facts facts, so every recall
searches one tier of a multi-tier tenant):
  dense / hybrid / lexical recall p50 through `EpisodicMemory.recall`, with the tier's HNSW index, beside the
  same recall answered by exact search in the same run (a second store on the same file with ExactSearch), and
  recall@10 of the first against the second. Vectors come from HashEmbedder (bag-of-words hashing: texts that
  share words are near, like real embeddings, and 200k of them build in seconds, where the ONNX model would take
  most of an hour on 2 shared cores); texts are LoCoMo turns, so FTS5 sees real language.
  first lexical recall: a new store and memory on the file, its first lexical recall, and RSS before/after;
  beside it the previous design's peer, an in-process BM25 index of the whole tier (what recall used to build).
  count() of another tenant while the tier's HNSW index is built: the build holds no lock (max latency).
Ingest (real ONNX MiniLM): LoCoMo turns recorded one `record` call each (the peer) and by `record_many` batches.

    python benchmarks/bench_memory.py                       # 200k memories, 200 queries, 1,000 ingest turns
    python benchmarks/bench_memory.py --memories 20000 --queries 50 --ingest 300
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import threading
import time
from pathlib import Path
from collections.abc import Callable, Sequence

from _data import shared_data
from contextwise.memory import EpisodicMemory, MemoryBackend
from contextwise.stores import ExactSearch, HnswSearch, SQLiteStore
from contextwise.testing import HashEmbedder

DATA = shared_data() / "locomo" / "locomo10.json"
TENANT = "bench"


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


def load(path: Path, turns: list[str], memories: int, facts: int) -> float:
    """Write `memories` episodes and `facts` facts into the tenant; returns seconds."""
    started = time.perf_counter()
    with SQLiteStore(path, 384, search=ExactSearch()) as store:
        backend = MemoryBackend(store, HashEmbedder(384), tenant=TENANT)
        episodic = EpisodicMemory(backend)
        for start in range(0, memories, 5000):
            # Two turns per memory, paired differently each time: distinct texts (a cycled corpus would hold
            # dozens of copies of each turn, whose ties make recall@10 by id meaningless).
            texts = [f"{turns[i % len(turns)]} {turns[(i * 7919 + i // len(turns)) % len(turns)]}"
                     for i in range(start, min(memories, start + 5000))]
            episodic.record_many(texts, importance=0.5)
        fact_texts = [f"The user fact number {i}: {turns[(i * 7) % len(turns)]}" for i in range(facts)]
        backend.put("semantic", [(f"semantic:{i}", t, {"importance": 0.8}) for i, t in enumerate(fact_texts)])
    return time.perf_counter() - started


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


def store_figures(path: Path, queries: list[str], *, skip_peer: bool = False) -> None:
    before = rss_mb()
    began = time.perf_counter()
    hnsw_store = SQLiteStore(path, 384, search=HnswSearch(), build_in_background=False)
    hnsw = EpisodicMemory(MemoryBackend(hnsw_store, HashEmbedder(384), tenant=TENANT))
    first = hnsw.recall(queries[0], 10, mode="lexical")
    first_s = time.perf_counter() - began
    after = rss_mb()
    print(f"first lexical recall (new store + memory, FTS5): {first_s * 1000:.0f} ms, {len(first)} hits; "
          f"RSS {before:.0f} -> {after:.0f} MB (+{after - before:.0f})")
    if not skip_peer:
        peer_lexical(hnsw_store)

    other = SQLiteStore(path, 384, search=ExactSearch())
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

    exact = EpisodicMemory(MemoryBackend(other, HashEmbedder(384), tenant=TENANT))
    for mode in ("dense", "hybrid", "lexical"):
        ours_ms, ours = p50_ms(lambda q: hnsw.recall(q, 10, mode=mode).items, queries)  # noqa: B023
        ours_cpu = CPU_MS[0]
        peer_ms, peer = p50_ms(lambda q: exact.recall(q, 10, mode=mode).items, queries)  # noqa: B023
        print(f"| {mode} recall p50 | {ours_ms:.1f} ms (HNSW tier; CPU {ours_cpu:.1f} ms) | {peer_ms:.1f} ms "
              f"(exact tier; CPU {CPU_MS[0]:.1f} ms) | "
              f"x{peer_ms / ours_ms:.1f} | recall@10 vs exact {recall_at_10(ours, peer):.4f} |", flush=True)
    full_bm25(hnsw_store, queries)
    other.close()
    hnsw_store.close()


def full_bm25(store: SQLiteStore, queries: list[str]) -> None:
    """The tier's lexical search (FTS5 rows, bm25 scored only where a row can rank) beside FTS5's bm25() ordering
    every matching row in SQL (the previous query, rowids and scores only), at the depth episodic recall reads."""
    from contextwise.memory._context_rank import expand_query
    from contextwise.stores import _sqlite_text
    from contextwise.stores._core import lexical_terms
    from contextwise.stores.sqlite import Scope

    token, depth = Scope(TENANT, "episodic").fts_token(), 60

    def pruned(q: str) -> list[tuple[int, float]]:
        with store._read() as conn:
            return _sqlite_text.search(conn, token, lexical_terms(expand_query(q)), depth, "1", [], store._terms,
                                       store._writes)

    def every_row(q: str) -> list[tuple[int, float]]:
        with store._read() as conn:
            return _sqlite_text.sql_search(conn, token, lexical_terms(expand_query(q)), depth, "1", [])

    ours_ms, ours = p50_ms(pruned, queries)
    ours_cpu = CPU_MS[0]
    peer_ms, peer = p50_ms(every_row, queries)
    at10 = [len({r for r, _ in o[:10]} & {r for r, _ in p[:10]}) / max(1, min(10, len(p)))
            for o, p in zip(ours, peer)]  # type: ignore[call-overload]
    same = sum(o == p for o, p in zip(ours, peer))
    print(f"| lexical store search p50 (k={depth}) | {ours_ms:.1f} ms (rows that can rank; CPU {ours_cpu:.1f} ms) | "
          f"{peer_ms:.1f} ms (bm25() over every matching row; CPU {CPU_MS[0]:.1f} ms) | x{peer_ms / ours_ms:.1f} | "
          f"recall@10 vs every row "
          f"{statistics.mean(at10):.4f}; identical top-{depth} in {same}/{len(queries)} queries |", flush=True)


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
    from contextwise.embed import OnnxMiniLM

    embedder = OnnxMiniLM()
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
    args = parser.parse_args(argv)
    turns, questions = locomo()
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; {os.cpu_count()} cores", flush=True)
    with tempfile.TemporaryDirectory(prefix="cw-bench-memory-") as tmp:
        folder = Path(tmp)
        if args.ingest:
            ingest(turns, args.ingest, folder)
        if not args.skip_store:
            path = args.db or folder / "memory.db"
            if path.exists():
                print(f"reusing {path} (loaded by an earlier run)", flush=True)
            else:
                seconds = load(path, turns, args.memories, args.facts)
                print(f"loaded {args.memories:,} episodes + {args.facts:,} facts in {seconds:.0f} s "
                      f"({args.memories / seconds:.0f}/s, HashEmbedder vectors)", flush=True)
            store_figures(path, questions[:args.queries], skip_peer=args.skip_peer)
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}; peak RSS "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
