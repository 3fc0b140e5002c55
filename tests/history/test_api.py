"""The public surface of contextwise.history."""

from __future__ import annotations

import contextwise.history as history


def test_every_manager_satisfies_the_protocol():
    managers = [history.TokenBased(), history.TurnBased(), history.SlidingWindow(), history.RollingSummary(),
                history.SummaryBased(), history.HierarchicalContext(), history.ImportanceWeighted(),
                history.KeyMoments()]
    assert all(isinstance(m, history.HistoryManager) for m in managers)


def test_conversation_context_takes_budget_tokens_and_the_old_max_tokens_with_a_warning():
    import pytest

    from contextwise.errors import UsageError
    from contextwise.types import Message

    chat = history.Conversation(store=None)
    chat.extend([Message.user("hi"), Message.assistant("hello")])
    new = chat.context(budget_tokens=100)
    assert chat.context(100) == new
    with pytest.warns(DeprecationWarning, match="budget_tokens"):
        assert chat.context(max_tokens=100) == new
    for bad in (0, "100", True):
        with pytest.raises(UsageError):
            chat.context(bad)
