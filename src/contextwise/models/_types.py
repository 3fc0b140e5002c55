"""The catalog's value types: ModelInfo, Prices, PriceTier, and the error for a bad catalog file."""

from __future__ import annotations

import datetime as dt
from dataclasses import KW_ONLY, dataclass, replace
from typing import Literal

from contextwise.errors import UsageError

TOKENIZERS: frozenset[str] = frozenset(
    {"o200k_base", "cl100k_base", "llama3", "qwen2", "mistral", "deepseek", "claude", "gemini"}
)
CacheKind = Literal["automatic", "explicit"]
CACHE_KINDS: frozenset[str] = frozenset({"automatic", "explicit"})
PRICE_FIELDS = ("input_usd_per_mtok", "output_usd_per_mtok", "cached_input_usd_per_mtok",
                "cache_write_usd_per_mtok", "cache_write_1h_usd_per_mtok")


class CatalogError(UsageError):
    """A catalog or override file (or mapping) holds a bad value.

    Attributes:
        source: the file (or "<argument>", "<default catalog>") the bad value came from.
        field: the dotted field path, e.g. "models.gpt-4o.prices.input_usd_per_mtok".
    """

    def __init__(self, message: str, *, source: str, field: str) -> None:
        super().__init__(f"{source}: {field}: {message}")
        self.source = source
        self.field = field


@dataclass(frozen=True)
class PriceTier:
    """Prices that replace the base prices when the prompt is above `above_input_tokens`.

    A price left as None is not changed by the tier.
    """

    above_input_tokens: int
    _: KW_ONLY
    input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None
    cached_input_usd_per_mtok: float | None = None
    cache_write_usd_per_mtok: float | None = None
    cache_write_1h_usd_per_mtok: float | None = None


@dataclass(frozen=True)
class Prices:
    """List prices in USD per million tokens; None where the provider offers no separate price.

    A missing cached-input or cache-write price means those tokens are billed at the plain input price.
    """

    input_usd_per_mtok: float
    output_usd_per_mtok: float
    _: KW_ONLY
    cached_input_usd_per_mtok: float | None = None
    cache_write_usd_per_mtok: float | None = None
    cache_write_1h_usd_per_mtok: float | None = None
    tiers: tuple[PriceTier, ...] = ()

    def tier_for(self, input_tokens: int) -> PriceTier | None:
        """The tier a prompt of `input_tokens` falls in (the highest threshold it exceeds), or None."""
        chosen = None
        for tier in self.tiers:
            if input_tokens > tier.above_input_tokens and (
                    chosen is None or tier.above_input_tokens > chosen.above_input_tokens):
                chosen = tier
        return chosen

    def at(self, input_tokens: int) -> Prices:
        """The flat prices (no tiers) that apply to a prompt of `input_tokens`.

        >>> p = Prices(1.0, 2.0, tiers=(PriceTier(100, input_usd_per_mtok=3.0),))
        >>> p.at(101).input_usd_per_mtok, p.at(100).input_usd_per_mtok
        (3.0, 1.0)
        """
        tier = self.tier_for(input_tokens)
        flat = replace(self, tiers=())
        if tier is None:
            return flat
        changes = {f: getattr(tier, f) for f in PRICE_FIELDS if getattr(tier, f) is not None}
        return replace(flat, **changes)


@dataclass(frozen=True)
class ModelInfo:
    """What contextwise knows about one model: limits, tokenizer, prices and features.

    `context_window_tokens` is the window as the provider states it; `window_includes_output` says whether the
    prompt and the output share it. `max_input_tokens`, when set, is a stricter limit on the prompt alone.
    `extended_context_window_tokens` is a larger window the provider offers on request (Anthropic's 1M beta).
    `checked_on` is the date the figures are known to reflect (None for a user entry that did not give one).
    `tokenizer_estimated` marks a model whose own tokenizer is unknown or unpublished and is counted with a
    relative's (`tokenizer`): its counts are estimates however exact that relative is.

    Prompt-cache rules (None where the provider has no such rule): `cache_ttls_s` are the lifetimes a cached
    prefix may be given, shortest (the default) first; `cache_breakpoints_max` / `cache_lookback_blocks` limit
    explicit markers (Anthropic); `cache_increment_tokens` is the step an automatic cache matches in above
    `min_cacheable_tokens` and `cache_route_requests_per_min` how many calls a minute one routing key keeps on
    one machine (OpenAI); `cache_storage_usd_per_mtok_hour` prices explicit cached contents (Gemini);
    `cache_checked_on` is the date those rules were checked.
    """

    name: str
    provider: str
    _: KW_ONLY
    context_window_tokens: int
    max_output_tokens: int
    tokenizer: str
    prices: Prices
    tokenizer_estimated: bool = False
    aliases: tuple[str, ...] = ()
    checked_on: dt.date | None = None
    max_input_tokens: int | None = None
    window_includes_output: bool = True
    extended_context_window_tokens: int | None = None
    supports_tools: bool = True
    supports_images: bool = False
    cache_kind: CacheKind | None = None
    min_cacheable_tokens: int | None = None
    cache_ttls_s: tuple[int, ...] = ()
    cache_breakpoints_max: int | None = None
    cache_lookback_blocks: int | None = None
    cache_increment_tokens: int | None = None
    cache_route_requests_per_min: int | None = None
    cache_storage_usd_per_mtok_hour: float | None = None
    cache_checked_on: dt.date | None = None
    priced_by: str = ""
    notes: str = ""

    @property
    def supports_prompt_cache(self) -> bool:
        """Whether the provider bills cached prompt tokens separately (automatically or on request)."""
        return self.cache_kind is not None

    def prompt_limit_tokens(self, *, reserve_output_tokens: int = 0) -> int:
        """The most prompt tokens that fit while leaving room for `reserve_output_tokens` of output.

        >>> m = ModelInfo("m", "p", context_window_tokens=1000, max_output_tokens=300, tokenizer="claude",
        ...               prices=Prices(1.0, 1.0))
        >>> m.prompt_limit_tokens(reserve_output_tokens=300)
        700
        """
        if reserve_output_tokens < 0:
            raise UsageError("reserve_output_tokens cannot be negative")
        limit = self.context_window_tokens
        if self.window_includes_output:
            limit -= reserve_output_tokens
        if self.max_input_tokens is not None:
            limit = min(limit, self.max_input_tokens)
        return max(limit, 0)
