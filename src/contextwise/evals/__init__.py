"""Evaluations: memory recall measured on LoCoMo (`contextwise.evals.locomo`), with a recall chart.

Also here: `contextwise.evals.niah` (needle-in-a-haystack grids and the strategies under test),
`contextwise.evals.compression` (answer retention per compressor and ratio), `contextwise.evals.compaction`
(early-session answers kept by each history manager) and `contextwise.evals.report` (the summary.json format
every `contextwise eval` command writes).
"""

from contextwise.evals._plot import plot_recall
from contextwise.evals.locomo import (
    HELD_OUT,
    Conversation,
    Dense,
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
    "HELD_OUT", "Conversation", "Dense", "Hybrid", "Lexical", "ModeRecall", "Question", "QuestionResult",
    "RecallReport", "Retrieval", "Turn", "TurnText", "evaluate_recall", "load_locomo", "parse_evidence",
    "plot_recall", "score_question",
]
