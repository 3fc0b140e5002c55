"""Score fusion, the one implementation: several retrievers' scores (lexical, vector, ...) for the same items
combined into one, each first normalised by a named strategy.

`fuse_scores` works on aligned score columns (documents' and compression's hybrids); `fuse_rankings` on best-first
rankings of ids (memory's hybrid recall). `fuse_rrf` and `fuse_weighted` are `fuse_rankings` with a strategy chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from contextwise.errors import UsageError
from contextwise.types import ScoredResult


@dataclass(frozen=True)
class Scored:
    """An id with a score; higher is better."""

    id: str
    score: float


Ranking = Sequence[ScoredResult | str]


class FusionStrategy(Protocol):
    """How one column of scores is normalised before the weighted sum; absent items contribute 0."""

    @property
    def name(self) -> str: ...

    @property
    def uses_scores(self) -> bool: ...

    def normalize(self, scores: np.ndarray, present: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class ReciprocalRank:
    """1 / (k + rank), rank counted from 1 in descending score (ties in input order): only ranks matter, so
    scores on different scales (BM25, cosine) fuse fairly. k=60 is Cormack et al. (2009)."""

    k: float = 60.0
    name: str = "rrf"
    uses_scores: bool = False

    def __post_init__(self) -> None:
        if self.k < 0:
            raise UsageError(f"k must not be negative, got {self.k}")

    def normalize(self, scores: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Reciprocal ranks of the present items."""
        out = np.zeros(len(scores))
        order = [i for i in np.argsort(-scores, kind="stable") if present[i]]
        out[order] = 1.0 / (self.k + np.arange(1, len(order) + 1))
        return out


