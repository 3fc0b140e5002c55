"""What a history manager remembers beside the messages (summaries, scores), the requests it plans, and the
protocol every manager implements. Everything here is pure: no I/O, no model calls."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable
from collections.abc import Mapping, Sequence

from contextwise.errors import UsageError
from contextwise.history._transcript import Transcript
from contextwise._deprecated import RenamedMaxTokens
from contextwise.types import ChatOptions, Completion, Message

SUMMARY_HEADER = "Summary of the earlier conversation"


@dataclass(frozen=True)
class Summary:
    """A summary of messages [start, end) of the transcript.

    `level` 0 is the global summary, 1 a section summary (HierarchicalContext).
    """

    text: str
    start: int
    end: int
    level: int = 0

    def to_message(self) -> Message:
        """The summary as the system message placed in a context."""
        label = "overview" if self.level == 0 else f"messages {self.start + 1}-{self.end}"
        return Message.system(f"{SUMMARY_HEADER} ({label}):\n{self.text}")


@dataclass(frozen=True)
class HistoryNotes:
    """A manager's state beside the messages: summaries (sorted by start) and importance scores.

    `scores` maps the index of a unit's first message to its importance in [0, 1].
    """

    summaries: tuple[Summary, ...] = ()
    scores: Mapping[int, float] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.summaries, tuple(sorted(self.scores.items()))))

    def level(self, level: int) -> tuple[Summary, ...]:
        """The summaries of one level, oldest first."""
        return tuple(s for s in self.summaries if s.level == level)

    @property
    def covered_end(self) -> int:
        """One past the last message any summary covers (0 when there is none)."""
        return max((s.end for s in self.summaries), default=0)


@dataclass(frozen=True)
class SummaryRequest(RenamedMaxTokens):
    """Ask the model for a summary of messages [start, end) that replaces `replaces` once applied.

    Send `messages` (with `max_output_tokens` and `options`) to a ChatModel and hand the Completion to `apply`.
    """

    messages: tuple[Message, ...]
    start: int
    end: int
    level: int = 0
    replaces: tuple[Summary, ...] = ()
    max_output_tokens: int | None = None
    options: ChatOptions | None = None


@dataclass(frozen=True)
class ScoreRequest(RenamedMaxTokens):
    """Ask the model to rate the importance of the units starting at `unit_starts` (message indices)."""

    messages: tuple[Message, ...]
    unit_starts: tuple[int, ...]
    max_output_tokens: int | None = None
    options: ChatOptions | None = None


HistoryRequest = SummaryRequest | ScoreRequest


@runtime_checkable
class HistoryManager(Protocol):
    """A strategy deciding which messages (and summaries) go into a context of at most `budget_tokens`.

    `context` never calls a model; `plan` says what model call would help next (or None) and `apply` folds its
    answer into new notes. All three are pure.
    """

    def context(self, transcript: Transcript, notes: HistoryNotes, budget_tokens: int) -> list[Message]: ...

    def plan(self, transcript: Transcript, notes: HistoryNotes) -> HistoryRequest | None: ...

    def apply(self, notes: HistoryNotes, request: HistoryRequest, completion: Completion) -> HistoryNotes: ...


def apply_summary(notes: HistoryNotes, request: SummaryRequest, completion: Completion) -> HistoryNotes:
    """New notes with the request's summary in place of the ones it replaces.

    Raises:
        UsageError: the request is stale (its summaries were replaced meanwhile); plan again.
    """
    kept = [s for s in notes.summaries if s not in request.replaces]
    stale = len(kept) != len(notes.summaries) - len(request.replaces)
    if stale or any(s.start < request.end and request.start < s.end for s in kept):
        raise UsageError("this summary request is stale (the summaries changed since it was planned); "
                         "call plan() again")
    text = completion.text.strip()
    if not text:
        raise UsageError("the model returned an empty summary; nothing was changed")
    new = Summary(text, request.start, request.end, request.level)
    return replace(notes, summaries=tuple(sorted([*kept, new], key=lambda s: (s.level, s.start))))


_SCORE_LINE = re.compile(r"^\s*\[?(\d+)\]?\s*[:=\-]\s*(\d+(?:\.\d+)?)")


def apply_scores(notes: HistoryNotes, request: ScoreRequest, completion: Completion) -> HistoryNotes:
    """New notes with the scores the model gave ("<n>: <0-10>" per line); unrated units get 0.5."""
    rated: dict[int, float] = {}
    for line in completion.text.splitlines():
        match = _SCORE_LINE.match(line)
        if match and 1 <= int(match.group(1)) <= len(request.unit_starts):
            rated[request.unit_starts[int(match.group(1)) - 1]] = min(1.0, float(match.group(2)) / 10.0)
    scores = dict(notes.scores)
    scores.update({start: rated.get(start, 0.5) for start in request.unit_starts})
    return replace(notes, scores=scores)


def render(messages: Sequence[Message]) -> str:
    """A plain-text transcript for a prompt: one "role: text" paragraph per message, tool calls spelled out."""
    lines = []
    for m in messages:
        text = m.text
        if m.tool_calls:
            calls = "; ".join(f"{c.name}({c.arguments})" for c in m.tool_calls)
            text = f"{text}\n[calls {calls}]" if text else f"[calls {calls}]"
        who = f"tool result ({m.name})" if m.role == "tool" and m.name else m.role
        lines.append(f"{who}: {text}")
    return "\n\n".join(lines)
