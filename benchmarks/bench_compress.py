"""Compression retention: how often the gold answer survives 2x, 4x and 10x compression of a 20-passage context.

Data: Lost in the Middle's NaturalQuestions-Open oracle file (../shared/bench/data/lost-in-the-middle/, see its
SOURCE.md). For each question, its gold passage is mixed with the gold passages of 19 other questions in a
deterministic shuffle (seeded per question), formatted as the paper formats documents. Questions whose answer
string is not in their gold passage are skipped, so the uncompressed context retains every answer.

Each compressor shortens the context to original/ratio o200k tokens with the question as the query; the figure
is the share of questions whose answer (any alias, compared SQuAD-normalized) survives, next to the peer a user
would reach for first — truncation on token boundaries — and the speed in context tokens per second.

    python benchmarks/bench_compress.py --n 200 [--pruning-n 40] [--summary-n 5] [--ratios 2 4 10]
    python benchmarks/bench_compress.py --four-k [--four-k-n 3]

Token pruning without its extractive prefilter ("pruning") and the embedding scorers score each context once
(the first ratio's run, which alone is timed) and re-use those scores at the other ratios; token pruning as
shipped ("pruning-prefilter", and "pruning-slack<S>" for each `--slacks` value) runs the model on what its
prefilter kept, afresh at every ratio. The summarizer uses the local SmolLM2-135M on `--summary-n` questions.
`--no-query` compresses without the question (the query-less path).

`--four-k` times token pruning as shipped on 4,000-token contexts (a gold passage and as many distractors as
fit) at each ratio, next to raw llama.cpp prompt evaluation of the same whole context in the same run (the
model's own ceiling; interleaved, so both see the same machine load).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import statistics
import sys
import time
from functools import partial
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

# llama.cpp's OpenMP workers spin while they wait; on a shared 2-core machine that starves everyone (1.7x slower
# scoring measured with other jobs running). Set before llama.cpp loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from _data import shared_data
from contextwise.compress import (  # noqa: E402
    Auto, EmbeddingScorer, Extractive, HybridScorer, Summarizer, TokenPruning, TruncateTokens, retention,
)
from contextwise.compress.pruning import Prefilter  # noqa: E402
from contextwise.compress.retention import normalize  # noqa: E402
from contextwise.tokens import get_tokenizer  # noqa: E402

DATA = shared_data() / "lost-in-the-middle" / \
    "nq-open-oracle.jsonl.gz"
DISTRACTORS = 19
FOUR_K_TOKENS = 4000
THREADS: int | None = None  # --threads


@dataclass(frozen=True)
class Case:
    question: str
    answers: tuple[str, ...]
    context: str


@dataclass
class Tally:
    kept: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    tokens: int = 0
    over_target: int = 0

    def speed(self) -> float:
        return self.tokens / self.seconds if self.seconds else float("nan")

    def cpu_speed(self) -> float:
        return self.tokens / self.cpu_seconds if self.cpu_seconds else float("nan")


def load_cases(n: int, seed: int) -> list[Case]:
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    usable = [i for i, r in enumerate(rows) if _answer_in(r["ctxs"][0]["text"], r["answers"])]
    picked = random.Random(seed).sample(usable, min(n, len(usable)))
    return [_case(rows, i, seed) for i in picked]


def _answer_in(text: str, answers: list[str]) -> bool:
    padded = f" {normalize(text)} "
    return any(normalize(a) and f" {normalize(a)} " in padded for a in answers)


def _case(rows: list[dict[str, Any]], index: int, seed: int) -> Case:
    rng = random.Random(seed * 1_000_003 + index)
    others = rng.sample([i for i in range(len(rows)) if i != index], DISTRACTORS)
    passages = [rows[index]["ctxs"][0]] + [rows[i]["ctxs"][0] for i in others]
    rng.shuffle(passages)
    docs = [f"Document [{k}](Title: {p['title']}) {p['text']}" for k, p in enumerate(passages, 1)]
    return Case(rows[index]["question"], tuple(rows[index]["answers"]), "\n\n".join(docs))


def survives(case: Case, compressed: str) -> float:
    """1.0 if any alias of the answer is still in the compressed text."""
    return max(retention(case.context, compressed, [a]) if _answer_in(case.context, [a]) else 0.0
               for a in case.answers)


class CachedSurprisal:
    """The local model with a per-text cache, so one context is scored once across ratios."""

    def __init__(self, model: Any) -> None:
        self.model, self.cache = model, {}

    def token_surprisal(self, text: str) -> list[tuple[str, float]]:
        if text not in self.cache:
            self.cache[text] = self.model.token_surprisal(text)
        return self.cache[text]


def run(name: str, make: Callable[[], Any], cases: list[Case], ratios: list[float], tok: Any,
        table: dict[tuple[str, float], Tally], *, with_query: bool = True) -> None:
    compressor = make()
    for case in cases:
        original = tok.count(case.context)
        for ratio in ratios:
            target = int(original / ratio)
            start, cpu = time.perf_counter(), time.process_time()
            out = compressor.compress(case.context, target, tok, case.question if with_query else None)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            tally = table.setdefault((name, ratio), Tally())
            tally.kept.append(survives(case, out.text))
            tally.over_target += out.tokens > target or out.tokens != tok.count(out.text)
            if ratio == ratios[0] or name not in CACHED:  # cached runs re-use the first ratio's model pass
                tally.seconds += elapsed
                tally.cpu_seconds += cpu
                tally.tokens += original


# These score a context once and re-use the scores at the other ratios: only the first ratio is timed.
CACHED = {"token pruning", "extractive embedding", "extractive hybrid"}


# key: (label, factory of the local model or None); --only takes keys.
def compressors(local: Any, slacks: tuple[float, ...] = ()) -> dict[str, tuple[str, Callable[[], Any]]]:
    out: dict[str, tuple[str, Callable[[], Any]]] = {
        "truncate-tail": ("truncate tail (peer)", lambda: TruncateTokens(side="tail")),
        "truncate-middle": ("truncate middle", lambda: TruncateTokens(side="middle")),
        "bm25": ("extractive bm25", lambda: Extractive()),
        "bm25-no-mmr": ("extractive bm25, no MMR", lambda: Extractive(diversity=0.0)),
        "embedding": ("extractive embedding", lambda: Extractive(scorer=EmbeddingScorer(_cached_onnx()))),
        "hybrid": ("extractive hybrid", lambda: Extractive(scorer=HybridScorer(_cached_onnx()))),
    }
    if local:
        # The model scores the whole context once (no extractive pre-selection), re-used at every ratio.
        out["pruning"] = ("token pruning", lambda: TokenPruning(model=CachedSurprisal(local), prefilter=None))
        slack = TokenPruning().prefilter.slack  # type: ignore[union-attr]
        out["pruning-prefilter"] = (f"token pruning as shipped (prefilter {slack:g}x)",
                                    lambda: TokenPruning(model=local))
        for s in slacks:
            out[f"pruning-slack{s:g}"] = (f"token pruning, prefilter {s:g}x",
                                          lambda s=s: TokenPruning(model=local, prefilter=Prefilter(slack=s)))
        out["auto"] = ("auto (extractive / hybrid)", lambda: Auto(pruning=TokenPruning(model=local)))
        out["summarize"] = ("summarize (SmolLM2-135M)", lambda: Summarizer(local))
        out["bm25-small"] = ("extractive bm25 (pruning's questions)", lambda: Extractive())
    return out


def _cached_onnx() -> Any:
    from contextwise.embed import CachedEmbedder, OnnxMiniLM

    return CachedEmbedder(OnnxMiniLM())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="questions for the model-free compressors")
    parser.add_argument("--pruning-n", type=int, default=10, help="questions for token pruning and auto")
    parser.add_argument("--summary-n", type=int, default=2, help="questions for the local-model summarizer")
    parser.add_argument("--ratios", type=float, nargs="+", default=[2.0, 4.0, 10.0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip", type=int, default=0, help="leave out the first questions (to split a run)")
    parser.add_argument("--only", nargs="*", default=None, help="run only these compressor keys (see compressors())")
    parser.add_argument("--slacks", type=float, nargs="*", default=[], help="also run pruning with these prefilters")
    parser.add_argument("--no-query", action="store_true", help="compress without the question")
    parser.add_argument("--four-k", action="store_true", help="time pruning on 4,000-token contexts (see above)")
    parser.add_argument("--four-k-n", type=int, default=3, help="4,000-token contexts to time")
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: every usable CPU)")
    args = parser.parse_args()
    global THREADS
    THREADS = args.threads
    if args.four_k:
        four_k(args.four_k_n, args.ratios, args.seed)
        return

    tok = get_tokenizer("o200k_base")
    cases = load_cases(args.n + args.skip, args.seed)[args.skip:]
    sizes = [tok.count(c.context) for c in cases]
    print(f"{len(cases)} questions, context {statistics.mean(sizes):.0f} o200k tokens on average "
          f"({min(sizes)}-{max(sizes)}), ratios {args.ratios}")
    wanted = set(args.only) if args.only is not None else None
    local = _local_model() if wanted is None or any(k.startswith(("pruning", "auto", "summarize", "bm25-small"))
                                                    for k in wanted) else None
    table: dict[tuple[str, float], Tally] = {}
    limits = {"auto": args.pruning_n, "bm25-small": args.pruning_n, "summarize": args.summary_n}
    for key, (name, make) in compressors(local, tuple(args.slacks)).items():
        if args.only is not None and key not in args.only:
            continue
        subset = cases[:args.pruning_n if key.startswith("pruning") else limits.get(key, len(cases))]
        start = time.perf_counter()
        run(name, make, subset, args.ratios, tok, table, with_query=not args.no_query)
        print(f"  {name}: {len(subset)} questions in {time.perf_counter() - start:.1f}s", flush=True)
    report(table, args.ratios)


def four_k_cases(n: int, seed: int, tok: Any) -> list[Case]:
    """Contexts of at most FOUR_K_TOKENS o200k tokens: a gold passage and as many distractors as fit."""
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    usable = [i for i, r in enumerate(rows) if _answer_in(r["ctxs"][0]["text"], r["answers"])]
    return [_four_k_case(rows, i, seed, tok) for i in random.Random(seed).sample(usable, n)]


def _four_k_case(rows: list[dict[str, Any]], index: int, seed: int, tok: Any) -> Case:
    rng = random.Random(seed * 1_000_003 + index)
    passages, total = [rows[index]["ctxs"][0]], 0
    for i in rng.sample(range(len(rows)), 200):
        extra = rows[i]["ctxs"][0]
        size = tok.count(f"Document [99](Title: {extra['title']}) {extra['text']}\n\n")
        if i == index or total + size > FOUR_K_TOKENS - 250:
            continue
        passages.append(extra)
        total += size
    rng.shuffle(passages)
    docs = [f"Document [{k}](Title: {p['title']}) {p['text']}" for k, p in enumerate(passages, 1)]
    while tok.count("\n\n".join(docs)) > FOUR_K_TOKENS:
        docs.pop(-1 if docs[-1].find(rows[index]["ctxs"][0]["title"]) < 0 else 0)
    return Case(rows[index]["question"], tuple(rows[index]["answers"]), "\n\n".join(docs))


def four_k(n: int, ratios: list[float], seed: int) -> None:
    """Seconds per 4,000-token context for token pruning as shipped, beside raw llama.cpp eval of the context."""
    import llama_cpp

    tok = get_tokenizer("o200k_base")
    local = _local_model()
    if local is None:
        sys.exit("token pruning needs the local model")
    raw = llama_cpp.Llama(str(local.path), n_ctx=local.n_ctx, n_threads=local.n_threads,
                          n_threads_batch=local.n_threads, verbose=False)
    pruning = TokenPruning(model=local)
    seconds: dict[str, list[float]] = {}
    kept: dict[float, list[float]] = {r: [] for r in ratios}
    print(f"{n} contexts; threads {local.n_threads}; load average {os.getloadavg()[0]:.2f} before", flush=True)
    for case in four_k_cases(n, seed, tok):
        original = tok.count(case.context)
        ids = local.tokenize(case.context)
        seconds.setdefault("raw", []).append(_timed(partial(_raw_eval, raw, ids, local.n_ctx)) * 4000 / original)
        for ratio in ratios:
            out: list[Any] = []
            took = _timed(partial(_append, out, pruning.compress, case.context, int(original / ratio), tok,
                                  case.question))
            seconds.setdefault(f"{ratio:g}x", []).append(took * 4000 / original)
            kept[ratio].append(survives(case, out[0].text))
        print(f"  {original} o200k tokens ({len(ids)} model tokens): raw eval {seconds['raw'][-1]:.1f}s, "
              + ", ".join(f"{r:g}x {seconds[f'{r:g}x'][-1]:.1f}s" for r in ratios), flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} after")
    raw_s = statistics.median(seconds["raw"])
    for ratio in ratios:
        mine = statistics.median(seconds[f"{ratio:g}x"])
        print(f"README row: | token pruning of a 4,000-token context to {ratio:g}x, SmolLM2-135M, "
              f"{local.n_threads} threads | {mine:.1f} s (answer kept {statistics.mean(kept[ratio]):.2f}, n={n}) | "
              f"raw llama.cpp eval of the whole context {raw_s:.1f} s | {raw_s / mine:.2f}x | "
              f"`python benchmarks/bench_compress.py --four-k --four-k-n {n}` |")


def _append(out: list[Any], fn: Callable[..., Any], *args: Any) -> None:
    out.append(fn(*args))


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _raw_eval(llama: Any, ids: list[int], n_ctx: int) -> None:
    for start in range(0, len(ids), n_ctx):
        llama.reset()
        llama.eval(ids[start:start + n_ctx])


def _local_model() -> Any:
    try:
        from contextwise.llm import local_model

        return local_model(n_threads=THREADS)
    except ImportError as exc:
        print(f"(no local model: {exc}; token pruning, auto and summarize are skipped)")
        return None


def report(table: dict[tuple[str, float], Tally], ratios: list[float]) -> None:
    names = list(dict.fromkeys(name for name, _ in table))
    peer = "truncate tail (peer)"
    head = " | ".join(f"{r:g}x" for r in ratios)
    print(f"\n| compressor | n | retention at {head} | vs truncation at {head} | tokens/s | tokens/CPU-s "
          "| over target |")
    print("|---|---|" + "---|" * (2 * len(ratios)) + "---|---|---|")
    for name in names:
        cells = [table[(name, r)] for r in ratios]
        kept = [statistics.mean(t.kept) for t in cells]
        vs = [k / statistics.mean(table[(peer, r)].kept[:len(t.kept)]) if (peer, r) in table else float("nan")
              for k, t, r in zip(kept, cells, ratios)]
        print(f"| {name} | {len(cells[0].kept)} | " + " | ".join(f"{k:.2f}" for k in kept) + " | "
              + " | ".join(f"{v:.2f}x" for v in vs)
              + f" | {cells[0].speed():,.0f} | {cells[0].cpu_speed():,.0f} | {sum(t.over_target for t in cells)} |")


if __name__ == "__main__":
    main()
