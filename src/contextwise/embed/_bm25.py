"""A lexical BM25 index with per-tenant partitions, for hybrid search beside vectors.

Our own incremental inverted index rather than bm25s: bm25s precomputes a static matrix, so every add or
remove between two searches means indexing the corpus again, where this one updates only the touched terms.
Measured on 5,000 LoCoMo turns (`python benchmarks/bench_embed.py bm25`, two runs on a busy 2-core machine):
build + 500 queries 1.0-1.4x bm25s's speed, 100 add-then-search steps ~100x faster, the same top-10.
Scores equal bm25s's "lucene" method.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from collections.abc import Collection, Sequence

import numpy as np

from contextwise.embed._fusion import Scored
from contextwise.errors import UsageError

_WORD = re.compile(r"\w+", re.UNICODE)
#: Lucene's English stop words (the list bm25s uses too).
ENGLISH_STOPWORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these "
    "they this to was will with".split()
)


def analyze(text: str, stopwords: Collection[str] = ENGLISH_STOPWORDS) -> list[str]:
    """The terms BM25 sees in `text`, everywhere in contextwise (compression, documents, memory): lower-cased
    runs of word characters, stop words left out, no stemming.

    >>> analyze("The cats sat on THE mat")
    ['cats', 'sat', 'mat']
    """
    return [w for w in _WORD.findall(text.lower()) if w not in stopwords]


def idf(n: int, df: int | np.ndarray) -> float | np.ndarray:
    """Lucene's BM25 inverse document frequency of a term found in `df` of `n` texts (never negative)."""
    value: float | np.ndarray = np.log(1 + (n - df + 0.5) / (df + 0.5))
    return value


def length_norm(lengths: np.ndarray, k1: float, b: float, mean: float | None = None) -> np.ndarray:
    """k1 * (1 - b + b * length / mean length) per text: the denominator term of BM25's tf saturation."""
    if mean is None:
        mean = float(lengths.sum()) / len(lengths) if len(lengths) else 0.0
    out: np.ndarray = k1 * (1 - b + b * lengths / max(mean, 1e-9))
    return out


def bm25_scores(docs: Sequence[Sequence[str]], query: Sequence[str], *, k1: float = 1.5,
                b: float = 0.75) -> np.ndarray:
    """BM25 of each term list in `docs` against the `query` terms, statistics from `docs` themselves: the same
    formula as `BM25Index` (Lucene's; a query term repeated counts once per repeat), for a one-off set of
    texts such as the sentences of one document.

    >>> bm25_scores([["cat", "sat"], ["dog", "ran"]], ["cat"]).round(3).tolist()
    [0.277, 0.0]
    """
    counts = [Counter(d) for d in docs]
    norm = length_norm(np.array([len(d) for d in docs], dtype=np.float64), k1, b)
    scores = np.zeros(len(docs))
    for term, repeats in Counter(query).items():
        tf = np.array([c.get(term, 0) for c in counts], dtype=np.float64)
        df = int(np.count_nonzero(tf))
        if df:
            scores += repeats * idf(len(docs), df) * tf / (tf + norm)
    return scores


