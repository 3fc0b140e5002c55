"""Allocation: how the available tokens are shared among sections before each section is fitted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from collections.abc import Iterable, Sequence

from contextwise.errors import BudgetExceededError


@dataclass(frozen=True)
class Demand:
    """What a section asks of the budget."""

    name: str
    priority: int
    requested_tokens: int
    min_tokens: int = 0
    budget_tokens: int | None = None
    pinned: bool = False

    @property
    def cap_tokens(self) -> int:
        """The most this section can use: what it asked for, bounded by its max."""
        return self.requested_tokens if self.budget_tokens is None else min(self.requested_tokens, self.budget_tokens)


class Allocation(Protocol):
    """Shares `available_tokens` among the demands; returns a grant per section name."""

    name: str

    def allocate(self, demands: Sequence[Demand], available_tokens: int) -> dict[str, int]: ...


def _pinned_and_minimums(demands: Sequence[Demand], available_tokens: int) -> tuple[dict[str, int], int]:
    """Grant pinned sections in full and minimums by priority; return the grants and what is left."""
    pinned = [d for d in demands if d.pinned]
    for d in pinned:
        if d.budget_tokens is not None and d.requested_tokens > d.budget_tokens:
            raise BudgetExceededError(f"pinned section {d.name!r} is larger than its budget_tokens",
                                      needed_tokens=d.requested_tokens, available_tokens=d.budget_tokens,
                                      sections=[d.name])
    needed = sum(d.requested_tokens for d in pinned)
    if needed > available_tokens:
        raise BudgetExceededError("pinned sections do not fit the window less the output reserve",
                                  needed_tokens=needed, available_tokens=available_tokens,
                                  sections=[d.name for d in pinned])
    grants = {d.name: d.requested_tokens for d in pinned}
    left = available_tokens - needed
    for d in by_priority(d for d in demands if not d.pinned):
        grants[d.name] = min(d.min_tokens, d.cap_tokens, left)
        left -= grants[d.name]
    return grants, left


def by_priority(demands: Iterable[Demand]) -> list[Demand]:
    """Highest priority first; the order given breaks ties."""
    return sorted(demands, key=lambda d: -d.priority)


@dataclass(frozen=True)
class ByPriority:
    """Waterfall: after pins and minimums, each section in priority order takes all it can use."""

    name: str = "by-priority"

    def allocate(self, demands: Sequence[Demand], available_tokens: int) -> dict[str, int]:
        grants, left = _pinned_and_minimums(demands, available_tokens)
        for d in by_priority(d for d in demands if not d.pinned):
            extra = min(d.cap_tokens - grants[d.name], left)
            grants[d.name] += max(extra, 0)
            left -= max(extra, 0)
        return grants


@dataclass(frozen=True)
class Proportional:
    """Water-filling: after pins and minimums, the rest is shared in proportion to priority; what a section
    cannot use flows to the others."""

    name: str = "proportional"

    def allocate(self, demands: Sequence[Demand], available_tokens: int) -> dict[str, int]:
        grants, left = _pinned_and_minimums(demands, available_tokens)
        hungry = [d for d in demands if not d.pinned and grants[d.name] < d.cap_tokens]
        while left > 0 and hungry:
            weight = sum(max(d.priority, 1) for d in hungry)
            given = 0
            for d in hungry:
                share = max(left * max(d.priority, 1) // weight, 1)
                take = min(share, d.cap_tokens - grants[d.name], left - given)
                grants[d.name] += take
                given += take
            left -= given
            hungry = [d for d in hungry if grants[d.name] < d.cap_tokens]
            if given == 0:
                break
        return grants
