"""Managers that keep what matters rather than what is newest: ImportanceWeighted and KeyMoments (summary + key
moments + recent turns). Importance comes from surface heuristics or from scores a model gave."""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, runtime_checkable
from collections.abc import Sequence

from contextwise.errors import UsageError
from contextwise.history._notes import (
    HistoryNotes,
    HistoryRequest,
    ScoreRequest,
    SummaryRequest,
    apply_scores,
    apply_summary,
    render,
)
from contextwise.history._summaries import (
    SUMMARY_INSTRUCTIONS,
    chunk_end,
    compose,
    extend_summary,
    recent_start,
)
from contextwise.history._transcript import Transcript
from contextwise.history._windows import pinned_start
from contextwise.types import Completion, Message

_CUE = re.compile(r"\b(remember|important|note that|don'?t forget|always|never|prefer|my name|call me|deadline|"
                  r"allerg\w*|must|decid\w*|agreed|promise|password|address|birthday|budget)\b", re.I)
_NUMBER = re.compile(r"\d")
_PROPER = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]{2,}")
_CODE = re.compile(r"```|https?://|\S+@\S+\.\w+")
_FILLER = re.compile(r"^\W*(ok(ay)?|thanks?( you)?|thx|sure|great|cool|got it|yes|no|hi|hello|bye)\W*$", re.I)


@lru_cache(maxsize=65536)
def heuristic_score(message: Message) -> float:
    """Importance in [0, 1] from surface cues: memory words, numbers, names, questions, tools, code, length."""
    text = message.text
    if _FILLER.match(text) and not message.tool_calls:
        return 0.02
    score = 0.1 + 0.1 * min(1.0, len(text) / 800)
    score += 0.35 if _CUE.search(text) else 0.0
    score += 0.15 if _NUMBER.search(text) else 0.0
    score += 0.1 if _PROPER.search(text) else 0.0
    score += 0.1 if message.role == "user" and "?" in text else 0.0
    score += 0.15 if message.tool_calls or message.role == "tool" else 0.0
    score += 0.1 if _CODE.search(text) else 0.0
    return min(1.0, score)


@dataclass(frozen=True)
class HeuristicScorer:
    """Score a unit by its most important message under `heuristic_score`; needs no model."""

    def score(self, messages: Sequence[Message]) -> float:
        """Importance in [0, 1]."""
        return max((heuristic_score(m) for m in messages), default=0.0)


SCORE_INSTRUCTIONS = (
    "Rate how important each numbered message is for the rest of the conversation, from 0 (filler, small talk) "
    "to 10 (a fact, decision, preference or commitment that must not be forgotten). Answer with one line per "
    "message, exactly '<number>: <score>', nothing else."
)


@dataclass(frozen=True)
class ModelScorer:
    """Scores a model gives: `plan()` asks for them in batches; unrated units fall back to the heuristics."""

    batch_units: int = 20
    max_input_tokens: int = 4000
    score_max_tokens: int | None = 200
    instructions: str = SCORE_INSTRUCTIONS

    def score(self, messages: Sequence[Message]) -> float:
        """The heuristic score, used until the model has rated a unit."""
        return HeuristicScorer().score(messages)


@runtime_checkable
class Scorer(Protocol):
    """Importance of a unit (a message, or a tool call with its results) in [0, 1]; any object with `score`."""

    def score(self, messages: Sequence[Message]) -> float: ...


def unit_score(transcript: Transcript, notes: HistoryNotes, scorer: Scorer, unit: int) -> float:
    """A unit's importance: the model's rating when there is one, else the scorer's."""
    rated = notes.scores.get(transcript.unit_starts[unit])
    return rated if rated is not None else scorer.score(transcript.unit_messages(unit))


def pick_important(transcript: Transcript, notes: HistoryNotes, scorer: Scorer, units: range, budget_tokens: int,
                   *, half_life_turns: float | None) -> list[int]:
    """The most valuable units of `units` that fit `budget_tokens` together, in transcript order.

    Value is importance, halved every `half_life_turns` turns of age (None: no decay); greedy by value.
    """
    turns = len(transcript.turn_units)
    ranked = []
    for unit in units:
        value = unit_score(transcript, notes, scorer, unit)
        if half_life_turns:
            age = turns - _turn_of(transcript, unit) - 1
            value *= 0.5 ** (age / half_life_turns)
        ranked.append((-value, -unit, unit))
    chosen, left = [], budget_tokens
    for _, _, unit in sorted(ranked):
        cost = transcript.unit_tokens(unit)
        if cost <= left:
            chosen.append(unit)
            left -= cost
    return sorted(chosen)


def _turn_of(transcript: Transcript, unit: int) -> int:
    return max(0, bisect_right(transcript.turn_units, unit) - 1)