@dataclass
class _Partition:
    """One tenant's inverted index. Slots of removed texts are reused; `seq` keeps insertion order for ties."""

    slot_of: dict[str, int] = field(default_factory=dict)
    ids: list[str | None] = field(default_factory=list)
    terms: list[Counter[str]] = field(default_factory=list)
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    seq: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    free: list[int] = field(default_factory=list)
    postings: dict[str, dict[int, int]] = field(default_factory=dict)  # term -> slot -> term frequency
    arrays: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # postings as numpy, lazily
    norm: np.ndarray | None = None  # k1 * length normalisation per slot, until the next add or remove
    total_length: int = 0
    counter: int = 0

    def add(self, doc_id: str, tokens: list[str]) -> None:
        if doc_id in self.slot_of:
            self.remove(doc_id)
        slot = self.free.pop() if self.free else self._grow()
        tf = Counter(tokens)
        self.slot_of[doc_id], self.ids[slot], self.terms[slot] = slot, doc_id, tf
        self.lengths[slot], self.seq[slot] = len(tokens), self.counter
        self.counter += 1
        self.total_length += len(tokens)
        self.norm = None
        for term, count in tf.items():
            self.postings.setdefault(term, {})[slot] = count
            self.arrays.pop(term, None)

    def remove(self, doc_id: str) -> None:
        slot = self.slot_of.pop(doc_id)
        for term in self.terms[slot]:
            posting = self.postings[term]
            del posting[slot]
            if not posting:
                del self.postings[term]
            self.arrays.pop(term, None)
        self.total_length -= int(self.lengths[slot])
        self.ids[slot], self.terms[slot], self.lengths[slot] = None, Counter(), 0
        self.free.append(slot)
        self.norm = None

    def posting_arrays(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        if term not in self.arrays:
            posting = self.postings[term]
            self.arrays[term] = (np.fromiter(posting.keys(), dtype=np.int64, count=len(posting)),
                                 np.fromiter(posting.values(), dtype=np.float32, count=len(posting)))
        return self.arrays[term]

    def _grow(self) -> int:
        slot = len(self.ids)
        self.ids.append(None)
        self.terms.append(Counter())
        if slot >= len(self.lengths):
            size = max(16, 2 * len(self.lengths))
            self.lengths = np.concatenate([self.lengths, np.zeros(size - len(self.lengths), dtype=np.float32)])
            self.seq = np.concatenate([self.seq, np.zeros(size - len(self.seq), dtype=np.int64)])
        return slot


class BM25Index:
    """Okapi BM25 (Lucene's variant) over short texts, with add / remove / search per tenant.

    Each tenant is a separate index with its own statistics: a tenant never sees another's ids, and one
    tenant's texts never change another's scores. Texts are lower-cased and split on word characters (no
    stemming). Adds and removes update the index in place, so they may be interleaved with searches freely.
    Thread-safe.

    Args:
        k1: term-frequency saturation.
        b: length normalisation, 0 (none) to 1 (full).
        stopwords: words left out of texts and queries; "en" is Lucene's English list, () keeps every word.

    >>> index = BM25Index()
    >>> index.add(["a", "b"], ["the cat sat", "a dog ran"], tenant="t1")
    >>> [hit.id for hit in index.search("cat", tenant="t1")]
    ['a']
    """

    def __init__(self, *, k1: float = 1.5, b: float = 0.75, stopwords: Collection[str] | str = "en") -> None:
        if k1 < 0 or not 0 <= b <= 1:
            raise UsageError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1}, b={b}")
        if isinstance(stopwords, str) and stopwords != "en":
            raise UsageError(f"stopwords must be 'en' or a collection of words, got {stopwords!r}")
        self.k1, self.b = k1, b
        self.stopwords = ENGLISH_STOPWORDS if stopwords == "en" else frozenset(stopwords)
        self._partitions: dict[str, _Partition] = {}
        self._lock = threading.Lock()

    def tokenize(self, text: str) -> list[str]:
        """The terms BM25 sees in `text` (see `analyze`)."""
        return analyze(text, self.stopwords)

    def add(self, ids: Sequence[str], texts: Sequence[str], *, tenant: str) -> None:
        """Index `texts` under `ids` for `tenant`; an id already there is replaced."""
        if isinstance(ids, str) or isinstance(texts, str):
            raise UsageError("add() takes sequences of ids and texts; wrap single values in lists")
        if len(ids) != len(texts):
            raise UsageError(f"got {len(ids)} ids for {len(texts)} texts; give one id per text")
        tokens = [self.tokenize(t) for t in texts]
        with self._lock:
            part = self._partitions.setdefault(_tenant(tenant), _Partition())
            for doc_id, doc_tokens in zip(ids, tokens):
                part.add(doc_id, doc_tokens)

    def remove(self, ids: Sequence[str], *, tenant: str) -> int:
        """Remove `ids` from `tenant`'s index; returns how many were there."""
        with self._lock:
            part = self._partitions.get(_tenant(tenant))
            present = [i for i in set(ids) if part is not None and i in part.slot_of]
            for doc_id in present:
                part.remove(doc_id)  # type: ignore[union-attr]
            return len(present)

    def count(self, *, tenant: str) -> int:
        """Texts indexed for `tenant`."""
        with self._lock:
            part = self._partitions.get(_tenant(tenant))
            return len(part.slot_of) if part else 0

    def search(self, query: str, k: int = 10, *, tenant: str) -> list[Scored]:
        """The `k` best-scoring ids of `tenant` for `query`, best first; texts sharing no term are left out.

        A term repeated in the query counts once per repeat, as in Lucene and bm25s.
        """
        if k < 1:
            raise UsageError(f"k must be at least 1, got {k}")
        terms = Counter(self.tokenize(query))
        with self._lock:
            part = self._partitions.get(_tenant(tenant))
            if part is None or not part.slot_of or not terms:
                return []
            scores = self._scores(part, terms)
            return _top(scores, part, k)

    def _scores(self, part: _Partition, terms: Counter[str]) -> np.ndarray:
        n = len(part.slot_of)
        if part.norm is None:
            # over live texts only: free slots have length 0 and must not pull the mean down
            part.norm = length_norm(part.lengths, self.k1, self.b, part.total_length / n)
        norm = part.norm
        scores = np.zeros(len(part.lengths), dtype=np.float32)
        for term, repeats in terms.items():
            if term not in part.postings:
                continue
            slots, tf = part.posting_arrays(term)
            weight = repeats * float(idf(n, len(slots)))
            scores[slots] += weight * tf / (tf + norm[slots])
        return scores


def _top(scores: np.ndarray, part: _Partition, k: int) -> list[Scored]:
    hits = np.flatnonzero(scores > 0)
    if len(hits) > k:
        kth = np.partition(scores[hits], len(hits) - k)[len(hits) - k]  # the k-th best score
        above, tied = hits[scores[hits] > kth], hits[scores[hits] == kth]
        tied = tied[np.argsort(part.seq[tied], kind="stable")]
        hits = np.concatenate([above, tied[:k - len(above)]])  # ties: earliest inserted first
    hits = hits[np.lexsort((part.seq[hits], -scores[hits]))]
    return [Scored(part.ids[i], float(scores[i])) for i in hits]  # type: ignore[arg-type]  # live slots only


def _tenant(tenant: str) -> str:
    if not isinstance(tenant, str) or not tenant:
        raise UsageError("tenant must be a non-empty string; it scopes every index call")
    return tenant
