"""Cached compressions: the same (text, target, tokenizer, compressor settings, query) is compressed once; any
change of them is a new compression; results can live in the response cache's store, per tenant."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.cache import CachedCompressed, CachedCompressor, ResponseCache
from contextwise.compress import Extractive
from contextwise.errors import UsageError
from contextwise.protocols import Compressor
from contextwise.testing import FakeTokenizer
from contextwise.types import Compressed

TEXT = "Paris is in France. Bananas are yellow. The capital of France is Paris. Rome is in Italy."


class Counting:
    """A compressor that counts its calls (keeps the first `target_tokens` words)."""

    name = "first-words"

    def __init__(self, spacing: int = 1) -> None:
        self.spacing = spacing
        self.calls = 0

    def compress(self, text, target_tokens, tokenizer, query=None):
        self.calls += 1
        kept = " ".join(text.split()[:target_tokens])
        return Compressed(kept, tokenizer.count(text), tokenizer.count(kept), self.name)


def test_cached_compressor_is_a_compressor_and_compresses_once():
    inner = Counting()
    squeeze = CachedCompressor(inner)
    assert isinstance(squeeze, Compressor)
    first = squeeze.compress(TEXT, 5, FakeTokenizer(), query="q")
    second = squeeze.compress(TEXT, 5, FakeTokenizer(), query="q")
    assert (first.from_cache, second.from_cache, inner.calls) == (False, True, 1)
    assert isinstance(second, Compressed) and second.text == first.text and second.keep_ratio == first.keep_ratio


@settings(max_examples=30, deadline=None)
@given(change=st.sampled_from(["text", "target", "query", "tokenizer", "settings"]))
def test_cached_compressor_key_changes_with_every_input(change):
    base = CachedCompressor(Counting())
    args = dict(text=TEXT, target_tokens=5, tokenizer=FakeTokenizer(), query="q")
    key = base.key(**args)
    other = dict(args)
    if change == "settings":
        assert CachedCompressor(Counting(spacing=2)).key(**args) != key
        return
    if change == "tokenizer":
        class Named(FakeTokenizer):
            name = "other"
        other["tokenizer"] = Named()
    else:
        field = {"text": "text", "target": "target_tokens", "query": "query"}[change]
        other[field] = {"text": TEXT + " More.", "target_tokens": 6, "query": None}[field]
    assert base.key(**other) != key


def test_cached_compressor_real_extractive_settings_count():
    a = CachedCompressor(Extractive(diversity=0.0))
    b = CachedCompressor(Extractive(diversity=0.5))
    tok = FakeTokenizer()
    assert a.key(TEXT, 5, tok) != b.key(TEXT, 5, tok)
    assert a.compress(TEXT, 7, tok, query="capital").text == Extractive(diversity=0.0).compress(
        TEXT, 7, tok, query="capital").text


def test_cached_compressor_memory_is_bounded():
    inner = Counting()
    squeeze = CachedCompressor(inner, max_entries=2)
    tok = FakeTokenizer()
    for target in (1, 2, 3):
        squeeze.compress(TEXT, target, tok)
    assert squeeze.compress(TEXT, 1, tok).from_cache is False and inner.calls == 4


def test_cached_compressor_shares_results_through_the_response_cache_store(tmp_path):
    spec = f"sqlite:{tmp_path / 'c.db'}"
    tok = FakeTokenizer()
    with ResponseCache(spec) as cache:
        CachedCompressor(Counting(), store=cache.entries, tenant="acme").compress(TEXT, 4, tok)
    with ResponseCache(spec) as cache:
        inner = Counting()
        again = CachedCompressor(inner, store=cache.entries, tenant="acme").compress(TEXT, 4, tok)
        other = CachedCompressor(Counting(), store=cache.entries, tenant="globex").compress(TEXT, 4, tok)
    assert isinstance(again, CachedCompressed) and again.from_cache and inner.calls == 0
    assert other.from_cache is False


def test_cached_compressor_rejects_a_store_without_tenant():
    with pytest.raises(UsageError, match="tenant"):
        CachedCompressor(Counting(), store=ResponseCache("memory:").entries)
    with pytest.raises(UsageError):
        CachedCompressor(object())
