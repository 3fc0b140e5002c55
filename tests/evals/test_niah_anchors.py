"""gkamradt's published results read into our heatmap matrix: every cell holds its files' score / 10."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import pytest

from contextwise.errors import UsageError
from contextwise.evals.niah.anchors import load_gkamradt

DATA = Path(__file__).parent / "data" / "gkamradt"


def expected(files, length_key):
    cells = defaultdict(list)
    for file in files:
        data = json.loads(file.read_text())
        for row in data if isinstance(data, list) else [data]:
            cells[(row[length_key], float(row["depth_percent"]))].append(row["score"] / 10)
    return {k: sum(v) / len(v) for k, v in cells.items()}


@pytest.mark.parametrize("files, key, title", [
    (sorted(DATA.glob("OpenAI_*.json")), "token_limit", "GPT-4-128K"),
    (sorted((DATA / "Anthropic").glob("*.json")), "context_length", "Claude 2.1"),
], ids=["gpt-4-128k", "claude-2.1"])
def test_anchor_matrix_cells_match_the_files(files, key, title):
    matrix = load_gkamradt(DATA / "Anthropic" if key == "context_length" else files, title=title)
    want = expected(files, key)
    seen = {(n, d): matrix.at(n, d) for n in matrix.lengths for d in matrix.depths
            if not math.isnan(matrix.at(n, d))}
    assert seen == pytest.approx(want)
    assert min(want.values()) < 0.5 < max(want.values())  # the subset holds failures, not only passes


def test_gpt4_repeated_runs_are_averaged():
    first = json.loads((DATA / "OpenAI_OriginalResults.json").read_text())
    second = json.loads((DATA / "OpenAI_OriginalResults_2.json").read_text())
    cell = second[2]
    again = [r["score"] for r in first + second
             if (r["token_limit"], r["depth_percent"]) == (cell["token_limit"], cell["depth_percent"])]
    assert len(again) == 2
    matrix = load_gkamradt([DATA / "OpenAI_OriginalResults.json", DATA / "OpenAI_OriginalResults_2.json"])
    assert matrix.at(cell["token_limit"], cell["depth_percent"]) == pytest.approx(sum(again) / 20)


def test_anchor_heatmap_renders(tmp_path):
    pytest.importorskip("matplotlib")
    from contextwise.evals.niah._plot import plot_heatmap

    path = plot_heatmap(load_gkamradt(DATA / "Anthropic", title="Claude 2.1"), tmp_path / "claude.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_file_that_is_not_a_result_is_refused(tmp_path):
    (tmp_path / "x.json").write_text('[{"length": 3}]')
    with pytest.raises(UsageError, match="depth_percent"):
        load_gkamradt(tmp_path)
    with pytest.raises(UsageError):
        load_gkamradt(tmp_path / "missing")
