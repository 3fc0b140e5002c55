"""Rich renderings of typed results, shared by the commands."""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from contextwise.budget.report import Report


def report_view(report: Report) -> Group:
    """The Report as tables: per section, then every decision, then totals, cost and the cache plan."""
    title = (f"{report.model}: {report.prompt_tokens:,} of {report.available_tokens:,} tokens "
             f"({report.utilisation:.1%}); window {report.window_tokens:,}, output reserve "
             f"{report.output_reserve_tokens:,}" + ("" if report.exact else "  [estimated counts]"))
    sections = Table(title=title, title_justify="left")
    for column in ("section", "priority", "pinned", "asked", "granted", "used", "items", "fit"):
        sections.add_column(column, justify="left" if column in ("section", "fit") else "right")
    for s in report.sections:
        sections.add_row(s.name, str(s.priority), "yes" if s.pinned else "", f"{s.requested_tokens:,}",
                         f"{s.granted_tokens:,}", f"{s.used_tokens:,}", f"{s.items_kept}/{s.items_total}",
                         s.strategy)
    sections.add_row("framing", "", "", "", "", f"{report.framing_tokens:,}", "", "per message")
    parts: list[Any] = [sections]
    if report.decisions:
        decisions = Table(title="what was cut to fit", title_justify="left")
        for column in ("section", "item", "action", "tokens", "why"):
            decisions.add_column(column)
        for d in report.decisions:
            decisions.add_row(d.section, d.item, d.action, f"{d.tokens_before:,} -> {d.tokens_after:,}", d.reason)
        parts.append(decisions)
    lines = []
    if report.cost is not None:
        reserve = report.output_reserve_cost.total_usd if report.output_reserve_cost is not None else 0.0
        lines.append(f"estimated cost: prompt ${report.cost.total_usd:.6f}; at most ${report.worst_case_usd:.6f} "
                     f"if the answer uses the whole {report.output_reserve_tokens:,}-token reserve "
                     f"(${reserve:.6f})")
    plan = report.cache_plan
    if plan is not None:
        state = "cacheable" if plan.cacheable else f"below the {plan.min_cacheable_tokens:,}-token minimum"
        lines.append(f"prompt cache ({plan.provider}, {plan.mode}): stable prefix {plan.prefix_tokens:,} tokens, "
                     f"{state}" + (f"; breakpoints after messages {list(plan.breakpoints)}" if plan.breakpoints
                                   else ""))
    lines += [f"warning: {w}" for w in report.warnings]
    parts.append(Text("\n".join(lines)))
    return Group(*parts)
