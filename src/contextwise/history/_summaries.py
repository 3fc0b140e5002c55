"""Managers that replace old messages with model-written summaries: RollingSummary, SummaryBased,
HierarchicalContext. They plan requests and apply answers; they never call a model themselves."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from collections.abc import Sequence

from contextwise.errors import UsageError
from contextwise.history._notes import (
    HistoryNotes,
    HistoryRequest,
    Summary,
    SummaryRequest,
    apply_summary,
    render,
)
from contextwise.history._transcript import PINNED_ROLES, Transcript
from contextwise.types import Completion, Message

SUMMARY_INSTRUCTIONS = (
    "You maintain the memory of a long conversation between a user and an assistant. Write a compact summary "
    "that keeps every fact, name, number, date, decision, preference, commitment, open question and tool "
    "result that could matter later. Drop greetings and filler. Write plain sentences or short bullets, no "
    "preamble."
)


def summary_prompt(instructions: str, previous: Sequence[Summary], new: Sequence[Message]) -> tuple[Message, ...]:
    """The messages asking a model to fold `new` messages (and earlier summaries) into one summary."""
    parts = []
    if previous:
        parts.append("Summary so far:\n" + "\n\n".join(s.text for s in previous))
    if new:
        parts.append("New messages:\n" + render(new))
    parts.append("Write the updated summary.")
    return (Message.system(instructions), Message.user("\n\n".join(parts)))


def compose(transcript: Transcript, budget_tokens: int, summaries: Sequence[Summary], *,
            summary_share: float, extra_units: Sequence[int] = ()) -> list[Message]:
    """Pinned messages, the summaries that fit (given in priority order), `extra_units`, then the newest tail.

    Recent messages after the last summary get first call on all but `summary_share` of the budget; summaries
    fill what the tail leaves. The result never exceeds `budget_tokens` (framed, reply priming included) and keeps
    transcript order, summaries placed before the first kept message that is not pinned.
    """
    extra_tokens = sum(transcript.unit_tokens(u) for u in extra_units)
    available = transcript.available_tokens(budget_tokens, extra_tokens=extra_tokens)
    messages = [s.to_message() for s in summaries]
    costs = [transcript.cost(m) for m in messages]
    reserve = min(sum(costs), int(max(available, 0) * summary_share))
    lo = transcript.unit_at(max((s.end for s in summaries), default=0))
    start = transcript.fit_start(available - reserve, lo=lo)
    if start == transcript.unit_count > lo:
        start = transcript.fit_start(available, lo=lo)
    left = available - transcript.tail_tokens(start)
    chosen = []
    for summary, message, cost in zip(summaries, messages, costs):
        if cost <= left:
            chosen.append((summary.level, summary.start, message))
            left -= cost
    ordered = [m for *_, m in sorted(chosen)]
    if summaries and not chosen and not extra_units:
        # No summary fits: recent messages it covered are better than nothing.
        start = transcript.fit_start(available)
    if extra_units:
        body = transcript.pick([*extra_units, *range(start, transcript.unit_count)])
        lead = next((i for i, m in enumerate(body) if m.role not in PINNED_ROLES), len(body))
        return body[:lead] + ordered + body[lead:]
    return transcript.systems_before(transcript.message_start(start)) + ordered + transcript.tail(start)


def chunk_end(transcript: Transcript, lo: int, hi: int, max_input_tokens: int) -> int:
    """The last unit boundary in (lo, hi] keeping units [lo, end) within `max_input_tokens` (at least one unit)."""
    end = bisect_right(transcript.unit_prefix, transcript.unit_prefix[lo] + max_input_tokens) - 1
    return max(lo + 1, min(end, hi))


def recent_start(transcript: Transcript, keep_recent_tokens: int, lo: int) -> int:
    """The first unit of the recent part that stays verbatim; the newest unit always does."""
    return min(transcript.fit_start(keep_recent_tokens, lo=lo), max(lo, transcript.unit_count - 1))


def _check(value: int, name: str, owner: str, least: int = 1) -> None:
    if value < least:
        raise UsageError(f"{owner}.{name} must be at least {least}, got {value}")


def _check_share(share: float, owner: str) -> None:
    if not 0.0 <= share <= 1.0:
        raise UsageError(f"{owner}.summary_share is a fraction of the budget between 0 and 1, got {share}")


class _Summarizing:
    """What the summary managers share: a context of summary + recent messages, and apply."""

    summary_share: float

    def context(self, transcript: Transcript, notes: HistoryNotes, budget_tokens: int) -> list[Message]:
        """Pinned messages, the summary if it fits, then the newest messages after it."""
        return compose(transcript, budget_tokens, notes.level(0)[-1:], summary_share=self.summary_share)

    def apply(self, notes: HistoryNotes, request: HistoryRequest, completion: Completion) -> HistoryNotes:
        """The notes with the summary in `completion` applied (pure).

        Raises:
            UsageError: the request is not a SummaryRequest, is stale, or the answer is empty.
        """
        if not isinstance(request, SummaryRequest):
            raise UsageError(f"{type(self).__name__} applies SummaryRequest, got {type(request).__name__}")
        return apply_summary(notes, request, completion)


@dataclass(frozen=True)
class RollingSummary(_Summarizing):
    """One running summary of everything older than the recent messages, extended as messages age out.

    When at least `step_tokens` of messages sit between the summary and the newest `keep_recent_tokens`,
    `plan()` asks the model to fold them into the summary (at most `max_input_tokens` per request).
    """

    keep_recent_tokens: int = 2000
    step_tokens: int = 1000
    max_input_tokens: int = 6000
    summary_max_tokens: int | None = 600
    summary_share: float = 0.3
    instructions: str = SUMMARY_INSTRUCTIONS

    def __post_init__(self) -> None:
        _check(self.step_tokens, "step_tokens", "RollingSummary")
        _check(self.max_input_tokens, "max_input_tokens", "RollingSummary")
        _check_share(self.summary_share, "RollingSummary")
        _check(self.keep_recent_tokens, "keep_recent_tokens", "RollingSummary", 0)

    def plan(self, transcript: Transcript, notes: HistoryNotes) -> SummaryRequest | None:
        """A request to extend the summary, or None while too few messages have aged out."""
        lo = transcript.unit_at(notes.covered_end)
        hi = recent_start(transcript, self.keep_recent_tokens, lo)
        if transcript.tokens_between(lo, hi) < self.step_tokens:
            return None
        return extend_summary(transcript, notes, lo, chunk_end(transcript, lo, hi, self.max_input_tokens),
                       self.instructions, self.summary_max_tokens)


@dataclass(frozen=True)
class SummaryBased(_Summarizing):
    """Summarise in batches: once `trigger_tokens` of messages follow the summary, fold all but the last
    `keep_last_turns` turns into it, so the verbatim part shrinks back to a few turns."""

    trigger_tokens: int = 4000
    keep_last_turns: int = 1
    max_input_tokens: int = 6000
    summary_max_tokens: int | None = 600
    summary_share: float = 0.3
    instructions: str = SUMMARY_INSTRUCTIONS

    def __post_init__(self) -> None:
        _check(self.trigger_tokens, "trigger_tokens", "SummaryBased")
        _check(self.max_input_tokens, "max_input_tokens", "SummaryBased")
        _check_share(self.summary_share, "SummaryBased")
        _check(self.keep_last_turns, "keep_last_turns", "SummaryBased", 0)

    def plan(self, transcript: Transcript, notes: HistoryNotes) -> SummaryRequest | None:
        """A request to fold the messages after the summary into it, or None below the trigger."""
        lo = transcript.unit_at(notes.covered_end)
        if transcript.tail_tokens(lo) <= self.trigger_tokens:
            return None
        hi = min(transcript.last_turns_unit(self.keep_last_turns), transcript.unit_count - 1)
        if hi <= lo:
            return None
        return extend_summary(transcript, notes, lo, chunk_end(transcript, lo, hi, self.max_input_tokens),
                       self.instructions, self.summary_max_tokens)


def extend_summary(transcript: Transcript, notes: HistoryNotes, lo: int, end: int, instructions: str,
                   max_output_tokens: int | None) -> SummaryRequest:
    """A request folding units [lo, end) into the running (level 0) summary."""
    previous = notes.level(0)[-1:]
    messages = summary_prompt(instructions, previous, transcript.units_messages(lo, end))
    return SummaryRequest(messages, 0, transcript.message_start(end), 0, previous, max_output_tokens)


@dataclass(frozen=True)
class HierarchicalContext(_Summarizing):
    """Three levels: L0 a global summary, L1 one summary per section of `section_turns` turns, L2 recent
    messages verbatim.

    A section is summarised once it lies wholly before the newest `keep_recent_tokens`; when more than
    `max_sections` section summaries exist, the oldest are folded into the global summary. In a context, the
    global summary comes first, then the newest section summaries that fit, then recent messages.
    """

    section_turns: int = 8
    max_sections: int = 6
    keep_recent_tokens: int = 2000
    max_input_tokens: int = 6000
    summary_max_tokens: int | None = 400
    summary_share: float = 0.4
    instructions: str = SUMMARY_INSTRUCTIONS

    def __post_init__(self) -> None:
        _check(self.section_turns, "section_turns", "HierarchicalContext")
        _check(self.max_sections, "max_sections", "HierarchicalContext", 2)
        _check(self.max_input_tokens, "max_input_tokens", "HierarchicalContext")
        _check_share(self.summary_share, "HierarchicalContext")

    def context(self, transcript: Transcript, notes: HistoryNotes, budget_tokens: int) -> list[Message]:
        """Pinned messages, L0, the newest L1s that fit, then recent messages."""
        ranked = notes.level(0)[-1:] + tuple(reversed(notes.level(1)))
        return compose(transcript, budget_tokens, ranked, summary_share=self.summary_share)

    def plan(self, transcript: Transcript, notes: HistoryNotes) -> SummaryRequest | None:
        """Fold old sections into L0 when there are too many, else summarise the next finished section."""
        sections = notes.level(1)
        if len(sections) > self.max_sections:
            return self._fold(notes, sections[:len(sections) - self.max_sections // 2])
        lo = transcript.unit_at(notes.covered_end)
        turn = bisect_left(transcript.turn_units, lo) + self.section_turns
        if turn >= len(transcript.turn_units):
            return None
        end = transcript.turn_units[turn]
        if end > recent_start(transcript, self.keep_recent_tokens, lo):
            return None
        end = chunk_end(transcript, lo, end, self.max_input_tokens)
        messages = summary_prompt(self.instructions, (), transcript.units_messages(lo, end))
        return SummaryRequest(messages, transcript.message_start(lo), transcript.message_start(end), 1, (),
                              self.summary_max_tokens)

    def _fold(self, notes: HistoryNotes, old: Sequence[Summary]) -> SummaryRequest:
        previous = notes.level(0)[-1:]
        parts = [Message(role="user", content=f"Part {i + 1}: {s.text}") for i, s in enumerate(old)]
        messages = summary_prompt(self.instructions, previous, parts)
        return SummaryRequest(messages, 0, old[-1].end, 0, (*previous, *old), self.summary_max_tokens)
