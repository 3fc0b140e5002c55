"""Turning checked, merged catalog fields into ModelInfo (and back, so overrides can merge field by field)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from contextwise.models._types import PRICE_FIELDS, CatalogError, ModelInfo, Prices, PriceTier

REQUIRED = ("provider", "context_window_tokens", "max_output_tokens", "tokenizer", "prices")
# Changing one of these makes the entry's old checked_on date a claim nobody made.
FIGURES = frozenset({"prices", "context_window_tokens", "max_output_tokens", "max_input_tokens",
                     "extended_context_window_tokens"})


def build_model(name: str, fields: Mapping[str, Any], source: str) -> ModelInfo:
    """Build and check one ModelInfo from merged fields; errors name `source` and the field.

    Raises:
        CatalogError: a required field is missing or the fields contradict each other.
    """
    where = f"models.{name}"
    for key in REQUIRED:
        if key not in fields:
            raise CatalogError("missing; every model needs it (or its provider's defaults must give it)",
                               source=source, field=f"{where}.{key}")
    prices = _build_prices(fields["prices"], source, f"{where}.prices")
    values = {k: v for k, v in fields.items() if k != "prices"}
    values["aliases"] = tuple(dict.fromkeys(a.strip() for a in values.get("aliases", ())))
    if "cache_kind" not in values and prices.cached_input_usd_per_mtok is not None:
        values["cache_kind"] = "automatic"  # a cached price with no word on how: the OpenAI-compatible default
    if values.get("cache_kind") == "none":
        values["cache_kind"] = None
    for day in ("checked_on", "cache_checked_on"):
        if isinstance(values.get(day), str):
            values[day] = dt.date.fromisoformat(values[day])
    if "cache_ttls_s" in values:
        values["cache_ttls_s"] = tuple(values["cache_ttls_s"])
    if "cache_storage_usd_per_mtok_hour" in values:
        values["cache_storage_usd_per_mtok_hour"] = float(values["cache_storage_usd_per_mtok_hour"])
    info = ModelInfo(name=name, prices=prices, **values)
    _check_limits(info, source, where)
    return info


def _build_prices(fields: Mapping[str, Any], source: str, where: str) -> Prices:
    for key in ("input_usd_per_mtok", "output_usd_per_mtok"):
        if key not in fields:
            raise CatalogError("missing; every model needs an input and an output price", source=source,
                               field=f"{where}.{key}")
    tiers = tuple(sorted((_build_tier(t) for t in fields.get("tiers", ())), key=lambda t: t.above_input_tokens))
    flat = {k: float(v) for k, v in fields.items() if k in PRICE_FIELDS}
    prices = Prices(**flat, tiers=tiers)
    thresholds = [t.above_input_tokens for t in tiers]
    if len(set(thresholds)) != len(thresholds):
        raise CatalogError(f"two tiers share a threshold ({thresholds})", source=source, field=f"{where}.tiers")
    for index, tier in enumerate(tiers):
        _check_cached_price(prices.at(tier.above_input_tokens + 1), source, f"{where}.tiers[{index}]")
    _check_cached_price(prices, source, where)
    return prices


def _build_tier(fields: Mapping[str, Any]) -> PriceTier:
    prices = {k: float(v) for k, v in fields.items() if k in PRICE_FIELDS}
    return PriceTier(above_input_tokens=int(fields["above_input_tokens"]), **prices)


def _check_cached_price(prices: Prices, source: str, where: str) -> None:
    cached = prices.cached_input_usd_per_mtok
    if cached is not None and cached > prices.input_usd_per_mtok:
        raise CatalogError(f"cached input ({cached}) costs more than plain input ({prices.input_usd_per_mtok})",
                           source=source, field=f"{where}.cached_input_usd_per_mtok")


def _check_limits(info: ModelInfo, source: str, where: str) -> None:
    window = info.context_window_tokens
    if info.window_includes_output and info.max_output_tokens > window:
        raise CatalogError(f"output cap {info.max_output_tokens} exceeds the shared window {window}",
                           source=source, field=f"{where}.max_output_tokens")
    if info.max_input_tokens is not None and info.max_input_tokens > window:
        raise CatalogError(f"input limit {info.max_input_tokens} exceeds the window {window}",
                           source=source, field=f"{where}.max_input_tokens")
    reachable = max(window, info.extended_context_window_tokens or 0)
    for index, tier in enumerate(info.prices.tiers):
        if tier.above_input_tokens >= reachable:
            raise CatalogError(f"tier threshold {tier.above_input_tokens} is beyond the largest window {reachable}",
                               source=source, field=f"{where}.prices.tiers[{index}].above_input_tokens")


def model_fields(info: ModelInfo) -> dict[str, Any]:
    """The fields of `info` as catalog data (None values left out), ready to merge an override into."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(info):
        value = getattr(info, field.name)
        if field.name in ("name", "prices") or value is None:
            continue
        out[field.name] = list(value) if isinstance(value, tuple) else value
    if info.cache_kind is None:
        out["cache_kind"] = "none"
    out["prices"] = _price_fields(info.prices)
    return out


def _price_fields(prices: Prices) -> dict[str, Any]:
    out: dict[str, Any] = {k: getattr(prices, k) for k in PRICE_FIELDS if getattr(prices, k) is not None}
    if prices.tiers:
        out["tiers"] = [{k: v for k, v in dataclasses.asdict(t).items() if v is not None} for t in prices.tiers]
    return out
