"""Shared pieces for the history tests: a framed counter, conversation builders, hypothesis strategies."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import strategies as st

from contextwise.testing import FakeTokenizer
from contextwise.tokens import TokenCounter
from contextwise.types import Message, Tool, ToolCall


class CountingCounter:
    """Wraps a counter and records how many messages it was asked to count."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.counted = 0

    def message(self, message: Message) -> int:
        self.counted += 1
        return self.inner.message(message)

    def messages(self, messages: Sequence[Message], *, tools: Sequence[Tool] = ()) -> int:
        return self.inner.messages(messages, tools=tools)


def make_counter():
    """contextwise.tokens.TokenCounter over the fast FakeTokenizer (OpenAI framing)."""
    return TokenCounter(FakeTokenizer())


WORDS = ["alpha", "beta", "gamma", "Paris", "42", "remember", "ok", "the", "plan", "deadline", "is", "Friday"]


def text(n: int, seed: int = 0) -> str:
    return " ".join(WORDS[(seed + i * 7) % len(WORDS)] for i in range(n))


def tool_group(call_id: str, results: int, size: int = 5) -> list[Message]:
    calls = tuple(ToolCall(f"{call_id}-{i}", "lookup", '{"q": "x"}') for i in range(results))
    return [Message.assistant(tool_calls=calls)] + [
        Message.tool(text(size, i), tool_call_id=c.id) for i, c in enumerate(calls)]


@st.composite
def conversations(draw, max_turns: int = 25) -> list[Message]:
    """Conversations with system messages (anywhere), user turns, plain replies and tool-call groups."""
    out: list[Message] = []
    if draw(st.booleans()):
        out.append(Message.system(text(draw(st.integers(1, 30)), 1)))
    for turn in range(draw(st.integers(0, max_turns))):
        out.append(Message.user(text(draw(st.integers(1, 40)), turn)))
        for step in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(["reply", "tools", "system"]))
            if kind == "reply":
                out.append(Message.assistant(text(draw(st.integers(1, 60)), step)))
            elif kind == "tools":
                out.extend(tool_group(f"c{turn}-{step}", draw(st.integers(1, 3)), draw(st.integers(1, 30))))
            else:
                out.append(Message.system(text(draw(st.integers(1, 10)), step)))
    return out


def units_of(messages: Sequence[Message]) -> list[list[int]]:
    """Reference grouping (indices), written independently of Transcript: assistant tool calls + answers."""
    units: list[list[int]] = []
    open_ids: set[str] = set()
    for i, m in enumerate(messages):
        if m.role in ("system", "developer"):
            continue
        if m.role == "tool" and m.tool_call_id in open_ids:
            units[-1].append(i)
            continue
        units.append([i])
        open_ids = {c.id for c in m.tool_calls}
    return units
