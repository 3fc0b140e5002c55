"""Exact back-ends round-trip, count what they encode, agree with each other, and split long texts safely."""

from __future__ import annotations

import math
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import need

from contextwise.errors import UsageError
from contextwise.tokens import (
    AdaptiveTokenizer,
    EstimatedTokenizer,
    QuicktokTokenizer,
    TiktokenTokenizer,
    get_tokenizer,
    split_for_parallel,
)
from contextwise.tokens._backends import PARALLEL_MIN_CHARS, quicktok_available
from contextwise.tokens._catalog import _estimate

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300)
# Text rich in the places a split could go wrong: newlines, letters, digits, punctuation, spaces, marks.
PIECES = st.lists(st.sampled_from(["\n", "\r\n", " ", "  ", "\t", "a", "B", "é", "e\u0301", "日本", "7", "42",
                                   "/", ".", "'s", "!", "\n\n", " \n", "x/", "ÿ", "😀"]), max_size=80).map("".join)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def tiktoken_tokenizers() -> list[TiktokenTokenizer]:
    return [TiktokenTokenizer.for_encoding(name) for name in ("o200k_base", "cl100k_base")]


def quicktok_tokenizers() -> list[QuicktokTokenizer]:
    need("quicktok", "the fast extra")
    return [QuicktokTokenizer(name) for name in ("o200k_base", "cl100k_base", "llama3", "qwen2")]


@SETTINGS
@given(text=TEXT)
def test_tiktoken_decode_encode_roundtrips_and_count_is_len_encode(text: str) -> None:
    for tok in tiktoken_tokenizers():
        ids = tok.encode(text)
        assert tok.decode(ids) == text
        assert tok.count(text) == len(ids)


@SETTINGS
@given(text=TEXT)
def test_quicktok_decode_encode_roundtrips_and_count_is_len_encode(text: str) -> None:
    for tok in quicktok_tokenizers():
        ids = tok.encode(text)
        # Qwen normalises to NFC before tokenising, as its reference tokenizer does.
        expected = unicodedata.normalize("NFC", text) if tok.name == "qwen2" else text
        assert tok.decode(ids) == expected
        assert tok.count(text) == len(ids)


@SETTINGS
@given(text=st.one_of(TEXT, PIECES))
def test_quicktok_ids_equal_tiktoken_ids(text: str) -> None:
    fast = {t.name: t for t in quicktok_tokenizers()}
    for ref in tiktoken_tokenizers():
        assert fast[ref.name].encode(text) == ref.encode(text)


