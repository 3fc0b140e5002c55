"""Auto's routes on query-less text: which one keeps the most facts at each keep ratio, and how fast.

Data: the NaturalQuestions contexts of benchmarks/bench_compress.py (Lost in the Middle's oracle file: a gold
passage mixed with the gold passages of 19 other questions). Here the text is compressed WITHOUT a question,
as a document is when nobody has asked anything yet. Every one of the 20 passages is some question's gold
passage, so each context carries up to 20 facts to keep: the figure is the share of those answers (any alias,
SQuAD-normalized; only answers found in their own passage) still in the output, and the share of the sentences
that bear them still there whole.

Each route runs through `Auto` itself, forced by its thresholds, beside the peer a user would pick first,
truncation on token boundaries, on the same contexts in the same process:

    python benchmarks/bench_auto.py --n 20 [--model-n 20] [--summary-n 4] [--keeps 0.9 0.7 0.5 0.3 0.2 0.1]

With `--summarizer`, it measures instead the summarizer with the local SmolLM2-135M, WITH the question, at
2x/4x/10x, against its previous behaviour (the whole text read, map-reduce, question first) in the same run,
question by question: the share of questions whose answer survives, as bench_compress.py scores it.

    python benchmarks/bench_auto.py --summarizer --n 20 [--ratios 2 4 10]

Speed is context tokens per wall second (and per CPU second of this process, which is steadier on a shared
machine). `over` counts outputs over the target or miscounted: it must be 0.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see bench_compress.py
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_compress import DATA, DISTRACTORS, _answer_in, _local_model, load_cases, survives  # noqa: E402

from contextwise.compress import Auto, Extractive, Summarizer, TokenPruning, TruncateTokens, retention  # noqa: E402
from contextwise.compress.summarize import ChunkSummaryRequest  # noqa: E402
from contextwise.tokens import get_tokenizer  # noqa: E402
from contextwise.types import Message  # noqa: E402


@dataclass(frozen=True)
class Doc:
    """A context and, per passage (as formatted in it), the answers of the question it is the gold passage of."""

    context: str
    facts: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass
class Tally:
    answers: list[float] = field(default_factory=list)
    sentences: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    tokens: int = 0
    over: int = 0


def load_docs(n: int, seed: int) -> list[Doc]:
    """`n` contexts built as bench_compress builds them, with the answers of all 20 passages."""
    with gzip.open(DATA, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    usable = [i for i, r in enumerate(rows) if _answer_in(r["ctxs"][0]["text"], r["answers"])]
    return [_doc(rows, i, seed) for i in random.Random(seed).sample(usable, min(n, len(usable)))]


def _doc(rows: list[dict[str, Any]], index: int, seed: int) -> Doc:
    rng = random.Random(seed * 1_000_003 + index)
    others = rng.sample([i for i in range(len(rows)) if i != index], DISTRACTORS)
    picked = [index] + others
    rng.shuffle(picked)
    passages = [rows[i]["ctxs"][0] for i in picked]
    docs = [f"Document [{k}](Title: {p['title']}) {p['text']}" for k, p in enumerate(passages, 1)]
    facts = [(d, tuple(a for a in rows[i]["answers"] if _answer_in(rows[i]["ctxs"][0]["text"], [a])))
             for d, i in zip(docs, picked)]
    return Doc("\n\n".join(docs), tuple((d, f) for d, f in facts if f))


def kept(doc: Doc, text: str, unit: str) -> float:
    """The share of the passages' facts kept (a fact is kept when any of its aliases is)."""
    return statistics.mean(max(retention(passage, text, [a], unit=unit) for a in aliases)
                           for passage, aliases in doc.facts)


def routes(local: Any, summarizer: Callable[[Any], Any]) -> dict[str, Callable[[], Any]]:
    """Each of Auto's routes forced by its thresholds, and the truncation peer."""
    out: dict[str, Callable[[], Any]] = {
        "truncate tail (peer)": lambda: TruncateTokens(side="tail"),
        "truncate middle": lambda: TruncateTokens(side="middle"),
        "auto extractive (bm25 centrality)": lambda: Auto(extractive_above=0.0),
    }
    if local is not None:
        out["auto hybrid (extractive + pruning)"] = lambda: Auto(extractive_above=1.0, summarize_below=0.0,
                                                                 pruning=TokenPruning(model=local))
        out["auto summarize (SmolLM2-135M)"] = lambda: Auto(extractive_above=1.0, summarize_below=1.0,
                                                            summarizer=summarizer(local))
    return out


