"""A bar chart of recall@k per mode (matplotlib, the `plot` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contextwise._charts import pyplot, save_png
from contextwise.errors import UsageError
from contextwise.evals.locomo import RecallReport


def plot_recall(report: RecallReport, path: str | Path, *, title: str = "LoCoMo evidence recall") -> Path:
    """Write a PNG of turn and session recall@k, one bar per mode, side by side; returns the path.

    Raises:
        MissingDependencyError: matplotlib is not installed.
        UsageError: the report holds no mode, or the file cannot be written.
    """
    if not report.modes:
        raise UsageError("nothing to plot: the report holds no mode")
    plt = _pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    width = 0.8 / len(report.modes)
    for axis, (level, value) in zip(axes, (("turn", "turn_recall"), ("session", "session_recall"))):
        for n, mode in enumerate(report.modes):
            xs = [i + (n - (len(report.modes) - 1) / 2) * width for i in range(len(report.ks))]
            axis.bar(xs, [getattr(mode, value)(k) for k in report.ks], width, label=mode.mode)
        axis.set_xticks(range(len(report.ks)), [f"@{k}" for k in report.ks])
        axis.set_title(f"{level} level")
        axis.set_ylim(0, 1)
    axes[0].set_ylabel("recall (fraction of evidence found)")
    axes[0].legend()
    figure.suptitle(f"{title} ({report.questions} questions, {len(report.conversations)} conversations)")
    return save_png(plt, figure, path)


def _pyplot() -> Any:
    return pyplot("the recall chart (matplotlib)")
