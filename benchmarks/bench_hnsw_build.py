"""What hnswlib's native build buys: HNSW search and build speed, build against build, on real vectors.

hnswlib has no wheel on PyPI, so pip compiles it with `-march=native` (and caches that wheel under its version
alone: the reason stores/_hnsw.py checks a build in a child process before importing it). This measures what the
native code is worth against portable builds of the same release (setuptools passes CPPFLAGS to the C++
compiler, not CFLAGS). Each build is installed into a folder of its
own (`pip install --no-deps --target DIR WHEEL`); every run is a fresh child process with that folder first on its
path, and the builds take turns (A B C A B C ...) so that load from other work falls on all of them alike.

    HNSWLIB_NO_NATIVE=1 pip wheel --no-deps --no-cache-dir hnswlib==0.8.0 -w W1                     # SSE only
    HNSWLIB_NO_NATIVE=1 CPPFLAGS="-mavx2 -mfma -mf16c" pip wheel --no-deps --no-cache-dir hnswlib==0.8.0 -w W2  # AVX2
    python benchmarks/bench_hnsw_build.py native=DIR0 sse=DIR1 avx2=DIR2 --db .bench/m200k-onnx.db --runs 3

The vectors are the episodic tier of `bench_memory.py --db` (200k LoCoMo memories embedded by the ONNX MiniLM),
or without `--db` the first `--memories` LoCoMo turns embedded here; the queries are LoCoMo questions embedded by
the same model. One index is built once (by the first build) and saved; every child loads it and times
`--queries` searches at the store's parameters (ef_search 800, k 60, one thread), then builds an index over the
first `--build-rows` vectors (the store's M and ef_construction, two threads) and times that. Prints the medians
per build, the ratio to the first build, recall@10 against exact search, and what the store's check of the
installed hnswlib costs.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, sys, time
import numpy as np
import hnswlib
folder, ef, k, build_rows, m, ef_construction = sys.argv[1], *map(int, sys.argv[2:7])
data = np.load(folder + "/data.npy", mmap_mode="r")
queries = np.load(folder + "/queries.npy")
index = hnswlib.Index(space="ip", dim=data.shape[1])
index.load_index(folder + "/index.bin", max_elements=data.shape[0])
index.set_ef(ef)
for q in queries[:10]:
    index.knn_query(q.reshape(1, -1), k=k, num_threads=1)  # warm the pages
took, found = [], []
for q in queries:
    start = time.perf_counter()
    labels, _ = index.knn_query(q.reshape(1, -1), k=k, num_threads=1)
    took.append(time.perf_counter() - start)
    found.append(labels[0, :10].tolist())
small = np.ascontiguousarray(data[:build_rows])
built = hnswlib.Index(space="ip", dim=data.shape[1])
built.init_index(max_elements=build_rows, ef_construction=ef_construction, M=m)
start = time.perf_counter()
built.add_items(small, np.arange(build_rows), num_threads=2)
build_s = time.perf_counter() - start
print(json.dumps({"query_ms": sorted(took)[len(took) // 2] * 1000, "build_s": build_s, "found": found,
                  "file": hnswlib.__file__}))
"""


def vectors(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray]:
    """The memories' and the questions' unit vectors (float32)."""
    from bench_memory import TENANT, locomo, make_embedder

    turns, questions = locomo()
    embedder = make_embedder("onnx")
    if args.db:
        with sqlite3.connect(args.db) as conn:
            blobs = conn.execute("SELECT vector FROM records WHERE tenant = ? AND part = 'episodic' AND vector IS "
                                 "NOT NULL ORDER BY rowid", (TENANT,)).fetchall()
        data = np.stack([np.frombuffer(b, dtype=np.float32) for (b,) in blobs])
    else:
        data = np.asarray(embedder.embed(turns[:args.memories]), dtype=np.float32)
    asked = np.asarray(embedder.embed(questions[:args.queries], kind="query"), dtype=np.float32)
    return data, asked


def check_ms(first: bool) -> float:
    """How long the store's check of the installed hnswlib takes: the first in a machine's life (a child process
    runs), or once remembered (read from disk in a new process)."""
    from contextwise import _native
    from contextwise.stores import _hnsw

    with tempfile.TemporaryDirectory() as cache:
        os.environ["CONTEXTWISE_CACHE_DIR"] = cache
        try:
            _native._verdicts.clear()
            if not first:
                _hnsw.hnswlib_problem()
            _native._verdicts.clear()
            start = time.perf_counter()
            problem = _hnsw.hnswlib_problem()
            took = (time.perf_counter() - start) * 1000
        finally:
            del os.environ["CONTEXTWISE_CACHE_DIR"]
    assert problem is None, problem
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("builds", nargs="+", help="name=DIR, the first the reference")
    parser.add_argument("--db", help="bench_memory.py's --db file: its episodic tier's vectors")
    parser.add_argument("--memories", type=int, default=20_000, help="without --db: LoCoMo turns to embed")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--build-rows", type=int, default=20_000)
    args = parser.parse_args()
    builds = dict(b.split("=", 1) for b in args.builds)
    from contextwise.stores import HnswSearch

    search = HnswSearch()
    data, asked = vectors(args)
    exact = np.argsort(-(asked @ data.T), axis=1)[:, :10]
    with tempfile.TemporaryDirectory() as folder:
        np.save(f"{folder}/data.npy", data)
        np.save(f"{folder}/queries.npy", asked)
        first = next(iter(builds.values()))
        subprocess.run([sys.executable, "-c", "import sys, numpy as np, hnswlib; d = np.load(sys.argv[1]); "
                        "i = hnswlib.Index(space='ip', dim=d.shape[1]); "
                        f"i.init_index(max_elements=len(d), ef_construction={search.ef_construction}, "
                        f"M={search.m}); i.add_items(d, np.arange(len(d))); i.save_index(sys.argv[2])",
                        f"{folder}/data.npy", f"{folder}/index.bin"], env={**os.environ, "PYTHONPATH": first},
                       check=True)
        runs: dict[str, list[dict[str, object]]] = {name: [] for name in builds}
        for _ in range(args.runs):
            for name, site in builds.items():
                done = subprocess.run([sys.executable, "-c", CHILD, folder, str(search.ef_search), "60",
                                       str(min(args.build_rows, len(data))), str(search.m),
                                       str(search.ef_construction)],
                                      capture_output=True, text=True, env={**os.environ, "PYTHONPATH": site},
                                      check=True)
                runs[name].append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"the store's check of the installed hnswlib in a child process: first {check_ms(True):.0f} ms, "
          f"remembered {check_ms(False):.2f} ms")
    print(f"{len(data):,} vectors of {data.shape[1]} dimensions, {len(asked)} questions, ef_search "
          f"{search.ef_search}, k 60, M {search.m}, ef_construction {search.ef_construction}; {args.runs} runs")
    reference: tuple[float, float] | None = None
    for name, results in runs.items():
        query_ms = statistics.median(float(r["query_ms"]) for r in results)  # type: ignore[arg-type]
        build_s = statistics.median(float(r["build_s"]) for r in results)  # type: ignore[arg-type]
        found = results[0]["found"]
        recall = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact.tolist())])  # type: ignore
        reference = reference or (query_ms, build_s)
        print(f"| {name} | search p50 {query_ms:.2f} ms (x{query_ms / reference[0]:.2f}), recall@10 {recall:.4f} | "
              f"build of {min(args.build_rows, len(data)):,} rows {build_s:.1f} s (x{build_s / reference[1]:.2f}) "
              f"| {results[0]['file']} |")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
