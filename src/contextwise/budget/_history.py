"""History as a source: whole turns as items, and the fit strategies that keep them whole.

A turn is a user message with every reply after it (assistant answers, tool calls and their results). Leading
system messages are kept apart (they go first); messages before the first user message form a preamble, and a
tool result answering no call in its turn is an orphan (providers reject it), always dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Sequence

from contextwise.budget.fit import FitEnv, Fitted, Measured
from contextwise.budget.report import Decision
from contextwise.budget.section import Item
from contextwise.errors import BudgetExceededError
from contextwise.types import Message

PINNED_ROLES = frozenset({"system", "developer"})
# Item.origin of history items: what kind of unit each is.
SYSTEM, TURN, PREAMBLE, ORPHAN = "history:system", "history:turn", "history:preamble", "history:orphan"


def turn_items(messages: Sequence[Message]) -> tuple[Item, ...]:
    """Group messages into whole-turn Items, newest with the highest priority.

    >>> from contextwise.types import ToolCall
    >>> msgs = [Message.assistant("Hi!"), Message.user("2+2?"), Message.assistant(tool_calls=(ToolCall("c", "f"),)),
    ...         Message.tool("4", tool_call_id="c"), Message.assistant("4")]
    >>> [(i.origin, len(i.messages)) for i in turn_items(msgs)]
    [('history:preamble', 1), ('history:turn', 4)]
    """
    groups: list[tuple[str, list[Message]]] = []
    calls: set[str] = set()
    opened: list[Message] | None = None  # the newest turn or preamble
    for msg in messages:
        if msg.role in PINNED_ROLES and opened is None:
            groups.append((SYSTEM, [msg]))
        elif msg.role == "tool" and msg.tool_call_id not in calls:
            groups.append((ORPHAN, [msg]))
        elif msg.role == "user" or opened is None:
            opened, calls = [msg], set()
            groups.append((TURN if msg.role == "user" else PREAMBLE, opened))
        else:
            opened.append(msg)
        calls.update(c.id for c in msg.tool_calls)
    top = float(len(groups))
    return tuple(Item(tuple(ms), top + 1 if kind == SYSTEM else float(n), _label(n, kind, ms), kind)
                 for n, (kind, ms) in enumerate(groups))


def _label(index: int, kind: str, msgs: Sequence[Message]) -> str:
    if kind == SYSTEM:
        return f"#{index} {msgs[0].role}"
    if kind == ORPHAN:
        return f"#{index} tool result {msgs[0].tool_call_id} with no tool call"
    calls = sum(len(m.tool_calls) for m in msgs)
    extra = f", {calls} tool call(s)" if calls else ""
    return f"#{index} {'turn' if kind == TURN else 'before the first user message'} ({len(msgs)} messages{extra})"


def _drop(env: FitEnv, m: Measured, reason: str, action: Any = "dropped") -> Decision:
    return Decision(env.section, m.item.label, action, m.tokens, 0, reason)


def keep_recent(items: Sequence[Measured], limit_tokens: int, env: FitEnv, start_on_user: bool) -> Fitted:
    """System items first, then the newest whole turns while they fit (a contiguous tail: an older turn is never
    kept once a newer one was dropped); orphans always dropped; a preamble dropped when `start_on_user`."""
    keep: set[int] = set()
    decisions: list[Decision] = []
    left = limit_tokens
    for i, m in enumerate(items):
        if m.item.origin == SYSTEM:
            if m.tokens <= left:
                keep.add(i)
                left -= m.tokens
            else:
                decisions.append(_drop(env, m, "the history's system message does not fit"))
    full = False
    for i in reversed(range(len(items))):
        m = items[i]
        if m.item.origin == ORPHAN:
            decisions.append(_drop(env, m, "a tool result with no tool call before it (providers reject it)"))
        elif m.item.origin == PREAMBLE and start_on_user:
            decisions.append(_drop(env, m, "the kept history starts on a user message (start_on_user=True)"))
        elif m.item.origin in (TURN, PREAMBLE) and not full and m.tokens <= left:
            keep.add(i)
            left -= m.tokens
        elif m.item.origin in (TURN, PREAMBLE):
            full = True
            decisions.append(_drop(env, m, "older than the turns that fit"))
    decisions.reverse()
    return Fitted(tuple(m for i, m in enumerate(items) if i in keep), tuple(decisions))


@dataclass(frozen=True)
class RecentTurns:
    """The default history fit: the newest whole turns that fit, never an orphan tool result, never an answer
    without its question; with `start_on_user` (default) the kept history starts on a user message, as
    Anthropic and Gemini require."""

    start_on_user: bool = True
    name: str = "recent-turns"

    def fit(self, items: Sequence[Measured], limit_tokens: int, env: FitEnv) -> Fitted:
        """Keep the newest whole turns that fit `limit_tokens`."""
        return keep_recent(items, limit_tokens, env, self.start_on_user)


@dataclass(frozen=True)
class ManagerFit:
    """A Conversation's manager as the history section's fit strategy: the manager picks what goes in (its
    summaries stay), the section reports what it dropped and what its summaries cover."""

    conversation: Any
    start_on_user: bool = True

    @property
    def name(self) -> str:
        """The manager's class name."""
        return f"manager-{type(self.conversation.manager).__name__}"

    def fit(self, items: Sequence[Measured], limit_tokens: int, env: FitEnv) -> Fitted:
        """Ask the manager for at most `limit_tokens`; keep the whole turns of its answer."""
        conv = self.conversation
        # the engine counts the reply priming once for the whole prompt; the manager reserves it too
        budget = limit_tokens + conv.transcript.priming_tokens
        try:
            chosen = conv.manager.context(conv.transcript, conv.notes, budget) if limit_tokens else []
        except BudgetExceededError:
            return Fitted((), tuple(_drop(env, m, "the manager's must-keep turns do not fit the grant")
                                    for m in items))
        measured = [Measured(item, env.measure(item)) for item in turn_items(chosen)]
        fitted = keep_recent(measured, limit_tokens, env, self.start_on_user)
        kept = {msg for m in fitted.kept for msg in m.item.messages}
        dropped = tuple(_drop(env, m, "left out by the conversation's manager") for m in items
                        if not all(msg in kept for msg in m.item.messages))
        return Fitted(fitted.kept, dropped + self._summarised(env, kept))

    def _summarised(self, env: FitEnv, kept: set[Message]) -> tuple[Decision, ...]:
        transcript, out = self.conversation.transcript, []
        for summary in self.conversation.notes.summaries:
            message = summary.to_message()
            if message not in kept:
                continue
            covered = [c for msg, c in zip(transcript.messages[summary.start:summary.end],
                                           transcript.costs[summary.start:summary.end])
                       if msg.role not in PINNED_ROLES]
            out.append(Decision(env.section, f"messages {summary.start + 1}-{summary.end}", "summarised",
                                sum(covered), env.measure(Item((message,))), "replaced by the manager's summary"))
        return tuple(out)


def conversation_items(conversation: Any, budget_tokens: int) -> tuple[Item, ...]:
    """The turns a Conversation's manager would send with `budget_tokens` to spare (what the section asks for)."""
    try:
        return turn_items(conversation.manager.context(conversation.transcript, conversation.notes,
                                                       max(budget_tokens, 1)))
    except BudgetExceededError:
        return turn_items(conversation.messages)
