"""Windows that keep recent messages verbatim and need no model: TokenBased, TurnBased, SlidingWindow."""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import InitVar, dataclass

from contextwise._deprecated import UNSET, renamed_keyword
from contextwise.errors import BudgetExceededError, UsageError
from contextwise.history._notes import HistoryNotes, HistoryRequest
from contextwise.history._transcript import Transcript
from contextwise.types import Completion, Message


class _NoModel:
    """Managers that never ask a model for anything."""

    def plan(self, transcript: Transcript, notes: HistoryNotes) -> HistoryRequest | None:
        """Nothing to ask: always None."""
        return None

    def apply(self, notes: HistoryNotes, request: HistoryRequest, completion: Completion) -> HistoryNotes:
        """Never called for a window; raises UsageError."""
        raise UsageError(f"{type(self).__name__} plans no model calls, so there is nothing to apply")


def capped(budget_tokens: int, cap_tokens: int | None) -> int:
    """The budget under a manager's own cap."""
    return budget_tokens if cap_tokens is None else min(budget_tokens, cap_tokens)


def _check_cap(cap_tokens: int | None, owner: str) -> None:
    if cap_tokens is not None and (isinstance(cap_tokens, bool) or not isinstance(cap_tokens, int) or cap_tokens < 1):
        raise UsageError(f"{owner}.budget_tokens must be a positive int or None, got {cap_tokens!r}")


def _renamed_cap(manager: TokenBased | SlidingWindow, max_tokens: int | None) -> None:
    owner = type(manager).__name__
    new = UNSET if manager.budget_tokens is None else manager.budget_tokens
    value = renamed_keyword(owner, "max_tokens", "budget_tokens", max_tokens, new, None)
    object.__setattr__(manager, "budget_tokens", value)


def newest_fits(transcript: Transcript, start: int, available_tokens: int) -> int:
    """`start`, checked to keep at least the newest unit.

    Raises:
        BudgetExceededError: not even the newest unit fits `available_tokens`.
    """
    if start >= transcript.unit_count > 0:
        needed = transcript.unit_tokens(transcript.unit_count - 1)
        raise BudgetExceededError("the newest message does not fit the history budget", needed_tokens=needed,
                                  available_tokens=available_tokens, sections=("history",))
    return start


def pinned_start(transcript: Transcript, available_tokens: int, keep_last_turns: int, *, lo: int = 0) -> int:
    """The unit where the last `keep_last_turns` turns start, checked to fit.

    Raises:
        BudgetExceededError: those turns do not fit `available_tokens`.
    """
    start = max(lo, transcript.last_turns_unit(keep_last_turns))
    needed = transcript.tail_tokens(start)
    if needed > available_tokens:
        raise BudgetExceededError(f"the last {keep_last_turns} turn(s) do not fit the history budget",
                                  needed_tokens=needed, available_tokens=available_tokens, sections=("history",))
    return start


@dataclass(frozen=True)
class TokenBased(_NoModel):
    """Keep the most recent messages that fit the budget; system messages always; tool calls with their results.

    Args:
        budget_tokens: a cap of its own, below whatever budget a context is asked for (None: no cap).

    >>> TokenBased()
    TokenBased(budget_tokens=None)
    """

    budget_tokens: int | None = None
    max_tokens: InitVar[int | None] = UNSET  # the old name of budget_tokens

    def __post_init__(self, max_tokens: int | None) -> None:
        _renamed_cap(self, max_tokens)
        _check_cap(self.budget_tokens, "TokenBased")

    def context(self, transcript: Transcript, notes: HistoryNotes, budget_tokens: int) -> list[Message]:
        """Pinned messages plus the longest recent tail that fits `budget_tokens` (framed, reply priming included).

        Raises:
            BudgetExceededError: the system messages, or the newest message, do not fit.
        """
        available = transcript.available_tokens(capped(budget_tokens, self.budget_tokens))
        return transcript.window(newest_fits(transcript, transcript.fit_start(available), available))


@dataclass(frozen=True)
class TurnBased(_NoModel):
    """Keep the last `max_turns` whole turns (a turn starts at a user message), cut further to fit the budget.

    Whole turns are dropped oldest first; only when the newest turn alone does not fit are its oldest units
    dropped too.
    """

    max_turns: int = 10

    def __post_init__(self) -> None:
        if self.max_turns < 1:
            raise UsageError(f"TurnBased.max_turns must be at least 1, got {self.max_turns}")

    def context(self, transcript: Transcript, notes: HistoryNotes, budget_tokens: int) -> list[Message]:
        """Pinned messages plus the last turns that fit.

        Raises:
            BudgetExceededError: the system messages, or the newest message, do not fit.
        """
        available = transcript.available_tokens(budget_tokens)
        first = transcript.last_turns_unit(self.max_turns)
        start = newest_fits(transcript, transcript.fit_start(available, lo=first), available)
        turn = bisect_left(transcript.turn_units, start)
        if turn < len(transcript.turn_units):
            start = transcript.turn_units[turn]
        return transcript.window(start)


@dataclass(frozen=True)
class SlidingWindow(_NoModel):
    """A window over the newest messages that slides in steps, so its first message stays put for a while.

    When the history outgrows the budget, the window's start jumps forward to a point that leaves about
    `overlap_tokens` of the old window in place; until the history has grown by the rest of the budget, the start
    does not move again, which keeps a provider's prompt cache warm. `overlap_tokens=None` slides one unit at a
    time (the most history that fits). System messages and the last `keep_last_turns` turns are always kept.

    Args:
        budget_tokens: a cap of its own, below whatever budget a context is asked for (None: no cap).
        overlap_tokens: tokens of the previous window kept when the window jumps; None keeps all that fits.
        keep_last_turns: newest turns that are never dropped (a BudgetExceededError if they cannot fit).
    """

    budget_tokens: int | None = None
    overlap_tokens: int | None = None
    keep_last_turns: int = 1
    max_tokens: InitVar[int | None] = UNSET  # the old name of budget_tokens

    def __post_init__(self, max_tokens: int | None) -> None:
        _renamed_cap(self, max_tokens)
        _check_cap(self.budget_tokens, "SlidingWindow")
        if self.overlap_tokens is not None and self.overlap_tokens < 0:
            raise UsageError(f"SlidingWindow.overlap_tokens cannot be negative, got {self.overlap_tokens}")
        if self.keep_last_turns < 0:
            raise UsageError(f"SlidingWindow.keep_last_turns cannot be negative, got {self.keep_last_turns}")

    def context(self, transcript: Transcript, notes: HistoryNotes, budget_tokens: int) -> list[Message]:
        """Pinned messages plus the window.

        Raises:
            BudgetExceededError: the system messages and the last `keep_last_turns` turns do not fit.
        """
        available = transcript.available_tokens(capped(budget_tokens, self.budget_tokens))
        latest = pinned_start(transcript, available, self.keep_last_turns)
        start = min(self._jump_start(transcript, available), latest)
        return transcript.window(start)

    def _jump_start(self, transcript: Transcript, available: int) -> int:
        total = transcript.units_tokens
        stride = available - (self.overlap_tokens or 0)
        if self.overlap_tokens is None or total <= available or stride <= 0:
            return transcript.fit_start(available)
        # Window starts sit on multiples of the stride, so the start only moves after `stride` more tokens.
        anchor = -(-(total - available) // stride) * stride
        return transcript.fit_start(total - anchor)
