"""Pick the compressor by how much has to go and whether there is a query: extractive, hybrid, or a summary."""

from __future__ import annotations

import math
import warnings

from contextwise.compress.extractive import Extractive
from contextwise.compress.pruning import TokenPruning
from contextwise.compress._base import check_target
from contextwise.errors import MissingDependencyError, UsageError
from contextwise.protocols import Compressor, Tokenizer
from contextwise.types import Compressed


class Auto:
    """Choose by the keep ratio needed (target / original tokens), and by whether there is a query.

    Above `extractive_above`, extractive alone. Down to `summarize_below`, hybrid: extractive to `hybrid_slack`
    times the target, then token pruning to the target. Below it, the summarizer — when one is given; with
    `summarizer=None` (the default) hybrid goes all the way down. With a query, extractive down to
    `extractive_above_with_query`.

    The defaults are measured on NaturalQuestions (benchmarks/bench_compress.py, benchmarks/bench_auto.py):

    - With a query, extractive at every ratio: it kept the answer as often as or more often than hybrid at 2x,
      4x and 10x (BM25 0.95/0.85/0.85 vs hybrid 0.90/0.85/0.85 on the same 20 questions; embeddings
      1.00/1.00/0.98 on 200) at about 1,000x the speed.
    - Without a query (each context's 20 passages are the gold passages of 20 questions: 20 facts to keep),
      the share of facts kept at keep ratio 0.9/0.7/0.5/0.3/0.2/0.1 on the same 12 contexts was: hybrid
      0.95/0.87/0.69/0.45/0.30/0.14 (20-160 tokens/s under load; it keeps names and numbers but no
      answer-bearing sentence whole); extractive 0.93/0.77/0.59/0.35/0.22/0.11 (~35,000 tokens/s, whole
      sentences; on 100 contexts 0.93/0.77/0.60/0.37/0.25/0.13); truncation 0.93/0.72/0.52/0.32/0.23/0.11.
      On 7 other contexts (seed 1): hybrid 0.97/0.91/0.79/0.55/0.39/0.21, extractive 0.96/0.81/0.61/0.39/
      0.26/0.16. Hybrid keeps a tenth or more of the facts beyond extractive from 0.7 down to 0.2 and
      0.03-0.06 more at 0.1; at 0.9 its 0.01 does not pay for the model reading the whole text. Hence
      `extractive_above=0.8`.
    - The summarizer never won: with the embedded SmolLM2-135M it kept 0.12/0.08/0.12 of the facts at
      0.3/0.2/0.1 where extractive kept 0.35/0.22/0.12 on the same 3 contexts, at 14-64 tokens/s. So by
      default there is none; `summarize_below` (0.3, unmeasured) applies to a summarizer you bring, e.g. a
      large hosted model.

    Args:
        query: what the text is compressed for; passed to every stage (a `query` given to `compress` wins).
        extractive: the extractive stage; default `Extractive()`.
        pruning: the token-pruning stage; default `TokenPruning()` (the embedded local model). For extractive
            only, with no model (about 1,000x faster, a tenth fewer facts kept without a query), set
            `extractive_above=0`. Without the `local` extra the default falls back to extractive, with a
            warning; a pruning stage you pass is never replaced.
        summarizer: the abstractive stage for the deepest cuts; None: off.
        extractive_above_with_query: the extractive threshold when there is a query (see above).
    """

    def __init__(self, *, query: str | None = None, extractive: Compressor | None = None,
                 pruning: Compressor | None = None, summarizer: Compressor | None = None,
                 extractive_above: float = 0.8, summarize_below: float = 0.3, hybrid_slack: float = 1.5,
                 extractive_above_with_query: float = 0.0) -> None:
        if not (0.0 <= summarize_below <= 1.0 and 0.0 <= extractive_above <= 1.0):
            raise UsageError("extractive_above and summarize_below are keep ratios between 0 and 1")
        if hybrid_slack < 1.0:
            raise UsageError(f"hybrid_slack must be at least 1.0, got {hybrid_slack}")
        self.query = query
        self.extractive = extractive if extractive is not None else Extractive()
        self.pruning = pruning if pruning is not None else TokenPruning()
        self._fallback = pruning is None  # only the default pruning may be replaced when [local] is missing
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
        try:
            second = self.pruning.compress(first.text, target_tokens, tokenizer, query)
        except MissingDependencyError as exc:
            if not self._fallback:
                raise
            warnings.warn(f"Auto compresses extractively: the default token pruning is unavailable ({exc})",
                          UserWarning, stacklevel=2)
            return _renamed(self.extractive.compress(text, target_tokens, tokenizer, query), "extractive")
        return Compressed(second.text, original, second.tokens, "auto-hybrid")


def _renamed(result: Compressed, route: str) -> Compressed:
    return Compressed(result.text, result.original_tokens, result.tokens, f"auto-{route}")

