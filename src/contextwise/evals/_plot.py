"""A bar chart of recall@k per mode (matplotlib, the `plot` extra)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contextwise.errors import MissingDependencyError, UsageError
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
    path = Path(path)
    try:
        figure.savefig(path, dpi=120, bbox_inches="tight")
    except OSError as exc:
        raise UsageError(f"cannot write the chart to {path}: {exc.strerror or exc}") from exc
    finally:
        plt.close(figure)
    return path


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; never open a window
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError("the recall chart (matplotlib)", "plot") from exc
    return plt
