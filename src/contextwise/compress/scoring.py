"""How extractive compression scores sentences: lexical (BM25), semantic (embeddings), or both fused.

A scorer returns each sentence's relevance in [0, 1] (to the query, or without one to the document as a
whole) and unit vectors that redundancy removal (MMR) compares sentences with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from collections.abc import Sequence

import numpy as np

from contextwise.compress import _lexical
from contextwise.compress._base import backend
from contextwise.embed._bm25 import bm25_scores
from contextwise.errors import UsageError
from contextwise.protocols import Embedder

# Without a query, or where no sentence shares a word with it, the most typical sentences win.
_CENTRALITY_WEIGHT = 0.1


@dataclass(frozen=True)
class SentenceScores:
    """Per-sentence relevance in [0, 1] and unit vectors (one row per sentence) for redundancy removal."""

    relevance: np.ndarray
    vectors: np.ndarray


@runtime_checkable
class SentenceScorer(Protocol):
    """Scores the sentences of one document, optionally against a query."""

    name: str

    def score(self, sentences: Sequence[str], query: str | None = None) -> SentenceScores: ...


@dataclass(frozen=True)
class Bm25Scorer:
    """Okapi BM25 of each sentence against the query, IDF taken over the document's own sentences: the BM25
    documents and memory use (`contextwise.embed.bm25_scores`, Lucene's formula and stop words).

    Vectors are hashed TF-IDF. Pure numpy, no model: the default scorer.
    """

    k1: float = 1.5
    b: float = 0.75
    name: str = "bm25"

    def score(self, sentences: Sequence[str], query: str | None = None) -> SentenceScores:
        """Score `sentences` against `query` (or, without one, against the document)."""
        docs = [_lexical.terms(s) for s in sentences]
        vectors = _lexical.tfidf_vectors(docs)
        central = _lexical.unit_scale(_lexical.centrality(vectors))
        if not query:
            return SentenceScores(central, vectors)
        lexical = _lexical.unit_scale(bm25_scores(docs, _lexical.terms(query), k1=self.k1, b=self.b))
        return SentenceScores(_blend(lexical, central), vectors)


class EmbeddingScorer:
    """Cosine similarity of sentence and query embeddings; by default the embedded ONNX MiniLM.

    Raises:
        MissingDependencyError: (on first use) the default embedder's extra is not installed.
    """

    def __init__(self, embedder: Embedder | str | None = None) -> None:
        self._embedder = embedder
        self.name = "embedding"

    @property
    def embedder(self) -> Embedder:
        """The embedder, built on first use."""
        self._embedder = backend(self._embedder, "embedder", _onnx_minilm)
        return self._embedder  # type: ignore[return-value]

    def score(self, sentences: Sequence[str], query: str | None = None) -> SentenceScores:
        """Score `sentences` against `query` (or, without one, against the document)."""
        vectors = np.asarray(self.embedder.embed(list(sentences), "document"), dtype=np.float32)
        central = _lexical.unit_scale(_lexical.centrality(vectors))
        if not query:
            return SentenceScores(central, vectors)
        q = np.asarray(self.embedder.embed([query], "query"), dtype=np.float32)[0]
        return SentenceScores(_blend(_lexical.unit_scale(vectors @ q), central), vectors)


class HybridScorer:
    """BM25 and embedding relevance averaged with `semantic_weight` on the embeddings; embedding vectors."""

    def __init__(self, embedder: Embedder | str | None = None, *, semantic_weight: float = 0.5) -> None:
        if not 0.0 <= semantic_weight <= 1.0:
            raise UsageError(f"semantic_weight must be in [0, 1], got {semantic_weight}")
        self.lexical = Bm25Scorer()
        self.semantic = EmbeddingScorer(embedder)
        self.semantic_weight = semantic_weight
        self.name = "hybrid"

    def score(self, sentences: Sequence[str], query: str | None = None) -> SentenceScores:
        """Score `sentences` against `query` (or, without one, against the document)."""
        lexical = self.lexical.score(sentences, query)
        semantic = self.semantic.score(sentences, query)
        w = self.semantic_weight
        return SentenceScores(w * semantic.relevance + (1 - w) * lexical.relevance, semantic.vectors)


def _onnx_minilm() -> Embedder:
    from contextwise.embed import default_embedder

    return default_embedder()  # one loaded model per process, not one per scorer


def _blend(relevance: np.ndarray, central: np.ndarray) -> np.ndarray:
    return (1 - _CENTRALITY_WEIGHT) * relevance + _CENTRALITY_WEIGHT * central


def resolve_scorer(scorer: SentenceScorer | str | None) -> Any:
    """A scorer from an instance, None (BM25) or a name: "bm25", "embedding", "hybrid"."""
    if scorer is None or scorer == "bm25":
        return Bm25Scorer()
    if scorer == "embedding":
        return EmbeddingScorer()
    if scorer == "hybrid":
        return HybridScorer()
    if isinstance(scorer, str):
        raise UsageError(f"unknown scorer {scorer!r}; use 'bm25', 'embedding', 'hybrid' or a SentenceScorer")
    return scorer
