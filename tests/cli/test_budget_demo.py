"""`contextwise budget` and `contextwise demo` as a user runs them."""

from __future__ import annotations

import os
import subprocess
import sys

from click.testing import CliRunner

from contextwise.cli import cli
from contextwise.cli.demo import QUESTION, build_demo, sample_documents


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "contextwise.cli", *args], capture_output=True, text=True,
                          timeout=120, env={"COLUMNS": "120", "PATH": "/usr/bin:/bin",
                                            **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}})


def test_budget_prints_the_allocation():
    result = CliRunner().invoke(cli, ["budget", "-m", "gpt-4o", "-s", "system=400", "-s",
                                      "documents=200000,min=1000", "-s", "history=9000", "--reserve", "4000"])
    assert result.exit_code == 0, result.output
    assert "124,000" in result.output  # 128,000 window less the 4,000 reserve
    assert "76,400" in result.output  # documents cut: 200,000 asked, 123,600 granted


def test_budget_rejects_bad_sections_and_unknown_models_without_a_traceback():
    bad = _run("budget", "-m", "gpt-4o", "-s", "documents")
    assert bad.returncode == 2 and "NAME=TOKENS" in bad.stderr and "Traceback" not in bad.stderr
    unknown = _run("budget", "-m", "gpt-4oo", "-s", "a=1")
    assert unknown.returncode == 2 and "gpt-4o" in unknown.stderr and "Traceback" not in unknown.stderr


def test_demo_ships_its_sample_documents():
    docs = sample_documents()
    assert len(docs) >= 6 and all(text.startswith("# ") for _, text in docs)


def test_demo_keeps_the_passages_that_answer_the_question():
    _, built = build_demo(QUESTION, "gpt-4o-mini", 1500, "bm25")
    report = built.report
    assert report.prompt_tokens <= report.available_tokens
    assert report.section("documents").items_kept < report.section("documents").items_total
    prompt = built.messages[-1].text
    assert "0.08 euro per minute" in prompt and "15 km/h" in prompt  # the two facts the question needs
    assert prompt.rstrip().endswith(QUESTION)


def test_demo_command_prints_the_report():
    result = _run("demo", "--embedder", "bm25", "--window", "900")
    assert result.returncode == 0, result.stderr
    assert "what was cut to fit" in result.stdout and "documents" in result.stdout


def test_budget_rejects_duplicate_names_and_min_over_max():
    twice = _run("budget", "-m", "gpt-4o", "-s", "documents=100", "-s", "documents=200")
    assert twice.returncode == 2 and "more than once: documents" in twice.stderr and "Traceback" not in twice.stderr
    inverted = _run("budget", "-m", "gpt-4o", "-s", "documents=100,min=500,max=200")
    assert inverted.returncode == 2 and "min <= max" in inverted.stderr
