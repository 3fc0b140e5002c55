"""`contextwise stats`: tables per tenant/user from a real store that an attached UsageStats filled, and PNGs."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from support import need

import contextwise as cw
from contextwise import observe
from contextwise.cli import cli
from contextwise.cli.stats import parse_duration
from contextwise.errors import UsageError
from contextwise.llm import OpenAIChat

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def store(tmp_path, counting_server):
    path = tmp_path / "stats.sqlite3"
    stats = observe.UsageStats(path).attach()
    model = OpenAIChat("gpt-4o-mini", base_url=counting_server.url, api_key="k")
    for tenant, user in (("acme", "ann"), ("acme", "bob"), ("umbrella", "cy")):
        with observe.scope(tenant=tenant, user=user):
            built = cw.Context("gpt-4o-mini").system("Be brief.").user(f"Hello from {user}").build()
            model.complete(built.messages)
            observe.emit_cache_lookup(cache="sqlite", hit=user == "bob")
    stats.close()
    return path


def test_stats_cli_prints_a_table_per_tenant_and_writes_three_charts(store, tmp_path):
    need("matplotlib")
    prefix = tmp_path / "charts"
    result = CliRunner().invoke(cli, ["stats", str(store), "--png", str(prefix)])
    assert result.exit_code == 0, result.output
    assert "acme" in result.output and "umbrella" in result.output
    acme_line = next(line for line in result.output.splitlines() if "acme" in line)
    assert " 2 " in acme_line and "50.0%" in acme_line  # two calls, one response-cache hit of two
    for name in ("utilisation", "cost", "cache"):
        assert (tmp_path / f"charts-{name}.png").read_bytes()[:8] == PNG_MAGIC


def test_stats_cli_groups_by_user_without_charts(store, tmp_path):
    result = CliRunner().invoke(cli, ["stats", str(store), "--by", "user", "--no-png"])
    assert result.exit_code == 0, result.output
    assert all(name in result.output for name in ("ann", "bob", "cy"))
    assert "charts:" not in result.output


def test_stats_cli_a_missing_store_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(cli, ["stats", str(tmp_path / "none.sqlite3")])
    assert result.exit_code != 0 and isinstance(result.exception, UsageError)
    assert "no stats store" in str(result.exception)


@pytest.mark.parametrize(("text", "seconds"), [("90", 90), ("15m", 900), ("1h", 3600), ("7d", 604_800)])
def test_stats_cli_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["0", "-1h", "soon", "1y"])
def test_stats_cli_bad_durations(text):
    with pytest.raises(UsageError):
        parse_duration(text)
