"""`contextwise models`: list catalog models with their windows, tokenizers and prices."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from contextwise.models import Catalog, ModelInfo, cost, default_catalog
from contextwise.types import Usage

# Piped output is not squeezed into 80 columns: names and prices stay whole for grep and diff.
PIPE_WIDTH_CHARS = 200


def format_usd(usd_per_mtok: float | None) -> str:
    """A price per Mtok for a table cell: cents always shown, sub-cent digits kept, "-" when not offered.

    >>> format_usd(2.5), format_usd(0.0375), format_usd(None)
    ('2.50', '0.0375', '-')
    """
    if usd_per_mtok is None:
        return "-"
    text = f"{usd_per_mtok:.6f}".rstrip("0")
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents.ljust(2, '0')}"


def models_table(models: list[ModelInfo], *, title: str = "", usage: Usage | None = None) -> Table:
    """A rich table of `models`: limits, tokenizer and prices (USD per million tokens).

    With `usage`, a last column shows what that call would cost on each model.
    """
    table = Table(title=title or None, caption="$ per million tokens; * long-context tier, see --json")
    columns = ["name", "provider", "window", "max output", "tokenizer", "$ in", "$ out", "$ cached"]
    for column in columns + (["$ this call"] if usage else []):
        right = column not in ("name", "provider", "tokenizer")
        table.add_column(column, justify="right" if right else "left", no_wrap=column == "name")
    for info in models:
        prices = info.prices
        cells = [info.name + (" *" if prices.tiers else ""), info.provider, f"{info.context_window_tokens:,}",
                 f"{info.max_output_tokens:,}", info.tokenizer, format_usd(prices.input_usd_per_mtok),
                 format_usd(prices.output_usd_per_mtok), format_usd(prices.cached_input_usd_per_mtok)]
        if usage:
            cells.append(f"{cost(usage, info).total_usd:.6f}")
        table.add_row(*cells)
    return table


def model_json(info: ModelInfo) -> dict[str, Any]:
    """`info` as plain JSON-ready data (dates as ISO strings)."""
    data = dataclasses.asdict(info)
    for key in ("checked_on", "cache_checked_on"):
        day = getattr(info, key)
        data[key] = day.isoformat() if day else None
    return data


def register(group: click.Group) -> None:
    """Add the `models` command to the CLI."""

    @group.command("models")
    @click.argument("query", nargs=-1)
    @click.option("--provider", "-p", default=None, help="Only this provider (openai, anthropic, google, ...).")
    @click.option("--models-file", "-f", "files", multiple=True, type=click.Path(dir_okay=False),
                  help="A .toml/.json file of models to add or override; repeat. Also: CONTEXTWISE_MODELS.")
    @click.option("--json", "as_json", is_flag=True, help="Print every field as JSON instead of a table.")
    @click.option("--input-tokens", "input_tokens", type=click.IntRange(min=0), default=0,
                  help="Price a call with this many prompt tokens (cached ones included) on each model.")
    @click.option("--cached-tokens", "cached_tokens", type=click.IntRange(min=0), default=0,
                  help="How many of the prompt tokens are read from the prompt cache.")
    @click.option("--output-tokens", "output_tokens", type=click.IntRange(min=0), default=0,
                  help="Price a call with this many output tokens on each model.")
    def models(query: tuple[str, ...], provider: str | None, files: tuple[str, ...], as_json: bool,
               input_tokens: int, cached_tokens: int, output_tokens: int) -> None:
        """List models whose name, alias or provider contains every word of QUERY.

        With --input-tokens/--output-tokens, adds what that call would cost and sorts cheapest first.
        """
        catalog: Catalog = default_catalog().with_overrides(*files)
        text = " ".join(query)
        found = catalog.search(text, provider=provider)
        if not found:
            raise click.ClickException(_no_match(catalog, text, provider))
        if as_json:
            click.echo(json.dumps([model_json(m) for m in found], indent=2))
            return
        usage = None
        if input_tokens or output_tokens or cached_tokens:
            usage = Usage(input_tokens=input_tokens, output_tokens=output_tokens, cached_input_tokens=cached_tokens)
            found.sort(key=lambda info: cost(usage, info).total_usd)
        console = Console()
        if not console.is_terminal:
            console = Console(width=PIPE_WIDTH_CHARS)
        console.print(models_table(found, title=f"{len(found)} of {len(catalog)} models", usage=usage))


def _no_match(catalog: Catalog, text: str, provider: str | None) -> str:
    what = " and ".join(p for p in (f"{text!r}" if text else "", f"provider {provider!r}" if provider else "") if p)
    message = f"no model matches {what}"
    if provider and provider.lower() not in catalog.providers():
        return f"{message}; known providers: {', '.join(catalog.providers())}"
    near = catalog.suggest(text) if text else []
    return f"{message}; nearest: {', '.join(near)}" if near else message