def plan_scores(transcript: Transcript, notes: HistoryNotes, scorer: Scorer, units: range) -> ScoreRequest | None:
    """A request for model scores of the newest unrated units in `units`, or None (heuristic scorer, all rated)."""
    if not isinstance(scorer, ModelScorer):
        return None
    batch: list[int] = []
    used = 0
    for unit in reversed(units):
        start = transcript.unit_starts[unit]
        if start in notes.scores:
            continue
        cost = transcript.unit_tokens(unit)
        if batch and (len(batch) >= scorer.batch_units or used + cost > scorer.max_input_tokens):
            break
        batch.append(unit)
        used += cost
    if not batch:
        return None
    batch.reverse()
    body = "\n\n".join(f"[{i + 1}] {render(transcript.unit_messages(u))}" for i, u in enumerate(batch))
    messages = (Message.system(scorer.instructions), Message.user(body))
    return ScoreRequest(messages, tuple(transcript.unit_starts[u] for u in batch), scorer.score_max_tokens)


def _apply_any(owner: object, notes: HistoryNotes, request: HistoryRequest, completion: Completion) -> HistoryNotes:
    if isinstance(request, ScoreRequest):
        return apply_scores(notes, request, completion)
    if isinstance(request, SummaryRequest):
        return apply_summary(notes, request, completion)
    raise UsageError(f"{type(owner).__name__} cannot apply {type(request).__name__}")


@dataclass(frozen=True)
class ImportanceWeighted:
    """Keep the most important messages that fit, not just the newest; the last `keep_last_turns` turns and
    system messages are always kept, tool calls stay with their results.

    Importance comes from `scorer` (HeuristicScorer, or ModelScorer whose ratings `plan()` requests), decayed
    by age with a half-life of `half_life_turns` turns (None: no decay).
    """

    scorer: Scorer = HeuristicScorer()
    keep_last_turns: int = 1
    half_life_turns: float | None = 50.0

    def __post_init__(self) -> None:
        if self.keep_last_turns < 0:
            raise UsageError(f"ImportanceWeighted.keep_last_turns cannot be negative, got {self.keep_last_turns}")

    def context(self, transcript: Transcript, notes: HistoryNotes, budget_tokens: int) -> list[Message]:
        """Pinned messages, the last turns, and the most valuable older units that fit, in order.

        Raises:
            BudgetExceededError: the system messages and the last `keep_last_turns` turns do not fit.
        """
        available = transcript.available_tokens(budget_tokens)
        start = pinned_start(transcript, available, self.keep_last_turns)
        left = available - transcript.tail_tokens(start)
        older = pick_important(transcript, notes, self.scorer, range(start), left,
                               half_life_turns=self.half_life_turns)
        return transcript.pick([*older, *range(start, transcript.unit_count)])

    def plan(self, transcript: Transcript, notes: HistoryNotes) -> ScoreRequest | None:
        """With a ModelScorer, a request to rate the newest unrated units; otherwise None."""
        return plan_scores(transcript, notes, self.scorer, range(transcript.unit_count))

    def apply(self, notes: HistoryNotes, request: HistoryRequest, completion: Completion) -> HistoryNotes:
        """The notes with the model's ratings (or summary) applied (pure)."""
        return _apply_any(self, notes, request, completion)


@dataclass(frozen=True)
class KeyMoments:
    """A rolling summary of the old part, its key moments verbatim, and the recent turns.

    Key moments are the most important summarised units (by `scorer`), given up to `key_moments_share` of the
    budget and placed between the summary and the recent messages. Summaries follow RollingSummary's rules.
    """

    keep_recent_tokens: int = 2000
    step_tokens: int = 1000
    key_moments_share: float = 0.2
    summary_share: float = 0.25
    scorer: Scorer = HeuristicScorer()
    max_input_tokens: int = 6000
    summary_max_tokens: int | None = 600
    instructions: str = SUMMARY_INSTRUCTIONS

    def __post_init__(self) -> None:
        if not 0 <= self.key_moments_share + self.summary_share <= 1:
            raise UsageError("KeyMoments.key_moments_share + summary_share must be between 0 and 1")
        if self.step_tokens < 1 or self.max_input_tokens < 1:
            raise UsageError("KeyMoments.step_tokens and max_input_tokens must be at least 1")

    def context(self, transcript: Transcript, notes: HistoryNotes, budget_tokens: int) -> list[Message]:
        """Pinned messages, the summary, key moments, then the newest messages that fit."""
        available = transcript.available_tokens(budget_tokens)
        covered = transcript.unit_at(notes.covered_end)
        moments = pick_important(transcript, notes, self.scorer, range(covered),
                                 int(available * self.key_moments_share), half_life_turns=None)
        return compose(transcript, budget_tokens, notes.level(0)[-1:], summary_share=self.summary_share,
                       extra_units=moments)

    def plan(self, transcript: Transcript, notes: HistoryNotes) -> HistoryRequest | None:
        """Ratings for units about to be summarised (ModelScorer), then the summary extension, or None."""
        lo = transcript.unit_at(notes.covered_end)
        hi = recent_start(transcript, self.keep_recent_tokens, lo)
        if transcript.tokens_between(lo, hi) < self.step_tokens:
            return None
        end = chunk_end(transcript, lo, hi, self.max_input_tokens)
        scores = plan_scores(transcript, notes, self.scorer, range(lo, end))
        if scores is not None:
            return scores
        return extend_summary(transcript, notes, lo, end, self.instructions, self.summary_max_tokens)

    def apply(self, notes: HistoryNotes, request: HistoryRequest, completion: Completion) -> HistoryNotes:
        """The notes with the summary or ratings applied (pure)."""
        return _apply_any(self, notes, request, completion)