def run(make: Callable[[], Any], docs: list[Doc], keeps: list[float], tok: Any, table: dict[float, Tally], *,
        deadline: float = float("inf")) -> None:
    compressor = make()
    for i, doc in enumerate(docs):
        if time.monotonic() > deadline:
            print(f"  time is up after {i} contexts")
            return
        original = tok.count(doc.context)
        for keep in keeps:
            target = int(original * keep)
            start, cpu = time.perf_counter(), time.process_time()
            out = compressor.compress(doc.context, target, tok)
            tally = table.setdefault(keep, Tally())
            tally.seconds += time.perf_counter() - start
            tally.cpu_seconds += time.process_time() - cpu
            tally.tokens += original
            tally.answers.append(kept(doc, out.text, "answer"))
            tally.sentences.append(kept(doc, out.text, "sentence"))
            tally.over += out.tokens > target or out.tokens != tok.count(out.text)
        if len(docs) <= 20 or (i + 1) % 10 == 0:  # progress, for runs that may be cut short
            print(f"    {i + 1} contexts: facts kept " + "/".join(
                f"{statistics.mean(table[k].answers):.3f}" for k in keeps), flush=True)


def report(table: dict[str, dict[float, Tally]], keeps: list[float], *, unit: str = "keep") -> None:
    head = " | ".join(f"{k:g}" for k in keeps)
    kept_what = "facts kept" if unit == "keep" else "answer kept"
    print(f"\n| route | n | {kept_what} at {unit} {head} | answer sentences whole at {head} | tokens/s by {unit} "
          "| tokens/CPU-s (all) | over |")
    print("|---|---|" + "---|" * (2 * len(keeps)) + "---|---|---|")
    for name, cells in table.items():
        row = [cells.get(k) for k in keeps]
        done = [t for t in row if t is not None and t.answers]
        if not done:
            continue
        speed = "/".join(f"{t.tokens / t.seconds:,.0f}" for t in done)
        cpu = sum(t.tokens for t in done) / max(1e-9, sum(t.cpu_seconds for t in done))
        print(f"| {name} | {len(done[0].answers)} | " + " | ".join(_cell(t, "answers") for t in row)
              + " | " + " | ".join(_cell(t, "sentences") for t in row)
              + f" | {speed} | {cpu:,.0f} | {sum(t.over for t in done)} |")


def _cell(tally: Tally | None, attribute: str) -> str:
    return "-" if tally is None else f"{statistics.mean(getattr(tally, attribute)):.3f}"


class PreviousSummarizer(Summarizer):
    """The summarizer as it was before extract-then-abstract (commit 99bd3f1): it reads the whole text
    (map-reduce when it exceeds a request) with the question first and a plain "summarize" prompt."""

    SYSTEM = ("You shorten documents for another assistant. Write a dense summary that keeps every fact, name, "
              "number and date needed to answer the question. No preamble, no commentary.")

    def __init__(self, model: Any) -> None:
        super().__init__(model, read_ratio=None)

    def _request(self, text: str, answer_tokens: int, query: str | None) -> ChunkSummaryRequest:
        focus = f"Question: {query}\n\n" if query else ""
        prompt = f"{focus}Text:\n{text}\n\nSummarize the text in at most {max(5, int(answer_tokens * 0.7))} words."
        cap = max(1, math.ceil(answer_tokens * 1.2))
        return ChunkSummaryRequest((Message.system(self.SYSTEM), Message.user(prompt)), cap)


def summarizers(local: Any) -> dict[str, Callable[[], Any]]:
    """The summarizer variants compared with the question, and extractive BM25 (no model) for scale."""
    return {
        "summarize, previous (whole text, question first)": lambda: PreviousSummarizer(local),
        "summarize, now (extract 2x target, copy facts)": lambda: Summarizer(local),
        "extractive bm25 (no model)": lambda: Extractive(),
    }


