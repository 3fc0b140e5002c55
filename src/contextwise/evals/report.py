"""The one summary format every `contextwise eval` command writes (summary.json beside its results.jsonl):
the eval's name, its settings, and flat (group, metric, value) rows, so one script can read any eval's figures.

    {"eval": "niah", "config": {...}, "metrics": [{"group": "raw", "metric": "accuracy", "value": 0.93}, ...]}
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from contextwise.errors import UsageError


def write_summary(path: str | Path, eval_name: str, config: Mapping[str, Any],
                  metrics: Iterable[tuple[str, str, float | int]]) -> Path:
    """Write summary.json; returns its path."""
    body = {"eval": eval_name, "config": dict(config),
            "metrics": [{"group": g, "metric": m, "value": v} for g, m, v in metrics]}
    path = Path(path)
    path.write_text(json.dumps(body, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    return path


def read_summary(path: str | Path) -> dict[str, Any]:
    """Read a summary.json back.

    Raises:
        UsageError: the file is not a summary.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not {"eval", "config", "metrics"} <= set(data):
        raise UsageError(f"{path} is not a contextwise eval summary (needs eval, config, metrics)")
    return data


def metric(summary: Mapping[str, Any], group: str, name: str) -> float | None:
    """One value of a summary, or None."""
    for row in summary["metrics"]:
        if row["group"] == group and row["metric"] == name:
            return float(row["value"])
    return None
