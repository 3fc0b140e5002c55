"""contextwise: make every LLM call fit, cost less, remember more.

The main entry points are here; each area's strategy objects live in its subpackage, loaded on first use:
`cw.budget`, `cw.arrange`, `cw.tokens`, `cw.models`, `cw.compress`, `cw.history`, `cw.memory`, `cw.documents`,
`cw.embed`, `cw.stores`, `cw.llm`, `cw.cache`, `cw.observe`, `cw.testing`.

>>> import contextwise as cw
>>> built = cw.Context("gpt-4o-mini").system("Be brief.").user("Hi!").build()
>>> built.report.prompt_tokens
16
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from contextwise.errors import (
    AuthError, BackendError, BudgetExceededError, ContextLengthError, ContextwiseError, MissingDependencyError,
    ProviderError, RateLimitError, StoreError, TruncationWarning, UnavailableError, UnknownBackendError, UsageError,
)
from contextwise.protocols import (
    AsyncChatModel, AsyncEmbedder, AsyncVectorStore, ChatModel, Compressor, Embedder, Tokenizer, VectorStore,
)
from contextwise.registry import register, resolve
from contextwise.tokens import TokenCounter, get_tokenizer, tokenizer_for_model  # also: tiktoken works offline
from contextwise.types import (
    ChatOptions, Chunk, Citation, Completion, Compressed, Hit, ImagePart, Message, Record, ScoredResult, TextPart,
    TokenLogprob, Tool, ToolCall, Usage, as_message, as_messages,
)

if TYPE_CHECKING:
    from contextwise.budget import Built, Context, Item, Report, Section
    from contextwise.history import Conversation
    from contextwise.memory import UnifiedMemory
    from contextwise.models import Catalog, Cost, ModelInfo, cost, get_model

# Names that live in heavier subpackages load on first use, so `import contextwise` costs only the core types.
_LAZY = {
    "Built": "budget", "Context": "budget", "Item": "budget", "Report": "budget", "Section": "budget",
    "Conversation": "history", "UnifiedMemory": "memory",
    "Catalog": "models", "Cost": "models", "ModelInfo": "models", "cost": "models", "get_model": "models",
}

__version__ = "0.1.0"

_SUBPACKAGES = frozenset({"arrange", "budget", "cache", "compress", "documents", "embed", "evals", "history", "llm",
                          "memory", "models", "observe", "stores", "testing", "tokens"})

__all__ = [
    "AsyncChatModel", "AsyncEmbedder", "AsyncVectorStore", "AuthError", "BackendError", "BudgetExceededError",
    "Built", "Catalog", "ChatModel", "ChatOptions", "Chunk", "Citation", "Completion", "Compressed", "Compressor",
    "Context", "ContextLengthError", "ContextwiseError", "Conversation", "Cost", "Embedder", "Hit", "ImagePart",
    "Item", "Message", "MissingDependencyError", "ModelInfo", "ProviderError", "RateLimitError", "Record", "Report",
    "ScoredResult", "Section", "StoreError", "TextPart", "TokenCounter", "TokenLogprob", "Tokenizer", "Tool",
    "ToolCall", "TruncationWarning", "UnavailableError", "UnifiedMemory", "UnknownBackendError", "Usage", "UsageError",
    "VectorStore", "as_message", "as_messages", "cost", "get_model", "get_tokenizer", "register", "resolve",
    "tokenizer_for_model",
]


def __getattr__(name: str) -> Any:
    """Subpackages and the names they export load on first attribute access."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f"contextwise.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    if name in _SUBPACKAGES:
        return importlib.import_module(f"contextwise.{name}")
    raise AttributeError(f"module 'contextwise' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBPACKAGES)
