"""Exact back-ends round-trip, count what they encode, agree with each other, and split long texts safely."""

from __future__ import annotations

import math
import re
import unicodedata
from functools import lru_cache

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
from contextwise.tokens._backends import (
    PARALLEL_MIN_CHARS,
    QUICKTOK_LOAD_CHARS,
    TIKTOKEN_LOAD_CHARS,
    fast_break_even_chars,
    has_unassigned,
    quicktok_available,
)
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


@lru_cache(maxsize=1)
def old_unassigned_regex() -> re.Pattern[str]:
    """The check as it was before issue 8: one character class of every code point Python leaves unassigned."""
    ranges: list[tuple[int, int]] = []
    for cp in range(0x80, 0x110000):
        if unicodedata.category(chr(cp)) == "Cn":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return re.compile("[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]")


# Characters on both sides of the line: assigned and unassigned, inside and above the BMP, lone surrogates.
EDGE_CHARS = ["a", "\n", "é", "\u00a0", "\u2019", "—", "日", "，", "\u0378", "\u088f", "\ufffe", "\U0001f600",
              "\U0001fae8", "\U000323b0", "\U000e0000", "\U000e0001", "\U0010ffff", "\ud800", "\udfff", "\ud83d"]
EDGE_TEXT = st.one_of(
    st.text(alphabet=st.characters(), max_size=400),
    st.lists(st.sampled_from(EDGE_CHARS), max_size=40).map("".join),
    # Long texts take the numpy path: mostly common characters with a few edge ones anywhere.
    st.tuples(st.text(alphabet=st.sampled_from(EDGE_CHARS[:8]), min_size=300, max_size=700),
              st.lists(st.tuples(st.integers(0, 700), st.sampled_from(EDGE_CHARS)), max_size=3)).map(
        lambda pair: _insert(*pair)),
)


def _insert(text: str, inserts: list[tuple[int, str]]) -> str:
    for at, char in inserts:
        text = text[:at] + char + text[at:]
    return text


@SETTINGS
@given(text=EDGE_TEXT)
def test_new_character_check_agrees_with_the_old_regex(text: str) -> None:
    expected = old_unassigned_regex().search(text) is not None
    assert expected == any(unicodedata.category(c) == "Cn" for c in text)
    assert has_unassigned(text) == expected
    assert has_unassigned(text * 300) == expected  # the same characters through the long-text path


@pytest.mark.parametrize("char", ["\U000323b0", "\u088f", "\U000e0000"], ids=["astral-cjk", "bmp", "plane-14"])
@pytest.mark.parametrize("size", [3, 10_000, PARALLEL_MIN_CHARS + 10], ids=["short", "long", "parallel"])
def test_one_new_character_anywhere_in_real_text_is_found(char: str, size: int) -> None:
    body = ("It’s the essays’ text — with\u00a0no-break spaces, 中文，and 😀.\n" * (size // 40 + 1))[:size]
    for at in (0, size // 2, size):
        assert has_unassigned(body[:at] + char + body[at:])
    assert not has_unassigned(body)


def test_non_ascii_text_counts_like_tiktoken_on_every_back_end() -> None:
    text = ("我们明天下午三点在图书馆见面，然后一起去吃晚饭。It’s “quoted” — café\u00a0naïve 😀👍🏽 "
            "Ελληνικά русский עברית العربية हिन्दी 한국어 日本語\n") * (PARALLEL_MIN_CHARS // 90)
    fast = {t.name: t for t in quicktok_tokenizers()}
    for ref in tiktoken_tokenizers():
        expected = len(ref.encode(text))
        assert ref.count(text) == expected  # in parallel pieces
        assert fast[ref.name].count(text) == expected
        assert AdaptiveTokenizer(ref.name, switch_after_chars=0).count(text) == expected
        assert fast[ref.name].count(text[:5000]) == len(ref.encode(text[:5000]))


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
    # A call moves only when its own text repays the load (a first one net of tiktoken's load).
    repays = len(texts[0]) >= 200 * (1 - TIKTOKEN_LOAD_CHARS / QUICKTOK_LOAD_CHARS) or max(map(len, texts)) >= 200
    assert adaptive.backend == ("quicktok" if repays else "tiktoken")


@pytest.mark.parametrize(("first_chars", "backend"), [(540, "tiktoken"), (560, "quicktok")], ids=["short", "long"])
def test_adaptive_tokenizer_takes_a_first_text_to_quicktok_only_when_it_repays_the_load(first_chars: int,
                                                                                      backend: str) -> None:
    need("quicktok", "the fast extra")
    # A first text repays quicktok's load net of tiktoken's from 1000 * (1 - 5M/11M) = 545.5 characters.
    adaptive = AdaptiveTokenizer("o200k_base", switch_after_chars=1_000)
    assert adaptive.backend == "none"
    text = "naïve café, 日本語 " * (first_chars // 16) + "x" * (first_chars % 16)
    assert len(text) == first_chars
    assert adaptive.count(text) == TiktokenTokenizer.for_encoding("o200k_base").count(text)
    assert adaptive.backend == backend


def test_adaptive_tokenizer_moves_to_quicktok_only_in_a_call_whose_text_repays_the_load() -> None:
    need("quicktok", "the fast extra")
    adaptive = AdaptiveTokenizer("o200k_base", switch_after_chars=1_000)
    for _ in range(50):  # 5,000 characters in short calls: no short call pays a load it cannot repay
        adaptive.count("x" * 100)
    assert adaptive.backend == "tiktoken"
    adaptive.count("x" * 999)
    assert adaptive.backend == "tiktoken"
    assert adaptive.count("y" * 1_000) == TiktokenTokenizer.for_encoding("o200k_base").count("y" * 1_000)
    assert adaptive.backend == "quicktok"


def test_load_fast_moves_at_once_and_only_once() -> None:
    need("quicktok", "the fast extra")
    adaptive = AdaptiveTokenizer("o200k_base")
    adaptive.count("short")
    assert adaptive.backend == "tiktoken"
    assert adaptive.load_fast() is True
    fast = adaptive._current
    assert adaptive.backend == "quicktok" and adaptive.load_fast() is True and adaptive._current is fast
    assert adaptive.count("naïve café") == TiktokenTokenizer.for_encoding("o200k_base").count("naïve café")


def test_adaptive_tokenizer_counts_a_cold_first_megabyte_on_tiktoken_by_default() -> None:
    need("quicktok", "the fast extra")
    # Loading quicktok inside this call would cost more than it saves (the regression of issue 8).
    adaptive = AdaptiveTokenizer("o200k_base")
    assert adaptive.switch_after_chars == fast_break_even_chars() > PARALLEL_MIN_CHARS
    text = "It’s the essays’ text — with\u00a0no-break spaces.\n" * (PARALLEL_MIN_CHARS // 40)
    assert adaptive.count(text) == TiktokenTokenizer.for_encoding("o200k_base").count(text)
    assert adaptive.backend == "tiktoken"


def test_break_even_grows_with_the_threads_tiktoken_counts_on() -> None:
    one, two = fast_break_even_chars(1), fast_break_even_chars(2)
    assert two == pytest.approx(2 * one, abs=1)
    assert one > QUICKTOK_LOAD_CHARS > TIKTOKEN_LOAD_CHARS
    with pytest.raises(UsageError):
        AdaptiveTokenizer("o200k_base", switch_after_chars=-1)


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
    texts[50] *= 40  # one text long enough to repay the load: the move happens while the threads count
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
