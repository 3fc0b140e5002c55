"""Lexical statistics over a handful of sentences: terms, BM25 against a query, hashed TF-IDF vectors.

Pure numpy on purpose: extractive compression is part of the dependency-free core, and scoring one document's
sentences needs no index (contextwise.embed.BM25Index is the one for searching stored corpora).
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset("""
a an and are as at be been but by can could did do does for from had has have he her his i if in into is it its
me my no not of on or our she so than that the their them then there these they this those to was we were what
when where which who whom why will with would you your
""".split())
HASH_DIMENSIONS = 512


def terms(text: str) -> list[str]:
    """Lower-cased, lightly stemmed content words of `text` (stopwords left out)."""
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def _stem(word: str) -> str:
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def bm25(docs: Sequence[Sequence[str]], query: Sequence[str], *, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """Okapi BM25 of each term list in `docs` against the `query` terms, with IDF from `docs` themselves."""
    counts = [Counter(d) for d in docs]
    lengths = np.array([len(d) for d in docs], dtype=np.float64)
    avg = lengths.mean() if len(docs) and lengths.mean() > 0 else 1.0
    norm = k1 * (1 - b + b * lengths / avg)
    scores = np.zeros(len(docs))
    for term in set(query):
        tf = np.array([c.get(term, 0) for c in counts], dtype=np.float64)
        df = np.count_nonzero(tf)
        if df:
            idf = np.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
            scores += idf * tf * (k1 + 1) / (tf + norm)
    return scores


def tfidf_vectors(docs: Sequence[Sequence[str]], *, dimensions: int = HASH_DIMENSIONS) -> np.ndarray:
    """Unit-length hashed TF-IDF vectors, one row per term list (an all-zero row for a list with no terms)."""
    df = Counter(t for d in docs for t in set(d))
    out = np.zeros((len(docs), dimensions), dtype=np.float32)
    for row, doc in enumerate(docs):
        for term, tf in Counter(doc).items():
            out[row, _bucket(term, dimensions)] += (1 + np.log(tf)) * np.log(1 + len(docs) / df[term])
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


def _bucket(term: str, dimensions: int) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "little") % dimensions


def unit_scale(values: np.ndarray) -> np.ndarray:
    """`values` scaled to [0, 1] by min-max (all zeros when they are all equal)."""
    values = np.asarray(values, dtype=np.float64)
    span = values.max() - values.min() if len(values) else 0.0
    return (values - values.min()) / span if span > 0 else np.zeros_like(values)


def centrality(vectors: np.ndarray) -> np.ndarray:
    """Cosine of each unit row with the mean of all rows: how typical a sentence is of its document."""
    centre = vectors.mean(axis=0)
    norm = np.linalg.norm(centre)
    return vectors @ (centre / norm) if norm > 0 else np.zeros(len(vectors))
