"""`contextwise cache simulate`: the table of strategies, the plan line, the chart, and clear failures."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from cache.promptcache_helpers import agent
from click.testing import CliRunner

from contextwise.cli.cache import register
from contextwise.errors import UsageError


@pytest.fixture()
def group() -> click.Group:
    cli = click.Group("contextwise")
    register(cli)
    return cli


def write(calls, path: Path) -> Path:
    path.write_text("".join(json.dumps({"t": c.t_s, "session": c.session, "request": c.request,
                                        "model": "claude-sonnet-4-5"}) + "\n" for c in calls))
    return path


def test_cache_simulate_prints_the_plan_and_writes_the_chart(group: click.Group, tmp_path: Path):
    trace = write(agent(4, 15), tmp_path / "agent.jsonl")
    png = tmp_path / "cost.png"
    result = CliRunner().invoke(group, ["cache", "simulate", str(trace), "--png", str(png)])
    assert result.exit_code == 0, result.output
    plan_row = next(line for line in result.output.splitlines() if "(plan)" in line)
    assert "history" in plan_row
    assert "(heuristic)" in result.output and "tools:5m+system:5m+last:5m" in result.output
    assert "x the best fixed heuristic" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cache_simulate_takes_a_model_for_automatic_caches(group: click.Group, tmp_path: Path):
    trace = write(agent(3, 4), tmp_path / "agent.jsonl")
    result = CliRunner().invoke(group, ["cache", "simulate", str(trace), "--model", "gpt-4o", "--no-png"])
    assert result.exit_code == 0, result.output
    assert "automatic 5m key=session" in result.output and not list(tmp_path.glob("*.png"))
    five = CliRunner().invoke(group, ["cache", "simulate", str(trace), "--model", "gpt-5", "--no-png"])
    assert "send with each request: prompt_cache_retention=" in five.output


def test_cache_simulate_fails_clearly_on_a_bad_trace(group: click.Group, tmp_path: Path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t": 1}\n')
    result = CliRunner().invoke(group, ["cache", "simulate", str(bad), "--no-png"])
    assert isinstance(result.exception, UsageError) and "bad.jsonl:1" in str(result.exception)
