"""CachedEmbedder: each distinct text reaches the inner embedder once; LRU and SQLite caches."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.embed import AsyncCachedEmbedder, CachedEmbedder, MemoryCache, SQLiteCache, text_digest
from contextwise.errors import StoreError, UsageError
from contextwise.protocols import Embedder
from contextwise.testing import HashEmbedder


class CountingEmbedder:
    """A HashEmbedder that records every text it is asked to embed."""

    def __init__(self, name: str = "counting") -> None:
        self.inner = HashEmbedder(32)
        self.name, self.dimensions = name, 32
        self.seen: list[str] = []
        self.calls = 0

    def embed(self, texts: Sequence[str], kind: str = "document") -> np.ndarray:
        self.calls += 1
        self.seen.extend(texts)
        return self.inner.embed(texts, kind)


class AsyncCountingEmbedder(CountingEmbedder):
    async def embed(self, texts: Sequence[str], kind: str = "document") -> np.ndarray:  # type: ignore[override]
        return CountingEmbedder.embed(self, texts, kind)


def test_cached_embeds_each_distinct_text_once():
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner)
    first = cached.embed(["a cat", "a dog", "a cat"])
    second = cached.embed(["a dog", "a bird", "a cat"])
    assert sorted(inner.seen) == ["a bird", "a cat", "a dog"]
    np.testing.assert_array_equal(first, inner.inner.embed(["a cat", "a dog", "a cat"]))
    np.testing.assert_array_equal(second, inner.inner.embed(["a dog", "a bird", "a cat"]))


def test_cached_all_hits_skip_the_inner_embedder():
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner)
    cached.embed(["x", "y"])
    cached.embed(["y", "x", "x"])
    cached.embed([])
    assert inner.calls == 1


def test_cached_keys_separate_kind_and_embedder_name():
    cache = MemoryCache()
    first, second = CountingEmbedder("first"), CountingEmbedder("second")
    CachedEmbedder(first, cache=cache).embed(["t"], kind="query")
    CachedEmbedder(first, cache=cache).embed(["t"], kind="document")
    CachedEmbedder(second, cache=cache).embed(["t"], kind="query")
    assert first.seen == ["t", "t"] and second.seen == ["t"]
    assert len(cache) == 3


def test_memory_cache_evicts_the_least_recently_used():
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner, cache=MemoryCache(max_entries=2))
    cached.embed(["a", "b"])
    cached.embed(["a"])  # "a" is now more recent than "b"
    cached.embed(["c"])  # evicts "b"
    cached.embed(["a", "b"])
    assert inner.seen == ["a", "b", "c", "b"]


def test_sqlite_cache_persists_across_instances(tmp_path):
    path = tmp_path / "sub" / "embeddings.db"
    inner = CountingEmbedder()
    with SQLiteCache(path) as cache:
        before = CachedEmbedder(inner, cache=cache).embed(["one", "two"])
    with SQLiteCache(path) as cache:
        after = CachedEmbedder(inner, cache=cache).embed(["two", "one", "three"])
    assert inner.seen == ["one", "two", "three"]
    np.testing.assert_array_equal(after[:2], before[::-1])


def test_sqlite_cache_handles_more_keys_than_one_query_binds(tmp_path):
    texts = [f"text {i}" for i in range(1200)]
    inner = CountingEmbedder()
    with SQLiteCache(tmp_path / "big.db") as cache:
        cached = CachedEmbedder(inner, cache=cache)
        first = cached.embed(texts)
        second = cached.embed(texts)
    assert len(inner.seen) == len(texts)
    np.testing.assert_array_equal(first, second)


def test_sqlite_cache_unopenable_file_raises_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError):
        SQLiteCache(blocker / "cache.db")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "", "é", "a b"]), max_size=5), max_size=4))
def test_cached_output_equals_uncached_and_each_text_is_embedded_once(batches):
    inner = CountingEmbedder()
    cached = CachedEmbedder(inner)
    for batch in batches:
        np.testing.assert_array_equal(cached.embed(batch), inner.inner.embed(batch))
    assert sorted(inner.seen) == sorted({t for b in batches for t in b})


def test_async_cached_twin_matches_the_sync_one():
    sync_inner, async_inner = CountingEmbedder(), AsyncCountingEmbedder()
    texts = ["p", "q", "p", "r"]
    sync_out = CachedEmbedder(sync_inner).embed(texts)

    async def run() -> np.ndarray:
        cached = AsyncCachedEmbedder(async_inner)
        await cached.embed(texts[:2])
        return await cached.embed(texts)

    np.testing.assert_array_equal(asyncio.run(run()), sync_out)
    assert sorted(async_inner.seen) == sorted(sync_inner.seen) == ["p", "q", "r"]


def test_cached_embedder_keeps_the_inner_identity():
    cached = CachedEmbedder(HashEmbedder(16))
    assert isinstance(cached, Embedder)
    assert (cached.name, cached.dimensions) == ("hash-16", 16)


def test_cached_rejects_a_bare_string_and_a_non_embedder():
    with pytest.raises(UsageError):
        CachedEmbedder(HashEmbedder()).embed("text")
    with pytest.raises(UsageError):
        CachedEmbedder(object())


def test_text_digest_is_sha256_of_utf8():
    import hashlib

    assert text_digest("naïve") == hashlib.sha256("naïve".encode()).digest()
