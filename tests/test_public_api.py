"""The public namespace is pinned: adding or removing a name is a deliberate change to this list."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import contextwise as cw

PINNED = {
    "AsyncChatModel", "AsyncEmbedder", "AsyncVectorStore", "AuthError", "BackendError", "BudgetExceededError",
    "Built", "Catalog", "ChatModel", "ChatOptions", "Chunk", "Citation", "Completion", "Compressed", "Compressor",
    "Context", "ContextLengthError", "ContextwiseError", "Conversation", "Cost", "Embedder", "Hit", "ImagePart",
    "Item", "Message", "MissingDependencyError", "ModelInfo", "ProviderError", "RateLimitError", "Record", "Report",
    "Section", "StoreError", "TextPart", "TokenCounter", "TokenLogprob", "Tokenizer", "Tool", "ToolCall",
    "TruncationWarning", "UnavailableError", "UnifiedMemory", "UnknownBackendError", "Usage", "UsageError",
    "VectorStore", "as_message", "as_messages", "cost", "get_model", "get_tokenizer", "register", "resolve",
    "tokenizer_for_model",
}


OBSERVE = {
    "PARTS", "CacheLookup", "Calibration", "Composition", "Compression", "ContextBuilt", "ContextOverflow",
    "Correction", "Counted", "Event", "Exporter", "LogExporter", "MemoryOp", "ModelCall", "OtelExporter",
    "Preflight", "PreflightCheck", "PrometheusExporter", "PromptTruncated", "Scope", "SpendAlert", "SpendLimit",
    "Subscription", "UsageStats", "calibration", "composition_of", "current_scope", "emit", "emit_cache_lookup",
    "listening", "scope", "subscribe", "use_calibration",
}


def test_public_api_observe_all_is_pinned_and_documented():
    from contextwise import observe

    assert set(observe.__all__) == OBSERVE
    undocumented = [n for n in observe.__all__ if callable(getattr(observe, n)) and not getattr(observe, n).__doc__]
    assert undocumented == []


def test_public_api_all_is_pinned():
    assert set(cw.__all__) == PINNED
    assert all(hasattr(cw, name) for name in cw.__all__)


def test_public_api_every_name_has_a_docstring():
    undocumented = [n for n in cw.__all__ if callable(getattr(cw, n)) and not (getattr(cw, n).__doc__ or "").strip()]
    assert undocumented == []


@pytest.mark.parametrize("name", sorted(cw._SUBPACKAGES))
def test_public_api_subpackages_load_lazily_and_declare_all(name):
    module = getattr(cw, name)
    assert module is importlib.import_module(f"contextwise.{name}")
    assert getattr(module, "__all__", None) or name == "testing"


def test_public_api_import_stays_light():
    code = "import sys, contextwise; print(sorted(m for m in ('onnxruntime', 'llama_cpp', 'psycopg', 'httpx', " \
           "'torch', 'redis', 'tokenizers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("name", ["no_such_thing", "server"])
def test_public_api_unknown_attribute_raises(name):
    # parts that do not exist yet have no public name: hasattr is False, never a ModuleNotFoundError
    assert not hasattr(cw, name)
    with pytest.raises(AttributeError):
        getattr(cw, name)


NIAH_PINNED = {
    "CellResult", "Compressed", "Contains", "ContextBuilder", "CurvePoint", "EmptyNeedleError", "Exact", "Grid",
    "Haystack", "HaystackTooShortError", "Judge", "LOW_OVERLAP", "LowOverlapPair", "Matrix", "Needle",
    "NiahResults", "NiahRun", "Placed", "PlannedCell", "RULER_THRESHOLD", "Raw", "Regex", "Reordered",
    "ResultsFile", "Retrieved", "Scorer", "Strategy", "StrategySummary", "Target", "WindowExceededError", "cell_id",
    "classic", "content_words", "describe", "distractor_similarity", "effective_length", "load_gkamradt",
    "low_overlap", "matrix_of", "multi_key", "multi_query", "multi_value", "needles_from", "place_depths",
    "plot_curves", "plot_differences", "plot_heatmap", "prompt_messages", "run_niah", "scorer_from", "single",
    "spaced_depths", "spaced_lengths", "standard_strategies", "strategy_from", "with_distractors",
}


def test_public_api_niah_all_is_pinned():
    from contextwise.evals import niah

    assert set(niah.__all__) == NIAH_PINNED
    undocumented = [n for n in niah.__all__ if callable(getattr(niah, n)) and not (getattr(niah, n).__doc__ or "")]
    assert undocumented == []
