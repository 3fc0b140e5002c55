"""Sections and items: the units a budget allocates tokens to."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from collections.abc import Iterable, Sequence

from contextwise.errors import UsageError
from contextwise.types import Message, ToolCallGrouper

if TYPE_CHECKING:
    from contextwise.arrange.order import Ordering
    from contextwise.budget.fit import FitStrategy

SectionKind = Literal["system", "tools", "memory", "documents", "history", "user", "custom"]
Placement = Literal["system", "before_user", "messages", "tools"]
PLACEMENTS: frozenset[str] = frozenset({"system", "before_user", "messages", "tools"})

# Defaults per kind: (priority, pinned, stable, placement). Higher priority is kept first.
_DEFAULTS: dict[str, tuple[int, bool, bool, Placement]] = {
    "system": (100, True, True, "system"),
    "tools": (95, True, True, "tools"),
    "user": (90, True, False, "messages"),
    "memory": (60, False, False, "before_user"),
    "documents": (50, False, False, "before_user"),
    "history": (40, False, True, "messages"),
    "custom": (30, False, False, "before_user"),
}


@dataclass(frozen=True)
class Item:
    """One unit of a section: a text (a document chunk, a memory) or whole messages kept or dropped together
    (a history turn: a user message with its replies, tool calls and their results).

    `priority` orders items inside a section (higher is kept first); `label` names the item in the Report (and,
    for documents and custom sections, heads it in the prompt); `origin` is what the item was made from (a
    Chunk, a MemoryItem, a Tool), handed back through the Report and `Built.citations`.
    """

    content: str | tuple[Message, ...]
    priority: float = 0.0
    label: str = ""
    origin: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        content, p = self.content, self.priority
        # plain floats and ints pass on the first test: thousands of items are made per build
        if not (p.__class__ is float and -math.inf < p < math.inf or p.__class__ is int) and (
                isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p)):
            raise UsageError(f"an Item's priority is a finite number, got {p!r}")
        if self.label.__class__ is not str and not isinstance(self.label, str):
            raise UsageError(f"an Item's label is a string, got {type(self.label).__name__}")
        if isinstance(content, str):
            if content[:1].isspace() or content[-1:].isspace():
                object.__setattr__(self, "content", content.strip())
            return
        if isinstance(content, list):
            object.__setattr__(self, "content", tuple(content))
        if not isinstance(self.content, tuple) or not all(isinstance(m, Message) for m in self.content):
            raise UsageError(f"an Item's content is a string or a tuple of Message, got {type(content).__name__}")

    @property
    def is_messages(self) -> bool:
        """True when the item holds messages rather than text."""
        return isinstance(self.content, tuple)

    @property
    def messages(self) -> tuple[Message, ...]:
        """The item's messages (empty for a text item)."""
        return self.content if isinstance(self.content, tuple) else ()

    @property
    def text(self) -> str:
        """The item's text (message texts joined by newlines for a message item)."""
        if isinstance(self.content, str):
            return self.content
        return "\n".join(m.text for m in self.content)


