"""The public namespace is pinned: adding or removing a name is a deliberate change to this list."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import contextwise as cw

PINNED = {
    "AsyncChatModel", "AsyncEmbedder", "AsyncVectorStore", "AuthError", "BackendError", "BudgetExceededError",
    "Built", "Catalog", "ChatModel", "ChatOptions", "Chunk", "Citation", "Completion", "Compressed", "Compressor",
    "Context", "ContextLengthError", "ContextwiseError", "Conversation", "Cost", "Embedder", "Hit", "ImagePart",
    "Item", "Message", "MissingDependencyError", "ModelInfo", "ProviderError", "RateLimitError", "Record", "Report",
    "ScoredResult", "Section", "StoreError", "TextPart", "TokenCounter", "TokenLogprob", "Tokenizer", "Tool",
    "ToolCall",
    "TruncationWarning", "UnavailableError", "UnifiedMemory", "UnknownBackendError", "Usage", "UsageError",
    "VectorStore", "as_message", "as_messages", "cost", "get_model", "get_tokenizer", "register", "resolve",
    "tokenizer_for_model",
}


PINS = Path(__file__).parent / "public_api"


@pytest.mark.parametrize("name", sorted(p.stem for p in PINS.glob("*.txt")))
def test_public_api_subpackage_all_is_pinned_and_documented(name):
    # tests/public_api/<subpackage>.txt lists the subpackage's public names, one a line
    module = importlib.import_module(f"contextwise.{name}")
    assert sorted(module.__all__) == (PINS / f"{name}.txt").read_text(encoding="utf-8").split()
    assert all(hasattr(module, n) for n in module.__all__)
    undocumented = [n for n in module.__all__ if callable(getattr(module, n))
                    and not (getattr(module, n).__doc__ or "").strip()]
    assert undocumented == []


def test_public_api_every_subpackage_is_pinned():
    pinned = {p.stem for p in PINS.glob("*.txt")}
    assert {n for n in cw._SUBPACKAGES if n != "testing"} <= pinned


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
