"""cost(): each token is billed once at its class's price; tiers follow the prompt size; checked by hand."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.errors import UnknownBackendError, UsageError
from contextwise.models import Catalog, Cost, ModelInfo, Prices, PriceTier, cost
from contextwise.types import Usage

CATALOG = Catalog.default()


def model(prices: Prices, *, window_tokens: int = 100_000) -> ModelInfo:
    return ModelInfo("m", "p", context_window_tokens=window_tokens, max_output_tokens=100, tokenizer="claude",
                     prices=prices)


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-12, abs=1e-15)


def test_cost_openai_cached_tokens_billed_once_at_the_cached_price() -> None:
    # gpt-4o: $2.50 in, $1.25 cached, $10 out. 6,000 uncached + 4,000 cached + 1,000 out.
    c = cost(Usage(input_tokens=10_000, cached_input_tokens=4_000, output_tokens=1_000), "gpt-4o")
    assert (c.input_usd, c.cached_input_usd, c.output_usd) == (approx(0.015), approx(0.005), approx(0.010))
    assert (c.cache_write_usd, c.cache_write_1h_usd, c.tier, c.model) == (0.0, 0.0, None, "gpt-4o")
    assert c.total_usd == approx(0.030)


def test_cost_fully_cached_prompt_costs_only_the_cached_price() -> None:
    c = cost(Usage(input_tokens=1_000_000, cached_input_tokens=1_000_000), "openai/gpt-4o-2024-08-06")
    assert (c.input_usd, c.total_usd) == (0.0, approx(1.25))


def test_cost_anthropic_cache_writes_at_one_and_a_quarter_and_double() -> None:
    # claude-sonnet-4-5: $3 in, $0.30 read, $3.75 5-minute write, $6 1-hour write, $15 out.
    usage = Usage(input_tokens=12_000, cached_input_tokens=8_000, cache_write_tokens=3_000,
                  cache_write_1h_tokens=500, output_tokens=700)
    c = cost(usage, "claude-sonnet-4-5")
    assert c.input_usd == approx(500 * 3.00 / 1e6)
    assert c.cached_input_usd == approx(8_000 * 0.30 / 1e6)
    assert c.cache_write_usd == approx(3_000 * 3.75 / 1e6)
    assert c.cache_write_1h_usd == approx(500 * 6.00 / 1e6)
    assert c.output_usd == approx(700 * 15.00 / 1e6)
    assert c.total_usd == approx(0.0015 + 0.0024 + 0.01125 + 0.003 + 0.0105)


@pytest.mark.parametrize(("input_tokens", "expected_usd", "tiered"), [
    (200_000, 200_000 * 1.25 / 1e6 + 1_000 * 10.0 / 1e6, False),
    (200_001, 200_001 * 2.50 / 1e6 + 1_000 * 15.0 / 1e6, True),
], ids=["at-threshold-base", "above-threshold-tier"])
def test_cost_gemini_tier_chosen_by_prompt_size(input_tokens: int, expected_usd: float, tiered: bool) -> None:
    c = cost(Usage(input_tokens=input_tokens, output_tokens=1_000), "gemini-2.5-pro")
    assert c.total_usd == approx(expected_usd)
    assert (c.tier is not None) == tiered
    assert c.tier is None or c.tier.above_input_tokens == 200_000


def test_cost_tier_counts_cached_tokens_toward_the_prompt_size() -> None:
    # 150k uncached + 100k cached = 250k prompt: above 200k, so both classes take the tier price.
    c = cost(Usage(input_tokens=250_000, cached_input_tokens=100_000), "gemini-2.5-pro")
    assert (c.input_usd, c.cached_input_usd) == (approx(150_000 * 2.50 / 1e6), approx(100_000 * 0.25 / 1e6))


def test_cost_anthropic_long_context_tier_applies_to_every_class() -> None:
    usage = Usage(input_tokens=300_000, cached_input_tokens=100_000, cache_write_tokens=50_000,
                  cache_write_1h_tokens=10_000, output_tokens=1_000)
    c = cost(usage, "claude-sonnet-4")
    expected = [140_000 * 6.00, 100_000 * 0.60, 50_000 * 7.50, 10_000 * 12.00, 1_000 * 22.50]
    got = [c.input_usd, c.cached_input_usd, c.cache_write_usd, c.cache_write_1h_usd, c.output_usd]
    assert got == [approx(v / 1e6) for v in expected]
    assert c.total_usd == approx(1.4175)


def test_cost_without_a_cached_price_bills_cached_tokens_as_input() -> None:
    c = cost(Usage(input_tokens=1_000, cached_input_tokens=400), "gpt-4")  # no prompt caching: $30 for all
    assert (c.input_usd, c.cached_input_usd, c.total_usd) == (approx(0.018), approx(0.012), approx(0.030))


def test_cost_one_hour_write_falls_back_to_the_five_minute_price_then_input() -> None:
    only_5m = model(Prices(2.0, 4.0, cached_input_usd_per_mtok=0.2, cache_write_usd_per_mtok=2.5))
    c = cost(Usage(input_tokens=1_000_000, cache_write_1h_tokens=1_000_000), only_5m)
    assert c.cache_write_1h_usd == approx(2.5)
    plain = model(Prices(2.0, 4.0))
    c = cost(Usage(input_tokens=1_000_000, cache_write_tokens=600_000, cache_write_1h_tokens=400_000), plain)
    assert (c.cache_write_usd, c.cache_write_1h_usd) == (approx(1.2), approx(0.8))


def test_cost_tiers_pick_the_highest_threshold_passed() -> None:
    prices = Prices(1.0, 1.0, tiers=(PriceTier(1_000, input_usd_per_mtok=3.0),
                                     PriceTier(100, input_usd_per_mtok=2.0, output_usd_per_mtok=5.0)))
    info = model(prices, window_tokens=10_000)
    assert cost(Usage(input_tokens=100), info).input_usd == approx(100 * 1.0 / 1e6)
    assert cost(Usage(input_tokens=101, output_tokens=1), info).total_usd == approx((101 * 2.0 + 5.0) / 1e6)
    # The higher tier leaves output alone, so the output price is the base one, not the lower tier's.
    assert cost(Usage(input_tokens=1_001, output_tokens=1), info).total_usd == approx((1_001 * 3.0 + 1.0) / 1e6)


def test_cost_sums_over_calls() -> None:
    a = cost(Usage(input_tokens=1_000, output_tokens=10), "gpt-4o")
    b = cost(Usage(input_tokens=2_000, cached_input_tokens=1_000), "gpt-4o")
    both = a + b
    assert isinstance(both, Cost) and both.model == "gpt-4o"
    assert both.total_usd == approx(a.total_usd + b.total_usd)
    assert (a + cost(Usage(input_tokens=1), "gpt-4o-mini")).model == ""


def test_cost_rejects_unknown_model_and_wrong_usage_type() -> None:
    with pytest.raises(UnknownBackendError):
        cost(Usage(input_tokens=1), "no-such-model")
    with pytest.raises(UsageError):
        cost({"tokens": 1}, "gpt-4o")  # a dict, but not any provider's usage
    assert cost({"input_tokens": 1}, "gpt-4o") == cost(Usage(input_tokens=1), "gpt-4o")


def test_cost_uses_the_given_catalog() -> None:
    cheap = CATALOG.with_overrides({"models": {"gpt-4o": {"prices": {"input_usd_per_mtok": 2.0}}}})
    assert cost(Usage(input_tokens=1_000_000), "gpt-4o", catalog=cheap).total_usd == approx(2.0)


# -- properties over every catalog model -----------------------------------------------------------------------

MODELS = st.sampled_from(list(CATALOG))
TOKENS = st.integers(min_value=0, max_value=3_000_000)
CLASSES = ("uncached", "cached", "write_5m", "write_1h", "output")


def make_usage(uncached: int, cached: int, write_5m: int, write_1h: int, output: int) -> Usage:
    return Usage(input_tokens=uncached + cached + write_5m + write_1h, output_tokens=output,
                 cached_input_tokens=cached, cache_write_tokens=write_5m, cache_write_1h_tokens=write_1h)


@settings(max_examples=300, deadline=None)
@given(info=MODELS, counts=st.tuples(TOKENS, TOKENS, TOKENS, TOKENS, TOKENS),
       which=st.sampled_from(CLASSES), extra=st.integers(min_value=1, max_value=500_000))
def test_cost_is_monotone_in_each_token_class(info: ModelInfo, counts: tuple[int, ...], which: str,
                                              extra: int) -> None:
    more = list(counts)
    more[CLASSES.index(which)] += extra
    before, after = cost(make_usage(*counts), info), cost(make_usage(*more), info)
    assert after.total_usd >= before.total_usd * (1 - 1e-12)


@settings(max_examples=300, deadline=None)
@given(info=MODELS, counts=st.tuples(TOKENS, TOKENS, TOKENS, TOKENS, TOKENS), data=st.data())
def test_cost_cache_reads_never_cost_more_than_plain_input(info: ModelInfo, counts: tuple[int, ...],
                                                            data: st.DataObject) -> None:
    uncached, cached, write_5m, write_1h, output = counts
    moved = data.draw(st.integers(min_value=0, max_value=uncached))
    plain = cost(make_usage(uncached, cached, write_5m, write_1h, output), info)
    read = cost(make_usage(uncached - moved, cached + moved, write_5m, write_1h, output), info)
    assert read.total_usd <= plain.total_usd * (1 + 1e-12)
    assert read.tier == plain.tier  # the prompt size, and so the tier, did not change


@settings(max_examples=200, deadline=None)
@given(info=MODELS, counts=st.tuples(TOKENS, TOKENS, TOKENS, TOKENS, TOKENS))
def test_cost_parts_are_non_negative_and_sum_to_total(info: ModelInfo, counts: tuple[int, ...]) -> None:
    c = cost(make_usage(*counts), info)
    parts = [c.input_usd, c.cached_input_usd, c.cache_write_usd, c.cache_write_1h_usd, c.output_usd]
    assert all(p >= 0 for p in parts)
    assert c.total_usd == approx(sum(parts))
    assert c.total_usd == 0 or sum(counts) > 0
