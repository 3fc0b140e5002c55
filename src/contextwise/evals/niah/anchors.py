"""The published anchors: gkamradt's LLMTest_NeedleInAHaystack results (GPT-4-128K, Claude 2.1) read from their
JSON files into our Matrix, so they render with our heatmap and can be set beside our own runs.

Their scores are 1-10 from a GPT-4 judge; ours are in [0, 1], so a score s reads as s / 10 (gkamradt's own
charts use the same colour scale from 1 to 10). A (length, depth) that appears more than once (the repeated
"_2" runs) is averaged.

Two formats:
- OpenAI (GPT-4-128K, 2023-11-08): one JSON list per file of {"token_limit", "depth_percent", "score"}.
- Anthropic (Claude 2.1, 2023-11-21): one JSON object per file with "context_length", "depth_percent",
  "score" (and the model's response).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from contextwise.errors import UsageError
from contextwise.evals.niah._results import Matrix, matrix_of


def _points(data: Any, where: Path) -> Iterator[tuple[int, float, float]]:
    rows = data if isinstance(data, list) else [data]
    for row in rows:
        try:
            length = row["token_limit"] if "token_limit" in row else row["context_length"]
            yield int(length), float(row["depth_percent"]), float(row["score"]) / 10
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"{where}: not a gkamradt result (need token_limit or context_length, "
                             f"depth_percent and score): {exc}") from exc


def load_gkamradt(path: str | Path | Sequence[str | Path], *, title: str = "") -> Matrix:
    """The depth x length matrix of gkamradt result files: one file, several, or every *.json under a directory.

    Raises:
        UsageError: no such file, no JSON in the directory, or rows without the fields.
    """
    given = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    files = [f for g in given for f in (sorted(g.rglob("*.json")) if g.is_dir() else [g])]
    missing = [f for f in files if not f.is_file()]
    if not files or missing:
        raise UsageError(f"no gkamradt result files at {', '.join(map(str, missing or given))}")
    root = given[0]
    points = []
    for file in files:
        try:
            points += list(_points(json.loads(file.read_text(encoding="utf-8")), file))
        except json.JSONDecodeError as exc:
            raise UsageError(f"{file}: not JSON ({exc})") from exc
    return matrix_of(points, title or root.stem)
