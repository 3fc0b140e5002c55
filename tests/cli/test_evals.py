"""`contextwise eval locomo`: the results table, the chart, and clear errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from support import need

from contextwise.cli import cli
from contextwise.errors import MissingDependencyError, UsageError

MINI = Path(__file__).parents[1] / "evals" / "data" / "mini_locomo.json"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run(*args: str):
    return CliRunner().invoke(cli, ["eval", "locomo", *args, "--embedder", "hash:64"])


def test_prints_tuning_and_held_out_tables_and_writes_the_chart(tmp_path) -> None:
    need("matplotlib")
    chart = tmp_path / "recall.png"
    result = run(str(MINI), "--chart", str(chart), "--k", "1,3")
    assert result.exit_code == 0, result.output
    assert "tuning conversations: conv-90 (5 questions)" in result.output
    assert "held-out conversations: conv-48 (2 questions)" in result.output
    for mode in ("dense", "lexical", "hybrid"):
        assert mode in result.output
    assert "2 questions skipped" in result.output and "turns/s" in result.output
    assert chart.read_bytes()[:8] == PNG_MAGIC


def test_one_mode_one_conversation_no_chart(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(str(MINI), "--mode", "lexical", "--conversations", "conv-48", "--no-chart")
    assert result.exit_code == 0, result.output
    assert "conversations: conv-48 (2 questions)" in result.output
    assert "lexical" in result.output and "dense" not in result.output and "hybrid" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_lexical_finds_everything_at_4_in_the_small_conversation(tmp_path) -> None:
    result = run(str(MINI), "--mode", "lexical", "--conversations", "held-out", "--k", "4", "--no-chart")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "lexical" in line)
    assert row.count("1.00") == 3  # turn, turn all found, session: all evidence of conv-48 within 4 turns


def test_hybrid_weights_change_the_hybrid_ranking_only(tmp_path) -> None:
    def rows(weights: str) -> dict[str, str]:
        result = run(str(MINI), "--k", "1,2", "--hybrid-weights", weights, "--no-chart")
        assert result.exit_code == 0, result.output
        return {line.split()[1]: line.rsplit("│", 2)[0] for line in result.output.splitlines()
                if line.startswith("│")}

    lexical_only, dense_only = rows("0:1"), rows("1:0")
    assert lexical_only["dense"] == dense_only["dense"] and lexical_only["lexical"] == dense_only["lexical"]
    assert lexical_only["hybrid"].split("│")[2:] == lexical_only["lexical"].split("│")[2:]


def test_default_chart_without_matplotlib_is_a_note(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.chdir(tmp_path)
    result = run(str(MINI), "--mode", "dense")
    assert result.exit_code == 0, result.output
    assert "contextwise[plot]" in result.output and not (tmp_path / "locomo-recall.png").exists()


def test_asked_for_chart_without_matplotlib_fails(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = run(str(MINI), "--mode", "dense", "--chart", str(tmp_path / "c.png"))
    assert isinstance(result.exception, MissingDependencyError) and result.exception.extra == "plot"


@pytest.mark.parametrize(("args", "message"), [
    (["missing.json"], "cannot read the LoCoMo file"),
    (["BAD"], "not valid JSON"),
    ([str(MINI), "--k", "5,x"], "whole numbers"),
    ([str(MINI), "--k", "0"], "at least 1"),
    ([str(MINI), "--mode", "semantic"], "use dense, lexical or hybrid"),
    ([str(MINI), "--conversations", "conv-7"], "no conversation 'conv-7'"),
    ([str(MINI), "--hybrid-weights", "1"], "DENSE:LEXICAL"),
    ([str(MINI), "--hybrid-weights", "0:0"], "not both 0"),
], ids=["missing-file", "malformed-json", "bad-k", "zero-k", "bad-mode", "unknown-conversation", "bad-weights",
        "zero-weights"])
def test_bad_input_is_a_usage_error(tmp_path, monkeypatch, args, message) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "BAD").write_text("[{", encoding="utf-8")
    result = run(*args, "--no-chart")
    assert isinstance(result.exception, UsageError), result.output
    assert message in str(result.exception)


def test_main_turns_a_usage_error_into_one_line(tmp_path) -> None:
    import subprocess

    done = subprocess.run([sys.executable, "-m", "contextwise.cli", "eval", "locomo", str(tmp_path / "none.json")],
                          check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.startswith("error: cannot read the LoCoMo file")