@dataclass(frozen=True)
class MinMax:
    """(score - min) / (max - min) over the present items. For scores that carry more than their order (a
    near-tie in cosine stays a near-tie).

    Items that all tie scale to `tie_value` (1 by default). A tie is a spread of at most `tie_tolerance` times
    the largest magnitude (at least 1): 0 by default, exact ties only; compression uses
    `MinMax(tie_value=0.0, tie_tolerance=1e-6)`, so rounding noise among float32 scores is not stretched into a
    full-scale preference.

    >>> MinMax().normalize(np.array([1.0, 3.0, 2.0]), np.ones(3, dtype=bool)).tolist()
    [0.0, 1.0, 0.5]
    """

    name: str = "min-max"
    uses_scores: bool = True
    tie_value: float = 1.0
    tie_tolerance: float = 0.0

    def normalize(self, scores: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Min-max scaled scores of the present items."""
        return _scaled(scores, present, self._scale)

    def _scale(self, s: np.ndarray) -> np.ndarray | float:
        span = s.max() - s.min()
        if span <= self.tie_tolerance * max(1.0, float(np.abs(s).max())):
            return self.tie_value
        scaled: np.ndarray = (s - s.min()) / span
        return scaled


@dataclass(frozen=True)
class ByPeak:
    """score / best score, so the best item scores 1 and a score of 0 stays 0 (relative score fusion)."""

    name: str = "by-peak"
    uses_scores: bool = True

    def normalize(self, scores: np.ndarray, present: np.ndarray) -> np.ndarray:
        """Scores divided by the best present one (all zeros when it is not positive)."""
        return _scaled(scores, present, lambda s: s / s.max() if s.max() > 0 else 0.0)


@dataclass(frozen=True)
class Raw:
    """The scores as they are (already on a shared scale, e.g. cosines or relevances in [0, 1])."""

    name: str = "raw"
    uses_scores: bool = True

    def normalize(self, scores: np.ndarray, present: np.ndarray) -> np.ndarray:
        """The present scores unchanged."""
        return np.where(present, scores, 0.0)


@dataclass(frozen=True)
class RawCut:
    """The scores as they are, for a column that holds a search's top `pool` results: an item the search did not
    return counts its lowest returned score when the search was cut at `pool` (it may have scored just below),
    else 0 (the search returned everything that matched). Episodic memory ranks with it."""

    pool: int
    name: str = "raw-cut"
    uses_scores: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.pool, bool) or not isinstance(self.pool, int) or self.pool < 1:
            raise UsageError(f"pool must be a whole number >= 1, got {self.pool!r}")

    def absent(self, scores: np.ndarray, present: np.ndarray) -> float:
        """What an item missing from the column counts."""
        return float(scores[present].min()) if int(present.sum()) >= self.pool else 0.0

    def normalize(self, scores: np.ndarray, present: np.ndarray) -> np.ndarray:
        """The present scores unchanged, the absent ones `absent()`."""
        return np.where(present, scores, self.absent(scores, present))


def fuse_scores(columns: Sequence[np.ndarray], *, strategy: FusionStrategy | Sequence[FusionStrategy],
                weights: Sequence[float] | None = None, present: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """The weighted sum of score columns (one score per item, the same items in each), each normalised by its
    strategy (one for all, or one per column); `present` marks which items each column scored.

    >>> fuse_scores([np.array([0.2, 0.8]), np.array([3.0, 0.0])], strategy=[Raw(), ByPeak()]).tolist()
    [1.2, 0.8]
    """
    strategies = list(strategy) if isinstance(strategy, Sequence) else [strategy] * len(columns)
    if len(strategies) != len(columns):
        raise UsageError(f"got {len(strategies)} strategies for {len(columns)} columns; give one, or one each")
    masks = present if present is not None else [np.ones(len(c), dtype=bool) for c in columns]
    total = np.zeros(len(columns[0]) if len(columns) else 0)
    for column, mask, how, weight in zip(columns, masks, strategies, _weights(columns, weights)):
        total += weight * how.normalize(np.asarray(column, dtype=np.float64), np.asarray(mask, dtype=bool))
    return total


def fuse_rankings(*rankings: Ranking, strategy: FusionStrategy | None = None,
         weights: Sequence[float] | None = None) -> list[Scored]:
    """Fuse best-first rankings of ids, or of scored results (anything with `.id` and `.score`: `Scored`, store
    `Hit`s, `Ranked` chunks, recalled `MemoryItem`s), into one, best first; ties keep first-seen order.

    An id repeated within one ranking counts at its best rank (and best score). A strategy that uses scores
    needs scored items.

    >>> [s.id for s in fuse_rankings(["a", "b", "c"], ["c", "a"])]
    ['a', 'c', 'b']
    """
    how = strategy if strategy is not None else ReciprocalRank()
    ids = list(dict.fromkeys(_id(item) for ranking in rankings for item in ranking))
    slot = {key: i for i, key in enumerate(ids)}
    columns, masks = [], []
    for ranking in rankings:
        column, mask = np.full(len(ids), -np.inf), np.zeros(len(ids), dtype=bool)
        for position, item in enumerate(ranking):
            value = _score(item, how) if how.uses_scores else -float(position)
            i = slot[_id(item)]
            column[i], mask[i] = max(column[i], value), True
        columns.append(column)
        masks.append(mask)
    fused = fuse_scores(columns, strategy=how, weights=weights, present=masks) if rankings else np.zeros(0)
    order = np.argsort(-fused, kind="stable")
    return [Scored(ids[i], float(fused[i])) for i in order]


def fuse_rrf(*rankings: Ranking, k: float = 60, weights: Sequence[float] | None = None) -> list[Scored]:
    """Reciprocal-rank fusion: each id scores the sum over rankings of weight / (k + rank), rank from 1.

    >>> [s.id for s in fuse_rrf(["a", "b", "c"], ["c", "a"])]
    ['a', 'c', 'b']
    """
    return fuse_rankings(*rankings, strategy=ReciprocalRank(k), weights=weights)


def fuse_weighted(*rankings: Sequence[ScoredResult], weights: Sequence[float] | None = None) -> list[Scored]:
    """Weighted score fusion: scores min-max scaled within each ranking, then summed by weight; an id missing
    from a ranking gets 0 from it, and a ranking whose scores are all equal scales them to 1.

    >>> fuse_weighted([Scored("a", 9.0), Scored("b", 1.0)], [Scored("b", 0.9)], weights=[1, 2])[0]
    Scored(id='b', score=2.0)
    """
    return fuse_rankings(*rankings, strategy=MinMax(), weights=weights)


def _scaled(scores: np.ndarray, present: np.ndarray, scale: Callable[[np.ndarray], np.ndarray | float]) -> np.ndarray:
    out = np.zeros(len(scores))
    if present.any():
        out[present] = scale(scores[present])
    return out


def _score(item: ScoredResult | str, how: FusionStrategy) -> float:
    if isinstance(item, str):
        raise UsageError(f"the {how.name} fusion needs scored items (an id and a score), got a plain id; "
                         "fuse plain ids with fuse_rrf")
    return float(item.score)


def _weights(rankings: Sequence[object], weights: Sequence[float] | None) -> Iterable[float]:
    if weights is None:
        return [1.0] * len(rankings)
    if len(weights) != len(rankings):
        raise UsageError(f"got {len(weights)} weights for {len(rankings)} rankings; give one per ranking")
    return [float(w) for w in weights]


def _id(item: ScoredResult | str) -> str:
    return item if isinstance(item, str) else item.id
