"""`contextwise models`: the table, filters, override files, and a clear failure when nothing matches."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from contextwise.cli.models import format_usd, register
from contextwise.models import CatalogError


@pytest.fixture()
def group() -> click.Group:
    # A fresh group with only this command: other command modules cannot break these tests.
    cli = click.Group("contextwise")
    register(cli)
    return cli


def run(group: click.Group, *args: str) -> object:
    return CliRunner().invoke(group, ["models", *args])


def test_models_table_shows_limits_tokenizer_and_prices(group: click.Group) -> None:
    result = run(group, "gpt-4o-mini")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "gpt-4o-mini" in line)
    for cell in ("openai", "128,000", "16,384", "o200k_base", "0.15", "0.60", "0.075"):
        assert cell in row


def test_models_query_words_and_provider_filter(group: click.Group) -> None:
    result = run(group, "sonnet", "--provider", "anthropic")
    assert result.exit_code == 0
    assert "claude-sonnet-4-5" in result.output and "gpt-4o" not in result.output
    assert "gemini" not in run(group, "-p", "openai").output


def test_models_no_match_fails_with_a_clear_message(group: click.Group) -> None:
    result = run(group, "claude-sonet-4-5x")
    assert result.exit_code != 0
    assert "no model matches" in result.output and "claude-sonnet-4-5" in result.output
    unknown = run(group, "-p", "nobody")
    assert unknown.exit_code != 0 and "known providers" in unknown.output


def test_models_json_output_has_every_field(group: click.Group) -> None:
    result = run(group, "gemini-2.5-pro", "--json")
    data = json.loads(result.output)
    pro = next(d for d in data if d["name"] == "gemini-2.5-pro")
    assert pro["prices"]["tiers"][0]["above_input_tokens"] == 200_000
    assert pro["checked_on"] and pro["window_includes_output"] is False
    assert pro["cache_checked_on"] and pro["cache_storage_usd_per_mtok_hour"] > 0
    assert pro["min_cacheable_tokens"] == 2048


def test_models_file_option_adds_models(group: click.Group, tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[models."acme-1"]\nprovider = "acme"\ncontext_window_tokens = 32000\nmax_output_tokens = 4000\n'
                    'tokenizer = "llama3"\nprices = { input_usd_per_mtok = 1.0, output_usd_per_mtok = 2.0 }\n')
    result = run(group, "acme", "--models-file", str(path))
    assert result.exit_code == 0 and "acme-1" in result.output and "32,000" in result.output


def test_models_bad_file_raises_catalog_error(group: click.Group, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[models."gpt-4o"]\ntokenizer = "gpt2"\n')
    result = run(group, "-f", str(path))
    assert isinstance(result.exception, CatalogError)
    assert str(path) in str(result.exception) and "models.gpt-4o.tokenizer" in str(result.exception)


@pytest.mark.parametrize(("usd", "text"), [(2.5, "2.50"), (10, "10.00"), (0.0375, "0.0375"), (0.005, "0.005"),
                                            (None, "-")])
def test_models_format_usd(usd: float | None, text: str) -> None:
    assert format_usd(usd) == text


def test_models_prices_a_call_and_sorts_cheapest_first(group: click.Group) -> None:
    result = run(group, "gpt-4.1", "--input-tokens", "100000", "--cached-tokens", "50000", "--output-tokens", "2000")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "gpt-4.1" in line]
    assert [r.split()[1] for r in rows] == ["gpt-4.1-nano", "gpt-4.1-mini", "gpt-4.1"]
    # gpt-4.1-nano: 50k at $0.10 + 50k cached at $0.025 + 2k out at $0.40 per Mtok.
    assert f"{(50_000 * 0.10 + 50_000 * 0.025 + 2_000 * 0.40) / 1e6:.6f}" in rows[0]


def test_models_is_registered_on_the_contextwise_cli() -> None:
    from contextwise.cli import cli

    result = CliRunner().invoke(cli, ["models", "gpt-4o-mini"])
    assert result.exit_code == 0 and "gpt-4o-mini" in result.output
