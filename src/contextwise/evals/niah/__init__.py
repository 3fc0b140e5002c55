"""Needle-in-a-haystack evaluation of a model and of the context pipeline in front of it.

A grid of context lengths (counted in the target model's tokenizer) x needle depths x seeds is built from a
haystack you supply; each cell hides a needle, asks its question, scores the answer deterministically (and
optionally with a model judge, reported apart) and appends one JSON line keyed by a content-addressed id, so a
rerun skips finished cells. Strategies (`strategies`) put contextwise's arrangement, compression and retrieval
between the haystack and the model at an equal token budget.

>>> from contextwise.testing import FakeTokenizer, ScriptedChatModel
>>> model = ScriptedChatModel(["eat a sandwich and sit in Dolores Park"], repeat_last=True)
>>> target = describe(model, tokenizer=FakeTokenizer(), window_tokens=4096)
>>> hay = Haystack.from_texts(["Some filler sentence here. " * 400])
>>> results = run_niah(target, hay, Grid((400, 800), (0, 50, 100)))
>>> results.matrix("raw").mean, results.effective_length("raw")
(1.0, 800)
"""

from contextwise.evals.niah._grid import Grid, cell_id, spaced_depths, spaced_lengths
from contextwise.evals.niah._haystack import ContextBuilder, Haystack, HaystackTooShortError, Placed
from contextwise.evals.niah._needles import (
    LOW_OVERLAP,
    EmptyNeedleError,
    LowOverlapPair,
    Needle,
    classic,
    content_words,
    distractor_similarity,
    low_overlap,
    multi_key,
    multi_query,
    multi_value,
    needles_from,
    place_depths,
    single,
    with_distractors,
)
from contextwise.evals.niah._plot import plot_curves, plot_differences, plot_heatmap
from contextwise.evals.niah._results import (
    RULER_THRESHOLD,
    CellResult,
    CurvePoint,
    Matrix,
    NiahResults,
    ResultsFile,
    StrategySummary,
    effective_length,
    matrix_of,
)
from contextwise.evals.niah._run import (
    NiahRun,
    PlannedCell,
    Target,
    WindowExceededError,
    describe,
    prompt_messages,
    run_niah,
)
from contextwise.evals.niah._score import Contains, Exact, Judge, Regex, Scorer, scorer_from
from contextwise.evals.niah.anchors import load_gkamradt
from contextwise.evals.niah.strategies import (
    Compressed,
    Raw,
    Reordered,
    Retrieved,
    Strategy,
    standard_strategies,
    strategy_from,
)

__all__ = [
    "CellResult", "Compressed", "Contains", "ContextBuilder", "CurvePoint", "EmptyNeedleError", "Exact", "Grid",
    "Haystack", "HaystackTooShortError", "Judge", "LOW_OVERLAP", "LowOverlapPair", "Matrix", "Needle",
    "NiahResults", "NiahRun", "Placed", "PlannedCell", "RULER_THRESHOLD", "Raw", "Regex", "Reordered",
    "ResultsFile", "Retrieved", "Scorer", "Strategy", "StrategySummary", "Target", "WindowExceededError", "cell_id",
    "classic", "content_words", "describe", "distractor_similarity", "effective_length", "load_gkamradt",
    "low_overlap", "matrix_of", "multi_key", "multi_query", "multi_value", "needles_from", "place_depths",
    "plot_curves", "plot_differences", "plot_heatmap", "prompt_messages", "run_niah", "scorer_from", "single",
    "spaced_depths", "spaced_lengths", "standard_strategies", "strategy_from", "with_distractors",
]
