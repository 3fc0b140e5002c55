"""`contextwise budget`: how a model's window would be shared among sections."""

from __future__ import annotations

import click
from rich.console import Console
from rich.table import Table

from contextwise.budget.allocate import ByPriority, Demand, Proportional
from contextwise.budget.context import resolve_reserve
from contextwise.errors import UsageError

_KINDS = {"system": (100, True), "tools": (95, True), "user": (90, True), "memory": (60, False),
          "documents": (50, False), "history": (40, False)}


def parse_section(spec: str) -> Demand:
    """Parse NAME=TOKENS[,priority=P][,min=M][,max=X][,pinned] into a Demand.

    >>> parse_section("documents=20000,min=1000").min_tokens
    1000
    """
    head, *options = spec.split(",")
    name, sep, tokens = head.partition("=")
    if not sep or not name or not tokens.strip().isdigit():
        raise UsageError(f"--section {spec!r}: write NAME=TOKENS[,priority=P][,min=M][,max=X][,pinned]")
    priority, pinned = _KINDS.get(name, (30, False))
    fields: dict[str, int] = {}
    for option in options:
        key, _, value = option.partition("=")
        if key == "pinned" and not value:
            pinned = True
        elif key in ("priority", "min", "max") and value.strip().lstrip("-").isdigit():
            fields[key] = int(value)
        else:
            raise UsageError(f"--section {spec!r}: unknown option {option!r} (priority=, min=, max=, pinned)")
    low, high = fields.get("min", 0), fields.get("max")
    if low < 0 or high is not None and high < low:
        raise UsageError(f"--section {spec!r}: need 0 <= min <= max, got min={low} max={high}")
    return Demand(name, fields.get("priority", priority), int(tokens), low, high, pinned)


def parse_sections(specs: tuple[str, ...]) -> list[Demand]:
    """Parse every --section; a name may appear once.

    Raises:
        UsageError: a malformed section, or a name given twice.
    """
    demands = [parse_section(s) for s in specs]
    names = [d.name for d in demands]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"--section names must be unique; given more than once: {', '.join(twice)}")
    return demands


def register(group: click.Group) -> None:
    """Add the `budget` command to the CLI."""

    @group.command("budget")
    @click.option("--model", "-m", required=True, help="Catalog model name (sets the window).")
    @click.option("--section", "-s", "sections", multiple=True, metavar="NAME=TOKENS[,priority=P,min=M,max=X,pinned]",
                  help="A section and the tokens it asks for; repeat. Known names get default priorities.")
    @click.option("--reserve", default=None, help="Output reserve: tokens (e.g. 4000) or a fraction (e.g. 0.1).")
    @click.option("--proportional", is_flag=True, help="Share by priority weight instead of priority order.")
    def budget(model: str, sections: tuple[str, ...], reserve: str | None, proportional: bool) -> None:
        """Show how MODEL's window would be allocated among sections."""
        from contextwise.models import get_model

        info = get_model(model)
        if not sections:
            raise UsageError("give at least one --section NAME=TOKENS, e.g. -s system=400 -s documents=50000")
        demands = parse_sections(sections)
        reserve_tokens = _reserve(reserve, info)
        available = info.prompt_limit_tokens(reserve_output_tokens=reserve_tokens)
        grants = (Proportional() if proportional else ByPriority()).allocate(demands, available)
        table = Table(title=f"{info.name}: window {info.context_window_tokens:,}, reserve {reserve_tokens:,}, "
                            f"available {available:,}")
        for column in ("section", "priority", "pinned", "asked", "granted", "cut"):
            table.add_column(column, justify="left" if column == "section" else "right")
        for d in demands:
            table.add_row(d.name, str(d.priority), "yes" if d.pinned else "", f"{d.requested_tokens:,}",
                          f"{grants[d.name]:,}", f"{d.requested_tokens - grants[d.name]:,}")
        used = sum(grants.values())
        table.add_row("total", "", "", f"{sum(d.requested_tokens for d in demands):,}", f"{used:,}",
                      f"{used / available:.1%} used" if available else "")
        Console().print(table)


def _reserve(reserve: str | None, info: object) -> int:
    window = info.context_window_tokens  # type: ignore[attr-defined]
    cap = info.max_output_tokens  # type: ignore[attr-defined]
    if reserve is None:
        return resolve_reserve(window, None, max_output_tokens=cap)
    try:
        value: int | float = float(reserve) if "." in reserve else int(reserve)
    except ValueError:
        raise UsageError(f"--reserve {reserve!r}: give tokens (4000) or a fraction (0.1)") from None
    return resolve_reserve(window, value, max_output_tokens=cap)
