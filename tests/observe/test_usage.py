"""Usage normalised from each provider: the buckets add up, and cost() is the sum of bucket x price."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from anthropic.types import Usage as AnthropicUsage
from hypothesis import given
from hypothesis import strategies as st
from openai.types import CompletionUsage
from openai.types.responses import ResponseUsage

from contextwise.errors import UsageError
from contextwise.models import cost, get_model
from contextwise.types import Usage

counts = st.integers(min_value=0, max_value=3_000_000)


@st.composite
def openai_usage(draw):
    prompt, output = draw(counts), draw(counts)
    cached, reasoning = draw(st.integers(0, prompt)), draw(st.integers(0, output))
    written = draw(st.integers(0, prompt - cached))
    return {"prompt_tokens": prompt, "completion_tokens": output, "total_tokens": prompt + output,
            "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0, "cache_write_tokens": written},
            "completion_tokens_details": {"reasoning_tokens": reasoning}}


@st.composite
def anthropic_usage(draw):
    uncached, read, five, hour, output = (draw(counts) for _ in range(5))
    thinking = draw(st.integers(0, output))
    raw = {"input_tokens": uncached, "output_tokens": output, "cache_read_input_tokens": read,
           "cache_creation_input_tokens": five + hour,
           "output_tokens_details": {"thinking_tokens": thinking}}
    if draw(st.booleans()):
        raw["cache_creation"] = {"ephemeral_5m_input_tokens": five, "ephemeral_1h_input_tokens": hour}
    return raw


@st.composite
def gemini_usage(draw):
    prompt, candidates, thoughts, tool = draw(counts), draw(counts), draw(counts), draw(counts)
    cached = draw(st.integers(0, prompt))
    if draw(st.booleans()):
        return {"promptTokenCount": prompt, "cachedContentTokenCount": cached, "candidatesTokenCount": candidates,
                "thoughtsTokenCount": thoughts, "toolUsePromptTokenCount": tool,
                "totalTokenCount": prompt + candidates + thoughts + tool}
    # google-genai's GenerateContentResponseUsageMetadata: the same fields, snake_case attributes
    return SimpleNamespace(prompt_token_count=prompt, cached_content_token_count=cached,
                           candidates_token_count=candidates, thoughts_token_count=thoughts,
                           tool_use_prompt_token_count=tool, total_token_count=prompt + candidates + thoughts + tool)


def _adds_up(u: Usage) -> None:
    assert u.uncached_input_tokens >= 0
    assert u.uncached_input_tokens + u.cached_input_tokens + u.cache_write_tokens + u.cache_write_1h_tokens \
        == u.input_tokens
    assert 0 <= u.reasoning_tokens <= u.output_tokens
    assert u.visible_output_tokens + u.reasoning_tokens == u.output_tokens


@given(openai_usage())
def test_usage_openai_cached_is_inside_prompt_tokens(raw):
    u = Usage.from_openai(raw)
    _adds_up(u)
    assert u.input_tokens == raw["prompt_tokens"]
    assert u.cached_input_tokens == raw["prompt_tokens_details"]["cached_tokens"]
    assert u.cache_write_tokens == raw["prompt_tokens_details"]["cache_write_tokens"]
    assert u.output_tokens == raw["completion_tokens"]
    assert u.reasoning_tokens == raw["completion_tokens_details"]["reasoning_tokens"]
    assert Usage.parse(raw) == u == Usage.from_openai(CompletionUsage(**raw))


@given(anthropic_usage())
def test_usage_anthropic_cache_is_beside_input_tokens(raw):
    u = Usage.from_anthropic(raw)
    _adds_up(u)
    assert u.input_tokens == raw["input_tokens"] + raw["cache_read_input_tokens"] + raw["cache_creation_input_tokens"]
    assert u.uncached_input_tokens == raw["input_tokens"]
    assert u.cached_input_tokens == raw["cache_read_input_tokens"]
    assert u.cache_written_tokens == raw["cache_creation_input_tokens"]
    if "cache_creation" in raw:
        assert u.cache_write_1h_tokens == raw["cache_creation"]["ephemeral_1h_input_tokens"]
    else:
        assert u.cache_write_1h_tokens == 0  # without the split every write is a 5-minute one
    assert Usage.parse(raw) == u == Usage.parse(AnthropicUsage(**raw))


@given(gemini_usage())
def test_usage_gemini_thinking_is_output_and_cache_inside_prompt(raw):
    u = Usage.from_gemini(raw)
    _adds_up(u)
    get = (lambda k, a: raw[k]) if isinstance(raw, dict) else (lambda k, a: getattr(raw, a))
    assert u.input_tokens == get("promptTokenCount", "prompt_token_count") + \
        get("toolUsePromptTokenCount", "tool_use_prompt_token_count")
    assert u.cached_input_tokens == get("cachedContentTokenCount", "cached_content_token_count")
    assert u.output_tokens == get("candidatesTokenCount", "candidates_token_count") + \
        get("thoughtsTokenCount", "thoughts_token_count")
    assert u.total_tokens == get("totalTokenCount", "total_token_count")
    assert Usage.parse(raw) == u


MODELS = ["gpt-4o", "claude-sonnet-4-5", "gemini-2.5-pro", "gpt-4o-mini"]


def _expected_usd(u: Usage, model: str) -> float:
    """The bill computed by hand from the catalog's prices (tier by the whole prompt)."""
    prices = get_model(model).prices
    tier = prices.tier_for(u.input_tokens)

    def rate(name, fallback):
        value = getattr(tier, name, None) if tier is not None else None
        value = getattr(prices, name) if value is None else value
        return fallback if value is None else value

    plain, out = rate("input_usd_per_mtok", None), rate("output_usd_per_mtok", None)
    write_5m = rate("cache_write_usd_per_mtok", plain)
    return (u.uncached_input_tokens * plain + u.cached_input_tokens * rate("cached_input_usd_per_mtok", plain)
            + u.cache_write_tokens * write_5m + u.cache_write_1h_tokens * rate("cache_write_1h_usd_per_mtok", write_5m)
            + u.output_tokens * out) / 1e6


