"""Assembly speed: build a 128k-token context from 2,000 prioritised chunks.

contextwise's Context.build (allocate, fit, arrange, citation markers, exact framed count, Report) beside what a
user writes by hand with tiktoken (count every chunk, sort by priority, fill greedily), on the same chunks in the
same run. The chunks are NaturalQuestions passages (Lost in the Middle's NQ-Open file in ../shared/bench/data,
title and source kept, a seeded random priority each) or, with `--data generated` or without that file,
generated word salad.

    python benchmarks/bench_assembly.py [--chunks 2000] [--repeat 20] [--data nq|generated] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import json
import pstats
import random
import statistics
import time
import warnings

import tiktoken

import contextwise as cw  # noqa: F401  (installs the offline encodings into tiktoken)
from contextwise.budget import Context
from contextwise.errors import TruncationWarning
from contextwise.tokens import TokenCounter
from contextwise.types import Chunk
from _data import shared_data

WORDS = ("harbour station bike battery rider member price euro trip dock route weather city council "
         "repair brake tyre motor credit uphill support refund helmet speed zone app data model").split()


NQ = shared_data() / "lost-in-the-middle" / \
    "nq-open-oracle.jsonl.gz"


def make_chunks(n: int, seed: int = 7) -> list[tuple[str, float]]:
    rng = random.Random(seed)
    return [(" ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 140))) + ".", rng.random())
            for _ in range(n)]


def nq_chunks(n: int, seed: int = 7) -> list[Chunk]:
    """The first `n` distinct NQ passages as Chunks (title, source), each with a seeded random priority."""
    rng, out, seen = random.Random(seed), [], set()
    with gzip.open(NQ, "rt", encoding="utf-8") as f:
        for line in f:
            for ctx in json.loads(line)["ctxs"]:
                if ctx["text"] not in seen and len(out) < n:
                    seen.add(ctx["text"])
                    out.append(Chunk(f"nq-{len(out)}", ctx["text"], source="wikipedia", title=ctx["title"],
                                     metadata={"priority": rng.random()}))
    return out


def by_hand(chunks: list[tuple[str, float]], budget_tokens: int) -> str:
    enc = tiktoken.get_encoding("o200k_base")
    ranked = sorted(chunks, key=lambda c: -c[1])
    out, used = [], 0
    for text, _ in ranked:
        n = len(enc.encode(text))
        if used + n <= budget_tokens:
            out.append(text)
            used += n
    return "\n\n".join(out)


def build(items: list[cw.budget.Item], counter: TokenCounter | None) -> cw.budget.Built:
    ctx = Context("gpt-4o", counter=counter)
    ctx.system("Answer from the documents; cite them as [n].").documents(items).user("Which?")
    return ctx.build()


def as_items(data: str, n: int) -> tuple[str, list[cw.budget.Item], list[tuple[str, float]]]:
    """What the run builds from: a description, the Items handed to Context, and (text, priority) for by-hand."""
    if data == "nq" and NQ.exists():
        chunks = nq_chunks(n)
        items = [cw.budget.Item(c.text, c.metadata["priority"] * 100, c.id, c) for c in chunks]
        return f"{len(chunks):,} NQ passages", items, [(c.text, c.metadata["priority"]) for c in chunks]
    pairs = make_chunks(n)
    return f"{n:,} generated chunks", [cw.budget.Item(t, p * 100) for t, p in pairs], pairs


def timed(fn, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--data", choices=("nq", "generated"), default="nq")
    parser.add_argument("--profile", action="store_true", help="print the warm build's cProfile top 25")
    args = parser.parse_args()
    warnings.simplefilter("ignore", TruncationWarning)
    what, items, chunks = as_items(args.data, args.chunks)
    # The process loads its tokenizer once (and moves to the faster back-end after a few MB); that one-time
    # cost is not part of a build, so load it first and report it apart.
    load = timed(lambda: TokenCounter.for_model("gpt-4o").count("warm up " * 700_000), 1)[0]
    cold = timed(lambda: build(items, TokenCounter.for_model("gpt-4o")), 3)
    shared = TokenCounter.for_model("gpt-4o")
    built = build(items, shared)
    warm = timed(lambda: build(items, shared), args.repeat)
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(lambda: [build(items, shared) for _ in range(5)])
        pstats.Stats(profile).sort_stats("cumulative").print_stats(25)
    hand = timed(lambda: by_hand(chunks, built.report.available_tokens), args.repeat)
    total = sum(TokenCounter.for_model("gpt-4o").count(t) for t, _ in chunks)
    r = built.report
    print(f"{what}, {total:,} tokens offered; built {r.prompt_tokens:,}/{r.available_tokens:,} "
          f"tokens, {r.section('documents').items_kept} chunks kept")
    print(f"tokenizer load, once per process: {load:.0f} ms")
    print(f"contextwise cold (counts every chunk): median {statistics.median(cold):.1f} ms")
    print(f"contextwise warm (chunks counted before): median {statistics.median(warm):.1f} ms, "
          f"p95 {sorted(warm)[int(0.95 * (len(warm) - 1))]:.1f} ms")
    print(f"by hand with tiktoken (no report, no framing): median {statistics.median(hand):.1f} ms")
    print(f"ratio by-hand / contextwise: cold {statistics.median(hand) / statistics.median(cold):.2f}x, "
          f"warm {statistics.median(hand) / statistics.median(warm):.2f}x")


if __name__ == "__main__":
    main()
