"""Compression: shorten text to an exact token target, keeping what matters for the query.

Every compressor returns exact counts under the tokenizer it was given, never exceeds the target and never
adds tokens. Pick one by how much must go, or let `Auto` pick:

- `TruncateTokens` — the baseline: cut head, tail or middle on token boundaries (`truncate_tokens` is the function).
- `Extractive` — keep the most relevant, least redundant sentences (BM25, embeddings or both), in order.
- `TokenPruning` — drop what a small local LM finds predictable, sentences first, then words (LLMLingua-style).
- `Summarizer` — a chat model summarizes, single pass or map-reduce, focused on the query (sans-I/O core).
- `Auto` — extractive for light cuts, extractive + pruning for deeper ones, optionally summarizing the deepest.

>>> from contextwise.testing import FakeTokenizer
>>> compress("Cats purr. Dogs bark. Cows moo.", budget_tokens=2, compressor=Extractive(query="dogs"),
...          tokenizer=FakeTokenizer()).text
'Dogs bark.'
"""

from __future__ import annotations

import time

from contextwise._deprecated import UNSET, renamed_keyword, renamed_names
from contextwise.errors import UsageError
from contextwise.compress._sentences import split_sentences
from contextwise.compress.auto import Auto
from contextwise.compress.extractive import Extractive
from contextwise.compress.pruning import KEEP_PATTERNS, Prefilter, SurprisalModel, TokenPruning
from contextwise.compress.retention import retention
from contextwise.compress.scoring import Bm25Scorer, EmbeddingScorer, HybridScorer, SentenceScorer, SentenceScores
from contextwise.compress.summarize import ChunkSummaryRequest, Summarizer, SummaryJob, SummaryStep
from contextwise.compress.truncate import TruncateTokens, truncate_tokens
from contextwise.protocols import Compressor, Tokenizer
from contextwise.observe._emit import compressed as observe_compressed
from contextwise.registry import resolve
from contextwise.types import Compressed

__all__ = [
    "KEEP_PATTERNS", "Auto", "Bm25Scorer", "ChunkSummaryRequest", "EmbeddingScorer", "Extractive", "HybridScorer",
    "Prefilter", "SentenceScorer", "SentenceScores", "Summarizer", "SummaryJob", "SummaryStep", "SurprisalModel",
    "TokenPruning", "TruncateTokens", "compress", "retention", "split_sentences", "truncate_tokens",
]

__getattr__ = renamed_names(__name__, {"Truncate": "TruncateTokens", "SummaryRequest": "ChunkSummaryRequest"})


def compress(text: str, *, budget_tokens: int = UNSET, compressor: Compressor | str | None = None,
             tokenizer: Tokenizer | str | None = None, query: str | None = None,
             target_tokens: int = UNSET) -> Compressed:
    """Shorten `text` to at most `budget_tokens` tokens with `compressor` (default `Extractive()`).

    `target_tokens=` is the old, deprecated name of `budget_tokens`.

    Args:
        compressor: a Compressor or a "provider:name" string, e.g. "extractive:bm25", "truncate:middle", "auto".
        tokenizer: a Tokenizer, a tokenizer id ("o200k_base", the default), a "provider:name" string or a model
            name ("gpt-4o"), as everywhere (see `contextwise.tokens.resolve_tokenizer`).
        query: what the text is compressed for; overrides the compressor's own query.

    Raises:
        UsageError: `budget_tokens` is missing or negative, or a name is unknown.
    """
    budget = renamed_keyword("compress", "target_tokens", "budget_tokens", target_tokens, budget_tokens, UNSET)
    if budget is UNSET:
        raise UsageError("compress() needs budget_tokens")
    chosen = Extractive() if compressor is None else resolve("compressor", compressor)
    started = time.perf_counter()
    result: Compressed = chosen.compress(text, budget, _tokenizer(tokenizer), query)
    observe_compressed(result, method=type(chosen).__name__, target_tokens=budget, started_s=started)
    return result


def _tokenizer(tokenizer: Tokenizer | str | None) -> Tokenizer:
    from contextwise.tokens import resolve_tokenizer

    return resolve_tokenizer("o200k_base" if tokenizer is None else tokenizer)
