"""Explicit cache markers: never more than Anthropic's four, lifetimes never growing along the prompt, on any
message sequence, whichever policy and whichever path places them."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.arrange import plan_cache
from contextwise.cache import MarkerPolicy, candidate_strategies, count_markers, mark_request, prompt_layout
from contextwise.llm import CacheBreakpoints
from contextwise.llm._anthropic import AnthropicDialect
from contextwise.tokens import TokenCounter
from contextwise.types import Message

COUNTER = TokenCounter("o200k_base")
POLICIES = [p for p in candidate_strategies("claude-sonnet-4-5") if isinstance(p, MarkerPolicy)]

text = st.text(alphabet="abc xyz", min_size=1, max_size=12)


def _text_block(t: str) -> dict[str, Any]:
    return {"type": "text", "text": t}


def _message(role: str, blocks: list[Any]) -> dict[str, Any]:
    if len(blocks) == 1 and isinstance(blocks[0], str):
        return {"role": role, "content": blocks[0]}
    return {"role": role, "content": [_text_block(b) if isinstance(b, str) else b for b in blocks]}


def _request(tools: list[str], system: Any, messages: list[dict[str, Any]]) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": messages}
    if tools:
        body["tools"] = [{"name": f"t{i}", "description": d, "input_schema": {"type": "object"}}
                         for i, d in enumerate(tools)]
    if system:
        body["system"] = system
    return body


block = st.one_of(text, st.builds(_text_block, text))
message = st.builds(_message, st.sampled_from(["user", "assistant"]), st.lists(block, min_size=1, max_size=4))
system = st.one_of(st.none(), text, st.lists(st.builds(_text_block, text), min_size=1, max_size=3))
request = st.builds(_request, st.lists(text, max_size=5), system, st.lists(message, min_size=1, max_size=30))


@settings(max_examples=300, deadline=None)
@given(request, st.sampled_from(POLICIES), st.integers(min_value=-1, max_value=200))
def test_markers_never_exceed_four_and_never_grow_in_lifetime(body, policy, history):
    layout = prompt_layout(body, COUNTER)
    history_end = history if 0 <= history < len(layout.blocks) else None
    markers = policy.place(layout, history_end=history_end, max_markers=4)
    assert len(markers) <= 4
    assert [m.block for m in markers] == sorted({m.block for m in markers})
    assert [m.ttl_s for m in markers] == sorted((m.ttl_s for m in markers), reverse=True)
    marked = mark_request(body, markers)
    assert count_markers(marked) == len(markers) <= 4
    assert prompt_layout(marked, COUNTER).prefix == layout.prefix  # markers change no content


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["system", "user", "assistant"]), min_size=1, max_size=40),
       st.lists(st.integers(min_value=0, max_value=45), max_size=12))
def test_a_context_cache_plan_sends_at_most_four_markers(roles, ends):
    messages = [Message(role=r, content=f"{r} {i}") for i, r in enumerate(roles)] + [Message.user("question")]
    plan = plan_cache("anthropic", 5000, sorted(set(ends)))
    dialect = AnthropicDialect("claude-sonnet-4-5", base_url="http://127.0.0.1", api_key=None, headers={},
                               default_max_tokens=16, cache=CacheBreakpoints.from_plan(plan))
    assert count_markers(dialect.request(messages, None, None, stream=False).body) <= 4


def _trace(gaps: list[float], growth: list[int], system_words: int) -> list[Any]:
    from contextwise.cache import TraceCall

    system = " ".join(["policy"] * system_words)
    history: list[dict[str, Any]] = []
    calls, t = [], 0.0
    for gap, blocks in zip(gaps, growth):
        t += gap
        history.append({"role": "user", "content": [_text_block(f"turn {len(calls)} part {k} " * 20)
                                                    for k in range(blocks)]})
        calls.append(TraceCall(t, {"system": system, "messages": list(history)}, session="s"))
        history.append({"role": "assistant", "content": f"answer {len(calls)} " * 30})
    return calls


@settings(max_examples=15, deadline=None)
@given(st.lists(st.sampled_from([5.0, 60.0, 400.0, 2000.0, 5000.0]), min_size=2, max_size=8),
       st.lists(st.integers(min_value=1, max_value=30), min_size=8, max_size=8),
       st.sampled_from([50, 1500]))
def test_a_plan_never_costs_more_than_a_fixed_heuristic_and_every_call_adds_up(gaps, growth, system_words):
    from contextwise.cache import fixed_heuristics, plan_prompt_cache

    plan = plan_prompt_cache(_trace(gaps, growth, system_words), "claude-sonnet-4-5")
    costs = {s.strategy: s.total_usd for s in plan.simulations}
    assert all(plan.best.total_usd <= costs[h.name] + 1e-12 for h in fixed_heuristics("claude-sonnet-4-5"))
    for run in plan.simulations:
        for call in run.calls:
            assert call.cache_read_tokens + call.cache_write_tokens + call.cache_write_1h_tokens <= call.input_tokens
            assert call.markers <= 4 and call.usd >= 0
    assert costs["none"] >= 0 and all(c.cache_read_tokens == 0 for c in plan.simulations[0].calls[:1])
