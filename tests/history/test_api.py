"""The public surface of contextwise.history."""

from __future__ import annotations

import contextwise.history as history


def test_history_all_is_pinned():
    assert sorted(history.__all__) == [
        "Conversation", "HeuristicScorer", "HierarchicalContext", "HistoryManager", "HistoryNotes",
        "HistoryRequest", "HistoryStore", "ImportanceWeighted", "InMemoryHistoryStore", "KeyMoments",
        "MessageCounter", "ModelScorer", "RollingSummary", "SQLiteHistoryStore", "ScoreRequest", "Scorer", "SlidingWindow", "Summary",
        "SummaryBased", "SummaryRequest", "TokenBased", "Transcript", "TurnBased",
    ]


def test_every_public_name_has_a_docstring():
    missing = [name for name in history.__all__
               if name != "HistoryRequest" and not (getattr(history, name).__doc__ or "").strip()]
    assert missing == []


def test_every_manager_satisfies_the_protocol():
    managers = [history.TokenBased(), history.TurnBased(), history.SlidingWindow(), history.RollingSummary(),
                history.SummaryBased(), history.HierarchicalContext(), history.ImportanceWeighted(),
                history.KeyMoments()]
    assert all(isinstance(m, history.HistoryManager) for m in managers)
