"""Every entry of the packaged catalog is a sane, complete description of its model."""

from __future__ import annotations

import datetime as dt
import sys
from importlib import resources

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from contextwise.models import TOKENIZERS, Catalog, ModelInfo, cost, get_model
from contextwise.models._types import PRICE_FIELDS
from contextwise.tokens import tokenizer_for_model
from contextwise.types import Usage

CATALOG = Catalog.default()
CATALOG_DATE = tomllib.loads(resources.files("contextwise.models").joinpath("catalog.toml").read_text("utf-8"))[
    "catalog"]["checked_on"]
MODELS = list(CATALOG)
IDS = [m.name for m in MODELS]
# Claude 3 Haiku's published cache prices ($0.30 write, $0.03 read on $0.25) are rounded, not the multipliers.
ANTHROPIC = [m for m in MODELS if m.provider == "anthropic" and m.name != "claude-3-haiku"]

# The families the catalog promises to cover (from the issue), by a name each must resolve.
REQUIRED_NAMES = [
    "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o3", "o3-mini", "o4-mini", "gpt-5",
    "gpt-5-mini", "gpt-5-nano", "claude-3-5-haiku", "claude-3-5-sonnet", "claude-3-7-sonnet", "claude-sonnet-4",
    "claude-opus-4", "claude-opus-4-1", "claude-sonnet-4-5", "claude-haiku-4-5", "gemini-1.5-pro",
    "gemini-1.5-flash", "gemini-2.0-flash", "gemini-2.5-flash", "gemini-2.5-pro", "llama-3.1-8b-instruct",
    "llama-3.3-70b-instruct", "llama-4-maverick", "mistral-large", "qwen-max", "deepseek-chat",
]
# Current models the 2026-11 refresh added (one or more per family), by a name each must resolve.
CURRENT_NAMES = [
    "gpt-5.1", "gpt-5.2", "gpt-5.4", "gpt-5.5", "gpt-6-sol", "claude-opus-4-6", "claude-sonnet-4-6",
    "claude-opus-4-7", "claude-opus-5", "gemini-3-flash-preview", "gemini-3.1-pro-preview", "gemini-3.8-flash",
    "mistral-large-4", "mistral-medium", "ministral-14b", "qwen3-max", "qwen3.8-max", "deepseek-v4-flash",
    "deepseek-v4-pro",
]
# Families counted with a relative's tokenizer because their own is not shipped or not published.
COUNTED_BY_KIN = ("llama-4", "gpt-6", "qwen3.5", "qwen3.7", "qwen3.8")


def test_catalog_has_at_least_40_models_across_all_providers() -> None:
    assert len(CATALOG) >= 40
    assert set(CATALOG.providers()) >= {"openai", "anthropic", "google", "meta", "mistral", "qwen", "deepseek"}


@pytest.mark.parametrize("name", REQUIRED_NAMES)
def test_catalog_covers_required_family(name: str) -> None:
    assert CATALOG.get(name).name == name


@pytest.mark.parametrize("name", CURRENT_NAMES)
def test_catalog_current_model_resolves_and_prices_a_call(name: str) -> None:
    info = get_model(name)
    assert info.name == name and info.checked_on == CATALOG_DATE
    usage = Usage(input_tokens=10_000, cached_input_tokens=4_000, output_tokens=1_000)
    prices = info.prices.at(usage.input_tokens)
    cached = prices.cached_input_usd_per_mtok if prices.cached_input_usd_per_mtok is not None else (
        prices.input_usd_per_mtok)
    expected = (6_000 * prices.input_usd_per_mtok + 4_000 * cached + 1_000 * prices.output_usd_per_mtok) / 1e6
    assert cost(usage, name).total_usd == pytest.approx(expected) and expected > 0


@pytest.mark.parametrize("info", MODELS, ids=IDS)
def test_catalog_entry_limits_are_consistent(info: ModelInfo) -> None:
    assert info.context_window_tokens > 0 and info.max_output_tokens > 0
    if info.window_includes_output:
        assert info.max_output_tokens <= info.context_window_tokens
    if info.max_input_tokens is not None:
        assert 0 < info.max_input_tokens <= info.context_window_tokens
    if info.extended_context_window_tokens is not None:
        assert info.extended_context_window_tokens > info.context_window_tokens


