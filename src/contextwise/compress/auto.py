"""Pick the compressor by how much has to go: light cuts extractive, deeper ones hybrid, the deepest summarized."""

from __future__ import annotations

import math
from contextwise.compress.extractive import Extractive
from contextwise.compress.pruning import TokenPruning
from contextwise.compress._base import check_target
from contextwise.errors import UsageError
from contextwise.protocols import Compressor, Tokenizer
from contextwise.types import Compressed


class Auto:
    """Choose by the keep ratio needed (target / original tokens).

    Above `extractive_above`, extractive alone. Down to `summarize_below`, hybrid: extractive to `hybrid_slack`
    times the target, then token pruning to the target. Below it, the summarizer — when one is given; with
    `summarizer=None` (the default) hybrid goes all the way down.

    Args:
        query: what the text is compressed for; passed to every stage (a `query` given to `compress` wins).
        extractive: the extractive stage; default `Extractive()`.
        pruning: the token-pruning stage; default `TokenPruning()` (the embedded local model). For extractive
            only, with no model, set `extractive_above=0`.
        summarizer: the abstractive stage for the deepest cuts; None: off.
        extractive_above_with_query: the extractive threshold when there is a query. Measured on NaturalQuestions
            (gold passage + 19 distractors, benchmarks/bench_compress.py): with a question, extractive kept the
            answer as often as or more often than hybrid at 2x, 4x and 10x (BM25 0.95/0.85/0.85 vs hybrid
            0.90/0.85/0.85 on the same 20 questions; embeddings 1.00/1.00/0.98 on 200) at about 1,000x the
            speed, so by default a query means extractive at every ratio. The seed thresholds (0.7 / 0.3) stay
            for query-less text, where no measurement decides yet.
    """

    def __init__(self, *, query: str | None = None, extractive: Compressor | None = None,
                 pruning: Compressor | None = None, summarizer: Compressor | None = None,
                 extractive_above: float = 0.7, summarize_below: float = 0.3, hybrid_slack: float = 1.5,
                 extractive_above_with_query: float = 0.0) -> None:
        if not (0.0 <= summarize_below <= 1.0 and 0.0 <= extractive_above <= 1.0):
            raise UsageError("extractive_above and summarize_below are keep ratios between 0 and 1")
        if hybrid_slack < 1.0:
            raise UsageError(f"hybrid_slack must be at least 1.0, got {hybrid_slack}")
        self.query = query
        self.extractive = extractive if extractive is not None else Extractive()
        self.pruning = pruning if pruning is not None else TokenPruning()
        self.summarizer = summarizer
        self.extractive_above = extractive_above
        self.summarize_below = summarize_below
        self.hybrid_slack = hybrid_slack
        self.extractive_above_with_query = extractive_above_with_query
        self.name = "auto"

    def choose(self, keep_ratio: float, *, has_query: bool = False) -> str:
        """Which route a keep ratio takes: "none", "extractive", "hybrid" or "summarize"."""
        if keep_ratio >= 1.0:
            return "none"
        if keep_ratio > (self.extractive_above_with_query if has_query else self.extractive_above):
            return "extractive"
        if keep_ratio >= self.summarize_below or self.summarizer is None:
            return "hybrid"
        return "summarize"

    def compress(self, text: str, target_tokens: int, tokenizer: Tokenizer,
                 query: str | None = None) -> Compressed:
        """Shorten `text` to at most `target_tokens` tokens by the route its keep ratio calls for."""
        check_target(target_tokens)
        query = query or self.query
        original = tokenizer.count(text)
        route = self.choose(target_tokens / original if original else 1.0, has_query=bool(query))
        if route == "none":
            return Compressed(text, original, original, self.name)
        if target_tokens == 0:
            return Compressed("", original, 0, self.name)
        if route == "summarize":
            return _renamed(self.summarizer.compress(text, target_tokens, tokenizer, query), route)  # type: ignore
        if route == "extractive":
            return _renamed(self.extractive.compress(text, target_tokens, tokenizer, query), route)
        middle = min(original, math.ceil(target_tokens * self.hybrid_slack))
        first = self.extractive.compress(text, middle, tokenizer, query)
        second = self.pruning.compress(first.text, target_tokens, tokenizer, query)
        return Compressed(second.text, original, second.tokens, "auto-hybrid")


def _renamed(result: Compressed, route: str) -> Compressed:
    return Compressed(result.text, result.original_tokens, result.tokens, f"auto-{route}")

