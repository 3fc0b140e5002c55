"""NIAH charts (matplotlib, the `plot` extra): the depth x length heatmap, a strategy's difference against raw,
and per-length curves with their intervals over seeds."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from contextwise.errors import UsageError
from contextwise._charts import save_png
from contextwise.evals._plot import _pyplot
from contextwise.evals.niah._results import CurvePoint, Matrix

# Red -> yellow -> green, the scale of gkamradt's published heatmaps, so ours read the same way.
_COLOURS = ("#F0496E", "#EBB839", "#0CD79F")


def _save(figure: Any, plt: Any, path: str | Path) -> Path:
    return save_png(plt, figure, path)


def _length_label(tokens: int) -> str:
    return f"{tokens / 1000:.0f}K" if tokens >= 10_000 else f"{tokens:,}"


def _width(matrices: Sequence[Matrix]) -> float:
    return 1 + sum(max(4.2, 0.22 * len(m.lengths)) for m in matrices)


def _draw(axis: Any, matrix: Matrix, *, cmap: Any, low: float, high: float, annotate: bool,
          ylabel: bool = True) -> Any:
    image = axis.imshow([[math.nan if v is None else v for v in row] for row in matrix.values], cmap=cmap,
                        vmin=low, vmax=high, aspect="auto", interpolation="nearest")
    xstep = max(1, len(matrix.lengths) // 16)
    axis.set_xticks(range(0, len(matrix.lengths), xstep), [_length_label(n) for n in matrix.lengths[::xstep]],
                    rotation=45, ha="right")
    step = max(1, len(matrix.depths) // 12)
    axis.set_yticks(range(0, len(matrix.depths), step), [f"{d:g}" for d in matrix.depths[::step]])
    axis.set_xlabel("context length (tokens)")
    if ylabel:
        axis.set_ylabel("needle depth (%)")
    axis.set_title(matrix.title)
    if annotate and len(matrix.lengths) * len(matrix.depths) <= 150:
        for y, row in enumerate(matrix.values):
            for x, value in enumerate(row):
                if not math.isnan(value):
                    axis.text(x, y, f"{value:.2f}", ha="center", va="center", fontsize=7)
    return image


def plot_heatmap(matrix: Matrix | Sequence[Matrix], path: str | Path, *, title: str = "") -> Path:
    """A PNG of one or more depth x length score matrices side by side (0 red, 1 green); returns the path.

    Raises:
        MissingDependencyError: matplotlib is not installed.
        UsageError: an empty matrix, or the file cannot be written.
    """
    matrices = [matrix] if isinstance(matrix, Matrix) else list(matrix)
    if not matrices or any(not m.lengths for m in matrices):
        raise UsageError("nothing to plot: no cell has a score")
    plt = _pyplot()
    from matplotlib.colors import LinearSegmentedColormap

    cmap = LinearSegmentedColormap.from_list("niah", _COLOURS)
    figure, axes = plt.subplots(1, len(matrices), figsize=(_width(matrices), 4.2), squeeze=False)
    for n, (axis, m) in enumerate(zip(axes[0], matrices)):
        image = _draw(axis, m, cmap=cmap, low=0.0, high=1.0, annotate=True, ylabel=n == 0)
    figure.colorbar(image, ax=list(axes[0]), label="score")
    if title:
        figure.suptitle(title)
    return _save(figure, plt, path)


def plot_differences(raw: Matrix, others: Sequence[Matrix], path: str | Path, *, title: str = "") -> Path:
    """A PNG of each strategy's score minus raw's, cell by cell (blue better, red worse)."""
    if not others:
        raise UsageError("nothing to compare: give at least one strategy besides raw")
    plt = _pyplot()
    figure, axes = plt.subplots(1, len(others), figsize=(_width(others), 4.2), squeeze=False)
    for n, (axis, m) in enumerate(zip(axes[0], others)):
        image = _draw(axis, m.minus(raw, f"{m.title} - {raw.title}"), cmap="RdBu", low=-1.0, high=1.0,
                      annotate=True, ylabel=n == 0)
    figure.colorbar(image, ax=list(axes[0]), label="score difference")
    if title:
        figure.suptitle(title)
    return _save(figure, plt, path)


def plot_curves(curves: Mapping[str, Sequence[CurvePoint]], path: str | Path, *, threshold: float | None = None,
                title: str = "") -> Path:
    """A PNG of score against length, one line per strategy, shaded by the interval over seeds."""
    if not any(curves.values()):
        raise UsageError("nothing to plot: no curve has a point")
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    for name, points in curves.items():
        xs = [p.length for p in points]
        axis.plot(xs, [p.mean for p in points], marker="o", label=name)
        axis.fill_between(xs, [p.low for p in points], [p.high for p in points], alpha=0.2)
    if threshold is not None:
        axis.axhline(threshold, color="grey", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("context length (tokens)")
    axis.set_ylabel("score (mean over depths, 95% interval over seeds)")
    axis.legend(fontsize=8)
    axis.set_title(title)
    return _save(figure, plt, path)
