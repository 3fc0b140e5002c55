"""Rank chunks by relevance to a query, recency and authority, keeping every component score for explanation."""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from contextwise._weighting import DAY_S, Weighting
from contextwise.embed._bm25 import analyze, bm25_scores
from contextwise.embed._fusion import ByPeak, Raw, fuse_scores
from contextwise.errors import UsageError
from contextwise.protocols import Embedder
from contextwise.registry import resolve
from contextwise.types import Chunk

DEFAULT_EMBEDDER = "onnx:all-minilm-l6-v2"


@dataclass(frozen=True)
class RankWeights(Weighting):
    """How much relevance, recency and authority each count toward a chunk's score.

    The score is the weighted mean of the three components, each in [0, 1], so it is in [0, 1] too.

    Args:
        relevance: weight of similarity to the query.
        recency: weight of freshness; a chunk `half_life_s` old scores 0.5, twice that 0.25.
        authority: weight of the chunk's (or its source's) authority score.
        half_life_s: the age at which recency halves.
        undated_recency: the recency of a chunk without a timestamp.

    >>> RankWeights(relevance=0.7, recency=0.3).recency
    0.3
    """

    relevance: float = 1.0
    recency: float = 0.0
    authority: float = 0.0
    half_life_s: float = 30 * DAY_S
    undated_recency: float = 0.0

    components = ("relevance", "recency", "authority")

    def __post_init__(self) -> None:
        self.check()
        if not 0.0 <= self.undated_recency <= 1.0:
            raise UsageError(f"undated_recency must be in [0, 1], got {self.undated_recency}")


@dataclass(frozen=True)
class Dense:
    """Relevance as the cosine similarity of query and chunk embeddings, floored at 0."""

    def scores(self, chunks: Sequence[Chunk], query: str, embedder: Embedder) -> np.ndarray:
        """One relevance score in [0, 1] per chunk."""
        return _cosine(chunks, query, embedder)


@dataclass(frozen=True)
class Hybrid:
    """Relevance mixing dense similarity with BM25, the BM25 scores scaled so the best match among the chunks
    scores 1 and a chunk sharing no query term scores 0 (relative score fusion).

    The scaling is relative: with few chunks, one that shares a single query word can take the whole lexical
    share, so keep `lexical` modest.

    Args:
        lexical: the share of the BM25 score in the mix, in [0, 1].
    """

    lexical: float = 0.3

    def __post_init__(self) -> None:
        if not 0.0 <= self.lexical <= 1.0:
            raise UsageError(f"Hybrid(lexical=...) must be in [0, 1], got {self.lexical}")

    def scores(self, chunks: Sequence[Chunk], query: str, embedder: Embedder) -> np.ndarray:
        """One relevance score in [0, 1] per chunk."""
        dense = _cosine(chunks, query, embedder) if self.lexical < 1.0 else np.zeros(len(chunks))
        return fuse_scores([dense, _bm25(chunks, query)], strategy=[Raw(), ByPeak()],
                           weights=[1.0 - self.lexical, self.lexical])


@dataclass(frozen=True)
class Precomputed:
    """Relevance scores you already have, one per chunk in order (e.g. a vector store's hit scores, or
    similarities from an async embedder); clipped to [0, 1]. No embedder is needed.

    >>> Precomputed((0.9, 0.2)).scores([Chunk("a", "x"), Chunk("b", "y")], "q", None).tolist()
    [0.9, 0.2]
    """

    values: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        if not all(math.isfinite(v) for v in self.values):
            raise UsageError("Precomputed relevance scores must be finite numbers")

    def scores(self, chunks: Sequence[Chunk], query: str, embedder: Embedder | None) -> np.ndarray:
        """The given scores, checked to be one per chunk."""
        if len(self.values) != len(chunks):
            raise UsageError(f"Precomputed has {len(self.values)} scores for {len(chunks)} chunks; give one per "
                             f"chunk, in order")
        return np.clip(np.array(self.values, dtype=np.float64), 0.0, 1.0)


Relevance = Dense | Hybrid | Precomputed


@dataclass(frozen=True)
class Ranked:
    """A chunk with its score and the component scores it came from (each in [0, 1])."""

    chunk: Chunk
    score: float
    relevance: float
    recency: float
    authority: float

    @property
    def id(self) -> str:
        """The chunk's id."""
        return self.chunk.id

    def explain(self) -> str:
        """A one-line account of the score."""
        return (f"{self.chunk.id}: score {self.score:.3f} = relevance {self.relevance:.3f}, "
                f"recency {self.recency:.3f}, authority {self.authority:.3f}")


