"""contextwise: make every LLM call fit, cost less, remember more.

>>> import contextwise as cw
"""

from __future__ import annotations

from contextwise.errors import (
    AuthError, BackendError, BudgetExceededError, ContextLengthError, ContextwiseError, MissingDependencyError,
    ProviderError, RateLimitError, StoreError, TruncationWarning, UnavailableError, UnknownBackendError, UsageError,
)
from contextwise.protocols import (
    AsyncChatModel, AsyncEmbedder, AsyncVectorStore, ChatModel, Compressor, Embedder, Tokenizer, VectorStore,
)
from contextwise.registry import register, resolve
from contextwise.types import (
    ChatOptions, Chunk, Citation, Completion, Compressed, Hit, ImagePart, Message, Record, TextPart, TokenLogprob,
    Tool, ToolCall, Usage,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncChatModel", "AsyncEmbedder", "AsyncVectorStore", "AuthError", "BackendError", "BudgetExceededError",
    "ChatModel", "ChatOptions", "Chunk", "Citation", "Completion", "Compressed", "Compressor", "ContextLengthError",
    "ContextwiseError", "Embedder", "Hit", "ImagePart", "Message", "MissingDependencyError", "ProviderError",
    "RateLimitError", "Record", "StoreError", "TextPart", "TokenLogprob", "Tokenizer", "Tool", "ToolCall",
    "TruncationWarning", "UnavailableError", "UnknownBackendError", "Usage", "UsageError", "VectorStore",
    "register", "resolve",
]