@pytest.mark.parametrize("text", ["\U000323b0:A", "x\u088f:a b", "\U000323b0:a" * 3])
def test_code_points_newer_than_pythons_unicode_tables_count_like_tiktoken(text: str) -> None:
    # quicktok and tiktoken classify such characters differently (hypothesis found U+323B0 + ":A").
    fast = {t.name: t for t in quicktok_tokenizers()}
    for ref in tiktoken_tokenizers():
        assert fast[ref.name].encode(text) == ref.encode(text)
        assert fast[ref.name].count(text) == ref.count(text)
        long = (text + " and some words. ") * (PARALLEL_MIN_CHARS // 10)  # counted in parallel pieces
        assert fast[ref.name].count(long) == ref.count(long)


def test_lone_surrogates_count_like_tiktoken() -> None:
    text = "a\ud800b \udfff"
    fast = {t.name: t for t in quicktok_tokenizers()}
    for ref in tiktoken_tokenizers():
        assert fast[ref.name].encode(text) == ref.encode(text)
        assert fast[ref.name].count(text) == ref.count(text) == len(ref.encode(text))
    assert split_for_parallel(text, 3)


def test_special_token_text_is_counted_as_plain_text() -> None:
    for tok in tiktoken_tokenizers():
        assert tok.count("a<|endoftext|>b") > 1
        assert tok.decode(tok.encode("a<|endoftext|>b")) == "a<|endoftext|>b"


@SETTINGS
@given(text=PIECES, parts=st.integers(1, 9))
def test_split_for_parallel_rejoins_and_keeps_every_count(text: str, parts: int) -> None:
    pieces = split_for_parallel(text, parts)
    assert "".join(pieces) == text
    for tok in tiktoken_tokenizers():
        assert sum(len(tok.encode(p)) for p in pieces) == len(tok.encode(text))


@pytest.mark.slow
def test_long_text_counted_in_parallel_equals_one_pass() -> None:
    line = "Line {i}: the quick brown fox, naïve café — 日本語 42/7 it's\n"
    text = "".join(line.format(i=i) for i in range(PARALLEL_MIN_CHARS // 40))
    assert len(text) >= PARALLEL_MIN_CHARS
    for tok in tiktoken_tokenizers():
        assert tok.count(text) == len(tok.encode(text))
    if quicktok_available():
        assert QuicktokTokenizer("o200k_base").count(text) == len(tiktoken_tokenizers()[0].encode(text))


@SETTINGS
@given(text=TEXT)
def test_estimate_scales_its_proxy_and_is_marked_inexact(text: str) -> None:
    for name in ("claude", "gemini", "mistral", "deepseek"):
        tok = get_tokenizer(name)
        assert isinstance(tok, EstimatedTokenizer) and tok.exact is False
        assert tok.count(text) == math.ceil(tok.proxy.count(text) * tok.ratio_for(text))
        if not any("\u3040" <= ch <= "\uffef" for ch in text):
            assert tok.count(text) >= tok.proxy.count(text)  # outside CJK, estimates err high
        assert tok.decode(tok.encode(text)) == text


ENGLISH = ("Budgets are cut at the sentence that would overflow them, and the report names what was dropped. "
           "A 12-turn history costs 3 tokens per message; tools add their schemas.\n") * 20
CHINESE = "我们明天下午三点在图书馆见面，然后一起去吃晚饭。你觉得怎么样？" * 20


@pytest.mark.parametrize(("text", "slack"), [(ENGLISH, 1.1), (CHINESE, 1.5)], ids=["english", "chinese"])
@pytest.mark.parametrize("name", ["llama3", "qwen2"])
def test_calibrated_fallback_estimates_stay_close_above_the_exact_count(name: str, text: str, slack: float) -> None:
    need("quicktok", "the exact reference for the estimate")
    exact = QuicktokTokenizer(name).count(text)
    estimate = _estimate(name).count(text)
    assert exact <= estimate <= exact * slack


@SETTINGS
@given(texts=st.lists(st.one_of(TEXT, PIECES), min_size=1, max_size=12))
def test_adaptive_tokenizer_counts_like_tiktoken_across_its_switch(texts: list[str]) -> None:
    need("quicktok", "the fast extra")
    reference = TiktokenTokenizer.for_encoding("cl100k_base")
    adaptive = AdaptiveTokenizer("cl100k_base", switch_after_chars=200)
    for text in texts:
        assert adaptive.count(text) == reference.count(text)
        assert adaptive.encode(text) == reference.encode(text)
        assert adaptive.decode(reference.encode(text)) == text
    expected = "quicktok" if sum(map(len, texts)) * 2 >= 200 else "tiktoken"
    assert adaptive.backend == expected


def test_adaptive_tokenizer_takes_a_large_first_text_straight_to_quicktok() -> None:
    need("quicktok", "the fast extra")
    adaptive = AdaptiveTokenizer("o200k_base")
    assert adaptive.backend == "none"
    adaptive.count("small")
    assert adaptive.backend == "tiktoken"
    big = AdaptiveTokenizer("o200k_base")
    big.count("word " * (PARALLEL_MIN_CHARS // 5))
    assert big.backend == "quicktok"


def test_backends_reject_unknown_encodings() -> None:
    with pytest.raises(UsageError):
        TiktokenTokenizer.for_encoding("llama3")
    with pytest.raises(UsageError):
        EstimatedTokenizer("x", get_tokenizer("o200k_base"), 0)


def test_adaptive_tokenizer_switches_safely_under_threads() -> None:
    need("quicktok", "the fast extra")
    import threading

    reference = TiktokenTokenizer.for_encoding("o200k_base")
    adaptive = AdaptiveTokenizer("o200k_base", switch_after_chars=5_000)
    texts = [f"thread text {i}: naïve café, 日本語, 42/7 — it's fine\n" * 3 for i in range(200)]
    expected = [reference.count(t) for t in texts]
    results: list[list[int]] = []

    def work() -> None:
        results.append([adaptive.count(t) for t in texts])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4
    assert adaptive.backend == "quicktok"