def rank(chunks: Sequence[Chunk], query: str, *, embedder: Embedder | str | None = None,
         weights: RankWeights | None = None, relevance: Relevance | None = None,
         source_authority: Mapping[str, float] | None = None, now: float | None = None) -> list[Ranked]:
    """Score chunks and return them best first (ties keep input order).

    Args:
        chunks: the candidates; ids must be unique.
        query: what the context is for.
        embedder: an Embedder or "provider:name"; default the embedded ONNX MiniLM (`contextwise[embed]`),
            the one memory uses. Not loaded when the relevance weight is 0 or `relevance` is purely lexical.
        weights: the RankWeights (default: relevance only).
        relevance: Dense() (default), Hybrid(lexical=...) or Precomputed(scores).
        source_authority: authority by source; a source listed here overrides its chunks' own authority.
        now: the time recency is measured from, in epoch seconds (default: the current time).

    Raises:
        UsageError: duplicate chunk ids or an authority outside [0, 1].
        MissingDependencyError: the default embedder is needed and `contextwise[embed]` is not installed.

    >>> from contextwise.testing import HashEmbedder
    >>> best = rank([Chunk("a", "cats purr"), Chunk("b", "stocks fell")], "why do cats purr",
    ...             embedder=HashEmbedder())[0]
    >>> best.chunk.id
    'a'
    """
    weights = weights or RankWeights()
    relevance = relevance or Dense()
    check_ids(chunks)
    now = time.time() if now is None else now
    rel = _relevance(chunks, query, embedder, weights, relevance)
    out = [Ranked(c, weights.combine(r, rc, a), r, rc, a) for c, r, rc, a in zip(
        chunks, rel, _recency(chunks, weights, now), _authority(chunks, source_authority))]
    order = sorted(range(len(out)), key=lambda i: -out[i].score)
    return [out[i] for i in order]


def check_ids(chunks: Sequence[Chunk]) -> None:
    seen: set[str] = set()
    for chunk in chunks:
        if chunk.id in seen:
            raise UsageError(f"chunk id {chunk.id!r} appears twice; give every chunk a unique id (with "
                             f"chunk_document, a distinct doc_id per document)")
        seen.add(chunk.id)


def _relevance(chunks: Sequence[Chunk], query: str, embedder: Embedder | str | None,
               weights: RankWeights, relevance: Relevance) -> list[float]:
    if not chunks or weights.relevance == 0:
        return [0.0] * len(chunks)
    needs_embedder = not isinstance(relevance, Precomputed) and not (
        isinstance(relevance, Hybrid) and relevance.lexical == 1.0)
    if needs_embedder and embedder is None:
        embedder = DEFAULT_EMBEDDER  # the embedded default, as memory uses (MissingDependencyError names [embed])
    resolved: Any = resolve("embedder", embedder) if embedder is not None else None
    scores = relevance.scores(chunks, query, resolved)
    return [min(1.0, max(0.0, float(s))) for s in scores]


def _recency(chunks: Sequence[Chunk], weights: RankWeights, now: float) -> list[float]:
    out = []
    for chunk in chunks:
        out.append(weights.undated_recency if chunk.timestamp is None else weights.decay(now - chunk.timestamp))
    return out


def _authority(chunks: Sequence[Chunk], by_source: Mapping[str, float] | None) -> list[float]:
    out = []
    for chunk in chunks:
        value = by_source[chunk.source] if by_source and chunk.source in by_source else chunk.authority
        if not 0.0 <= value <= 1.0:
            raise UsageError(f"authority of chunk {chunk.id!r} is {value}; authority must be in [0, 1]")
        out.append(float(value))
    return out


def _cosine(chunks: Sequence[Chunk], query: str, embedder: Any) -> np.ndarray:
    q = np.asarray(embedder.embed([query], kind="query"), dtype=np.float32)[0]
    docs = np.asarray(embedder.embed([c.text for c in chunks], kind="document"), dtype=np.float32)
    scores: np.ndarray = np.clip(docs @ q, 0.0, 1.0)
    return scores


def _bm25(chunks: Sequence[Chunk], query: str) -> np.ndarray:
    return bm25_scores([analyze(c.text) for c in chunks], analyze(query))
