"""Needle in a haystack with the embedded model: prefix reuse, the strategies side by side, and the anchors.

`reuse`: the same grid twice on the local model, once keeping the shared prompt prefix in the KV cache (the
default) and once evaluating every prompt whole (`LlamaCppModel.reuse_prefix = False`, what a harness that
sends each cell as a fresh call gets); prints both wall times, their ratio, the prompt tokens evaluated and
whether every score (and answer) is identical.

`strategies`: the grid through raw, reordered (Bookend, LongContextReorder), compressed (extractive; pruning
with --pruning) and retrieved at one budget (--keep of the context), printing per strategy the accuracy,
effective length, prompt tokens, cost and latency, and writing heatmaps, curves and the difference against
raw (the README figure).

`--price-as MODEL` (strategies, gemma) prices every cell as that catalog model would bill the same prompt and
answer, beside the local model's own cost (nothing).

`gemma`: the strategies on Gemma 3 270M (`local:gemma3-270m`, an 8K window) at 1k-8k tokens, resumable from
--results (a rerun finishes from the saved cells; cells of lengths dropped from --lengths stay in the file).

`anchors`: gkamradt's GPT-4-128K and Claude 2.1 results rendered in our heatmap format.

    python benchmarks/bench_niah.py reuse
    python benchmarks/bench_niah.py strategies --out docs/figures --price-as gpt-4o-mini
    python benchmarks/bench_niah.py gemma --lengths 1000,2000,4000,8000 --results /tmp/gemma/results.jsonl
    python benchmarks/bench_niah.py anchors --out /tmp/anchors
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from _data import shared_data
from contextwise.cli import _niah
from contextwise.evals.niah import (
    Grid,
    Haystack,
    NiahRun,
    describe,
    load_gkamradt,
    needles_from,
    plot_curves,
    plot_differences,
    plot_heatmap,
    standard_strategies,
    strategy_from,
)
from contextwise.llm import local_model

DATA = shared_data() / "niah-paul-graham-essays"


def _load() -> str:
    return f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"


def reuse(args: argparse.Namespace) -> None:
    model = local_model()
    hay = Haystack.load(DATA / "PaulGrahamEssays")
    grid = Grid.parse(args.lengths, args.depths, args.seeds)
    needles = [n for spec in args.needles.split(",") for n in needles_from(spec)]
    timings, answers = {}, {}
    for mode in ("whole", "reuse") if args.whole_first else ("reuse", "whole"):
        model.reuse_prefix = mode == "reuse"
        run = NiahRun(model, hay, grid, needles, max_output_tokens=24)
        started = time.perf_counter()
        results = run.run()
        timings[mode] = time.perf_counter() - started
        answers[mode] = [(r.cell_id, r.score, r.response, r.prompt_tokens - r.cached_tokens) for r in results.results]
        print(f"{mode:>6}: {timings[mode]:7.1f} s, {sum(a[3] for a in answers[mode]):,} prompt tokens evaluated, "
              f"mean score {results.matrix().mean:.3f}  ({_load()})", flush=True)
    model.reuse_prefix = True
    same_scores = [a[1] for a in answers["reuse"]] == [a[1] for a in answers["whole"]]
    same_text = [a[2] for a in answers["reuse"]] == [a[2] for a in answers["whole"]]
    print(f"{len(answers['reuse'])} cells: whole / reuse = {timings['whole'] / timings['reuse']:.2f}x wall time; "
          f"identical scores: {same_scores}; identical answers: {same_text}")


def strategies(args: argparse.Namespace) -> None:
    model = local_model()
    chosen = standard_strategies(keep=args.keep, pruning_model=model if args.pruning else None)
    _side_by_side(args, model, chosen, f"SmolLM2-135M (n_ctx {model.n_ctx}), PG essays, keep {args.keep:g}",
                  "niah-strategies")


def gemma(args: argparse.Namespace) -> None:
    from contextwise.registry import resolve

    model = resolve("chat", "local:gemma3-270m")
    chosen = [strategy_from(name, keep=args.keep) for name in args.strategies.split(",")]
    _side_by_side(args, model, chosen, f"Gemma 3 270M (n_ctx {model.n_ctx}), PG essays, keep {args.keep:g}",
                  "niah-gemma")


def _side_by_side(args: argparse.Namespace, model: Any, chosen: list[Any], title: str, stem: str) -> None:
    hay = Haystack.load(DATA / "PaulGrahamEssays")
    grid = Grid.parse(args.lengths, args.depths, args.seeds)
    needles = [n for spec in args.needles.split(",") for n in needles_from(spec)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = describe(model, price_model=args.price_as)
    run = NiahRun(target, hay, grid, needles, strategies=chosen, max_output_tokens=24,
                  out=Path(args.results) if args.results else None)
    started = time.perf_counter()
    results = run.run(lambda done, total: print(f"\r{done}/{total} cells", end="", flush=True))
    print(f"\n{time.perf_counter() - started:.0f} s ({_load()})")
    print(_niah.markdown(results, args.threshold))
    names = results.strategies
    plot_heatmap([results.matrix(n) for n in names], out / f"{stem}-heatmap.png", title=title)
    plot_differences(results.matrix("raw"), [results.matrix(n) for n in names if n != "raw"],
                     out / f"{stem}-difference.png", title=f"{title}: difference against raw")
    plot_curves({n: results.curve(n) for n in names}, out / f"{stem}-curves.png", title=title)
    print(f"figures in {out}")


def anchors(args: argparse.Namespace) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    root = DATA / "original_results"
    gpt4 = load_gkamradt(root / "OpenAI_Original_Results", title="GPT-4-128K (gkamradt, 2023-11-08)")
    claude = load_gkamradt(root / "Anthropic_Original_Results", title="Claude 2.1 (gkamradt, 2023-11-21)")
    for matrix, name in ((gpt4, "gpt-4-128k"), (claude, "claude-2.1")):
        path = plot_heatmap(matrix, out / f"anchor-{name}.png")
        print(f"{matrix.title}: {len(matrix.lengths)} lengths x {len(matrix.depths)} depths, mean {matrix.mean:.3f}"
              f" -> {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, lengths, depths, needles in (("reuse", "1000,1800", "0,50,100", "classic,mk:2,lo:0"),
                                           ("strategies", "500,1000,1800", "0,25,50,75,100", "classic,mk:2"),
                                           ("gemma", "1000,2000,4000,8000", "0,50,100", "classic,mk:2")):
        p = sub.add_parser(name)
        p.add_argument("--lengths", default=lengths)
        p.add_argument("--depths", default=depths)
        p.add_argument("--seeds", default="0")
        p.add_argument("--needles", default=needles)
    sub.choices["reuse"].add_argument("--whole-first", action="store_true")
    for s in (sub.choices["strategies"], sub.choices["gemma"]):
        s.add_argument("--keep", type=float, default=0.5)
        s.add_argument("--threshold", type=float, default=0.856)
        s.add_argument("--out", default="docs/figures")
        s.add_argument("--results", default=None, help="a results.jsonl to resume from")
        s.add_argument("--price-as", default="gpt-4o-mini", help="catalog model to price each cell as")
    sub.choices["strategies"].add_argument("--pruning", action="store_true")
    sub.choices["gemma"].add_argument("--strategies", default="raw,bookend,extractive")
    sub.add_parser("anchors").add_argument("--out", default="/tmp/niah-anchors")
    args = parser.parse_args()
    {"reuse": reuse, "strategies": strategies, "gemma": gemma, "anchors": anchors}[args.command](args)


if __name__ == "__main__":
    main()