@dataclass(frozen=True)
class Section:
    """A part of the prompt with its own share of the budget.

    Args:
        name: unique within a Context; shown in the Report.
        items: the content, in its natural order (oldest first for history).
        kind: what the section holds; sets the defaults for priority, pinned, stable and placement.
        priority: higher sections are granted tokens first (an int).
        min_tokens / budget_tokens: bounds on the grant (budget_tokens None: no upper bound).
        pinned: kept whole, or the build raises BudgetExceededError.
        fit: how to shrink the section to its grant (default: by kind, see `default_fit`).
        order: how to order items when rendering (see contextwise.arrange); None keeps the given order.
        stable: content that does not change between calls (goes first, for provider prompt caching).
        placement: "system" (merged into the system message), "before_user" (a block just before the user's
            question), "messages" (the items are messages, placed in order) or "tools" (tool definitions).
        title: the header rendered above the section's text ("" for none).
        cite: give every item a citation marker mapped back in `Built.citations` (default: documents only).
        max_tokens: deprecated spelling of `budget_tokens`.
    """

    name: str
    items: tuple[Item, ...]
    kind: SectionKind = "custom"
    priority: int | None = None
    min_tokens: int = 0
    budget_tokens: int | None = None
    pinned: bool | None = None
    fit: FitStrategy | None = None
    order: Ordering | None = None
    stable: bool | None = None
    placement: Placement | None = None
    title: str = ""
    cite: bool | None = None
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise UsageError(f"a Section needs a non-empty name, got {self.name!r}")
        if self.kind not in _DEFAULTS:
            raise UsageError(f"unknown section kind {self.kind!r}; use one of {sorted(_DEFAULTS)}")
        if self.max_tokens is not None:
            warnings.warn("Section(max_tokens=...) is now Section(budget_tokens=...)", DeprecationWarning,
                          stacklevel=3)
            if self.budget_tokens is None:
                object.__setattr__(self, "budget_tokens", self.max_tokens)
            object.__setattr__(self, "max_tokens", None)
        items = tuple(self.items) if isinstance(self.items, (list, tuple)) else None
        if items is None or not all(isinstance(i, Item) for i in items):
            raise UsageError(f"section {self.name!r}: items are a sequence of Item")
        object.__setattr__(self, "items", items)
        self._check_numbers()
        priority, pinned, stable, placement = _DEFAULTS[self.kind]
        for attr, default in (("priority", priority), ("pinned", pinned), ("stable", stable),
                              ("placement", placement), ("cite", self.kind == "documents")):
            if getattr(self, attr) is None:
                object.__setattr__(self, attr, default)
        if self.placement not in PLACEMENTS:
            raise UsageError(f"section {self.name!r}: placement is one of {sorted(PLACEMENTS)}, "
                             f"got {self.placement!r}")
        if not isinstance(self.title, str):
            raise UsageError(f"section {self.name!r}: title is a string, got {type(self.title).__name__}")
        as_messages = self.placement == "messages"
        if any(isinstance(i.content, tuple) != as_messages for i in self.items):
            raise UsageError(f"section {self.name!r}: items hold messages exactly when placement='messages'")

    def _check_numbers(self) -> None:
        if self.priority is not None and not _is_int(self.priority):
            raise UsageError(f"section {self.name!r}: priority is an int (higher is served first), "
                             f"got {self.priority!r}")
        if not _is_int(self.min_tokens) or self.min_tokens < 0:
            raise UsageError(f"section {self.name!r}: min_tokens is an int >= 0, got {self.min_tokens!r}")
        if self.budget_tokens is not None and (not _is_int(self.budget_tokens)
                                               or self.budget_tokens < self.min_tokens):
            raise UsageError(f"section {self.name!r}: need 0 <= min_tokens <= budget_tokens, got "
                             f"{self.min_tokens!r} and {self.budget_tokens!r}")
        for flag in ("pinned", "stable", "cite"):
            if getattr(self, flag) is not None and not isinstance(getattr(self, flag), bool):
                raise UsageError(f"section {self.name!r}: {flag} is True, False or None")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def texts_to_items(texts: Iterable[str | Item] | str) -> tuple[Item, ...]:
    """Wrap plain strings as Items (a lone string is one item); earlier strings get higher priority, so they
    are kept first."""
    if isinstance(texts, (str, Item)):
        texts = [texts]
    items = []
    for t in texts:
        if not isinstance(t, (str, Item)):
            raise UsageError(f"expected strings or Items, got {type(t).__name__}")
        items.append(t if isinstance(t, Item) else Item(t))
    if not any(i.priority for i in items):
        items = [Item(i.content, float(len(items) - n), i.label, i.origin) for n, i in enumerate(items)]
    return tuple(items)


def message_units(messages: Sequence[Message]) -> tuple[Item, ...]:
    """Group messages into Items that are kept or dropped whole: an assistant message with tool calls together
    with the tool messages answering it. Later units get higher priority (recent history is kept first).

    >>> from contextwise.types import Message, ToolCall
    >>> msgs = [Message.user("hi"), Message.assistant(tool_calls=(ToolCall("c1", "f"),)),
    ...         Message.tool("42", tool_call_id="c1"), Message.assistant("42!")]
    >>> [len(u.messages) for u in message_units(msgs)]
    [1, 2, 1]
    """
    units: list[list[Message]] = []
    grouper = ToolCallGrouper()
    for msg in messages:
        if grouper.joins(msg):
            units[-1].append(msg)
        else:
            units.append([msg])
    return tuple(Item(tuple(u), float(n), _unit_label(n, u)) for n, u in enumerate(units))


def _unit_label(index: int, unit: list[Message]) -> str:
    head = unit[0]
    if head.tool_calls:
        names = ", ".join(c.name for c in head.tool_calls)
        return f"#{index} tool call {names} + {len(unit) - 1} result(s)"
    return f"#{index} {head.role}"