@pytest.mark.parametrize("info", MODELS, ids=IDS)
def test_catalog_entry_prices_are_consistent(info: ModelInfo) -> None:
    prices = info.prices
    assert prices.input_usd_per_mtok > 0 and prices.output_usd_per_mtok > 0
    if prices.cached_input_usd_per_mtok is not None:
        assert 0 < prices.cached_input_usd_per_mtok < prices.input_usd_per_mtok
    assert (prices.cached_input_usd_per_mtok is not None) == info.supports_prompt_cache
    for tier in prices.tiers:
        assert 0 < tier.above_input_tokens < max(info.context_window_tokens,
                                                 info.extended_context_window_tokens or 0)
        tiered = prices.at(tier.above_input_tokens + 1)
        for field in PRICE_FIELDS:  # a long prompt never makes any token class cheaper
            base, high = getattr(prices, field), getattr(tiered, field)
            assert (base is None) == (high is None) and (base is None or high >= base), field


@pytest.mark.parametrize("info", MODELS, ids=IDS)
def test_catalog_entry_metadata_is_complete(info: ModelInfo) -> None:
    assert info.tokenizer in TOKENIZERS
    assert info.priced_by
    assert info.checked_on is not None and dt.date(2024, 1, 1) <= info.checked_on <= CATALOG_DATE
    assert info.name == info.name.strip().lower()
    assert info.min_cacheable_tokens is None or info.min_cacheable_tokens > 0
    if info.cache_kind is not None and info.min_cacheable_tokens is None:
        assert info.provider in ("mistral", "qwen")  # the providers that publish no minimum prefix


@pytest.mark.parametrize("info", ANTHROPIC, ids=[m.name for m in ANTHROPIC])
def test_catalog_anthropic_cache_prices_follow_the_published_multipliers(info: ModelInfo) -> None:
    # Anthropic: 5-minute writes 1.25x input, 1-hour writes 2x, at base and at every tier; reads 0.1x, and less
    # (0.05x, 0.025x) on the releases from late 2026.
    for prices in (info.prices, *(info.prices.at(t.above_input_tokens + 1) for t in info.prices.tiers)):
        base = prices.input_usd_per_mtok
        assert prices.cache_write_usd_per_mtok == pytest.approx(base * 1.25)
        assert prices.cache_write_1h_usd_per_mtok == pytest.approx(base * 2)
        assert prices.cached_input_usd_per_mtok is not None
        assert base * 0.025 - 1e-9 <= prices.cached_input_usd_per_mtok <= base * 0.1 + 1e-9


@pytest.mark.parametrize("info", MODELS, ids=IDS)
def test_catalog_tokenizer_marked_estimated_exactly_for_families_counted_by_kin(info: ModelInfo) -> None:
    assert info.tokenizer_estimated == info.name.startswith(COUNTED_BY_KIN)


@pytest.mark.parametrize("info", [m for m in MODELS if m.tokenizer_estimated],
                         ids=[m.name for m in MODELS if m.tokenizer_estimated])
def test_catalog_estimated_tokenizer_is_a_real_relative(info: ModelInfo) -> None:
    # The stand-in must be a tokenizer contextwise can build; the count itself is the tokens package's business.
    assert tokenizer_for_model(info.name).name == info.tokenizer


@pytest.mark.parametrize(("name", "threshold"), [
    ("gemini-2.5-pro", 200_000), ("claude-sonnet-4", 200_000), ("claude-sonnet-4-5", 200_000),
    ("gemini-1.5-pro", 128_000), ("gemini-3.1-pro-preview", 200_000), ("gpt-5.4", 272_000), ("gpt-6-sol", 272_000),
], ids=["gemini-2.5-pro", "sonnet-4", "sonnet-4.5", "gemini-1.5-pro", "gemini-3.1-pro", "gpt-5.4", "gpt-6-sol"])
def test_catalog_long_context_tier_is_present(name: str, threshold: int) -> None:
    assert [t.above_input_tokens for t in CATALOG.get(name).prices.tiers] == [threshold]


def test_catalog_checked_on_is_the_catalog_date_unless_pinned_earlier() -> None:
    dates = {m.checked_on for m in MODELS}
    assert CATALOG_DATE in dates
    assert all(d <= CATALOG_DATE for d in dates)
    # Every model released after the old catalog date has been compared, so carries the new date.
    assert all(get_model(n).checked_on == CATALOG_DATE for n in ("gpt-5.1", "claude-opus-4-5", "gpt-5.2"))


def test_catalog_gpt5_input_limit_is_stricter_than_its_window() -> None:
    gpt5 = CATALOG.get("gpt-5")
    assert gpt5.prompt_limit_tokens() == 272_000
    assert gpt5.prompt_limit_tokens(reserve_output_tokens=128_000) == 272_000
    assert CATALOG.get("gpt-4o").prompt_limit_tokens(reserve_output_tokens=16_384) == 128_000 - 16_384
    # Gemini's output cap does not come out of the input window.
    assert CATALOG.get("gemini-2.5-flash").prompt_limit_tokens(reserve_output_tokens=65_536) == 1_048_576
