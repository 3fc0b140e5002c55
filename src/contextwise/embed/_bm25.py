"""A lexical BM25 index with per-tenant partitions, for hybrid search beside vectors (engine: bm25s)."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any, Collection, Sequence

import numpy as np

from contextwise.embed._fusion import Scored
from contextwise.errors import MissingDependencyError, UsageError

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class _Partition:
    docs: dict[str, list[str]] = field(default_factory=dict)  # id -> tokens, insertion-ordered
    engine: Any = None  # bm25s.BM25 over `order`, rebuilt lazily after a change
    order: list[str] = field(default_factory=list)


class BM25Index:
    """Okapi BM25 (Lucene's variant) over short texts, with add / remove / search per tenant.

    Each tenant is a separate index with its own statistics: a tenant never sees another's ids, and one
    tenant's texts never change another's scores. Texts are lower-cased and split on word characters; the
    index is rebuilt lazily on the first search after a change, so batch your adds.

    Args:
        k1: term-frequency saturation.
        b: length normalisation, 0 (none) to 1 (full).
        stopwords: words left out of texts and queries; "en" is bm25s's English list, () keeps every word.

    Raises:
        MissingDependencyError: bm25s is not installed.

    >>> index = BM25Index()
    >>> index.add(["a", "b"], ["the cat sat", "a dog ran"], tenant="t1")
    >>> [hit.id for hit in index.search("cat", tenant="t1")]
    ['a']
    """

    def __init__(self, *, k1: float = 1.5, b: float = 0.75, stopwords: Collection[str] | str = "en") -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise UsageError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        self._bm25s = _import_bm25s()
        self.k1, self.b = k1, b
        self.stopwords = frozenset(self._bm25s.stopwords.STOPWORDS_EN) if stopwords == "en" else frozenset(stopwords)
        self._partitions: dict[str, _Partition] = {}
        self._lock = threading.RLock()

    def tokenize(self, text: str) -> list[str]:
        """The terms BM25 sees in `text`."""
        return [w for w in _WORD.findall(text.lower()) if w not in self.stopwords]

    def add(self, ids: Sequence[str], texts: Sequence[str], *, tenant: str) -> None:
        """Index `texts` under `ids` for `tenant`; an id already there is replaced."""
        if isinstance(ids, str) or isinstance(texts, str):
            raise UsageError("add() takes sequences of ids and texts; wrap single values in lists")
        if len(ids) != len(texts):
            raise UsageError(f"got {len(ids)} ids for {len(texts)} texts; give one id per text")
        tokens = [self.tokenize(t) for t in texts]
        with self._lock:
            part = self._partitions.setdefault(_tenant(tenant), _Partition())
            part.docs.update(zip(ids, tokens))
            part.engine = None

    def remove(self, ids: Sequence[str], *, tenant: str) -> int:
        """Remove `ids` from `tenant`'s index; returns how many were there."""
        with self._lock:
            part = self._partitions.get(_tenant(tenant))
            if part is None:
                return 0
            removed = sum(part.docs.pop(i, None) is not None for i in set(ids))
            if removed:
                part.engine = None
            return removed

    def count(self, *, tenant: str) -> int:
        """Texts indexed for `tenant`."""
        with self._lock:
            part = self._partitions.get(_tenant(tenant))
            return len(part.docs) if part else 0

    def search(self, query: str, k: int = 10, *, tenant: str) -> list[Scored]:
        """The `k` best-scoring ids of `tenant` for `query`, best first; texts sharing no term are left out."""
        if k < 1:
            raise UsageError(f"k must be at least 1, got {k}")
        terms = self.tokenize(query)
        with self._lock:
            part = self._partitions.get(_tenant(tenant))
            if part is None or not part.docs or not terms:
                return []
            engine, order = self._engine(part), part.order
        term_ids = engine.get_tokens_ids(terms)
        if not term_ids:
            return []
        scores = engine.get_scores_from_ids(term_ids)
        return _top(scores, order, k)

    def _engine(self, part: _Partition) -> Any:
        if part.engine is None:
            engine = self._bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
            order = list(part.docs)
            engine.index([part.docs[i] for i in order], show_progress=False)
            part.engine, part.order = engine, order
        return part.engine


def _top(scores: np.ndarray, order: list[str], k: int) -> list[Scored]:
    hits = np.flatnonzero(scores > 0)
    if len(hits) > k:
        kth = np.partition(scores[hits], len(hits) - k)[len(hits) - k]  # the k-th best score
        above, tied = hits[scores[hits] > kth], hits[scores[hits] == kth]
        hits = np.concatenate([above, tied[:k - len(above)]])  # ties: earliest inserted first
    hits = hits[np.lexsort((hits, -scores[hits]))]  # best first; ties in insertion order
    return [Scored(order[i], float(scores[i])) for i in hits]


def _tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not tenant:
        raise UsageError("tenant must be a non-empty string; it scopes every index call")
    return tenant


def _import_bm25s() -> Any:
    try:
        import bm25s
        import bm25s.stopwords
    except ImportError as exc:
        raise MissingDependencyError("the BM25 index (bm25s)", "embed") from exc
    return bm25s
