"""Extractive compression: keep the sentences that matter for the query, in their original order, to the token.

Sentences are scored by a strategy object (BM25, embeddings, or both), picked greedily by maximal marginal
relevance (relevance minus similarity to what is already kept) among those that still fit the budget, and
re-joined with their original separators. The result is re-counted under the caller's tokenizer and shrunk
until it fits; when not even the best sentence fits, it is cut on a token boundary.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from contextwise.compress._base import start
from contextwise.compress._sentences import Span, sentence_spans
from contextwise.compress.scoring import SentenceScorer, SentenceScores, resolve_scorer
from contextwise.compress.truncate import truncate_tokens
from contextwise.errors import UsageError
from contextwise.protocols import Tokenizer
from contextwise.types import Compressed


class Extractive:
    """Keep the most relevant, least redundant sentences that fit, in their original order.

    Args:
        query: what the text is compressed for; a `query` passed to `compress` takes precedence.
        scorer: a SentenceScorer, or "bm25" (default, no model), "embedding", "hybrid".
        diversity: weight of redundancy against relevance in MMR, 0 (off) to 1.

    >>> from contextwise.testing import FakeTokenizer
    >>> text = "Paris is in France. Bananas are yellow. The capital of France is Paris."
    >>> Extractive(query="capital of France", diversity=0).compress(text, 7, FakeTokenizer()).text
    'The capital of France is Paris.'
    """

    def __init__(self, *, query: str | None = None, scorer: SentenceScorer | str | None = None,
                 diversity: float = 0.3) -> None:
        if not 0.0 <= diversity <= 1.0:
            raise UsageError(f"diversity must be in [0, 1], got {diversity}")
        self.query = query
        self.scorer = resolve_scorer(scorer)
        self.diversity = diversity

    @property
    def name(self) -> str:
        """"extractive-<scorer>"."""
        return f"extractive-{self.scorer.name}"

    def compress(self, text: str, target_tokens: int, tokenizer: Tokenizer,
                 query: str | None = None) -> Compressed:
        """Shorten `text` to at most `target_tokens` tokens under `tokenizer`."""
        original, done = start(text, target_tokens, tokenizer, self.name)
        if done:
            return done
        spans = sentence_spans(text)
        sentences = [text[s.start:s.end] for s in spans]
        scores = self.scorer.score(sentences, query or self.query)
        kept = self._fit(text, spans, scores, target_tokens, tokenizer)
        return Compressed(kept, original, tokenizer.count(kept), self.name)

    def _fit(self, text: str, spans: Sequence[Span], scores: SentenceScores, target_tokens: int,
             tokenizer: Tokenizer) -> str:
        costs = np.array([tokenizer.count(text[_lead(spans, i):s.end]) for i, s in enumerate(spans)])
        best = spans[int(np.argmax(scores.relevance))]
        if tokenizer.count(text[best.start:best.end]) > target_tokens:  # not even the best fits: cut it
            return truncate_tokens(text[best.start:best.end], target_tokens, tokenizer).text
        budget = target_tokens
        while budget > 0:
            chosen = select(scores, costs, budget, diversity=self.diversity)
            if not chosen:
                break
            kept = join_spans(text, spans, chosen)
            over = tokenizer.count(kept) - target_tokens
            if over <= 0:
                return kept
            budget -= over
        return truncate_tokens(text[best.start:best.end], target_tokens, tokenizer).text


def select(scores: SentenceScores, costs: np.ndarray, budget_tokens: int, *, diversity: float) -> list[int]:
    """Indices picked greedily by MMR among the sentences that still fit `budget_tokens`, in pick order."""
    relevance = np.asarray(scores.relevance, dtype=np.float64)
    fits = costs <= budget_tokens
    max_similarity = np.zeros(len(costs))
    chosen: list[int] = []
    left = budget_tokens
    while fits.any():
        gain = (1 - diversity) * relevance - diversity * max_similarity
        best = int(np.argmax(np.where(fits, gain, -np.inf)))
        chosen.append(best)
        left -= int(costs[best])
        fits[best] = False
        fits &= costs <= left
        if diversity:
            max_similarity = np.maximum(max_similarity, scores.vectors @ scores.vectors[best])
    return chosen


def join_spans(text: str, spans: Sequence[Span], chosen: Sequence[int]) -> str:
    """The chosen spans in original order, each followed by the whitespace that followed it in `text`."""
    return placed_spans(text, spans, chosen)[0]


def placed_spans(text: str, spans: Sequence[Span], chosen: Sequence[int]) -> tuple[str, list[tuple[int, int]]]:
    """`join_spans`, and where each chosen span lies in the joined text (with the separator before it), in
    original order."""
    order = sorted(chosen)
    parts: list[str] = []
    places: list[tuple[int, int]] = []
    at = 0
    for k, i in enumerate(order):
        sentence = text[spans[i].start:spans[i].end]
        places.append((places[-1][1] if places else 0, at + len(sentence)))
        parts.append(sentence)
        at += len(sentence)
        if k + 1 < len(order):
            parts.append(_gap(text, spans, i) or " ")
            at += len(parts[-1])
    return "".join(parts), places


def _gap(text: str, spans: Sequence[Span], i: int) -> str:
    end = spans[i + 1].start if i + 1 < len(spans) else spans[i].end
    return text[spans[i].end:end]


def _lead(spans: Sequence[Span], i: int) -> int:
    """Where sentence `i` starts counting from: its preceding separator costs tokens too."""
    return spans[i - 1].end if i else spans[i].start
