"""Ordering against "lost in the middle": models read the start and end of a long context best, so the most
important items go where they are read.

Every ordering takes items with a `priority` (higher = more important) and returns them re-ordered; none adds
or removes an item.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol, TypeVar
from collections.abc import Sequence

T = TypeVar("T")


class Ordering(Protocol):
    """Re-orders items given their priorities (same length, a permutation)."""

    name: str

    def order(self, items: Sequence[T], priorities: Sequence[float]) -> list[T]: ...


def _ranked(items: Sequence[T], priorities: Sequence[float]) -> list[T]:
    """Most important first; earlier items win ties (stable)."""
    return [items[i] for i in sorted(range(len(items)), key=lambda i: -priorities[i])]


@dataclass(frozen=True)
class Original:
    """Keep the order given."""

    name: str = "original"

    def order(self, items: Sequence[T], priorities: Sequence[float]) -> list[T]:
        return list(items)


@dataclass(frozen=True)
class ImportanceFirst:
    """Most important first, descending."""

    name: str = "importance-first"

    def order(self, items: Sequence[T], priorities: Sequence[float]) -> list[T]:
        return _ranked(items, priorities)


@dataclass(frozen=True)
class Bookend:
    """The most important at both ends, the least important in the middle.

    Ranks 1, 3, 5, … fill from the front; ranks 2, 4, 6, … fill from the back.

    >>> Bookend().order(["a", "b", "c", "d", "e"], [5, 4, 3, 2, 1])
    ['a', 'c', 'e', 'd', 'b']
    """

    name: str = "bookend"

    def order(self, items: Sequence[T], priorities: Sequence[float]) -> list[T]:
        ranked = _ranked(items, priorities)
        return ranked[0::2] + ranked[1::2][::-1]


@dataclass(frozen=True)
class Alternating:
    """Alternate strong and weak items (1st, last, 2nd, second-to-last, …) so no long run is all weak.

    >>> Alternating().order(["a", "b", "c", "d", "e"], [5, 4, 3, 2, 1])
    ['a', 'e', 'b', 'd', 'c']
    """

    name: str = "alternating"

    def order(self, items: Sequence[T], priorities: Sequence[float]) -> list[T]:
        ranked = _ranked(items, priorities)
        out: list[T] = []
        lo, hi = 0, len(ranked) - 1
        while lo <= hi:
            out.append(ranked[lo])
            if lo != hi:
                out.append(ranked[hi])
            lo, hi = lo + 1, hi - 1
        return out


@dataclass(frozen=True)
class LongContextReorder:
    """The order LangChain's LongContextReorder gives for items listed most relevant first: walking from the
    least relevant up, items go alternately to the front and the back, so the two most relevant end up at the
    two ends (the most relevant last when the count is even, first when odd).

    >>> LongContextReorder().order(["a", "b", "c", "d"], [4, 3, 2, 1])
    ['b', 'd', 'c', 'a']
    """

    name: str = "long-context-reorder"

    def order(self, items: Sequence[T], priorities: Sequence[float]) -> list[T]:
        out: deque[T] = deque()
        for i, item in enumerate(reversed(_ranked(items, priorities))):
            if i % 2:
                out.append(item)
            else:
                out.appendleft(item)
        return list(out)
