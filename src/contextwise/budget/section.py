"""Sections and items: the units a budget allocates tokens to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from collections.abc import Iterable, Sequence

from contextwise.errors import UsageError
from contextwise.types import Message, ToolCallGrouper

if TYPE_CHECKING:
    from contextwise.arrange.order import Ordering
    from contextwise.budget.fit import FitStrategy

SectionKind = Literal["system", "tools", "memory", "documents", "history", "user", "custom"]
Placement = Literal["system", "before_user", "messages"]

# Defaults per kind: (priority, pinned, stable, placement). Higher priority is kept first.
_DEFAULTS: dict[str, tuple[int, bool, bool, Placement]] = {
    "system": (100, True, True, "system"),
    "tools": (95, True, True, "system"),
    "user": (90, True, False, "messages"),
    "memory": (60, False, False, "before_user"),
    "documents": (50, False, False, "before_user"),
    "history": (40, False, True, "messages"),
    "custom": (30, False, False, "before_user"),
}


@dataclass(frozen=True)
class Item:
    """One unit of a section: a text (a document chunk, a memory) or whole messages kept or dropped together
    (a history turn, or an assistant tool call with every tool result answering it).

    `priority` orders items inside a section (higher is kept first); `label` names the item in the Report and
    in source headers.
    """

    content: str | tuple[Message, ...]
    priority: float = 0.0
    label: str = ""

    def __post_init__(self) -> None:
        content = self.content
        if isinstance(content, str):
            if content[:1].isspace() or content[-1:].isspace():
                object.__setattr__(self, "content", content.strip())
            return
        if isinstance(content, list):
            object.__setattr__(self, "content", tuple(content))
        if not all(isinstance(m, Message) for m in self.content):
            raise UsageError("an Item's content is a string or a tuple of Message")

    @property
    def is_messages(self) -> bool:
        return isinstance(self.content, tuple)

    @property
    def messages(self) -> tuple[Message, ...]:
        return self.content if isinstance(self.content, tuple) else ()

    @property
    def text(self) -> str:
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
        priority: higher sections are granted tokens first.
        min_tokens / max_tokens: bounds on the grant (None: no upper bound).
        pinned: kept whole, or the build raises BudgetExceededError.
        fit: how to shrink the section to its grant (default: by kind, see `default_fit`).
        order: how to order items when rendering (see contextwise.arrange); None keeps the given order.
        stable: content that does not change between calls (goes first, for provider prompt caching).
        placement: "system" (merged into the system message), "before_user" (a block just before the user's
            question), or "messages" (the items are messages, placed in order).
        title: the header rendered above the section's text ("" for none).
    """

    name: str
    items: tuple[Item, ...]
    kind: SectionKind = "custom"
    priority: int | None = None
    min_tokens: int = 0
    max_tokens: int | None = None
    pinned: bool | None = None
    fit: FitStrategy | None = None
    order: Ordering | None = None
    stable: bool | None = None
    placement: Placement | None = None
    title: str = ""

    def __post_init__(self) -> None:
        if not self.name:
            raise UsageError("a Section needs a name")
        if self.kind not in _DEFAULTS:
            raise UsageError(f"unknown section kind {self.kind!r}; use one of {sorted(_DEFAULTS)}")
        object.__setattr__(self, "items", tuple(self.items))
        if self.min_tokens < 0 or (self.max_tokens is not None and self.max_tokens < self.min_tokens):
            raise UsageError(f"section {self.name!r}: need 0 <= min_tokens <= max_tokens")
        priority, pinned, stable, placement = _DEFAULTS[self.kind]
        for attr, default in (("priority", priority), ("pinned", pinned), ("stable", stable),
                              ("placement", placement)):
            if getattr(self, attr) is None:
                object.__setattr__(self, attr, default)
        as_messages = self.placement == "messages"
        if any(isinstance(i.content, tuple) != as_messages for i in self.items):
            raise UsageError(f"section {self.name!r}: items hold messages exactly when placement='messages'")


def texts_to_items(texts: Iterable[str | Item]) -> tuple[Item, ...]:
    """Wrap plain strings as Items; earlier strings get higher priority, so they are kept first."""
    items = [t if isinstance(t, Item) else Item(t) for t in texts]
    if not any(i.priority for i in items):
        items = [Item(i.content, float(len(items) - n), i.label) for n, i in enumerate(items)]
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
