"""TokenCounter caches by content and reuses running totals without ever changing a count."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.errors import UnknownBackendError
from contextwise.testing import FakeTokenizer
from contextwise.tokens import (
    GENERIC,
    TokenCounter,
    count_message,
    count_messages,
    get_tokenizer,
)
from contextwise.types import Message


class SpyTokenizer(FakeTokenizer):
    """FakeTokenizer that records every text it was asked to count."""

    def __init__(self) -> None:
        super().__init__()
        self.counted: list[str] = []

    def count(self, text: str) -> int:
        self.counted.append(text)
        return super().count(text)


def history(n: int) -> list[Message]:
    return [Message.user(f"question {i} about item {i * 7}") if i % 2 == 0
            else Message.assistant(f"answer {i}: it is {i * 3} units") for i in range(n)]


def fresh_total(msgs: Sequence[Message], tokenizer) -> int:
    """What a counter with empty caches says."""
    return TokenCounter(tokenizer, GENERIC).messages(msgs)


def test_count_caches_by_content() -> None:
    spy = SpyTokenizer()
    counter = TokenCounter(spy, GENERIC)
    text = "the same words again"
    first = counter.count(text)
    again = counter.count(text[:9] + text[9:])  # equal text, another object
    assert first == again == 4
    assert spy.counted == ["the same words again"]


def test_text_cache_is_bounded_lru() -> None:
    spy = SpyTokenizer()
    counter = TokenCounter(spy, GENERIC, max_cached_texts=2)
    for text in ("a", "b", "a", "c", "a", "b"):
        counter.count(text)
    assert spy.counted == ["a", "b", "c", "b"]  # "a" stayed (recently used); "b" was evicted by "c"


def test_texts_over_the_char_budget_are_not_cached() -> None:
    spy = SpyTokenizer()
    counter = TokenCounter(spy, GENERIC, max_cached_chars=10)
    counter.count("x " * 20)
    counter.count("x " * 20)
    assert len(spy.counted) == 2


def test_growing_history_counts_only_new_messages() -> None:
    spy = SpyTokenizer()
    counter = TokenCounter(spy, GENERIC)
    msgs = history(50)
    for turn in range(1, 51):
        assert counter.messages(msgs[:turn]) == fresh_total(msgs[:turn], FakeTokenizer())
    contents = [t for t in spy.counted if t not in ("user", "assistant")]
    assert len(contents) == 50  # each message's content counted once over 50 recounts


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["append", "drop_first", "prefix", "replace_last", "other"]),
                              st.integers(0, 30)), max_size=25))
def test_cached_totals_always_equal_a_fresh_count(ops) -> None:
    tok = FakeTokenizer()
    counter = TokenCounter(tok, GENERIC)
    pool = history(40)
    current: list[Message] = []
    other = pool[20:35]
    for op, arg in ops:
        if op == "append":
            current = current + [pool[arg]]
        elif op == "drop_first":
            current = current[1:]
        elif op == "prefix":
            current = current[: arg % (len(current) + 1)]
        elif op == "replace_last" and current:
            current = current[:-1] + [Message.user(f"edited {arg}")]
        target = other if op == "other" else current
        assert counter.messages(target) == fresh_total(target, tok)


def test_equal_messages_built_anew_are_recognised() -> None:
    spy = SpyTokenizer()
    counter = TokenCounter(spy, GENERIC)
    counter.messages(history(10))
    before = len(spy.counted)
    assert counter.messages(history(11)) == fresh_total(history(11), FakeTokenizer())
    assert len(spy.counted) - before <= 2  # only the new message's role and content


def test_counter_is_safe_across_threads() -> None:
    counter = TokenCounter("o200k_base")
    msgs = history(200)
    expected = TokenCounter("o200k_base").messages(msgs)
    results: list[int] = []

    def work() -> None:
        for turn in range(1, 201, 7):
            counter.messages(msgs[:turn])
        results.append(counter.messages(msgs))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [expected] * 4


def test_counter_resolves_strings() -> None:
    assert TokenCounter("o200k").tokenizer is get_tokenizer("o200k_base")
    assert TokenCounter("gpt-4").tokenizer is get_tokenizer("cl100k_base")
    assert TokenCounter("tiktoken:cl100k_base").tokenizer.name == "cl100k_base"
    assert TokenCounter("claude-sonnet-4-5").exact is False
    assert TokenCounter("gpt-4o").exact is True
    with pytest.raises(UnknownBackendError):
        TokenCounter("no-such-model-xyz")


def test_conveniences_delegate_to_the_counter() -> None:
    counter = TokenCounter("o200k_base")
    msgs = history(3)
    assert count_message(msgs[0], counter) == counter.message(msgs[0])
    assert count_messages(msgs, counter) == counter.messages(msgs)


def test_clear_forgets_everything() -> None:
    spy = SpyTokenizer()
    counter = TokenCounter(spy, GENERIC)
    counter.messages(history(3))
    counter.clear()
    spy.counted.clear()
    counter.messages(history(3))
    assert spy.counted.count("user") == 1 and len(spy.counted) == 5  # 3 contents + 2 roles, counted again


def test_count_many_gives_what_count_gives_each_text_and_caches_them():
    from contextwise.tokens import TokenCounter
    from contextwise.tokens._backends import MANY_MIN_CHARS

    texts = [f"passage {i}: the harbour station had {i} bikes, café ünïcode {chr(0x4e00 + i)}" for i in range(400)]
    texts += texts[:3] + ["", "x" * (MANY_MIN_CHARS // 2)]  # duplicates, an empty text, enough text for threads
    counter = TokenCounter("o200k_base")
    many = counter.count_many(texts)
    fresh = TokenCounter("o200k_base")
    assert many == [fresh.count(t) for t in texts]
    hits = counter._texts.hits
    assert counter.count_many(texts[:10]) == many[:10] and counter._texts.hits == hits + 10


def test_count_many_refuses_what_is_not_a_list_of_strings():
    from contextwise.errors import UsageError
    from contextwise.tokens import TokenCounter

    counter = TokenCounter("o200k_base")
    with pytest.raises(UsageError):
        counter.count_many("one text")
    with pytest.raises(UsageError, match="at 1"):
        counter.count_many(["fine", None])
