"""contextwise.evals.plot_recall: a PNG with matplotlib, the `plot` extra named without it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from support import need

from contextwise.errors import MissingDependencyError, UsageError
from contextwise.evals import evaluate_recall, load_locomo, plot_recall
from contextwise.testing import HashEmbedder

MINI = Path(__file__).parent / "data" / "mini_locomo.json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report():
    return evaluate_recall(load_locomo(MINI), embedder=HashEmbedder(32), ks=(1, 3))


def test_plot_writes_a_png(report, tmp_path) -> None:
    need("matplotlib")
    path = plot_recall(report, tmp_path / "recall.png")
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_plot_without_matplotlib_names_the_extra(report, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    with pytest.raises(MissingDependencyError, match=r"contextwise\[plot\]"):
        plot_recall(report, tmp_path / "recall.png")
    assert not (tmp_path / "recall.png").exists()


def test_plot_unwritable_path_is_a_usage_error(report, tmp_path) -> None:
    need("matplotlib")
    with pytest.raises(UsageError, match="cannot write the chart"):
        plot_recall(report, tmp_path / "missing-folder" / "recall.png")
