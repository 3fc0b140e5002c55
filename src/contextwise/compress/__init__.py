"""Compression: shorten text to an exact token target, keeping what matters for the query.

Every compressor returns exact counts under the tokenizer it was given, never exceeds the target and never
adds tokens. Pick one by how much must go, or let `Auto` pick:

- `Truncate` — the baseline: cut head, tail or middle on token boundaries (`truncate_tokens` is the function).
- `Extractive` — keep the most relevant, least redundant sentences (BM25, embeddings or both), in order.
- `TokenPruning` — drop what a small local LM finds predictable, sentences first, then words (LLMLingua-style).
- `Summarizer` — a chat model summarizes, single pass or map-reduce, focused on the query (sans-I/O core).
- `Auto` — extractive for light cuts, extractive + pruning for deeper ones, optionally summarizing the deepest.

>>> from contextwise.testing import FakeTokenizer
>>> compress("Cats purr. Dogs bark. Cows moo.", target_tokens=2, compressor=Extractive(query="dogs"),
...          tokenizer=FakeTokenizer()).text
'Dogs bark.'
"""

from __future__ import annotations

import time

from contextwise.compress import _factories
from contextwise.compress._sentences import split_sentences
from contextwise.compress.auto import Auto
from contextwise.compress.extractive import Extractive
from contextwise.compress.pruning import KEEP_PATTERNS, Prefilter, SurprisalModel, TokenPruning
from contextwise.compress.retention import retention
from contextwise.compress.scoring import Bm25Scorer, EmbeddingScorer, HybridScorer, SentenceScorer, SentenceScores
from contextwise.compress.summarize import SummaryRequest, SummaryStep, Summarizer
from contextwise.compress.truncate import Truncate, truncate_tokens
from contextwise.protocols import Compressor, Tokenizer
from contextwise.observe._emit import compressed as observe_compressed
from contextwise.registry import resolve
from contextwise.types import Compressed

__all__ = [
    "KEEP_PATTERNS", "Auto", "Bm25Scorer", "EmbeddingScorer", "Extractive", "HybridScorer", "SentenceScorer",
    "Prefilter", "SentenceScores", "Summarizer", "SummaryRequest", "SummaryStep", "SurprisalModel", "TokenPruning",
    "Truncate",
    "compress", "retention", "split_sentences", "truncate_tokens",
]


def compress(text: str, *, target_tokens: int, compressor: Compressor | str | None = None,
             tokenizer: Tokenizer | str | None = None, query: str | None = None) -> Compressed:
    """Shorten `text` to at most `target_tokens` tokens with `compressor` (default `Extractive()`).

    Args:
        compressor: a Compressor or a "provider:name" string, e.g. "extractive:bm25", "truncate:middle", "auto".
        tokenizer: a Tokenizer or an encoding name; default "o200k_base".
        query: what the text is compressed for; overrides the compressor's own query.

    Raises:
        UsageError: `target_tokens` is negative or a name is unknown.
    """
    chosen = Extractive() if compressor is None else resolve("compressor", compressor)
    started = time.perf_counter()
    result: Compressed = chosen.compress(text, target_tokens, _tokenizer(tokenizer), query)
    observe_compressed(result, method=type(chosen).__name__, target_tokens=target_tokens, started_s=started)
    return result


def _tokenizer(tokenizer: Tokenizer | str | None) -> Tokenizer:
    if tokenizer is None or isinstance(tokenizer, str):
        from contextwise.tokens import get_tokenizer

        return get_tokenizer(tokenizer or "o200k_base")
    return tokenizer


_factories.register_all()
