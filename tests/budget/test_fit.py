"""Fit strategies on measured items."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contextwise.budget import Compress, DropLowest, FitEnv, Item, Measured, PreferShorter, Truncate
from contextwise.testing import FakeTokenizer
from contextwise.types import Compressed

TOK = FakeTokenizer()


def _env():
    return FitEnv("docs", lambda item: TOK.count(item.text), TOK, query=None)


def _measured(texts, priorities=None):
    priorities = priorities or [0.0] * len(texts)
    return [Measured(Item(t, p, f"d{i}"), TOK.count(t)) for i, (t, p) in enumerate(zip(texts, priorities))]


texts = st.lists(st.text(alphabet="ab c\n", max_size=80), max_size=8)


@given(items=texts, limit=st.integers(0, 60), side=st.sampled_from(["tail", "head", "middle"]))
def test_fit_strategies_never_exceed_the_limit(items, limit, side):
    measured = _measured(items, [float(i % 3) for i in range(len(items))])
    for strategy in (DropLowest(), PreferShorter(), Truncate(side)):
        fitted = strategy.fit(measured, limit, _env())
        assert fitted.tokens <= limit
        assert len(fitted.kept) + sum(d.action == "dropped" for d in fitted.decisions) == len(measured)


def test_truncate_tail_keeps_the_beginning_and_head_keeps_the_end():
    measured = _measured(["one two three four five six"])
    tail = Truncate("tail").fit(measured, 3, _env())
    head = Truncate("head").fit(measured, 3, _env())
    assert tail.kept[0].item.text == "one two three"
    assert head.kept[0].item.text.split() == ["four", "five", "six"]
    assert tail.decisions[0].action == "truncated" and tail.decisions[0].tokens_after == 3


def test_drop_lowest_drops_lowest_priority_first():
    fitted = DropLowest().fit(_measured(["a a", "b b", "c c"], [2.0, 0.0, 1.0]), 4, _env())
    assert [m.item.text for m in fitted.kept] == ["a a", "c c"]
    assert [d.item for d in fitted.decisions] == ["d1"]


def test_prefer_shorter_keeps_more_short_items_than_one_long_one():
    measured = _measured(["x " * 10, "y", "z", "w"], [3.0, 2.0, 1.0, 0.0])
    fitted = PreferShorter().fit(measured, 9, _env())
    assert [m.item.text for m in fitted.kept] == ["y", "z", "w"]


class HalfCompressor:
    name = "half"

    def __init__(self):
        self.calls = 0

    def compress(self, text, target_tokens, tokenizer, query=None):
        self.calls += 1
        kept = tokenizer.decode(tokenizer.encode(text)[:target_tokens])
        return Compressed(kept, tokenizer.count(text), tokenizer.count(kept), "half")


def test_compress_shrinks_each_item_to_its_share():
    compressor = HalfCompressor()
    fitted = Compress(compressor).fit(_measured(["a " * 20, "b " * 10]), 15, _env())
    assert compressor.calls == 2 and fitted.tokens <= 15
    assert {d.action for d in fitted.decisions} == {"compressed"}
