"""Document chunking: contextwise `chunk_document` beside LlamaIndex `SentenceSplitter`.

Both split the Paul Graham essays (../shared/bench/data/niah-paul-graham-essays) into chunks of at most 256
o200k_base tokens with 32 tokens of overlap, with the same tokenizer, in the same process. Reported per
splitter: median wall time over --repeat runs, the chunk count, chunks over the token limit (re-counted with
o200k_base) and the share of chunks whose recorded character offset points at exactly their text in the
document (what a citation needs to map back to a span).

    python benchmarks/bench_documents.py [--max-tokens 256] [--overlap 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import glob
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _data import shared_data
from contextwise.documents import chunk_document
from contextwise.tokens import get_tokenizer

DATA = shared_data() / "niah-paul-graham-essays" / "PaulGrahamEssays"


def ours(docs: list[str], tok: Any, max_tokens: int, overlap: int) -> list[tuple[str, str, int | None]]:
    out = []
    for n, doc in enumerate(docs):
        chunks = chunk_document(doc, tok, max_tokens=max_tokens, overlap_tokens=overlap, doc_id=str(n))
        out.extend((doc, c.text, c.start_char) for c in chunks)
    return out


def llama_index(docs: list[str], tok: Any, max_tokens: int, overlap: int) -> list[tuple[str, str, int | None]]:
    from llama_index.core import Document
    from llama_index.core.node_parser import SentenceSplitter

    splitter = SentenceSplitter(chunk_size=max_tokens, chunk_overlap=overlap, tokenizer=tok.encode)
    out = []
    for doc in docs:
        out.extend((doc, n.get_content(), n.start_char_idx) for n in splitter.get_nodes_from_documents(
            [Document(text=doc)]))
    return out


def measure(fn: Callable[..., list[tuple[str, str, int | None]]], docs: list[str], tok: Any, args: argparse.Namespace
            ) -> tuple[float, list[tuple[str, str, int | None]]]:
    fn(docs, tok, args.max_tokens, args.overlap)  # warm-up: imports, caches
    times, pieces = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        pieces = fn(docs, tok, args.max_tokens, args.overlap)
        times.append(time.perf_counter() - start)
    return statistics.median(times), pieces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--overlap", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tok = get_tokenizer("o200k_base")
    docs = [Path(f).read_text() for f in sorted(glob.glob(str(DATA / "*.txt")))]
    print(f"{len(docs)} essays, {sum(map(len, docs)):,} chars, {sum(tok.count(d) for d in docs):,} o200k tokens")
    results = {}
    for name, fn in (("contextwise", ours), ("llama-index", llama_index)):
        seconds, pieces = measure(fn, docs, tok, args)
        over = sum(tok.count(text) > args.max_tokens for _, text, _ in pieces)
        exact = sum(s is not None and doc[s:s + len(text)] == text for doc, text, s in pieces) / len(pieces)
        results[name] = seconds
        print(f"{name:12s} {seconds * 1000:8.0f} ms  chunks {len(pieces):5d}  over {args.max_tokens} tokens {over:4d}"
              f"  exact offsets {exact:6.1%}")
    ratio = results["llama-index"] / results["contextwise"]
    print(f"contextwise is {ratio:.1f}x faster")
    ours_ms, peer_ms = results["contextwise"] * 1000, results["llama-index"] * 1000
    print(f"README row: | documents: chunk {len(docs)} essays to {args.max_tokens}-token chunks, "
          f"{args.overlap} overlap | {ours_ms:.0f} ms | LlamaIndex SentenceSplitter {peer_ms:.0f} ms "
          f"| {ratio:.1f}x | `python benchmarks/bench_documents.py` |")


if __name__ == "__main__":
    main()
