"""Compression retention over cases, and `contextwise eval compression` / `eval locomo --out` sharing the
summary format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from contextwise.cli import cli
from contextwise.compress import Extractive, TruncateTokens
from contextwise.errors import UsageError
from contextwise.evals.compression import Case, evaluate_compression, load_cases
from contextwise.evals.report import metric, read_summary

MINI = Path(__file__).parent / "data" / "mini_locomo.json"
FILLER = " ".join(f"Padding sentence {i} says nothing of note." for i in range(60))


def cases() -> list[Case]:
    return [Case("Who wrote Hamlet?", ("Shakespeare",), f"{FILLER} Hamlet was written by Shakespeare. {FILLER}"),
            Case("Where is the Louvre?", ("Paris",), f"The Louvre is in Paris. {FILLER} {FILLER}")]


def test_extractive_keeps_answers_truncation_loses_at_deep_ratios():
    report = evaluate_compression(cases(), {"truncate": TruncateTokens("tail"), "extractive": Extractive()}, [2, 10])
    assert report.retention("extractive", 10) == 1.0
    assert report.retention("truncate", 10) < 1.0
    assert all(r.tokens <= r.original_tokens / r.ratio + 1 for r in report.results)
    assert len(report.rows()) == 2 * 2 * 2


def test_bad_cases_and_ratios_are_refused(tmp_path):
    with pytest.raises(UsageError):
        evaluate_compression(cases(), {"x": Extractive()}, [0.5])
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"question": "q", "answers": ["zzz"], "context": "no answer here"}\n')
    with pytest.raises(UsageError, match="nothing to measure"):
        load_cases(bad)


def test_eval_compression_cli_writes_results_summary_and_chart(tmp_path):
    pytest.importorskip("matplotlib")
    data = tmp_path / "cases.jsonl"
    data.write_text("".join(json.dumps({"question": c.question, "answers": list(c.answers), "context": c.context})
                            + "\n" for c in cases()))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["eval", "compression", "--data", str(data), "--ratios", "2,10",
                                      "--compressor", "truncate:tail,extractive", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = read_summary(out / "summary.json")
    assert summary["eval"] == "compression" and metric(summary, "extractive", "retention@10x") == 1.0
    assert len((out / "results.jsonl").read_text().splitlines()) == 8
    assert (out / "retention.png").read_bytes()[:4] == b"\x89PNG"


def test_eval_locomo_out_writes_the_same_summary_format(tmp_path):
    out = tmp_path / "locomo"
    result = CliRunner().invoke(cli, ["eval", "locomo", str(MINI), "--embedder", "hash:64", "--no-chart",
                                      "--k", "1,3", "--mode", "lexical", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = read_summary(out / "summary.json")
    assert summary["eval"] == "locomo"
    groups = {row["group"] for row in summary["metrics"]}
    assert groups == {"tuning/lexical", "held-out/lexical"}
    value = metric(summary, "tuning/lexical", "turn_recall@3")
    assert value is not None and 0 <= value <= 1
    assert all(json.loads(x)["mode"] == "lexical" for x in (out / "results.jsonl").read_text().splitlines())
