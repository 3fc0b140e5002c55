"""Token-boundary truncation: the baseline compressor and the cut the budget engine uses."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.compress import TruncateTokens, truncate_tokens
from contextwise.errors import UsageError
from contextwise.testing import FakeTokenizer

TEXT = "one two three four five six"


@pytest.mark.parametrize(("side", "expected"), [
    ("tail", "one two three"),
    ("head", " four five six"),
    ("middle", "one two five six"),
], ids=["tail-keeps-start", "head-keeps-end", "middle-keeps-both-ends"])
def test_truncate_tokens_cuts_the_named_side(side, expected):
    out = truncate_tokens(TEXT, 3 if side != "middle" else 4, FakeTokenizer(), side=side)
    assert out.text == expected
    assert out.original_tokens == 6
    assert out.method == f"truncate-{side}"


def test_truncate_tokens_returns_text_unchanged_when_it_fits():
    out = truncate_tokens(TEXT, 6, FakeTokenizer())
    assert (out.text, out.tokens, out.keep_ratio) == (TEXT, 6, 1.0)


def test_truncate_tokens_to_zero_is_empty():
    out = truncate_tokens(TEXT, 0, FakeTokenizer(), side="middle")
    assert (out.text, out.tokens) == ("", 0)


@pytest.mark.parametrize("bad", [-1, 1.5, True, None], ids=["negative", "float", "bool", "none"])
def test_truncate_tokens_rejects_a_bad_target(bad):
    with pytest.raises(UsageError):
        truncate_tokens(TEXT, bad, FakeTokenizer())


def test_truncate_rejects_an_unknown_side():
    with pytest.raises(UsageError, match="side"):
        truncate_tokens(TEXT, 2, FakeTokenizer(), side="left")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="side"):
        TruncateTokens(side="both")  # type: ignore[arg-type]


@pytest.mark.parametrize("side", ["head", "tail", "middle"])
def test_truncate_never_splits_a_multibyte_character(o200k, side):
    text = "naïve café 🎉🎉🎉 日本語のテキストです " * 5
    for limit in range(1, o200k.count(text)):
        out = truncate_tokens(text, limit, o200k, side=side)
        assert "\ufffd" not in out.text
        assert out.tokens == o200k.count(out.text) <= limit


def test_truncate_compressor_ignores_the_query():
    assert TruncateTokens().compress(TEXT, 2, FakeTokenizer(), query="six").text == "one two"


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=300), limit=st.integers(0, 80), side=st.sampled_from(["head", "tail", "middle"]))
def test_truncate_never_exceeds_the_limit_nor_adds_tokens(o200k, text, limit, side):
    out = truncate_tokens(text, limit, o200k, side=side)
    assert out.tokens == o200k.count(out.text)
    assert out.tokens <= min(limit, out.original_tokens)
    assert out.original_tokens == o200k.count(text)
    if side == "tail":
        assert text.startswith(out.text)
    elif side == "head":
        assert text.endswith(out.text)
