"""The Report: what went into a built context, what was cut and why, and what it will cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from contextwise.arrange.layout import CachePlan
    from contextwise.budget.section import Item

Action = Literal["dropped", "truncated", "compressed", "summarised"]


@dataclass(frozen=True)
class Decision:
    """One thing the build did to fit: an item dropped, truncated, compressed or summarised (history replaced by
    a manager's summary), with the tokens before/after."""

    section: str
    item: str
    action: Action
    tokens_before: int
    tokens_after: int
    reason: str

    @property
    def saved_tokens(self) -> int:
        """tokens_before - tokens_after."""
        return self.tokens_before - self.tokens_after


@dataclass(frozen=True)
class SectionReport:
    """Per section: tokens asked for, granted by the allocation and actually used, and the items kept (`kept`,
    in section order, each with its `origin`: the Chunk, MemoryItem or Tool it came from)."""

    name: str
    kind: str
    priority: int
    pinned: bool
    requested_tokens: int
    granted_tokens: int
    used_tokens: int
    items_total: int
    items_kept: int
    strategy: str
    kept: tuple[Item, ...] = field(default=(), compare=False, repr=False)

    @property
    def cut_tokens(self) -> int:
        """requested_tokens - used_tokens."""
        return self.requested_tokens - self.used_tokens


@dataclass(frozen=True)
class Report:
    """Everything a build decided.

    `prompt_tokens` is the whole request as the provider bills it (message framing, tool definitions and reply
    priming included); `available_tokens` is the window less the output reserve. `exact` is False when the
    model's tokenizer is an estimate. `cost` prices the prompt alone; `output_reserve_cost` prices the reserved
    output as if the answer used all of it, so `worst_case_usd` is the most the call can cost.
    """

    model: str
    window_tokens: int
    output_reserve_tokens: int
    available_tokens: int
    prompt_tokens: int
    exact: bool
    sections: tuple[SectionReport, ...]
    decisions: tuple[Decision, ...]
    framing_tokens: int = 0
    cost: Any = None  # contextwise.models.Cost of the prompt, when the model is priced
    cache_plan: CachePlan | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)
    output_reserve_cost: Any = None  # contextwise.models.Cost of the whole output reserve, when priced

    @property
    def worst_case_usd(self) -> float | None:
        """The prompt's cost plus the reserved output's (None when the model is not priced)."""
        if self.cost is None:
            return None
        return float(self.cost.total_usd) + (self.output_reserve_cost.total_usd if self.output_reserve_cost else 0.0)

    @property
    def utilisation(self) -> float:
        """prompt_tokens / available_tokens."""
        return self.prompt_tokens / self.available_tokens if self.available_tokens else 0.0

    @property
    def dropped(self) -> tuple[Decision, ...]:
        """The decisions that dropped an item."""
        return tuple(d for d in self.decisions if d.action == "dropped")

    @property
    def cut(self) -> tuple[Decision, ...]:
        """The decisions that shortened an item (truncated, compressed, summarised)."""
        return tuple(d for d in self.decisions if d.action != "dropped")

    def section(self, name: str) -> SectionReport:
        """The report of the section called `name`."""
        for s in self.sections:
            if s.name == name:
                return s
        raise KeyError(name)

    def __str__(self) -> str:
        lines = [f"{self.model}: {self.prompt_tokens}/{self.available_tokens} tokens "
                 f"({self.utilisation:.1%}), reserve {self.output_reserve_tokens}, window {self.window_tokens}"
                 + ("" if self.exact else " [estimate]")]
        for s in self.sections:
            lines.append(f"  {s.name:<12} asked {s.requested_tokens:>7} granted {s.granted_tokens:>7} "
                         f"used {s.used_tokens:>7}  items {s.items_kept}/{s.items_total}  {s.strategy}")
        lines += [f"  - {d.section}/{d.item}: {d.action} {d.tokens_before}->{d.tokens_after} ({d.reason})"
                  for d in self.decisions]
        lines += [f"  ! {w}" for w in self.warnings]
        if self.cost is not None:
            reserve = self.output_reserve_cost.total_usd if self.output_reserve_cost else 0.0
            lines.append(f"  cost: ${self.cost.total_usd:.6f} prompt; up to ${reserve:.6f} more if the answer "
                         f"uses all {self.output_reserve_tokens} reserved tokens")
        return "\n".join(lines)
