"""Exact offline token counting: tokenizers per model, provider message framing, and cached counting.

>>> from contextwise.tokens import TokenCounter
>>> TokenCounter.for_model("gpt-4o").count("hello world")
2

Importing this package also lets plain `tiktoken.get_encoding("o200k_base" | "cl100k_base")` work offline in
the same process (see `install_into_tiktoken`).
"""

from __future__ import annotations

from contextwise.tokens._backends import (
    AdaptiveTokenizer,
    EstimatedTokenizer,
    QuicktokTokenizer,
    TiktokenTokenizer,
    quicktok_available,
    split_for_parallel,
)
from contextwise.tokens._catalog import (
    TOKENIZER_IDS,
    EstimateSpec,
    canonical_tokenizer_id,
    estimate_specs,
    estimated_tokenizer,
    get_tokenizer,
    quicktok_tokenizer,
    resolve_tokenizer,
    tiktoken_tokenizer,
    tokenizer_for_model,
    tokenizer_id_for_model,
)
from contextwise.tokens._openai import RANK_FILES, RankFile, install_into_tiktoken
from contextwise.tokens.counter import TokenCounter, count_message, count_messages
from contextwise.tokens.framing import (
    ANTHROPIC,
    CHATML,
    GENERIC,
    GOOGLE,
    LLAMA3,
    OPENAI,
    OPENAI_LEGACY,
    Framing,
    JsonToolRule,
    OpenAIToolRule,
    framing_for,
)
from contextwise.tokens.images import (
    AreaImageRule,
    GeminiImageRule,
    PatchImageRule,
    TileImageRule,
)

__all__ = [
    "ANTHROPIC",
    "CHATML",
    "GENERIC",
    "GOOGLE",
    "LLAMA3",
    "OPENAI",
    "OPENAI_LEGACY",
    "RANK_FILES",
    "TOKENIZER_IDS",
    "AdaptiveTokenizer",
    "AreaImageRule",
    "EstimateSpec",
    "EstimatedTokenizer",
    "Framing",
    "GeminiImageRule",
    "JsonToolRule",
    "OpenAIToolRule",
    "PatchImageRule",
    "QuicktokTokenizer",
    "RankFile",
    "TiktokenTokenizer",
    "TileImageRule",
    "TokenCounter",
    "canonical_tokenizer_id",
    "count_message",
    "count_messages",
    "estimate_specs",
    "estimated_tokenizer",
    "framing_for",
    "get_tokenizer",
    "install_into_tiktoken",
    "quicktok_available",
    "quicktok_tokenizer",
    "resolve_tokenizer",
    "split_for_parallel",
    "tiktoken_tokenizer",
    "tokenizer_for_model",
    "tokenizer_id_for_model",
]

install_into_tiktoken()