def compare_summarizers(args: argparse.Namespace, tok: Any) -> None:
    """Each variant on each question at every ratio, question by question, with a running tally."""
    cases = load_cases(args.n, args.seed)[args.skip:]
    local = _local_model()
    made = {name: make() for name, make in summarizers(local).items()
            if args.only is None or any(w in name for w in args.only)}
    table: dict[str, dict[float, Tally]] = {name: {} for name in made}
    _each_question(cases, made, args.ratios, tok, table, deadline=time.monotonic() + 60 * args.minutes)
    report(table, args.ratios, unit="ratio")


def _each_question(cases: list[Any], made: dict[str, Any], ratios: list[float], tok: Any,
                   table: dict[str, dict[float, Tally]], *, deadline: float) -> None:
    for i, case in enumerate(cases, 1):
        if time.monotonic() > deadline:  # a bounded run on a shared machine: report the questions done
            print(f"  time is up after {i - 1} questions")
            return
        original = tok.count(case.context)
        for name, compressor in made.items():
            for ratio in ratios:
                target = int(original / ratio)
                start, cpu = time.perf_counter(), time.process_time()
                out = compressor.compress(case.context, target, tok, case.question)
                tally = table[name].setdefault(ratio, Tally())
                tally.seconds += time.perf_counter() - start
                tally.cpu_seconds += time.process_time() - cpu
                tally.tokens += original
                tally.answers.append(survives(case, out.text))
                tally.sentences.append(max(retention(case.context, out.text, [a], unit="sentence")
                                           for a in case.answers if _answer_in(case.context, [a])))
                tally.over += out.tokens > target or out.tokens != tok.count(out.text)
        print(f"  after {i} questions: " + "; ".join(
            f"{name}: " + "/".join(f"{statistics.mean(table[name][r].answers):.2f}" for r in ratios)
            for name in made), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="contexts for the model-free routes")
    parser.add_argument("--model-n", type=int, default=10, help="contexts for the hybrid route (local model)")
    parser.add_argument("--summary-n", type=int, default=4, help="contexts for the summarize route")
    parser.add_argument("--keeps", type=float, nargs="+", default=[0.9, 0.7, 0.5, 0.3, 0.2, 0.1])
    parser.add_argument("--summary-keeps", type=float, nargs="*", default=None,
                        help="keep ratios for the summarize route (default --keeps)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", default=None, help="run only routes whose name contains one of these")
    parser.add_argument("--summarizer", action="store_true", help="compare the summarizer with its previous self")
    parser.add_argument("--ratios", type=float, nargs="+", default=[2.0, 4.0, 10.0], help="with --summarizer")
    parser.add_argument("--skip", type=int, default=0, help="with --summarizer: start after this many questions")
    parser.add_argument("--minutes", type=float, default=float("inf"),
                        help="start no new question or context after this many minutes")
    args = parser.parse_args()

    os.system("uptime")
    tok = get_tokenizer("o200k_base")
    if args.summarizer:
        compare_summarizers(args, tok)
        os.system("uptime")
        return
    docs = load_docs(args.n, args.seed)
    sizes = [tok.count(d.context) for d in docs]
    print(f"{len(docs)} contexts, {statistics.mean(sizes):.0f} o200k tokens on average ({min(sizes)}-{max(sizes)}), "
          f"{statistics.mean(len(d.facts) for d in docs):.1f} facts each; keep ratios {args.keeps}")
    needs_model = args.only is None or any(w in ("hybrid", "summarize") for w in args.only)
    local = _local_model() if needs_model else None
    table: dict[str, dict[float, Tally]] = {}
    for name, make in routes(local, lambda m: Summarizer(m)).items():
        if args.only is not None and not any(w in name for w in args.only):
            continue
        subset = docs[:args.summary_n if "summarize" in name else args.model_n if "hybrid" in name else len(docs)]
        keeps = args.summary_keeps if "summarize" in name and args.summary_keeps else args.keeps
        start = time.perf_counter()
        run(make, subset, keeps, tok, table.setdefault(name, {}), deadline=time.monotonic() + 60 * args.minutes)
        print(f"  {name}: {len(subset)} contexts in {time.perf_counter() - start:.1f}s", flush=True)
    report(table, args.keeps)
    os.system("uptime")


if __name__ == "__main__":
    main()
