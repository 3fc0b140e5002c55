"""Fuse rankings from several retrievers (lexical, vector, ...) into one, for hybrid recall."""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable, Sequence

from contextwise.errors import UsageError


@dataclass(frozen=True)
class Scored:
    """An id with a score; higher is better."""

    id: str
    score: float


Ranking = Sequence[Scored | str]


def fuse_rrf(*rankings: Ranking, k: float = 60, weights: Sequence[float] | None = None) -> list[Scored]:
    """Reciprocal-rank fusion: each id scores the sum over rankings of weight / (k + rank), rank counted from 1.

    Only ranks matter, so rankings whose scores are on different scales (BM25, cosine) fuse fairly. An id
    repeated within one ranking counts at its best rank. Ties keep the order in which ids were first seen.

    Args:
        rankings: each a best-first sequence of `Scored` or plain ids.
        k: damping constant; 60 is the value of Cormack et al. (2009).
        weights: one per ranking; None weighs all equally.

    >>> [s.id for s in fuse_rrf(["a", "b", "c"], ["c", "a"])]
    ['a', 'c', 'b']
    """
    if k < 0:
        raise UsageError(f"k must not be negative, got {k}")
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, _weights(rankings, weights)):
        seen: set[str] = set()
        for rank, item in enumerate(ranking, start=1):
            key = _id(item)
            if key not in seen:
                seen.add(key)
                fused[key] = fused.get(key, 0.0) + weight / (k + rank)
    return _sorted(fused)


def fuse_weighted(*rankings: Sequence[Scored], weights: Sequence[float] | None = None) -> list[Scored]:
    """Weighted score fusion: scores are min-max scaled to [0, 1] within each ranking, then summed by weight.

    An id missing from a ranking gets 0 from it. A ranking whose scores are all equal scales them to 1.
    Use it when scores carry more than their order (a near-tie in cosine should stay a near-tie).

    >>> fuse_weighted([Scored("a", 9.0), Scored("b", 1.0)], [Scored("b", 0.9)], weights=[1, 2])[0]
    Scored(id='b', score=2.0)
    """
    fused: dict[str, float] = {}
    for ranking, weight in zip(rankings, _weights(rankings, weights)):
        for key, scaled in _min_max(ranking).items():
            fused[key] = fused.get(key, 0.0) + weight * scaled
    return _sorted(fused)


def _min_max(ranking: Sequence[Scored]) -> dict[str, float]:
    best: dict[str, float] = {}
    for item in ranking:
        if not isinstance(item, Scored):
            raise UsageError(f"fuse_weighted needs Scored items, got {type(item).__name__}; use fuse_rrf for ids")
        best[item.id] = max(item.score, best.get(item.id, item.score))
    if not best:
        return {}
    low, high = min(best.values()), max(best.values())
    span = high - low
    return {key: (score - low) / span if span else 1.0 for key, score in best.items()}


def _weights(rankings: Sequence[object], weights: Sequence[float] | None) -> Iterable[float]:
    if weights is None:
        return [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise UsageError(f"got {len(weights)} weights for {len(rankings)} rankings; give one per ranking")
    return [float(w) for w in weights]


def _id(item: Scored | str) -> str:
    return item.id if isinstance(item, Scored) else item


def _sorted(fused: dict[str, float]) -> list[Scored]:
    # sorted() is stable, so equal scores keep first-seen order
    return [Scored(key, score) for key, score in sorted(fused.items(), key=lambda kv: -kv[1])]
