"""Vector store benchmark: search latency (p50/p95), ingest throughput and recall@10 against exact search.

contextwise's SQLiteStore and PostgresStore (pgvector) run beside brute-force numpy and Chroma (the embedded
vector store users reach for) on the same vectors in the same run, in two scenarios:

  unfiltered  all N vectors in one tenant / collection; every query searches all of them
  filtered    N vectors over --tenants tenants; every query searches one tenant (Chroma: a `where` on a
              tenant metadata field, its documented way to partition one collection)

Vectors are 384-d unit vectors around 200 random centres (clustered, closer to real embeddings than uniform
noise; --data uniform for the worst case). Recall@10 is measured for every row against exact search in numpy.

    python benchmarks/bench_stores.py                       # 10k and 100k, every back-end
    python benchmarks/bench_stores.py --sizes 1000000       # 1M (long: HNSW builds on 2 cores)
    python benchmarks/bench_stores.py --sizes 10000 --backends numpy,sqlite
    python benchmarks/bench_stores.py --sizes 10000,100000 --backends numpy,sqlite,chroma@10000
    python benchmarks/bench_stores.py --sizes 1000000 --backends numpy,postgres --ef-search 400,1000

Both stores build a tenant's HNSW index when asked (`build_indexes()`, called here after the load and timed
apart from ingest as "index s"); no query builds one (SQLite may start a background build at the first query of a
large tenant and answers exactly meanwhile).
--ef-search re-times the unfiltered HNSW rows at other ef_search values on the same index (no rebuild).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from contextwise.stores import HnswSearch, SQLiteStore
from contextwise.types import Record

BATCH = 1000
K = 10


@dataclass(frozen=True)
class Data:
    """The vectors, their ids and tenants (filtered scenario), and the queries with their target tenants."""

    vectors: np.ndarray
    ids: list[str]
    tenant_of: np.ndarray
    queries: np.ndarray
    query_tenants: np.ndarray


@dataclass(frozen=True)
class Row:
    """One measured line of the table."""

    backend: str
    size: int
    scenario: str
    plan: str
    ingest_per_s: float
    p50_ms: float
    p95_ms: float
    recall: float
    first_query_s: float = 0.0
    index_s: float = 0.0


def make_data(size: int, dims: int, tenants: int, queries: int, kind: str, seed: int = 0) -> Data:
    """Clustered (or uniform) unit vectors, tenants assigned round-robin, queries drawn like the data."""
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        points = rng.standard_normal((size + queries, dims), dtype=np.float32)
    else:
        centres = rng.standard_normal((200, dims), dtype=np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        points = centres[rng.integers(0, 200, size + queries)]
        points += rng.standard_normal(points.shape, dtype=np.float32) * (0.6 / np.sqrt(dims))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    tenant_of = np.arange(size) % tenants
    return Data(points[:size], [f"d{i}" for i in range(size)], tenant_of, points[size:],
                rng.integers(0, tenants, queries))


def tenant_name(index: int) -> str:
    return f"t{index:03d}"


def exact_top(data: Data, filtered: bool) -> list[set[str]]:
    """The true top-K ids of every query (within its tenant when filtered)."""
    if not filtered:  # 64 queries per pass over the matrix, no copy of it
        out = []
        for start in range(0, len(data.queries), 64):
            scores = data.vectors @ data.queries[start:start + 64].T
            best = np.argpartition(-scores, K, axis=0)[:K].T
            out += [{data.ids[i] for i in row} for row in best]
        return out
    members = {t: np.flatnonzero(data.tenant_of == t) for t in np.unique(data.query_tenants)}
    out = []
    for q, t in zip(data.queries, data.query_tenants):
        rows = members[t]
        best = rows[np.argpartition(-(data.vectors[rows] @ q), K)[:K]]
        out.append({data.ids[i] for i in best})
    return out


def batches(data: Data, filtered: bool) -> Iterator[tuple[str, np.ndarray]]:
    """Row indices per (tenant, batch): tenants in turn for the filtered scenario, one tenant otherwise."""
    groups = [(tenant_name(t), np.flatnonzero(data.tenant_of == t)) for t in np.unique(data.tenant_of)] \
        if filtered else [("all", np.arange(len(data.ids)))]
    for tenant, rows in groups:
        for start in range(0, len(rows), BATCH):
            yield tenant, rows[start:start + BATCH]


# --- back-ends: each has ingest(data, filtered), query(q, tenant) -> ids, plan(), close() ------------------

class NumpyBrute:
    """Brute force over a numpy matrix (per-tenant row lists when filtered): the exact baseline.

    Scores with einsum, as the stores do: OpenBLAS's threaded `X @ q` stalls for ~20 ms on a busy 2-core box.
    """

    name = "numpy brute force"

    def ingest(self, data: Data, filtered: bool) -> None:
        self.ids = np.array(data.ids)
        self.matrix = data.vectors.copy()
        self.rows = {tenant_name(t): np.flatnonzero(data.tenant_of == t) for t in np.unique(data.tenant_of)}
        self.rows["all"] = np.arange(len(data.ids))
        self.sub = {t: self.matrix[r] for t, r in self.rows.items()} if filtered else {"all": self.matrix}

    def query(self, q: np.ndarray, tenant: str) -> list[str]:
        scores = np.einsum("ij,j->i", self.sub[tenant], q)
        best = np.argpartition(-scores, K)[:K]
        return list(self.ids[self.rows[tenant][best[np.argsort(-scores[best])]]])

    def plan(self, filtered: bool) -> str:
        return "exact"

    def close(self) -> None:
        pass


class ContextwiseStore:
    """A contextwise store (SQLite or PostgreSQL), written in batches of BATCH records."""

    def __init__(self, name: str, opener: Callable[[HnswSearch], Any], search: HnswSearch) -> None:
        self.name, self._opener, self.search = name, opener, search
        self._threshold = search.min_vectors

    def ingest(self, data: Data, filtered: bool) -> None:
        self.store = self._opener(self.search)
        for tenant, rows in batches(data, filtered):
            self.store.upsert([Record(data.ids[i], "", data.vectors[i]) for i in rows], tenant=tenant)

    def build(self) -> float:
        """Seconds to build the indexes the store builds only when asked (PostgreSQL's `build_indexes`)."""
        if not hasattr(self.store, "build_indexes"):
            return 0.0
        start = time.perf_counter()
        builds = self.store.build_indexes()
        print(f"    built {len(builds)} index(es) in {time.perf_counter() - start:.1f} s", flush=True)
        return time.perf_counter() - start

    def retune(self, ef_search: int) -> None:
        """Reopen the same data searching with another ef_search (SQLite loads its saved index)."""
        self.store.close()
        self.search = replace(self.search, ef_search=ef_search)
        self.store = self._opener(self.search)

    def warm(self, tenants: Sequence[str]) -> float:
        """Seconds to answer one query per tenant (fills caches, builds in-process indexes)."""
        start = time.perf_counter()
        for tenant in tenants:
            self.store.query(np.ones(self.store.dimensions), 1, tenant=tenant)
        return time.perf_counter() - start

    def query(self, q: np.ndarray, tenant: str) -> list[str]:
        return [h.record.id for h in self.store.query(q, K, tenant=tenant)]

    def plan(self, filtered: bool) -> str:
        return "exact" if filtered else ("hnsw" if self._size >= self._threshold else "exact")

    def close(self) -> None:
        self.store.close()


class Chroma:
    """Chroma (embedded, PersistentClient) with cosine HNSW; tenants as a metadata field.

    Both scenarios hold the same ids and vectors, so one collection (tenant metadata always set) serves both:
    the second scenario of a size reuses it (`reused`: its ingest is not timed again), halving the 1M run.
    """

    name = "chroma"

    def __init__(self, folder: Path) -> None:
        import chromadb
        from chromadb.config import Settings

        self.client = chromadb.PersistentClient(str(folder), settings=Settings(anonymized_telemetry=False))
        self.reused = False

    def ingest(self, data: Data, filtered: bool) -> None:
        self.filtered = filtered
        name = f"bench-{len(data.ids)}"
        if name in [c if isinstance(c, str) else c.name for c in self.client.list_collections()]:
            self.collection, self.reused = self.client.get_collection(name, embedding_function=None), True
            return
        self.collection = self.client.create_collection(
            name, configuration={"hnsw": {"space": "cosine"}}, embedding_function=None)
        for _, rows in batches(data, True):
            self.collection.add(ids=[data.ids[i] for i in rows], embeddings=data.vectors[rows],
                                metadatas=[{"tenant": tenant_name(data.tenant_of[i])} for i in rows])

    def query(self, q: np.ndarray, tenant: str) -> list[str]:
        where = {"tenant": tenant} if self.filtered else None
        return self.collection.query(query_embeddings=[q], n_results=K, where=where, include=[])["ids"][0]

    def plan(self, filtered: bool) -> str:
        return "hnsw + where" if filtered else "hnsw"

    def close(self) -> None:
        pass


# --- measuring --------------------------------------------------------------------------------------------

def measure(backend: Any, data: Data, filtered: bool, truth: list[set[str]]) -> Row:
    """Ingest, build what is built on request, then time the queries."""
    start = time.perf_counter()
    backend.ingest(data, filtered)
    ingest_s = time.perf_counter() - start
    index_s = backend.build() if hasattr(backend, "build") else 0.0
    row = time_queries(backend, data, filtered, truth, backend.plan(filtered))
    ingest_per_s = 0.0 if getattr(backend, "reused", False) else len(data.ids) / ingest_s
    return replace(row, ingest_per_s=ingest_per_s, index_s=index_s)


def time_queries(backend: Any, data: Data, filtered: bool, truth: list[set[str]], plan: str) -> Row:
    """Warm up (one query per tenant), then time every query and count the true top-K ids found."""
    tenants = [tenant_name(t) for t in data.query_tenants] if filtered else ["all"] * len(data.queries)
    warm_s = backend.warm(sorted(set(tenants))) if hasattr(backend, "warm") else 0.0
    latencies, found = [], 0
    for q, tenant, exact in zip(data.queries, tenants, truth):
        t0 = time.perf_counter()
        ids = backend.query(q, tenant)
        latencies.append((time.perf_counter() - t0) * 1e3)
        found += len(exact & set(ids))
    latencies.sort()
    return Row(backend.name, len(data.ids), "filtered" if filtered else "unfiltered", plan, 0.0,
               statistics.median(latencies), latencies[int(0.95 * (len(latencies) - 1))],
               found / (K * len(data.queries)), warm_s)


def retuned(backend: Any, data: Data, truth: list[set[str]], ef_values: list[int]) -> list[Row]:
    """The unfiltered HNSW row again at each other ef_search, on the same data and index."""
    if not isinstance(backend, ContextwiseStore) or backend.plan(False) != "hnsw":
        return []
    rows = []
    for ef in ef_values:
        backend.retune(ef)
        rows.append(time_queries(backend, data, False, truth, f"hnsw ef_search={ef}"))
        print(f"    {rows[-1]} load {_load()}", flush=True)
    return rows


def start_postgres(folder: Path) -> Any:
    import pgserver

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pgserver.get_server(str(folder / "pg"), cleanup_mode="delete")


def backends_for(names: list[str], folder: Path, size: int, dims: int, pg_dsn: str | None, filtered: bool,
                 thresholds: dict[str, int]) -> list[Any]:
    """The back-ends to run; "sqlite-hnsw" / "postgres-hnsw" force the HNSW plan (unfiltered scenario only);
    "name@size" / "name@scenario" runs that back-end at that size / in that scenario only."""
    out: list[Any] = []
    for spec in names:
        name, _, only = spec.partition("@")
        if only and only != (str(size) if only.isdigit() else "filtered" if filtered else "unfiltered"):
            continue
        if name == "numpy":
            out.append(NumpyBrute())
        elif name == "chroma":
            out.append(Chroma(folder / f"chroma-{size}"))
        elif name.endswith("-hnsw") and filtered:
            continue
        elif name.startswith("sqlite"):
            path = folder / f"sqlite-{size}-{len(out)}.db"
            out.append(ContextwiseStore(f"contextwise {name}", lambda s, p=path: SQLiteStore(p, dims, search=s),
                                        HnswSearch(min_vectors=thresholds[name])))
        elif name.startswith("postgres") and pg_dsn:
            from contextwise.stores import PostgresStore

            table = f"bench_{size}_{len(out)}_{int(filtered)}"
            out.append(ContextwiseStore(f"contextwise {name}", lambda s, t=table: PostgresStore(
                pg_dsn, dims, t, search=s), HnswSearch(min_vectors=thresholds[name])))
    return out


def print_table(rows: list[Row]) -> None:
    print("\nindex s: PostgreSQL's build_indexes() after the load; first queries s: one query per tenant after "
          "that (fills caches; SQLite builds its HNSW index here)")
    print("| back-end | vectors | scenario | plan | ingest vec/s | index s | first queries s | p50 ms | p95 ms "
          "| recall@10 |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ingest = f"{r.ingest_per_s:,.0f}" if r.ingest_per_s else "(same)"
        print(f"| {r.backend} | {r.size:,} | {r.scenario} | {r.plan} | {ingest} | {r.index_s:.1f} | "
              f"{r.first_query_s:.1f} | {r.p50_ms:.2f} | {r.p95_ms:.2f} | {r.recall:.3f} |")
    by_key = {(r.backend, r.size, r.scenario): r for r in rows}
    chroma_ingest = {r.size: r.ingest_per_s for r in rows if r.backend == "chroma" and r.ingest_per_s}
    print()
    for r in rows:
        chroma = by_key.get(("chroma", r.size, r.scenario))
        if chroma is None or not r.p50_ms or not r.ingest_per_s or not r.backend.startswith("contextwise"):
            continue
        ingest = f", ingest {r.ingest_per_s / chroma_ingest[r.size]:.2f}x chroma's" if r.size in chroma_ingest else ""
        print(f"{r.backend} vs chroma, {r.size:,} {r.scenario}: p50 {r.p50_ms:.2f} vs {chroma.p50_ms:.2f} ms "
              f"(chroma/ours {chroma.p50_ms / r.p50_ms:.2f}), recall {r.recall:.3f} vs {chroma.recall:.3f}{ingest}")


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def fts_tables(counts: Sequence[int]) -> None:
    """Open time of a SQLite file holding `n` contentless FTS5 tables (one per partition, as a per-partition
    lexical index would make), beside one holding 4n plain tables (FTS5's shadow tables are four)."""
    import sqlite3

    folder = Path(tempfile.mkdtemp(prefix="cw-bench-fts-"))
    print(f"load {_load()}")
    for n in counts:
        for kind, tables in (("fts5", n), ("plain", 4 * n)):
            path = folder / f"{kind}-{n}.db"
            conn = sqlite3.connect(path, isolation_level=None)
            conn.execute("BEGIN")
            for i in range(tables):
                conn.execute(f"CREATE VIRTUAL TABLE t{i} USING fts5(text, content='')" if kind == "fts5"
                             else f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, sz BLOB)")
            conn.execute("COMMIT")
            conn.close()
            began = time.perf_counter()
            conn = sqlite3.connect(path)
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the schema is parsed here
            opened_ms = (time.perf_counter() - began) * 1000
            conn.close()
            size_mb = path.stat().st_size / 1e6
            print(f"| {tables:,} {kind} tables | open + schema {opened_ms:.0f} ms | file {size_mb:.1f} MB |",
                  flush=True)
    shutil.rmtree(folder, ignore_errors=True)
    print(f"load {_load()}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated vector counts")
    parser.add_argument("--backends", default="numpy,sqlite,sqlite-hnsw,postgres,postgres-hnsw,chroma",
                        help="comma-separated; name@size or name@scenario runs a back-end at that size or in "
                             "that scenario only (chroma@10000, sqlite@filtered)")
    parser.add_argument("--scenarios", default="unfiltered,filtered")
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data", choices=["clustered", "uniform"], default="clustered")
    parser.add_argument("--hnsw-min", type=int, default=None,
                        help="HnswSearch.min_vectors of the plain sqlite/postgres rows (default: each store's)")
    parser.add_argument("--ef-search", default="",
                        help="comma-separated extra ef_search values to re-time unfiltered HNSW rows at")
    parser.add_argument("--fts-tables", default="",
                        help="comma-separated counts: time opening a file holding that many FTS5 tables (why the "
                             "SQLite store gives only large partitions a table of their own) and nothing else")
    args = parser.parse_args(argv)
    if args.fts_tables:
        return fts_tables([int(n) for n in args.fts_tables.split(",")])
    ef_values = [int(v) for v in args.ef_search.split(",") if v]
    start_load = _load()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `kill` still stops the server and frees the disk
    names = args.backends.split(",")
    folder = Path(tempfile.mkdtemp(prefix="cw-bench-"))
    server = start_postgres(folder) if any(n.startswith("postgres") for n in names) else None
    rows: list[Row] = []
    try:
        for size in map(int, args.sizes.split(",")):
            data = make_data(size, args.dims, args.tenants, args.queries, args.data)
            for scenario in args.scenarios.split(","):
                filtered = scenario == "filtered"
                truth = exact_top(data, filtered)
                print(f"== {size:,} vectors, {scenario}", flush=True)
                # -hnsw rows: SQLite builds its index at the first query; PostgreSQL in build_indexes() after
                # the load: bulk load, then index, as pgvector advises.
                thresholds = {"sqlite": args.hnsw_min or HnswSearch().min_vectors,
                              "postgres": args.hnsw_min or 50_000, "sqlite-hnsw": 1, "postgres-hnsw": 1}
                for backend in backends_for(names, folder, size, args.dims, server and server.get_uri(), filtered,
                                            thresholds):
                    backend._size = size if not filtered else size // args.tenants
                    row = measure(backend, data, filtered, truth)
                    print(f"    {row} load {_load()}", flush=True)
                    extra = [] if filtered else retuned(backend, data, truth, ef_values)
                    backend.close()
                    rows += [row, *extra]
    finally:
        if server is not None:
            server.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
    print_table(rows)
    print(f"\nload averages (1, 5, 15 min) at start {start_load}, at end {_load()}")
    print(f"\ncommand: python benchmarks/bench_stores.py {' '.join(sys.argv[1:] if argv is None else argv)}")


if __name__ == "__main__":
    main()
