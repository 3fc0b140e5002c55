"""contextwise: make every LLM call fit, cost less, remember more.

The main entry points are here; each area's strategy objects live in its subpackage, loaded on first use:
`cw.budget`, `cw.arrange`, `cw.tokens`, `cw.models`, `cw.compress`, `cw.history`, `cw.memory`, `cw.documents`,
`cw.embed`, `cw.stores`, `cw.llm`, `cw.testing`.

>>> import contextwise as cw
>>> built = cw.Context("gpt-4o-mini").system("Be brief.").user("Hi!").build()
>>> built.report.prompt_tokens
16
"""

from __future__ import annotations

import importlib
from typing import Any

from contextwise.budget import Built, Context, Item, Report, Section
from contextwise.errors import (
    AuthError, BackendError, BudgetExceededError, ContextLengthError, ContextwiseError, MissingDependencyError,
    ProviderError, RateLimitError, StoreError, TruncationWarning, UnavailableError, UnknownBackendError, UsageError,
)
from contextwise.history import Conversation
from contextwise.memory import UnifiedMemory
from contextwise.models import Catalog, Cost, ModelInfo, cost, get_model
from contextwise.protocols import (
    AsyncChatModel, AsyncEmbedder, AsyncVectorStore, ChatModel, Compressor, Embedder, Tokenizer, VectorStore,
)
from contextwise.registry import register, resolve
from contextwise.tokens import TokenCounter, get_tokenizer, tokenizer_for_model
from contextwise.types import (
    ChatOptions, Chunk, Citation, Completion, Compressed, Hit, ImagePart, Message, Record, TextPart, TokenLogprob,
    Tool, ToolCall, Usage,
)

__version__ = "0.1.0"

_SUBPACKAGES = frozenset({"arrange", "budget", "compress", "documents", "embed", "evals", "history", "llm",
                          "memory", "models", "stores", "testing", "tokens", "cache", "server"})

__all__ = [
    "AsyncChatModel", "AsyncEmbedder", "AsyncVectorStore", "AuthError", "BackendError", "BudgetExceededError",
    "Built", "Catalog", "ChatModel", "ChatOptions", "Chunk", "Citation", "Completion", "Compressed", "Compressor",
    "Context", "ContextLengthError", "ContextwiseError", "Conversation", "Cost", "Embedder", "Hit", "ImagePart",
    "Item", "Message", "MissingDependencyError", "ModelInfo", "ProviderError", "RateLimitError", "Record", "Report",
    "Section", "StoreError", "TextPart", "TokenCounter", "TokenLogprob", "Tokenizer", "Tool", "ToolCall",
    "TruncationWarning", "UnavailableError", "UnifiedMemory", "UnknownBackendError", "Usage", "UsageError",
    "VectorStore", "cost", "get_model", "get_tokenizer", "register", "resolve", "tokenizer_for_model",
]


def __getattr__(name: str) -> Any:
    """Subpackages load on first attribute access, so `import contextwise` stays light."""
    if name in _SUBPACKAGES:
        return importlib.import_module(f"contextwise.{name}")
    raise AttributeError(f"module 'contextwise' has no attribute {name!r}")
