"""The public entry points: compress(), registry strings, exports."""

from __future__ import annotations

import pytest

from contextwise.compress import Extractive, TruncateTokens, compress
from contextwise.errors import UnknownBackendError, UsageError
from contextwise.registry import providers, resolve


def test_compress_defaults_to_extractive_under_o200k(o200k):
    text = "Cats purr when happy. Dogs bark at strangers. Cows moo in fields. " * 5
    out = compress(text, budget_tokens=12, query="why do dogs bark")
    assert out.method == "extractive-bm25"
    assert out.tokens == o200k.count(out.text) <= 12 and "Dogs" in out.text


@pytest.mark.parametrize(("spec", "method"), [
    ("extractive:bm25", "extractive-bm25"), ("extractive", "extractive-bm25"), ("truncate:middle", "truncate-middle"),
    ("truncate:head", "truncate-head"),
], ids=["extractive-bm25", "extractive-default", "truncate-middle", "truncate-head"])
def test_compress_resolves_registry_strings(fake_tokenizer, spec, method):
    out = compress("one two three four five. six seven.", budget_tokens=3, compressor=spec, tokenizer=fake_tokenizer)
    assert out.method == method and out.tokens <= 3


def test_compressor_kinds_are_registered():
    assert {"auto", "extractive", "pruning", "summarize", "truncate"} <= set(providers("compressor"))
    assert isinstance(resolve("compressor", "truncate:tail"), TruncateTokens)
    assert isinstance(resolve("compressor", "extractive:hybrid"), Extractive)


def test_compress_rejects_unknown_names(fake_tokenizer):
    with pytest.raises(UnknownBackendError):
        compress("x", budget_tokens=1, compressor="zip:best", tokenizer=fake_tokenizer)
    with pytest.raises(UsageError):
        compress("x y", budget_tokens=1, compressor="truncate:sideways", tokenizer=fake_tokenizer)
    with pytest.raises(UsageError):
        resolve("compressor", "auto:x")


def test_compress_takes_an_encoding_name():
    out = compress("hello there world", budget_tokens=2, compressor=TruncateTokens(), tokenizer="cl100k_base")
    assert out.tokens == 2


def test_compress_takes_budget_tokens_and_the_old_target_tokens_with_a_warning(fake_tokenizer):
    text = "one two three four five. six seven."
    new = compress(text, budget_tokens=3, tokenizer=fake_tokenizer)
    with pytest.warns(DeprecationWarning, match="budget_tokens"):
        assert compress(text, target_tokens=3, tokenizer=fake_tokenizer) == new
    with pytest.raises(UsageError, match="only"):
        compress(text, budget_tokens=3, target_tokens=3, tokenizer=fake_tokenizer)
    with pytest.raises(UsageError, match="needs budget_tokens"):
        compress(text, tokenizer=fake_tokenizer)