@given(st.one_of(openai_usage(), anthropic_usage(), gemini_usage()), st.sampled_from(MODELS))
def test_usage_cost_is_the_sum_of_bucket_times_price(raw, model):
    u = Usage.parse(raw)
    got = cost(raw, model)
    assert got == cost(u, model)
    assert math.isclose(got.total_usd, _expected_usd(u, model), rel_tol=1e-9, abs_tol=1e-12)
    assert math.isclose(got.total_usd, got.input_usd + got.cached_input_usd + got.cache_write_usd
                        + got.cache_write_1h_usd + got.output_usd, rel_tol=1e-12, abs_tol=1e-15)


def test_usage_cost_prices_reasoning_as_output():
    plain = cost(Usage(1000, 500), "gpt-4o")
    thinking = cost(Usage(1000, 500, reasoning_tokens=400), "gpt-4o")
    assert thinking == plain


def test_usage_cost_accepts_sdk_responses_and_their_usage():
    from anthropic.types import Message as AnthropicMessage
    from openai.types.chat import ChatCompletion

    oa = ChatCompletion(id="x", object="chat.completion", created=1, model="gpt-4o", choices=[],
                        usage=CompletionUsage(prompt_tokens=2000, completion_tokens=100, total_tokens=2100,
                                              prompt_tokens_details={"cached_tokens": 1024}))
    assert cost(oa, "gpt-4o") == cost(Usage(2000, 100, 1024), "gpt-4o")
    an = AnthropicMessage(id="m", type="message", role="assistant", model="claude-sonnet-4-5", content=[],
                          stop_reason="end_turn", stop_sequence=None,
                          usage=AnthropicUsage(input_tokens=10, output_tokens=5, cache_read_input_tokens=3000))
    assert cost(an, "claude-sonnet-4-5") == cost(Usage(3010, 5, 3000), "claude-sonnet-4-5")
    responses = ResponseUsage(input_tokens=500, output_tokens=50, total_tokens=550,
                              input_tokens_details={"cached_tokens": 200, "cache_write_tokens": 100,
                                                    "cache_write_tokens_details": {"ttl_12h_tokens": 40,
                                                                                   "ttl_30m_tokens": 60}},
                              output_tokens_details={"reasoning_tokens": 20})
    assert Usage.parse(responses) == Usage(500, 50, 200, 60, 40, reasoning_tokens=20)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 2.5, "3", None, True, -1],
                         ids=["nan", "inf", "fraction", "str", "none", "bool", "negative"])
def test_usage_rejects_counts_that_are_not_whole_tokens(value):
    with pytest.raises(UsageError):
        Usage(value, 0)


def test_usage_accepts_whole_numbers_of_other_types():
    import numpy as np

    u = Usage(np.int64(12), 3.0)
    assert (u.input_tokens, u.output_tokens) == (12, 3) and type(u.input_tokens) is int


@pytest.mark.parametrize("raw", [{"tokens": 5}, object(), 42, None], ids=["dict", "object", "int", "none"])
def test_usage_parse_refuses_what_is_not_usage(raw):
    with pytest.raises(UsageError):
        cost(raw, "gpt-4o")


def test_usage_parts_cannot_exceed_their_whole():
    with pytest.raises(UsageError):
        Usage(10, 0, cached_input_tokens=11)
    with pytest.raises(UsageError):
        Usage(10, 5, reasoning_tokens=6)
    with pytest.raises(UsageError):
        Usage.from_openai({"prompt_tokens": float("nan")})


def test_usage_add_sums_every_bucket():
    a, b = Usage(10, 5, 2, 1, 1, 3), Usage(20, 6, 4, 2, 0, 1)
    assert a + b == Usage(30, 11, 6, 3, 1, 4)
