"""`contextwise eval …`: evaluations. `eval niah`: a needle-in-a-haystack grid (and the strategies under test);
`eval locomo PATH`: memory recall of the LoCoMo evidence turns; `eval compression`: retention at given ratios."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from pathlib import Path

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from contextwise.errors import MissingDependencyError, UsageError
from contextwise.evals.locomo import (TURN_TEXTS, HybridRetrieval, LocomoConversation, RecallReport, Retrieval,
                                      TurnText)

DEFAULT_CHART = "locomo-recall.png"


def parse_ks(text: str) -> tuple[int, ...]:
    """"5,10,20" -> (5, 10, 20)."""
    try:
        ks = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise UsageError(f"--k {text!r}: give whole numbers separated by commas, e.g. 5,10,20") from None
    if not ks or min(ks) < 1:
        raise UsageError(f"--k {text!r}: give whole numbers of at least 1, e.g. 5,10,20")
    return ks


def parse_modes(values: Sequence[str]) -> list[str]:
    """Modes from repeated and/or comma-separated --mode values, in order, without repeats."""
    from contextwise.evals.locomo import MODES

    modes: list[str] = []
    for part in (p.strip() for v in values for p in v.split(",")):
        if part not in MODES:
            raise UsageError(f"--mode {part!r}: use dense, lexical or hybrid")
        if part not in modes:
            modes.append(part)
    return modes or list(MODES)


def parse_weights(text: str) -> HybridRetrieval:
    """"1:3" -> HybridRetrieval(dense_weight=1, lexical_weight=3), named "hybrid"."""
    from contextwise.evals.locomo import HybridRetrieval

    try:
        dense, lexical = (float(part) for part in text.split(":"))
    except ValueError:
        raise UsageError(f"--hybrid-weights {text!r}: write DENSE:LEXICAL, e.g. 1:1 or 1:3") from None
    if min(dense, lexical) < 0 or dense + lexical <= 0:
        raise UsageError(f"--hybrid-weights {text!r}: weights must be >= 0 and not both 0")
    return HybridRetrieval(dense, lexical)


def pick_conversations(conversations: Sequence[LocomoConversation],
                       wanted: str | None) -> list[LocomoConversation]:
    """The conversations named in `wanted` ("conv-26,conv-30", "tuning", "held-out"), or all of them."""
    from contextwise.evals.locomo import HELD_OUT

    if not wanted:
        return list(conversations)
    names = [w.strip() for w in wanted.split(",") if w.strip()]
    known = {c.sample_id for c in conversations}
    chosen: set[str] = set()
    for name in names:
        if name == "tuning":
            chosen |= known - set(HELD_OUT)
        elif name in ("held-out", "heldout"):
            chosen |= known & set(HELD_OUT)
        elif name in known:
            chosen.add(name)
        else:
            raise UsageError(f"--conversations: no conversation {name!r} in the file; it has "
                             f"{', '.join(sorted(known))} (or say tuning / held-out)")
    return [c for c in conversations if c.sample_id in chosen]


def results_table(report: RecallReport, title: str) -> Table:
    """Recall per mode at each k: turn (fraction found), turn (all found), session (fraction found)."""
    at = "/".join(str(k) for k in report.ks)
    table = Table(title=f"{title}\nrecall @{at}", title_justify="left")
    table.add_column("mode", no_wrap=True)
    for label in ("turn", "turn, all found", "session"):
        table.add_column(label, justify="right", no_wrap=True)
    table.add_column("q/s", justify="right", no_wrap=True)
    for m in report.modes:
        cells = ["  ".join(f"{f(k):.2f}" for k in report.ks)
                 for f in (m.turn_recall, m.turn_all, m.session_recall)]
        table.add_row(m.mode, *cells, f"{m.queries_per_s:,.0f}")
    return table


def _evaluate(conversations: Sequence[LocomoConversation], modes: Sequence[str | Retrieval], ks: Sequence[int],
              embedder: str, text: TurnText, console: Console) -> RecallReport:
    from contextwise.evals.locomo import evaluate_recall

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        tasks = {"ingest": bar.add_task("storing turns", total=None),
                 "query": bar.add_task("asking questions", total=None)}

        def tick(stage: str, done: int, total: int) -> None:
            bar.update(tasks[stage], completed=done, total=total)

        return evaluate_recall(conversations, embedder=embedder, mode=modes, ks=ks, turn_text=text, progress=tick)


def _print(report: RecallReport, console: Console) -> None:
    from contextwise.evals.locomo import HELD_OUT

    groups = [("tuning conversations", [c for c in report.conversations if c not in HELD_OUT]),
              ("held-out conversations", [c for c in report.conversations if c in HELD_OUT])]
    groups = [(label, ids) for label, ids in groups if ids]
    for label, ids in groups if len(groups) > 1 else [("", list(report.conversations))]:
        part = report.only(ids)
        console.print(results_table(part, f"{label or 'conversations'}: {', '.join(ids)} "
                                          f"({part.questions} questions)"))
    console.print(f"{report.skipped} questions skipped (no evidence naming a turn); {report.unmatched_evidence} "
                  f"evidence ids naming no turn dropped")
    console.print(f"speed: {report.turns:,} turns stored at {report.turns_per_s:,.1f} turns/s; questions "
                  f"embedded at {report.query_embeds_per_s:,.1f}/s")


def _chart(report: RecallReport, chart: str | None, explicit: bool, console: Console) -> None:
    if not chart:
        return
    from contextwise.evals._plot import plot_recall

    try:
        path = plot_recall(report, chart)
    except MissingDependencyError:
        if explicit:
            raise
        console.print("no chart: pip install 'contextwise[plot]' for one", markup=False)
        return
    console.print(f"chart: {path}")


def write_locomo(report: RecallReport, out: Path) -> Path:
    """results.jsonl (per question and mode) and summary.json (recall@k per split and mode) in `out`."""
    import json
    from dataclasses import asdict

    from contextwise.evals.locomo import HELD_OUT
    from contextwise.evals.report import write_summary

    out.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"mode": m.mode, **asdict(q)}) + "\n" for m in report.modes for q in m.questions]
    (out / "results.jsonl").write_text("".join(lines), encoding="utf-8")
    splits = {"tuning": [c for c in report.conversations if c not in HELD_OUT],
              "held-out": [c for c in report.conversations if c in HELD_OUT]}
    metrics = [(f"{split}/{m.mode}", f"{level}@{k}", getattr(m, level)(k))
               for split, ids in splits.items() if ids for m in report.only(ids).modes
               for level in ("turn_recall", "turn_all", "session_recall") for k in report.ks]
    return write_summary(out / "summary.json", "locomo", {"conversations": list(report.conversations),
                                                          "ks": list(report.ks)}, metrics)


def register(group: click.Group) -> None:
    """Add the `eval` command group (niah, locomo, compression) to the CLI."""

    @group.group("eval")
    def evals() -> None:
        """Measure contextwise on public benchmarks."""

    _register_niah(evals)
    _register_compression(evals)
    _register_compaction(evals)

    @evals.command("locomo")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--k", "ks", default="5,10,20", show_default=True, help="Cut-offs, comma-separated.")
    @click.option("--mode", "modes", multiple=True, help="dense, lexical or hybrid; repeat or comma-separate "
                                                        "[default: all three].")
    @click.option("--conversations", default=None, help="Sample ids, comma-separated, or tuning / held-out "
                                                        "[default: all].")
    @click.option("--embedder", default="onnx:all-minilm-l6-v2", show_default=True, help="Embedder spec.")
    @click.option("--turn-text", type=click.Choice(list(TURN_TEXTS)), default="speaker+date+caption",
                  show_default=True,
                  help="What is stored and embedded per turn.")
    @click.option("--hybrid-weights", default="1:4", show_default=True,
                  help="DENSE:LEXICAL weights of the rank fusion (1:4 is MemoryBackend's hybrid search).")
    @click.option("--chart", default=DEFAULT_CHART, show_default=True,
                  help="PNG of recall@k per mode (needs the plot extra).")
    @click.option("--no-chart", is_flag=True, help="Write no chart.")
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Also write results.jsonl (one line per question and mode) and summary.json here.")
    @click.pass_context
    def locomo(ctx: click.Context, path: Path, ks: str, modes: tuple[str, ...], conversations: str | None,
               embedder: str, turn_text: str, hybrid_weights: str, chart: str, no_chart: bool,
               out: Path | None) -> None:
        """Store each LoCoMo turn as a memory and measure evidence recall@k for each question."""
        from contextwise.evals.locomo import load_locomo

        hybrid = parse_weights(hybrid_weights)
        cutoffs = parse_ks(ks)
        chosen_modes = [hybrid if m == "hybrid" else m for m in parse_modes(modes)]
        chosen = pick_conversations(load_locomo(path), conversations)
        if not chosen:
            raise UsageError("--conversations selected no conversation")
        explicit = ctx.get_parameter_source("chart") is not click.core.ParameterSource.DEFAULT
        console = Console()
        report = _evaluate(chosen, chosen_modes, cutoffs, embedder, TURN_TEXTS[turn_text], console)
        _print(report, console)
        _chart(report, None if no_chart else chart, explicit, console)
        if out is not None:
            console.print(f"wrote {write_locomo(report, out)}", markup=False)


def _register_niah(evals: click.Group) -> None:
    @evals.command("niah")
    @click.option("--model", "model_spec", required=True, help="Chat model spec: local, local:gemma3-270m, "
                  "openai:<model>, anthropic:<model>.")
    @click.option("--haystack", "haystack", multiple=True, required=True,
                  type=click.Path(exists=True, path_type=Path), help="Text files or directories (repeatable).")
    @click.option("--lengths", default="500,1000,2000", show_default=True,
                  help="Context lengths in the model's tokens, comma-separated.")
    @click.option("--depths", default=None, help="Needle depths in percent, comma-separated [default: 5 linear].")
    @click.option("--depth-count", type=int, default=None, help="Instead of --depths: this many, spaced by "
                                                              "--spacing.")
    @click.option("--spacing", type=click.Choice(["linear", "sigmoid"]), default="linear", show_default=True)
    @click.option("--seeds", default="0", show_default=True, help="Haystack seeds, comma-separated.")
    @click.option("--needle", "needle_specs", multiple=True, help="classic, mk:N[:uuid], mv:N[:uuid], "
                  "mq:A/K[:uuid], lo:I|all, with +near:N / +far:N distractors; repeatable [default: classic].")
    @click.option("--order", type=click.Choice(["coherent", "shuffled"]), default="coherent", show_default=True)
    @click.option("--strategy", "strategy_names", multiple=True, help="raw, bookend, long-context-reorder, "
                  "extractive, pruning, retrieved, or all; repeatable [default: raw].")
    @click.option("--keep", type=float, default=0.5, show_default=True,
                  help="The share of the context the non-raw strategies may send (one budget for all).")
    @click.option("--buffer", "buffer_tokens", type=int, default=200, show_default=True,
                  help="Tokens of each length kept for the instruction, question and answer.")
    @click.option("--max-output", "max_output_tokens", type=int, default=32, show_default=True)
    @click.option("--scorer", default="contains", show_default=True, help="contains, exact or regex:<pattern>.")
    @click.option("--judge", "judge_spec", default=None, help="A chat model spec for a 1-10 judge, reported "
                                                               "apart.")
    @click.option("--concurrency", type=int, default=4, show_default=True,
                  help="Calls in flight for remote models (the local model runs one at a time).")
    @click.option("--answer-prefix/--no-answer-prefix", default=None,
                  help="End each prompt with the needle's answer prefix (RULER's) [default: on for base models].")
    @click.option("--n-ctx", type=int, default=None, help="Open a local model with this window.")
    @click.option("--window", "window_tokens", type=int, default=None,
                  help="The model's window, for models the catalog does not know.")
    @click.option("--tokenizer", "tokenizer_name", default=None, help="Tokenizer id for models the catalog does "
                                                                      "not know (e.g. o200k_base).")
    @click.option("--price-as", default=None, help="Also price each cell as this catalog model would bill the "
                  "same prompt and answer (e.g. gpt-4o-mini; a local model itself costs nothing) [default: a remote "
                  "model as itself].")
    @click.option("--threshold", type=float, default=0.856, show_default=True,
                  help="Effective length: the longest length scoring at least this (RULER's 85.6%).")
    @click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
                  help="Directory for results.jsonl, table.md, summary.json and the PNGs.")
    def niah(model_spec: str, haystack: tuple[Path, ...], lengths: str, depths: str | None,
             depth_count: int | None, spacing: str, seeds: str, needle_specs: tuple[str, ...], order: str,
             strategy_names: tuple[str, ...], keep: float, buffer_tokens: int, max_output_tokens: int, scorer: str,
             judge_spec: str | None, concurrency: int, answer_prefix: bool | None, n_ctx: int | None,
             window_tokens: int | None, tokenizer_name: str | None, price_as: str | None, threshold: float,
             out: Path) -> None:
        """Hide needles at each depth of each context length and score the model's answers.

        A second call with the same options reads the finished cells from OUT/results.jsonl and finishes at once;
        an interrupted run resumes where it stopped.
        """
        from contextwise.cli import _niah
        from contextwise.evals.niah import Haystack, NiahRun, describe, needles_from, scorer_from
        from contextwise.evals.niah.strategies import STRATEGY_NAMES, strategy_from

        grid = _niah.grid_from(lengths, depths, depth_count, spacing, seeds)
        needles = [n for spec in (needle_specs or ("classic",)) for n in needles_from(spec)]
        names = [n for v in (strategy_names or ("raw",)) for n in v.split(",") if n]
        names = [n for n in STRATEGY_NAMES if n != "pruning"] if names == ["all"] else names
        chosen_scorer = scorer_from(scorer)
        hay = Haystack.load(haystack)
        console = Console()
        model = _niah.load_model(model_spec, n_ctx)
        tokenizer = None
        if tokenizer_name:
            from contextwise.tokens import get_tokenizer

            tokenizer = get_tokenizer(tokenizer_name)
        target = describe(model, tokenizer=tokenizer, window_tokens=window_tokens, price_model=price_as)
        pruning = model if "pruning" in names and target.local else None
        strategies = [strategy_from(n, keep=keep, pruning_model=pruning) for n in names]
        judge = _niah.load_model(judge_spec, None) if judge_spec else None
        out.mkdir(parents=True, exist_ok=True)
        run = NiahRun(target, hay, grid, needles, strategies=strategies, order=order, buffer_tokens=buffer_tokens,
                      max_output_tokens=max_output_tokens, scorer=chosen_scorer, judge=judge,
                      concurrency=concurrency, answer_prefix=answer_prefix, out=out / "results.jsonl")
        cells = run.plan()
        console.print(f"{target.name}: {len(cells)} cells ({len(grid.lengths)} lengths x {len(grid.depths)} depths"
                      f" x {len(grid.seeds)} seeds x {len(needles)} needles x {len(strategies)} strategies), "
                      f"window {target.window_tokens:,}, tokenizer {target.tokenizer_name}", markup=False)
        results = _niah.run_with_bar(run, console)
        _niah.dump_config(out, {"model": model_spec, "lengths": grid.lengths, "depths": grid.depths,
                                "seeds": grid.seeds, "needles": [n.name for n in needles], "order": order,
                                "strategies": [s.spec for s in strategies], "buffer_tokens": buffer_tokens,
                                "max_output_tokens": max_output_tokens, "scorer": chosen_scorer.name})
        console.print(_niah.summary_table(results, threshold))
        for name in results.strategies:
            console.print(_niah.matrix_table(results.matrix(name)))
        title = f"{target.name}, {hay.digest[:8]} haystack ({order})"
        for path in _niah.write_outputs(results, out, threshold, title, console):
            console.print(f"wrote {path}", markup=False)


DEFAULT_NQ = Path("../shared/bench/data/lost-in-the-middle/nq-open-oracle.jsonl.gz")


def _register_compression(evals: click.Group) -> None:
    @evals.command("compression")
    @click.option("--data", type=click.Path(path_type=Path), default=None,
                  help="Your own cases (JSONL: question, answers, context) [default: the NQ oracle file, "
                       f"{DEFAULT_NQ}].")
    @click.option("--nq", "nq_path", type=click.Path(path_type=Path), default=DEFAULT_NQ, show_default=True,
                  help="Lost in the Middle's nq-open-oracle.jsonl.gz.")
    @click.option("--n", "count", type=int, default=30, show_default=True, help="NQ cases to draw.")
    @click.option("--seed", type=int, default=0, show_default=True)
    @click.option("--ratios", default="2,4,10", show_default=True, help="Compression ratios, comma-separated.")
    @click.option("--compressor", "specs", default="truncate:middle,extractive", show_default=True,
                  help="Compressor specs, comma-separated (truncate:middle, extractive, pruning, auto, …).")
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
                  help="Directory for results.jsonl, summary.json and retention.png.")
    def compression(data: Path | None, nq_path: Path, count: int, seed: int, ratios: str, specs: str,
                    out: Path) -> None:
        """Answer retention of each compressor at each ratio (a case is kept when an answer alias survives)."""
        import json

        from contextwise.evals.compression import evaluate_compression, load_cases, load_nq, plot_retention
        from contextwise.evals.report import write_summary
        from contextwise.registry import resolve

        try:
            wanted = [float(r) for r in ratios.split(",") if r.strip()]
        except ValueError:
            raise UsageError(f"--ratios {ratios!r}: give numbers separated by commas, e.g. 2,4,10") from None
        compressors = {spec: resolve("compressor", spec) for spec in (s.strip() for s in specs.split(",")) if spec}
        cases = load_cases(data) if data is not None else load_nq(nq_path, n=count, seed=seed)
        console = Console()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("compressing", total=None)
            report = evaluate_compression(cases, compressors, wanted,
                                          progress=lambda d, t: bar.update(task, completed=d, total=t))
        table = Table(title=f"answer retention, {len(cases)} cases", title_justify="left")
        table.add_column("compressor")
        for r in report.ratios:
            table.add_column(f"{r:g}x", justify="right")
        table.add_column("s/case", justify="right")
        for name in report.compressors:
            table.add_row(name, *(f"{report.retention(name, r):.2f}" for r in report.ratios),
                          f"{sum(report.seconds(name, r) for r in report.ratios) / len(report.ratios):.3f}")
        console.print(table)
        out.mkdir(parents=True, exist_ok=True)
        (out / "results.jsonl").write_text("".join(json.dumps(row) + "\n" for row in report.rows()),
                                           encoding="utf-8")
        metrics = [(name, f"retention@{r:g}x", report.retention(name, r)) for name in report.compressors
                   for r in report.ratios]
        write_summary(out / "summary.json", "compression",
                      {"data": str(data or nq_path), "cases": len(cases), "seed": seed}, metrics)
        _chart_or_note(lambda: plot_retention(report, out / "retention.png"), console)


def _chart_or_note(draw: Callable[[], Path], console: Console) -> None:
    try:
        console.print(f"chart: {draw()}", markup=False)
    except MissingDependencyError:
        console.print("no chart: pip install 'contextwise[plot]' for one", markup=False)


def _register_compaction(evals: click.Group) -> None:
    @evals.command("compaction")
    @click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--budget", "budget_tokens", type=int, default=4000, show_default=True,
                  help="The history budget every manager fits the conversation into.")
    @click.option("--early-sessions", type=int, default=2, show_default=True,
                  help="Probe questions whose evidence lies in sessions 1..N.")
    @click.option("--sessions", type=int, default=None,
                  help="Add only each conversation's first N sessions (a shorter run) [default: all].")
    @click.option("--conversations", default="tuning", show_default=True,
                  help="Sample ids, comma-separated, or tuning / held-out.")
    @click.option("--summarizer", "summarizer_spec", default=None,
                  help="What writes the summaries of the summarizing managers: a chat model spec (e.g. local), "
                       "or compressor:<spec> (e.g. compressor:extractive, no model call).")
    @click.option("--summary-input", "summary_input_tokens", type=int, default=None,
                  help="Tokens of messages per summary request [default: 40% of a local summarizer's window].")
    @click.option("--summary-tokens", type=int, default=None,
                  help="Summary length [default: 10% of a local summarizer's window, at most a fifth of --budget].")
    @click.option("--summary-cache", default=None,
                  help="Response cache spec for the summaries, so a rerun asks no model [default: sqlite in "
                       "the contextwise cache dir; 'none' for no cache].")
    @click.option("--answerer", "answerer_spec", default=None,
                  help="A chat model spec asked each probe from the managed context.")
    @click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                  help="Directory for summary.json and results.jsonl (one line per probe and manager).")
    def compaction(path: Path, budget_tokens: int, early_sessions: int, sessions: int | None, conversations: str,
                   summarizer_spec: str | None, summary_input_tokens: int | None, summary_tokens: int | None,
                   summary_cache: str | None, answerer_spec: str | None, out: Path | None) -> None:
        """Compaction recall: the share of early-session LoCoMo answers each history manager still holds."""
        from contextwise.evals.compaction import CompressorSummarizer, compaction_recall, summary_sizes
        from contextwise.evals.locomo import load_locomo
        from contextwise.registry import resolve

        chosen = pick_conversations(load_locomo(path), conversations)
        summarizer: Any = None
        if summarizer_spec and summarizer_spec.startswith("compressor:"):
            summarizer = CompressorSummarizer(resolve("compressor", summarizer_spec.partition(":")[2]))
        elif summarizer_spec:
            summarizer = resolve("chat", summarizer_spec)
        limits = summary_sizes(summarizer, budget_tokens, summary_input_tokens, summary_tokens)
        if summarizer is not None and not isinstance(summarizer, CompressorSummarizer):
            summarizer = _cached_summarizer(summarizer, summary_cache)
        answerer = resolve("chat", answerer_spec) if answerer_spec else None
        console = Console()
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("managing", total=None)
            report = compaction_recall(chosen, budget_tokens=budget_tokens, early_sessions=early_sessions,
                                       sessions=sessions, summarizer=summarizer, summary_input_tokens=limits[0],
                                       summary_tokens=limits[1], answerer=answerer,
                                       progress=lambda d, t: bar.update(task, completed=d, total=t))
        scope = f"first {sessions} sessions" if sessions else "whole conversations"
        table = Table(title=f"compaction recall at {budget_tokens:,} tokens: questions about sessions "
                            f"1..{early_sessions}, {len(report.conversations)} conversations ({scope}); answer "
                            f"in the whole history: {report.ceiling:.3f}", title_justify="left")
        headers = ["manager", "probes", "present", "tokens"]
        headers += ["by model"] if answerer is not None else []
        headers += ["summaries", "summary s"] if summarizer is not None else []
        for column in headers:
            table.add_column(column, justify="left" if column == "manager" else "right")
        for m in report.managers:
            cells = [m.manager, str(m.probes), f"{m.present:.3f}", f"{m.context_tokens:,.0f}"]
            cells += [f"{m.model:.3f}"] if m.model is not None else []
            if summarizer is not None:
                cells += [f"{m.summaries}" + (f" ({m.refused} bad)" if m.refused else ""), f"{m.summary_s:.1f}"]
            table.add_row(*cells)
        console.print(table)
        if summarizer is None:
            console.print("no --summarizer: the summarizing managers wrote no summary and kept what a window keeps",
                          markup=False)
        else:
            console.print(f"summaries by {summarizer_spec}: at most {limits[0]:,} tokens of messages per request, "
                          f"{limits[1]:,}-token summaries", markup=False)
        if out is not None:
            _write_compaction(report, out, {"budget_tokens": budget_tokens, "early_sessions": early_sessions,
                                            "sessions": sessions, "conversations": list(report.conversations),
                                            "summarizer": summarizer_spec, "ceiling": report.ceiling,
                                            "summary_input_tokens": limits[0], "summary_tokens": limits[1]},
                              console)


def _cached_summarizer(model: Any, spec: str | None) -> Any:
    """`model` behind the response cache (`spec`, default a SQLite file in the cache dir; "none": uncached)."""
    if spec == "none":
        return model
    from contextwise._paths import cache_dir
    from contextwise.cache import CachedChatModel

    if spec is None:
        (cache_dir() / "evals").mkdir(parents=True, exist_ok=True)
        spec = f"sqlite:{cache_dir() / 'evals' / 'summaries.db'}"
    return CachedChatModel(model, spec, tenant="contextwise-evals")


def _write_compaction(report: Any, out: Path, config: dict[str, Any], console: Console) -> None:
    import json
    from dataclasses import asdict

    from contextwise.evals.report import write_summary

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.jsonl").write_text("".join(json.dumps(asdict(p), sort_keys=True) + "\n"
                                               for p in report.probes), encoding="utf-8")
    metrics = [(m.manager, key, value) for m in report.managers
               for key, value in (("present", m.present), ("model", m.model), ("context_tokens", m.context_tokens),
                                  ("summaries", m.summaries), ("refused", m.refused), ("summary_s", m.summary_s))
               if value is not None]
    console.print(f"wrote {write_summary(out / 'summary.json', 'compaction', config, metrics)}", markup=False)
