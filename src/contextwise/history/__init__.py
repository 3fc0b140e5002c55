"""Conversation history that fits a token budget: windows, summaries, levels, importance, key moments.

Every manager keeps system messages, keeps a tool call together with its results, and never exceeds the budget
counted the way the provider bills. Managers that need a model plan the call and apply the answer; they never
make it themselves.

>>> from contextwise.history import Conversation, SlidingWindow
>>> from contextwise.types import Message
>>> chat = Conversation(SlidingWindow(overlap_tokens=2000))
>>> chat.extend([Message.system("Be brief."), Message.user("Hello!")])
>>> [m.text for m in chat.context(8000)]
['Be brief.', 'Hello!']
"""

from __future__ import annotations

from contextwise._deprecated import renamed_names
from contextwise.history._conversation import Conversation
from contextwise.history._importance import HeuristicScorer, ImportanceWeighted, KeyMoments, ModelScorer, Scorer
from contextwise.history._notes import (
    HistoryManager,
    HistoryNotes,
    HistoryRequest,
    ScoreRequest,
    Summary,
    SummaryRequest,
)
from contextwise.history._store import HistoryStore, InMemoryHistoryStore, SQLiteHistoryStore
from contextwise.history._summaries import HierarchicalContext, RollingSummary, SummaryBased
from contextwise.history._transcript import MessageCounter, Transcript
from contextwise.history._windows import SlidingWindow, TokenBased, TurnBased

__all__ = [
    "Conversation", "HeuristicScorer", "HierarchicalContext", "HistoryManager", "HistoryNotes", "HistoryRequest",
    "HistoryStore", "ImportanceWeighted", "InMemoryHistoryStore", "KeyMoments", "MessageCounter", "ModelScorer",
    "RollingSummary", "SQLiteHistoryStore", "ScoreRequest", "Scorer", "SlidingWindow", "Summary", "SummaryBased",
    "SummaryRequest", "TokenBased", "Transcript", "TurnBased",
]

__getattr__ = renamed_names(__name__, {"Hybrid": "KeyMoments"})
