"""Embeddings and lexical search: the embedded default embedder (all-MiniLM-L6-v2, int8 ONNX), a BM25 index,
rank fusion for hybrid recall, a content-hash cache, and a client for OpenAI-compatible embedding endpoints.

Importing this package imports no optional dependency; each part imports its own when it is built.
Registered embedders: "onnx:all-minilm-l6-v2" (the default: "-int8"; "-float32" for the vectors of earlier
releases), "hash:<dimensions>" (testing), "openai:<model>".

>>> from contextwise.embed import fuse_rrf
>>> [s.id for s in fuse_rrf(["a", "b"], ["b", "c"])]
['b', 'a', 'c']
"""

from __future__ import annotations

from typing import Any

from contextwise.embed._bm25 import BM25Index, analyze, bm25_scores
from contextwise.embed._cache import (
    AsyncCachedEmbedder,
    CachedEmbedder,
    EmbeddingCache,
    MemoryCache,
    SQLiteCache,
    text_digest,
)
from contextwise.embed._fusion import (
    ByPeak, FusionStrategy, MinMax, Raw, RawCut, ReciprocalRank, Scored, fuse_rankings, fuse_rrf, fuse_scores,
    fuse_weighted,
)
from contextwise.embed._onnx import OnnxMiniLM, default_embedder
from contextwise.embed._openai import AsyncOpenAIEmbeddings, EmbeddingsCore, OpenAIEmbeddings
from contextwise.errors import UnknownBackendError, UsageError

__all__ = [
    "AsyncCachedEmbedder", "AsyncOpenAIEmbeddings", "BM25Index", "ByPeak", "CachedEmbedder", "EmbeddingCache",
    "EmbeddingsCore", "FusionStrategy", "MemoryCache", "MinMax", "OnnxMiniLM", "OpenAIEmbeddings", "Raw", "RawCut",
    "ReciprocalRank", "SQLiteCache", "Scored", "analyze", "bm25_scores", "default_embedder", "fuse_rankings",
    "fuse_rrf", "fuse_scores", "fuse_weighted", "onnx_factory", "hash_factory", "openai_factory", "text_digest",
]

_ONNX_NAMES = {"": "int8", "all-minilm-l6-v2": "int8", "all-MiniLM-L6-v2": "int8", "all-minilm-l6-v2-int8": "int8",
               "all-minilm-l6-v2-float32": "float32"}


def onnx_factory(name: str) -> OnnxMiniLM:
    """Registry factory for "onnx:all-minilm-l6-v2" (the shared embedded default, int8 compute; also spelled
    "onnx:all-minilm-l6-v2-int8") and "onnx:all-minilm-l6-v2-float32" (the shared float32 one)."""
    if name not in _ONNX_NAMES:
        raise UnknownBackendError(f"no ONNX embedder {name!r}; the embedded one is 'onnx:all-minilm-l6-v2'",
                                  suggestions=["onnx:all-minilm-l6-v2", "onnx:all-minilm-l6-v2-float32"])
    return default_embedder(_ONNX_NAMES[name])


def hash_factory(name: str) -> Any:
    """Registry factory for "hash:<dimensions>" (default 64): the deterministic testing.HashEmbedder."""
    from contextwise.testing import HashEmbedder

    if name and not name.isdigit():
        raise UsageError(f"'hash:{name}': the name of a hash embedder is its dimension count, e.g. 'hash:64'")
    return HashEmbedder(int(name) if name else 64)


def openai_factory(name: str) -> OpenAIEmbeddings:
    """Registry factory for "openai:<model>"; base URL and key come from OPENAI_BASE_URL and OPENAI_API_KEY."""
    return OpenAIEmbeddings(name or "text-embedding-3-small")
