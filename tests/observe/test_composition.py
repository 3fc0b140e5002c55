"""The composition record, over generated contexts: the parts sum exactly to the counted prompt."""

from __future__ import annotations

import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import contextwise as cw
from contextwise import observe
from contextwise.errors import BudgetExceededError, TruncationWarning
from contextwise.types import Message, Tool

words = st.lists(st.sampled_from("dock bike price euro route rider battery the a of . ,".split()), min_size=1,
                 max_size=60).map(" ".join)


@st.composite
def contexts(draw):
    window = draw(st.integers(300, 3000))
    ctx = cw.Context("gpt-4o", window_tokens=window, tokenizer="o200k_base", output_reserve=100)
    ctx.system(draw(words))
    if draw(st.booleans()):
        ctx.tools([Tool("lookup", draw(words), {"type": "object", "properties": {"q": {"type": "string"}}})])
    if draw(st.booleans()):
        ctx.memory(draw(st.lists(words, min_size=1, max_size=5)))
    if draw(st.booleans()):
        ctx.documents(draw(st.lists(words, min_size=1, max_size=12)))
    if draw(st.booleans()):
        turns = draw(st.lists(st.tuples(words, words), min_size=1, max_size=6))
        ctx.history([m for q, a in turns for m in (Message.user(q), Message.assistant(a))])
    return ctx.user(draw(words))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contexts())
def test_composition_parts_sum_exactly_to_the_prompt(ctx):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            built = ctx.build()
    except BudgetExceededError:
        return
    c = observe.composition_of(built.report)
    assert sum(c.parts.values()) == built.report.prompt_tokens == c.prompt_tokens
    assert all(tokens >= 0 for tokens in c.parts.values()), c.parts
    assert sum(c.sections.values()) + c.parts["framing"] == c.prompt_tokens
    assert 0 < c.keep_ratio <= 1 and (c.keep_ratio < 1) == bool(c.cuts)
    assert c.cut_tokens == sum(d.tokens_before - d.tokens_after for d in built.report.decisions)
    assert c.predicted_cached_tokens in (0, c.cache_prefix_tokens)
