"""Allocation strategies: pins first, then minimums, then priority order or priority weight."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contextwise.budget import ByPriority, Demand, Proportional
from contextwise.errors import BudgetExceededError


def test_by_priority_waterfall_hand_computed():
    demands = [Demand("system", 100, 300, pinned=True), Demand("docs", 50, 5000, min_tokens=100),
               Demand("history", 40, 3000, min_tokens=500), Demand("memory", 60, 800, budget_tokens=600)]
    grants = ByPriority().allocate(demands, 4000)
    # pinned 300; minimums docs 100 + history 500 (memory 0); then memory 600 (its max), docs takes the rest
    assert grants == {"system": 300, "memory": 600, "docs": 100 + 2500, "history": 500}


def test_proportional_shares_by_priority_and_redistributes_what_is_unused():
    demands = [Demand("a", 30, 10_000), Demand("b", 10, 10_000), Demand("small", 60, 100)]
    grants = Proportional().allocate(demands, 4100)
    assert grants["small"] == 100
    assert grants["a"] + grants["b"] == 4000
    assert grants["a"] == pytest.approx(3 * grants["b"], rel=0.01)


def test_pinned_over_budget_raises_with_numbers():
    with pytest.raises(BudgetExceededError) as info:
        ByPriority().allocate([Demand("system", 100, 900, pinned=True), Demand("user", 90, 200, pinned=True)], 1000)
    assert (info.value.needed_tokens, info.value.available_tokens) == (1100, 1000)
    assert set(info.value.sections) == {"system", "user"}


demand_lists = st.lists(
    st.builds(Demand, name=st.uuids().map(str), priority=st.integers(0, 100), requested_tokens=st.integers(0, 5000),
              min_tokens=st.integers(0, 500), budget_tokens=st.one_of(st.none(), st.integers(500, 6000))),
    max_size=8, unique_by=lambda d: d.name)


@given(demands=demand_lists, available=st.integers(0, 20_000),
       strategy=st.sampled_from([ByPriority(), Proportional()]))
def test_allocation_never_exceeds_available_or_caps(demands, available, strategy):
    grants = strategy.allocate(demands, available)
    assert sum(grants.values()) <= available
    for d in demands:
        assert 0 <= grants[d.name] <= d.cap_tokens
    if sum(d.cap_tokens for d in demands) <= available:
        assert all(grants[d.name] == d.cap_tokens for d in demands)  # everything fits: nothing is cut
