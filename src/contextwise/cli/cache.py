"""`contextwise cache simulate TRACE.jsonl` (replay a request trace under each prompt-cache strategy, choose the
cheapest) and `contextwise cache why-miss A.json B.json` (where the second request stops sharing the first's
prefix, and why)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from contextwise.errors import MissingDependencyError, UsageError

# Rows of the table (and bars of the chart) beyond the cheapest ones, the heuristics and no caching.
_TOP = 8


def register(group: click.Group) -> None:
    """Add the `cache` group to the CLI."""

    @group.group("cache")
    def cache() -> None:
        """Provider prompt caching: simulate a trace, explain a miss."""

    @cache.command("simulate")
    @click.argument("trace", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--model", default=None, help="Model whose cache rules and prices apply (default: the trace's).")
    @click.option("--png", "png", default="contextwise-cache.png", show_default=True,
                  help="Chart of the cost per strategy.")
    @click.option("--no-png", is_flag=True, help="Write no chart.")
    @click.option("--all", "show_all", is_flag=True, help="List every strategy tried, not only the cheapest.")
    def simulate(trace: Path, model: str | None, png: str, no_png: bool, show_all: bool) -> None:
        """Replay TRACE (JSONL: t or ts, request, session, tenant, output_tokens) under every cache strategy the
        model allows and print what each reads, writes and costs; the first row is the plan."""
        from contextwise.cache import plan_prompt_cache, read_trace

        console = _console()
        calls = read_trace(trace)
        chosen = model or next((c.model for c in calls if c.model), None)
        if chosen is None:
            raise UsageError("the trace names no model; pass --model")
        from contextwise.cache import candidate_strategies, fixed_heuristics

        work = len(calls) * (1 + len(set(candidate_strategies(chosen)) | set(fixed_heuristics(chosen))))
        columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True, disable=len(calls) < 200) as bar:
            task = bar.add_task("replay", total=work)
            plan = plan_prompt_cache(calls, chosen, progress=lambda n: bar.advance(task, n))
        rows = _rows(plan, show_all)
        console.print(_table(plan, rows))
        console.print(f"plan: {plan.best.strategy}: ${plan.best.total_usd:.4f}, {plan.ratio_to_heuristic:.3f}x "
                      f"the best fixed heuristic ({plan.heuristic.strategy}, ${plan.heuristic.total_usd:.4f})",
                      markup=False)
        fields = plan.request_fields(tenant="<tenant id>", session="<session id>")
        if fields:
            console.print("send with each request: " + ", ".join(f"{k}={v}" for k, v in fields.items()),
                          markup=False)
        for warning in plan.best.warnings:
            console.print(f"warning: {warning}", markup=False)
        if not no_png:
            _chart(plan, rows, png, console)

    @cache.command("why-miss")
    @click.argument("first", type=click.Path(dir_okay=False, path_type=Path))
    @click.argument("second", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--model", default=None, help="Tokenizer's model (default: the requests' model field).")
    def why_miss_command(first: Path, second: Path, model: str | None) -> None:
        """Where request SECOND stops sharing request FIRST's prefix: the first differing token, the context part
        it is in, and the likely cause (both files: request bodies as sent, JSON)."""
        from contextwise.cache import why_miss

        report = why_miss(_read_json(first), _read_json(second), model=model)
        console = _console()
        if not report.missed:
            console.print(f"no miss: {report.detail}", markup=False)
            return
        console.print(f"miss at token {report.shared_tokens:,}, in {report.part} ({report.where}): {report.cause}",
                      markup=False)
        console.print(report.detail, markup=False)
        if report.before or report.after:
            console.print(f"  A: {report.before!r}\n  B: {report.after!r}", markup=False)


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 120))


def _read_json(path: Path) -> Any:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except ValueError as exc:
        raise UsageError(f"{path} is not JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise UsageError(f"{path} must hold one request body (a JSON object)")
    return body


def _rows(plan: Any, show_all: bool) -> Sequence[Any]:
    if show_all:
        return list(plan.simulations)
    keep = {s.strategy for s in plan.simulations[:_TOP]} | {plan.heuristic.strategy}
    from contextwise.cache import fixed_heuristics

    keep |= {s.name for s in fixed_heuristics(plan.model)} | {"none"}
    return [s for s in plan.simulations if s.strategy in keep]


def _table(plan: Any, rows: Sequence[Any]) -> Table:
    table = Table(title=f"{plan.model}: {len(plan.best.calls):,} calls replayed; cost over the best fixed "
                  "heuristic", title_justify="left", pad_edge=False)
    for name in ("strategy", "cost $", "ratio", "read", "written", "hit"):
        table.add_column(name, justify="left" if name == "strategy" else "right", no_wrap=True)
    base = plan.heuristic.total_usd or 1.0
    for s in rows:
        mark = " (plan)" if s is plan.best else " (heuristic)" if s is plan.heuristic else ""
        table.add_row(s.strategy + mark, f"{s.total_usd:.4f}", f"{s.total_usd / base:.3f}",
                      f"{s.cache_read_tokens:,}", f"{s.cache_write_tokens:,}", f"{s.hit_share:.1%}")
    return table


def _chart(plan: Any, rows: Sequence[Any], png: str, console: Console) -> None:
    from contextwise._charts import pyplot, save_png

    try:
        plt = pyplot("cache simulate charts")
    except MissingDependencyError:
        console.print("no chart: pip install 'contextwise[plot]' for it", markup=False)
        return
    figure, axes = plt.subplots(figsize=(8, 0.4 * len(rows) + 1.2))
    names = [s.strategy for s in rows][::-1]
    costs = [s.total_usd for s in rows][::-1]
    colours = ["tab:green" if s is plan.best else "tab:orange" if s is plan.heuristic else "tab:blue"
               for s in rows][::-1]
    axes.barh(names, costs, color=colours)
    axes.set_xlabel("trace cost (USD)")
    axes.set_title(f"{plan.model}: cost per prompt-cache strategy (green: plan, orange: best fixed heuristic)")
    path = save_png(plt, figure, png)
    console.print(f"chart: {path}", markup=False)
