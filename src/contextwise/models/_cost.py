"""Pricing a call: Usage and a model's Prices in, a typed Cost breakdown out."""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from contextwise.models._catalog import Catalog, get_model
from contextwise.models._types import ModelInfo, Prices, PriceTier
from contextwise.types import Usage

TOKENS_PER_MTOK = 1_000_000


@dataclass(frozen=True)
class Cost:
    """What a call cost in USD, split by token class; `total_usd` is their sum.

    `input_usd` covers only the uncached prompt tokens; cached reads and cache writes have their own fields, so no
    token is charged twice. `tier` is the long-context price tier that applied, or None for base prices.
    """

    model: str
    _: KW_ONLY
    input_usd: float = 0.0
    cached_input_usd: float = 0.0
    cache_write_usd: float = 0.0
    cache_write_1h_usd: float = 0.0
    output_usd: float = 0.0
    tier: PriceTier | None = None
    total_usd: float = field(init=False)

    def __post_init__(self) -> None:
        parts = (self.input_usd, self.cached_input_usd, self.cache_write_usd, self.cache_write_1h_usd,
                 self.output_usd)
        object.__setattr__(self, "total_usd", sum(parts))

    def __add__(self, other: Cost) -> Cost:
        """The cost of two calls together (the model and tier are kept only where both agree)."""
        if not isinstance(other, Cost):
            return NotImplemented
        return Cost(
            self.model if self.model == other.model else "",
            input_usd=self.input_usd + other.input_usd,
            cached_input_usd=self.cached_input_usd + other.cached_input_usd,
            cache_write_usd=self.cache_write_usd + other.cache_write_usd,
            cache_write_1h_usd=self.cache_write_1h_usd + other.cache_write_1h_usd,
            output_usd=self.output_usd + other.output_usd,
            tier=self.tier if self.tier == other.tier else None,
        )


def cost(usage: Usage | Any, model: str | ModelInfo, *, catalog: Catalog | None = None) -> Cost:
    """Price `usage` for `model` at list prices: the sum over token classes of tokens x that class's price.

    `usage` is a Usage, or what `Usage.parse` reads: an OpenAI, Anthropic or Gemini usage (dict or SDK object),
    or a whole response carrying one.

    `usage.input_tokens` is the whole prompt, cached and cache-write tokens included; each token is billed once,
    at the price of its class. Reasoning tokens are output and priced as output.
    The long-context tier is chosen by the whole prompt size and replaces the prices
    it names. A class the model has no separate price for is billed at the plain input price (a 1-hour cache
    write without its own price falls back to the 5-minute write price first).

    >>> c = cost(Usage(input_tokens=1_000_000, cached_input_tokens=400_000, output_tokens=100_000), "gpt-4o")
    >>> round(c.input_usd, 2), round(c.cached_input_usd, 2), round(c.output_usd, 2), round(c.total_usd, 2)
    (1.5, 0.5, 1.0, 3.0)

    Raises:
        UnknownBackendError: `model` is a name no catalog entry matches.
        UsageError: `usage` is not usage from a known provider.
    """
    if not isinstance(usage, Usage):
        usage = Usage.parse(usage)
    info = model if isinstance(model, ModelInfo) else get_model(model, catalog=catalog)
    tier = info.prices.tier_for(usage.input_tokens)
    rate = _Rates(info.prices, tier)
    return Cost(
        info.name,
        input_usd=_usd(usage.uncached_input_tokens, rate.input),
        cached_input_usd=_usd(usage.cached_input_tokens, rate.cached_read),
        cache_write_usd=_usd(usage.cache_write_tokens, rate.write_5m),
        cache_write_1h_usd=_usd(usage.cache_write_1h_tokens, rate.write_1h),
        output_usd=_usd(usage.output_tokens, rate.output),
        tier=tier,
    )


def _usd(tokens: int, usd_per_mtok: float) -> float:
    return tokens * usd_per_mtok / TOKENS_PER_MTOK


class _Rates:
    """The price per Mtok of each token class under `tier`, with the fallbacks `cost()` documents."""

    def __init__(self, prices: Prices, tier: PriceTier | None) -> None:
        self._prices, self._tier = prices, tier
        self.input = _first(self._get("input_usd_per_mtok"), prices.input_usd_per_mtok)
        self.output = _first(self._get("output_usd_per_mtok"), prices.output_usd_per_mtok)
        self.cached_read = _first(self._get("cached_input_usd_per_mtok"), self.input)
        self.write_5m = _first(self._get("cache_write_usd_per_mtok"), self.input)
        self.write_1h = _first(self._get("cache_write_1h_usd_per_mtok"), self.write_5m)

    def _get(self, field: str) -> float | None:
        value: float | None = getattr(self._tier, field) if self._tier is not None else None
        if value is None:
            value = getattr(self._prices, field)
        return value


def _first(value: float | None, fallback: float) -> float:
    return fallback if value is None else value
