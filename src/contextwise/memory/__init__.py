"""Memory: short-term, episodic, semantic (facts with history), working, and a unified recall that fills a
token budget. Every tier is scoped to one tenant, a hard partition of the store."""

from contextwise._deprecated import renamed_names
from contextwise.memory._base import (
    Entry, MemoryBackend, MemoryItem, OpStats, Recalled, RecallWeights, Stored,
)
from contextwise.memory._context_rank import ContextRanking
from contextwise.memory.episodic import EpisodicMemory
from contextwise.memory.facts import Candidate, FactDecision, Neighbour, rule_decide, rule_extract, slot_of
from contextwise.memory.semantic import (
    AskModel, Change, Fact, FindSimilar, LearnJob, Learned, SemanticMemory, Similar,
)
from contextwise.memory.short_term import ShortTermMemory
from contextwise.memory.unified import MemoryContext, Observed, Pruned, Retention, UnifiedMemory
from contextwise.memory.working import WorkingMemory

__all__ = [
    "AskModel", "Candidate", "Change", "ContextRanking", "Entry", "EpisodicMemory", "Fact", "FactDecision",
    "FindSimilar", "LearnJob", "Learned", "MemoryBackend", "MemoryContext", "MemoryItem", "Neighbour", "Observed",
    "OpStats", "Pruned", "RecallWeights", "Recalled", "Retention", "SemanticMemory", "ShortTermMemory", "Similar",
    "Stored", "UnifiedMemory", "WorkingMemory", "rule_decide", "rule_extract", "slot_of",
]

__getattr__ = renamed_names(__name__, {"Decision": "FactDecision"})
