"""Evaluations: memory recall measured on LoCoMo (`contextwise.evals.locomo`), with a recall chart.

Also here: `contextwise.evals.niah` (needle-in-a-haystack grids and the strategies under test),
`contextwise.evals.compression` (answer retention per compressor and ratio), `contextwise.evals.compaction`
(early-session answers kept by each history manager) and `contextwise.evals.report` (the summary.json format
every `contextwise eval` command writes).
"""

from contextwise._deprecated import renamed_names
from contextwise.evals._plot import plot_recall
from contextwise.evals.locomo import (
    HELD_OUT,
    DenseRetrieval,
    Episodic,
    HybridRetrieval,
    LexicalRetrieval,
    LocomoConversation,
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
    "HELD_OUT", "DenseRetrieval", "Episodic", "HybridRetrieval", "LexicalRetrieval", "LocomoConversation",
    "ModeRecall", "Question", "QuestionResult", "RecallReport", "Retrieval", "Turn", "TurnText", "evaluate_recall",
    "load_locomo", "parse_evidence", "plot_recall", "score_question",
]

__getattr__ = renamed_names(__name__, {"Conversation": "LocomoConversation", "Dense": "DenseRetrieval",
                                       "Lexical": "LexicalRetrieval", "Hybrid": "HybridRetrieval"})
