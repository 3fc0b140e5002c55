"""An append-only transcript: each message counted once, grouped into units and turns, with running totals.

A *unit* is what a window keeps or drops whole: one message, or an assistant message with tool calls together
with every tool message answering it. A *turn* starts at a user message. System and developer messages are kept
aside (they are always kept), so unit totals exclude them.

Totals are prefix sums, so "the longest recent tail that fits N tokens" is one binary search, never a recount.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Protocol, runtime_checkable
from collections.abc import Iterable, Sequence

from contextwise.errors import BudgetExceededError
from contextwise.types import Message, Tool, ToolCallGrouper

PINNED_ROLES = frozenset({"system", "developer"})


@runtime_checkable
class MessageCounter(Protocol):
    """Framed token counts, the way the provider bills (contextwise.tokens.TokenCounter has this shape)."""

    def message(self, message: Message) -> int: ...

    def messages(self, messages: Sequence[Message], *, tools: Sequence[Tool] = ()) -> int: ...


class Transcript:
    """Messages in order, each counted once, grouped into units (tool call + results) and turns.

    Managers read it; only `append` changes it. Appending is O(1) amortised plus one count per message.

    >>> from contextwise.tokens import TokenCounter
    >>> t = Transcript(TokenCounter("o200k_base"), [Message.user("hi"), Message.assistant("hello")])
    >>> t.unit_count, t.turn_units
    (2, [0])
    """

    def __init__(self, counter: MessageCounter, messages: Iterable[Message] = ()) -> None:
        self.counter = counter
        self.priming_tokens = counter.messages([])
        self.messages: list[Message] = []
        self.costs: list[int] = []
        self.unit_starts: list[int] = []
        self.unit_prefix: list[int] = [0]
        self.turn_units: list[int] = []
        self.system_indices: list[int] = []
        self.system_tokens = 0
        self._grouper = ToolCallGrouper()
        self._extra_costs: dict[Message, int] = {}
        for message in messages:
            self.append(message)

    def append(self, message: Message) -> None:
        """Add one message; its framed count is taken now and never again."""
        cost = self.counter.message(message)
        index = len(self.messages)
        self.messages.append(message)
        self.costs.append(cost)
        if message.role in PINNED_ROLES:
            self.system_indices.append(index)
            self.system_tokens += cost
            return
        if self._grouper.joins(message):
            self.unit_prefix[-1] += cost
            return
        if message.role == "user" or not self.unit_starts:
            self.turn_units.append(len(self.unit_starts))
        self.unit_starts.append(index)
        self.unit_prefix.append(self.unit_prefix[-1] + cost)

    def __len__(self) -> int:
        return len(self.messages)

    @property
    def unit_count(self) -> int:
        """Number of units (system and developer messages are not units)."""
        return len(self.unit_starts)

    @property
    def units_tokens(self) -> int:
        """Framed tokens of every unit together."""
        return self.unit_prefix[-1]

    def unit_tokens(self, unit: int) -> int:
        """Framed tokens of one unit."""
        return self.unit_prefix[unit + 1] - self.unit_prefix[unit]

    def tail_tokens(self, unit: int) -> int:
        """Framed tokens of units `unit` to the end."""
        return self.unit_prefix[-1] - self.unit_prefix[unit]

    def tokens_between(self, start_unit: int, end_unit: int) -> int:
        """Framed tokens of units [start_unit, end_unit)."""
        return self.unit_prefix[end_unit] - self.unit_prefix[start_unit]

    def message_start(self, unit: int) -> int:
        """Index of the first message of `unit`; `unit_count` maps to the transcript's length."""
        return self.unit_starts[unit] if unit < len(self.unit_starts) else len(self.messages)

    def unit_at(self, message_index: int) -> int:
        """The first unit starting at or after `message_index`."""
        return bisect_left(self.unit_starts, message_index)

    def last_turns_unit(self, turns: int) -> int:
        """The unit where the last `turns` turns start (`unit_count` when `turns` is 0)."""
        if turns <= 0 or not self.turn_units:
            return self.unit_count
        return self.turn_units[max(0, len(self.turn_units) - turns)]

    def fit_start(self, available_tokens: int, *, lo: int = 0) -> int:
        """The smallest unit >= `lo` whose tail fits `available_tokens` (`unit_count` when none fits)."""
        need = self.unit_prefix[-1] - available_tokens
        return max(lo, bisect_left(self.unit_prefix, need, lo, len(self.unit_prefix) - 1))

    def unit_messages(self, unit: int) -> list[Message]:
        """The messages of one unit, in order (pinned messages inside it left out)."""
        end = self.message_start(unit + 1)
        return [m for m in self.messages[self.unit_starts[unit]:end] if m.role not in PINNED_ROLES]

    def units_messages(self, start_unit: int, end_unit: int) -> list[Message]:
        """The messages of units [start_unit, end_unit), pinned messages left out."""
        lo, hi = self.message_start(start_unit), self.message_start(end_unit)
        return [m for m in self.messages[lo:hi] if m.role not in PINNED_ROLES]

    def systems_before(self, message_index: int) -> list[Message]:
        """Pinned (system/developer) messages before `message_index`, in order."""
        cut = bisect_right(self.system_indices, message_index - 1)
        return [self.messages[i] for i in self.system_indices[:cut]]

    def tail(self, unit: int) -> list[Message]:
        """Every message from `unit` on (pinned ones included)."""
        return self.messages[self.message_start(unit):]

    def window(self, unit: int) -> list[Message]:
        """The pinned messages before `unit`, then every message from `unit` on."""
        start = self.message_start(unit)
        return self.systems_before(start) + self.messages[start:]

    def available_tokens(self, budget_tokens: int, *, extra_tokens: int = 0) -> int:
        """Tokens left for units after reply priming, pinned messages and `extra_tokens`.

        Raises:
            BudgetExceededError: the pinned messages alone do not fit `budget_tokens`.
        """
        pinned = self.priming_tokens + self.system_tokens
        if pinned > budget_tokens:
            raise BudgetExceededError("the system messages do not fit the history budget",
                                      needed_tokens=pinned, available_tokens=budget_tokens, sections=("history",))
        return budget_tokens - pinned - extra_tokens

    def cost(self, message: Message) -> int:
        """Framed tokens of a message that is not in the transcript (a summary), cached by content."""
        cached = self._extra_costs.get(message)
        if cached is None:
            if len(self._extra_costs) > 4096:
                self._extra_costs.clear()
            cached = self._extra_costs[message] = self.counter.message(message)
        return cached

    def pick(self, units: Iterable[int]) -> list[Message]:
        """Pinned messages plus the messages of `units`, in transcript order."""
        keep = set(self.system_indices)
        for unit in units:
            end = self.message_start(unit + 1)
            keep.update(range(self.unit_starts[unit], end))
        return [self.messages[i] for i in sorted(keep)]
