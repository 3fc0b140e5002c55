"""`contextwise eval niah`: the needle-in-a-haystack grid, its table, heatmap and curves (helpers of evals.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from contextwise.errors import MissingDependencyError, UsageError

PROGRESS_COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn())


def load_model(spec: str, n_ctx: int | None) -> Any:
    """A chat model from a registry spec; `n_ctx` opens a local model with that window."""
    from contextwise.registry import resolve

    if n_ctx is not None and spec.split(":", 1)[0] == "local":
        from contextwise.llm import LlamaCppModel, smollm2_path

        name = spec.partition(":")[2]
        if name in ("", "smollm2", "smollm2-135m-instruct"):
            return LlamaCppModel(smollm2_path(), n_ctx=n_ctx, name="smollm2-135m-instruct")
        model = resolve("chat", spec)
        return LlamaCppModel(model.path, n_ctx=n_ctx, name=model.name, template=model.template)
    return resolve("chat", spec)


def run_with_bar(run: Any, console: Console, label: str = "cells") -> Any:
    """Run a NiahRun under a progress bar."""
    with Progress(*PROGRESS_COLUMNS, console=console, transient=True) as bar:
        task = bar.add_task(label, total=None)

        def tick(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return run.run(tick)


def priced_as(summaries: Any) -> str | None:
    """The catalog model every strategy's cells were priced as, if one."""
    names = {s.price_model for s in summaries}
    return names.pop() if len(names) == 1 else None


def _usd(value: float | None) -> str:
    return "" if value is None else "0" if value == 0 else f"{value:.6f}"


def summary_table(results: Any, threshold: float) -> Table:
    """Per strategy: cells, accuracy, judge, effective length, prompt tokens, cost (its own, and as the
    `--price-as` model), latency."""
    summaries = results.summary(threshold)
    price = priced_as(summaries)
    table = Table(title=f"NIAH by strategy (effective length: longest length scoring >= {threshold:g})",
                  title_justify="left")
    columns = ["strategy", "cells", "accuracy", "judge", "effective length", "prompt tokens", "cost $"]
    columns += [f"as {price} $"] if price else []
    for column in (*columns, "latency s"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    for s in summaries:
        cells = [s.strategy, str(s.cells), f"{s.accuracy:.3f}", "" if s.judge is None else f"{s.judge:.3f}",
                 "-" if s.effective_length is None else f"{s.effective_length:,}", f"{s.prompt_tokens:,.0f}",
                 _usd(s.cost_usd)]
        table.add_row(*cells, *([_usd(s.priced_usd)] if price else []), f"{s.latency_s:.2f}")
    return table


def matrix_table(matrix: Any) -> Table:
    """One strategy's depth x length mean scores."""
    table = Table(title=f"{matrix.title}: score by depth (rows) and length (columns)", title_justify="left")
    table.add_column("depth %", justify="right")
    for n in matrix.lengths:
        table.add_column(f"{n:,}", justify="right")
    for depth, row in zip(matrix.depths, matrix.values):
        table.add_row(f"{depth:g}", *("" if v != v else f"{v:.2f}" for v in row))
    return table


def markdown(results: Any, threshold: float) -> str:
    """The summary and each strategy's matrix as Markdown (table.md)."""
    summaries = results.summary(threshold)
    price = priced_as(summaries)
    extra = f" as {price} $ |" if price else ""
    lines = [f"| strategy | cells | accuracy | judge | effective length | prompt tokens | cost $ |{extra} latency s |",
             "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if price else "") + "---:|"]
    for s in summaries:
        priced = f" {_usd(s.priced_usd)} |" if price else ""
        lines.append(f"| {s.strategy} | {s.cells} | {s.accuracy:.3f} | {'' if s.judge is None else f'{s.judge:.3f}'}"
                     f" | {'-' if s.effective_length is None else s.effective_length} | {s.prompt_tokens:.0f} | "
                     f"{_usd(s.cost_usd)} |{priced} {s.latency_s:.2f} |")
    for name in results.strategies:
        m = results.matrix(name)
        lines += ["", f"**{name}** (rows: depth %, columns: length in tokens)", "",
                  "| depth | " + " | ".join(str(n) for n in m.lengths) + " |",
                  "|---:|" + "---:|" * len(m.lengths)]
        lines += [f"| {d:g} | " + " | ".join("" if v != v else f"{v:.2f}" for v in row) + " |"
                  for d, row in zip(m.depths, m.values)]
    return "\n".join(lines) + "\n"


def write_outputs(results: Any, out: Path, threshold: float, title: str, console: Console) -> list[Path]:
    """table.md, summary.json, and (with the plot extra) heatmap.png, curves.png, difference.png."""
    from contextwise.evals.report import write_summary

    written = [out / "table.md"]
    written[0].write_text(markdown(results, threshold), encoding="utf-8")
    metrics = [(s.strategy, key, value) for s in results.summary(threshold)
               for key, value in (("accuracy", s.accuracy), ("judge", s.judge),
                                  ("effective_length", s.effective_length), ("prompt_tokens", s.prompt_tokens),
                                  ("cost_usd", s.cost_usd), ("priced_usd", s.priced_usd),
                                  ("latency_s", s.latency_s)) if value is not None]
    config = {"title": title, "threshold": threshold, "price_model": priced_as(results.summary(threshold))}
    written.append(write_summary(out / "summary.json", "niah", config, metrics))
    try:
        written += charts(results, out, threshold, title)
    except MissingDependencyError:
        console.print("no charts: pip install 'contextwise[plot]' for heatmap.png", markup=False)
    return written


def charts(results: Any, out: Path, threshold: float, title: str) -> list[Path]:
    """The PNGs: every strategy's heatmap, their curves, and the difference of each against raw."""
    from contextwise.evals.niah import plot_curves, plot_differences, plot_heatmap

    names = results.strategies
    paths = [plot_heatmap([results.matrix(n) for n in names], out / "heatmap.png", title=title),
             plot_curves({n: results.curve(n) for n in names}, out / "curves.png", threshold=threshold, title=title)]
    if "raw" in names and len(names) > 1:
        paths.append(plot_differences(results.matrix("raw"), [results.matrix(n) for n in names if n != "raw"],
                                      out / "difference.png", title=f"{title}: difference against raw"))
    return paths


def grid_from(lengths: str, depths: str | None, depth_count: int | None, spacing: str, seeds: str) -> Any:
    """The Grid from the CLI's options: --depths as a list, or --depth-count with --spacing."""
    from contextwise.evals.niah import Grid, spaced_depths

    if depths and depth_count:
        raise UsageError("give --depths or --depth-count, not both")
    grid = Grid.parse(lengths, depths or "0", seeds)
    if depth_count:
        return Grid(grid.lengths, spaced_depths(depth_count, spacing), grid.seeds)
    if not depths:
        return Grid(grid.lengths, spaced_depths(5, spacing), grid.seeds)
    return grid


def dump_config(out: Path, config: dict[str, Any]) -> None:
    """run.json: the command's settings, for the record."""
    (out / "run.json").write_text(json.dumps(config, indent=2, sort_keys=True, default=str), encoding="utf-8")
