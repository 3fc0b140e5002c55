"""Orderings against lost-in-the-middle: permutations with the strongest items at the ends."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contextwise.arrange import Alternating, Bookend, ImportanceFirst, LongContextReorder, Original

ALL = [Original(), ImportanceFirst(), Bookend(), Alternating(), LongContextReorder()]


@given(priorities=st.lists(st.floats(-10, 10, allow_nan=False), max_size=30))
def test_orderings_are_permutations(priorities):
    items = list(range(len(priorities)))
    for ordering in ALL:
        assert sorted(ordering.order(items, priorities)) == items


@given(n=st.integers(2, 30))
def test_bookend_puts_the_two_strongest_at_the_ends_and_the_weakest_inside(n):
    items = list(range(n))  # item i has priority n - i: item 0 is the strongest
    out = Bookend().order(items, [n - i for i in items])
    assert {out[0], out[-1]} == {0, 1}
    if n >= 3:
        assert out.index(n - 1) not in (0, n - 1)


def _langchain_reference(docs):
    """LangChain's documented LongContextReorder behaviour, written from its description."""
    result = []
    for i, doc in enumerate(reversed(docs)):
        if i % 2 == 1:
            result.append(doc)
        else:
            result.insert(0, doc)
    return result


@given(n=st.integers(0, 40))
def test_long_context_reorder_matches_langchain(n):
    docs = [f"d{i}" for i in range(n)]
    assert LongContextReorder().order(docs, [n - i for i in range(n)]) == _langchain_reference(docs)


def test_importance_first_and_alternating_hand_checked():
    items, prio = list("abcdef"), [1, 6, 2, 5, 3, 4]
    assert ImportanceFirst().order(items, prio) == list("bdfeca")
    assert Alternating().order(items, prio) == list("badcfe")
