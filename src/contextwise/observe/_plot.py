"""PNG charts of the stats (matplotlib, the `plot` extra): utilisation over time, cost per group, cache hit rate."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from contextwise._charts import pyplot, save_png
from contextwise.observe._stats import StatsRow

MAX_LINES = 8


def _pyplot() -> Any:
    return pyplot("stats charts")


def plot_stats(summary: Sequence[StatsRow], series: Sequence[StatsRow], prefix: str | Path, *,
               by: str = "tenant") -> list[Path]:
    """Write `<prefix>-utilisation.png`, `<prefix>-cost.png` and `<prefix>-cache.png`; returns their paths.

    The cache chart shows, per group, the response cache's hits per lookup (solid) and the share of billed input
    read from the provider's prompt cache (dashed).

    Raises:
        MissingDependencyError: matplotlib is not installed.
        UsageError: a file cannot be written.
    """
    plt = _pyplot()
    top = [r.key for r in summary[:MAX_LINES]]
    origin = min((r.bucket_start_s or 0.0 for r in series), default=0.0)
    utilisation = _lines(plt, series, top, origin, [("", "-", lambda r: r.utilisation)],
                         f"context utilisation per {by}", "prompt tokens / available")
    cache = _lines(plt, series, top, origin,
                   [(" responses", "-", lambda r: r.cache_hit_rate),
                    (" prompt cache", "--", lambda r: r.prompt_cache_ratio if r.calls else None)],
                   f"cache hit rate per {by}", "hit rate")
    return [_save(plt, utilisation, f"{prefix}-utilisation.png"), _save(plt, _bars(plt, summary, by),
            f"{prefix}-cost.png"), _save(plt, cache, f"{prefix}-cache.png")]


Metric = Callable[[StatsRow], "float | None"]


def _lines(plt: Any, series: Sequence[StatsRow], keys: Sequence[str], origin: float,
           metrics: Sequence[tuple[str, str, Metric]], title: str, ylabel: str) -> Any:
    figure, axis = plt.subplots(figsize=(9, 4))
    for n, key in enumerate(keys):
        rows = [r for r in series if r.key == key]
        for suffix, style, metric in metrics:
            points = [((r.bucket_start_s or 0.0) - origin, metric(r)) for r in rows]
            kept = [(x / 3600, y) for x, y in points if y is not None]
            if kept:
                axis.plot([x for x, _ in kept], [y for _, y in kept], style, marker="o", color=f"C{n}",
                          label=(key or "(none)") + suffix)
    axis.set_ylim(0, 1.05)
    axis.set_xlabel("hours since the first bucket")
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    if axis.get_legend_handles_labels()[0]:
        axis.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure


def _bars(plt: Any, summary: Sequence[StatsRow], by: str) -> Any:
    figure, axis = plt.subplots(figsize=(9, 4))
    rows = list(summary[:20])
    axis.bar([r.key or "(none)" for r in rows], [r.cost_usd for r in rows])
    axis.set_ylabel("USD at list prices")
    axis.set_title(f"cost per {by}")
    axis.tick_params(axis="x", rotation=45)
    return figure


def _save(plt: Any, figure: Any, path: str) -> Path:
    return save_png(plt, figure, path, dpi=110)
