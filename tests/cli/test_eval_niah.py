"""`contextwise eval niah`: writes results, table and heatmap; a second call finishes from the saved cells."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from contextwise.cli import cli
from contextwise.registry import register
from contextwise.testing import ScriptedChatModel
from contextwise.types import Message

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CALLS: list[int] = []


def _reader(messages: list[Message]) -> str:
    CALLS.append(1)
    document = messages[-1].text.split("<document>\n", 1)[1].split("\n</document>", 1)[0]
    recent = " ".join(document.split()[-250:])  # a recency-biased reader: only the end of long contexts
    found = re.search(r"[^.]*San Francisco[^.]*\.", recent)
    return found.group(0) if found else "I don't know."


register("chat", "test-reader", lambda name: ScriptedChatModel([_reader], name=name or "reader", repeat_last=True))


@pytest.fixture
def haystack(tmp_path):
    folder = tmp_path / "hay"
    folder.mkdir()
    for i in range(3):
        (folder / f"essay{i}.txt").write_text(" ".join(f"Essay {i} sentence {j} is about startups." for j in
                                                       range(400)))
    return folder


def run(haystack, out, *extra):
    return CliRunner().invoke(cli, ["eval", "niah", "--model", "test-reader:r1", "--haystack", str(haystack),
                                    "--lengths", "300,900", "--depths", "0,50,100", "--tokenizer", "o200k_base",
                                    "--window", "4096", "--out", str(out), *extra])


def test_eval_niah_writes_results_table_heatmap_and_resumes(haystack, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "out"
    CALLS.clear()
    first = run(haystack, out)
    assert first.exit_code == 0, first.output
    assert len(CALLS) == 6
    lines = (out / "results.jsonl").read_text().splitlines()
    assert len(lines) == 6 and {json.loads(x)["length"] for x in lines} == {300, 900}
    assert (out / "heatmap.png").read_bytes()[:8] == PNG_MAGIC
    assert (out / "curves.png").read_bytes()[:8] == PNG_MAGIC
    table = (out / "table.md").read_text()
    assert "| raw | 6 |" in table
    summary = json.loads((out / "summary.json").read_text())
    assert summary["eval"] == "niah"
    scores = {json.loads(x)["depth"]: json.loads(x)["score"] for x in lines if json.loads(x)["length"] == 900}
    assert scores[100.0] == 1.0 and scores[0.0] == 0.0  # the reader misses early needles in long contexts
    CALLS.clear()
    again = run(haystack, out)
    assert again.exit_code == 0, again.output
    assert CALLS == [] and (out / "results.jsonl").read_text().splitlines() == lines


def test_eval_niah_strategies_write_the_difference_against_raw(haystack, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "strategies"
    result = run(haystack, out, "--strategy", "raw,retrieved,bookend", "--keep", "0.3")
    assert result.exit_code == 0, result.output
    assert (out / "difference.png").read_bytes()[:8] == PNG_MAGIC
    strategies = {json.loads(x)["strategy"] for x in (out / "results.jsonl").read_text().splitlines()}
    assert strategies == {"raw", "retrieved", "reordered-bookend"}


@pytest.mark.parametrize("extra, message", [
    (("--lengths", "300,9000"), "window"),
    (("--needle", "mk:x"), "--needle"),
    (("--strategy", "nope"), "strategy"),
], ids=["over-window", "bad-needle", "bad-strategy"])
def test_eval_niah_bad_input_fails_before_any_call(haystack, tmp_path, extra, message):
    CALLS.clear()
    result = CliRunner().invoke(cli, ["eval", "niah", "--model", "test-reader:r1", "--haystack", str(haystack),
                                      "--tokenizer", "o200k_base", "--window", "4096", "--out",
                                      str(tmp_path / "o"), "--depths", "50", *extra])
    assert result.exit_code != 0 and message in str(result.exception or result.output)
    assert CALLS == []
