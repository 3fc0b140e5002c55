"""Evaluations: memory recall measured on LoCoMo (`contextwise.evals.locomo`), with a recall chart."""

from contextwise.evals._plot import plot_recall
from contextwise.evals.locomo import (
    HELD_OUT,
    Conversation,
    Dense,
    Episodic,
    Hybrid,
    Lexical,
    ModeRecall,
    Question,
    QuestionResult,
    RecallReport,
    Retrieval,
    Turn,
    TurnText,
    evaluate_recall,
    load_locomo,
    parse_evidence,
    score_question,
)

__all__ = [
    "HELD_OUT", "Conversation", "Dense", "Episodic", "Hybrid", "Lexical", "ModeRecall", "Question", "QuestionResult",
    "RecallReport", "Retrieval", "Turn", "TurnText", "evaluate_recall", "load_locomo", "parse_evidence",
    "plot_recall", "score_question",
]
