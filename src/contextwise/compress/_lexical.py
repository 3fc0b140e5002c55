"""Lexical statistics over a handful of sentences: terms, hashed TF-IDF vectors, centrality.

Pure numpy on purpose: extractive compression is part of the dependency-free core. Terms and BM25 are the ones
documents and memory use too (`contextwise.embed._bm25`), so a query scores the same everywhere.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from contextwise.embed._bm25 import analyze
from contextwise.embed._fusion import MinMax

_WORD = re.compile(r"\w+", re.UNICODE)
# Function words token pruning never protects (wider than BM25's stop words, which only drop what carries no
# lexical evidence).
_STOPWORDS = frozenset("""
a an and are as at be been but by can could did do does for from had has have he her his i if in into is it its
me my no not of on or our she so than that the their them then there these they this those to was we were what
when where which who whom why will with would you your
""".split())
HASH_DIMENSIONS = 512


def terms(text: str) -> list[str]:
    """The terms of `text`, as BM25 sees them everywhere (`contextwise.embed.analyze`)."""
    return analyze(text)


def tfidf_vectors(docs: Sequence[Sequence[str]], *, dimensions: int = HASH_DIMENSIONS) -> np.ndarray:
    """Unit-length hashed TF-IDF vectors, one row per term list (an all-zero row for a list with no terms)."""
    df = Counter(t for d in docs for t in set(d))
    out = np.zeros((len(docs), dimensions), dtype=np.float32)
    for row, doc in enumerate(docs):
        for term, tf in Counter(doc).items():
            out[row, _bucket(term, dimensions)] += (1 + np.log(tf)) * np.log(1 + len(docs) / df[term])
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    unit: np.ndarray = np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)
    return unit


def _bucket(term: str, dimensions: int) -> int:
    return int.from_bytes(hashlib.blake2b(term.encode(), digest_size=4).digest(), "little") % dimensions


#: Min-max to [0, 1], all zeros when the values tie to rounding: scaling rounding noise up to [0, 1] would turn a
#: tie into a full-scale preference (the vectors are float32).
_UNIT = MinMax(tie_value=0.0, tie_tolerance=1e-6)


def unit_scale(values: np.ndarray) -> np.ndarray:
    """`values` (as float64) scaled to [0, 1] by embed's MinMax, ties to rounding scaled to 0."""
    values = np.asarray(values, dtype=np.float64)
    return _UNIT.normalize(values, np.ones(len(values), dtype=bool))


def centrality(vectors: np.ndarray) -> np.ndarray:
    """Cosine of each unit row with the mean of all rows: how typical a sentence is of its document."""
    centre = vectors.mean(axis=0)
    norm = np.linalg.norm(centre)
    return vectors @ (centre / norm) if norm > 0 else np.zeros(len(vectors))
