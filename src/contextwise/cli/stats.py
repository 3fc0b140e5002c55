"""`contextwise stats STORE`: aggregates per tenant, user or model from a UsageStats store, as tables and PNGs."""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from contextwise.errors import MissingDependencyError, UsageError

if TYPE_CHECKING:
    from contextwise.observe import UsageStats
    from contextwise.observe._stats import StatsRow

DEFAULT_PREFIX = "contextwise-stats"
# A store with more rows than this is read in slices behind a progress bar.
LARGE_STORE_ROWS = 50_000
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration(text: str) -> float:
    """"90", "15m", "1h", "7d" -> seconds."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not found or float(found.group(1)) <= 0:
        raise UsageError(f"{text!r}: give a positive duration such as 90, 15m, 1h or 7d")
    return float(found.group(1)) * _UNITS[found.group(2) or "s"]


def _open(store: str) -> UsageStats:
    from contextwise.observe import UsageStats

    if not store.startswith(("postgresql://", "postgres://")) and not Path(store).is_file():
        raise UsageError(f"no stats store at {store}; attach UsageStats({store!r}) to record one")
    return UsageStats(store)


def _table(rows: Sequence[StatsRow], by: str) -> Table:
    table = Table(title=f"per {by} (util: prompt/available; pcache: input read from the prompt cache; rcache: "
                  f"response-cache hits per lookup; kept: content kept per build)", title_justify="left",
                  pad_edge=False)
    for name in (by, "calls", "builds", "util", "cost $", "input", "pcache", "rcache", "overflow", "trunc",
                 "kept"):
        table.add_column(name, justify="left" if name == by else "right", no_wrap=True)
    for r in rows:
        table.add_row(r.key or "(none)", str(r.calls), str(r.builds), _pct(r.utilisation), f"{r.cost_usd:.4f}",
                      f"{r.input_tokens:,}", _pct(r.prompt_cache_ratio if r.calls else None),
                      _pct(r.cache_hit_rate), str(r.overflows), str(r.truncations), _pct(r.keep_ratio))
    return table


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def register(group: click.Group) -> None:
    """Add `stats` to the CLI."""

    @group.command("stats")
    @click.argument("store")
    @click.option("--by", type=click.Choice(["tenant", "user", "model"]), default="tenant", show_default=True,
                  help="What to group by.")
    @click.option("--since", default=None, help="Only the last DURATION (e.g. 24h, 7d).")
    @click.option("--bucket", default="1h", show_default=True, help="Time bucket of the charts (e.g. 15m, 1d).")
    @click.option("--png", "prefix", default=DEFAULT_PREFIX, show_default=True,
                  help="Chart files: PREFIX-utilisation.png, PREFIX-cost.png, PREFIX-cache.png.")
    @click.option("--no-png", is_flag=True, help="Write no charts.")
    def stats(store: str, by: str, since: str | None, bucket: str, prefix: str, no_png: bool) -> None:
        """Utilisation, cost, cache hit rates, overflows and compression per tenant, user or model, from a
        store UsageStats wrote (a SQLite file or a postgresql:// DSN)."""
        console = Console()
        if not console.is_terminal:  # piped or captured: wide enough for the table rather than 80 columns
            console = Console(width=max(console.width, 120))
        since_s = time.time() - parse_duration(since) if since else None
        bucket_s = parse_duration(bucket)
        db = _open(store)
        try:
            series = _read_series(db, by, bucket_s, since_s, console)
            summary = db.summary(by=by, since_s=since_s)
        finally:
            db.close()
        if not summary:
            console.print("the store holds no events" + (" in that window" if since else ""), markup=False)
            return
        console.print(_table(summary, by))
        if not no_png:
            _charts(summary, series, prefix, by, console)


def _read_series(db: UsageStats, by: str, bucket_s: float, since_s: float | None,
                 console: Console) -> list[StatsRow]:
    if db.count() <= LARGE_STORE_ROWS:
        return db.series(bucket_s=bucket_s, by=by, since_s=since_s)
    columns = (TextColumn("reading the store"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("read", total=None)
        return db.series(bucket_s=bucket_s, by=by, since_s=since_s,
                         progress=lambda done, total: bar.update(task, completed=done, total=total))


def _charts(summary: Sequence[StatsRow], series: Sequence[StatsRow], prefix: str, by: str,
            console: Console) -> None:
    try:
        from contextwise.observe._plot import plot_stats

        paths = plot_stats(summary, series, prefix, by=by)
    except MissingDependencyError:
        console.print("no charts: pip install 'contextwise[plot]' for them", markup=False)
        return
    console.print("charts: " + ", ".join(str(p) for p in paths), markup=False)
