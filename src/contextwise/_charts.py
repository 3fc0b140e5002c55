"""The one way contextwise draws PNG charts: matplotlib (the `plot` extra) on its file-only back-end."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contextwise.errors import MissingDependencyError, UsageError


def pyplot(feature: str = "charts") -> Any:
    """`matplotlib.pyplot` on the Agg back-end (files only; never a window), or MissingDependencyError naming
    the `plot` extra for `feature`."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingDependencyError(feature, "plot") from exc
    return plt


def save_png(plt: Any, figure: Any, path: str | Path, *, dpi: int = 120) -> Path:
    """Write `figure` to `path` and close it (also when writing fails); UsageError for a path that cannot be
    written."""
    out = Path(path)
    try:
        figure.savefig(out, dpi=dpi, bbox_inches="tight")
    except OSError as exc:
        raise UsageError(f"cannot write the chart to {out}: {exc.strerror or exc}") from exc
    finally:
        plt.close(figure)
    return out
