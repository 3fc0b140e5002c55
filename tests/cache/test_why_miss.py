"""Why did this miss: the first differing token, the part it is in, and the cause, for two consecutive requests."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from contextwise.cache import why_miss
from contextwise.cli.cache import register
from contextwise.errors import UsageError
from contextwise.tokens import TokenCounter

SYSTEM = "You are the support agent of Acme.\nCurrent time: 2026-12-01 09:00:00\nAnswer in English."
TOOLS = [{"name": "lookup", "description": "Find an order.", "input_schema": {"type": "object"}},
         {"name": "refund", "description": "Refund an order.", "input_schema": {"type": "object"}}]
BASE = {"model": "gpt-4o", "system": SYSTEM, "tools": TOOLS,
        "messages": [{"role": "user", "content": "Where is order 7?"},
                     {"role": "assistant", "content": "It shipped on Monday."},
                     {"role": "user", "content": "And order 8?"}]}


def variant(**changes):
    body = copy.deepcopy(BASE)
    body.update(changes)
    return body


def test_a_timestamp_in_the_system_prompt_is_named():
    later = variant(system=SYSTEM.replace("09:00:00", "09:05:31"))
    report = why_miss(BASE, later)
    assert (report.part, report.where, report.cause) == ("system", "system[0]", "volatile")
    assert "timestamp" in report.detail and "'Current time'" in report.detail and "line 2" in report.detail
    counter = TokenCounter.for_model("gpt-4o")
    tools = sum(counter.count(json.dumps(t, sort_keys=True, separators=(",", ":"))) for t in TOOLS)
    assert report.shared_tokens == tools + counter.count(SYSTEM[:SYSTEM.index("00:00") + 1])


def test_a_dropped_system_prompt_is_named_as_the_system_part():
    bare = {k: v for k, v in BASE.items() if k != "system"}
    report = why_miss(BASE, bare)
    assert report.cause == "system" and report.detail.startswith("system[0] line 1")


def test_reordered_tools_are_named():
    report = why_miss(BASE, variant(tools=TOOLS[::-1]))
    assert (report.part, report.cause, report.shared_tokens) == ("tools", "tool order", 0)
    assert "lookup, refund -> refund, lookup" in report.detail


def test_json_key_order_is_named_apart_from_a_real_change():
    shuffled = variant(tools=[dict(reversed(list(TOOLS[0].items()))), TOOLS[1]])
    assert why_miss(BASE, shuffled).cause == "key order"
    changed = variant(tools=[{**TOOLS[0], "description": "Find any order."}, TOOLS[1]])
    report = why_miss(BASE, changed)
    assert report.cause == "tools" and "'lookup'" in report.detail
    added = variant(tools=[*TOOLS, {"name": "cancel", "description": "x", "input_schema": {"type": "object"}}])
    assert why_miss(BASE, added).cause == "tools"


def test_injected_memory_and_compaction_and_edits_are_told_apart():
    memory = {"role": "user", "content": "Memory: the customer prefers email."}
    injected = variant(messages=[memory, *BASE["messages"]])
    report = why_miss(BASE, injected)
    assert (report.cause, report.part, report.where) == ("injected", "messages", "messages[0].content[0] (user)")
    compacted = variant(messages=[{"role": "user", "content": "Summary: asked about order 7 (shipped)."},
                                  BASE["messages"][2]])
    assert why_miss(BASE, compacted).cause == "compaction"
    edited = copy.deepcopy(BASE)
    edited["messages"][1]["content"] = "It shipped on Tuesday."
    assert why_miss(BASE, edited).cause == "edit"


def test_an_appended_turn_is_no_miss_and_a_model_change_is_one():
    longer = variant(messages=[*BASE["messages"], {"role": "assistant", "content": "Tomorrow."}])
    report = why_miss(BASE, longer)
    assert not report.missed and report.cause == "none" and report.shared_tokens > 0
    assert why_miss(BASE, variant(model="gpt-4o-mini")).cause == "model"
    with pytest.raises(UsageError, match="messages"):
        why_miss(BASE, {"system": "x"})


def test_markers_alone_are_no_miss():
    marked = copy.deepcopy(BASE)
    marked["tools"][-1]["cache_control"] = {"type": "ephemeral"}
    assert not why_miss(BASE, marked).missed


@pytest.fixture()
def group() -> click.Group:
    cli = click.Group("contextwise")
    register(cli)
    return cli


def test_cli_why_miss_prints_the_part_and_cause(group: click.Group, tmp_path: Path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(BASE))
    b.write_text(json.dumps(variant(system=SYSTEM.replace("09:00:00", "09:05:31"))))
    result = CliRunner().invoke(group, ["cache", "why-miss", str(a), str(b)])
    assert result.exit_code == 0, result.output
    assert "in system (system[0]): volatile" in result.output and "timestamp" in result.output
    b.write_text("[1, 2]")
    failed = CliRunner().invoke(group, ["cache", "why-miss", str(a), str(b)])
    assert failed.exit_code != 0 and isinstance(failed.exception, UsageError)
