"""Reading and checking catalog layers: the packaged data file, override files and override mappings.

A layer is a mapping with up to three tables: `catalog` (file-wide settings such as `checked_on`), `providers`
(defaults per provider) and `models` (one table per model). Layers are checked field by field when read, so an
error names the file and the field that is wrong; they are merged before any ModelInfo is built.
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from contextwise.models._types import CACHE_KINDS, PRICE_FIELDS, TOKENIZERS, CatalogError

Check = Callable[[Any], str | None]  # returns a problem description, or None when the value is fine


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any) -> str | None:
    return None if _is_int(value) and value > 0 else f"must be a positive integer, got {value!r}"


def _count(value: Any) -> str | None:
    return None if _is_int(value) and value >= 0 else f"must be a non-negative integer, got {value!r}"


def _price(value: Any) -> str | None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 and value == value
    return None if ok else f"must be a non-negative number (USD per million tokens), got {value!r}"


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {value!r}"


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) else f"must be a string, got {value!r}"


def _name(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else f"must be a non-empty string, got {value!r}"


def _tokenizer(value: Any) -> str | None:
    if value in TOKENIZERS:
        return None
    return f"unknown tokenizer {value!r}; use one of {', '.join(sorted(TOKENIZERS))}"


def _cache_kind(value: Any) -> str | None:
    if value in CACHE_KINDS or value == "none":
        return None
    return f"must be one of automatic, explicit, none; got {value!r}"


def _aliases(value: Any) -> str | None:
    if isinstance(value, (list, tuple)) and all(isinstance(a, str) and a.strip() for a in value):
        return None
    return f"must be a list of non-empty strings, got {value!r}"


def _durations(value: Any) -> str | None:
    ok = isinstance(value, (list, tuple)) and bool(value) and all(_is_int(v) and v > 0 for v in value) \
        and list(value) == sorted(set(value))
    return None if ok else f"must be a non-empty list of positive whole seconds, shortest first, got {value!r}"


def _date(value: Any) -> str | None:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return None
    if isinstance(value, str):
        try:
            dt.date.fromisoformat(value)
            return None
        except ValueError:
            pass
    return f"must be a date (YYYY-MM-DD), got {value!r}"


PRICE_CHECKS: dict[str, Check] = {name: _price for name in PRICE_FIELDS}
TIER_CHECKS: dict[str, Check] = {"above_input_tokens": _count, **PRICE_CHECKS}
MODEL_CHECKS: dict[str, Check] = {
    "provider": _name, "context_window_tokens": _positive_int, "max_output_tokens": _positive_int,
    "max_input_tokens": _positive_int, "extended_context_window_tokens": _positive_int, "tokenizer": _tokenizer,
    "tokenizer_estimated": _flag, "aliases": _aliases, "checked_on": _date, "window_includes_output": _flag,
    "supports_tools": _flag, "supports_images": _flag, "cache_kind": _cache_kind, "min_cacheable_tokens": _count,
    "priced_by": _text, "notes": _text, "cache_breakpoints_max": _positive_int, "cache_lookback_blocks": _positive_int,
    "cache_ttls_s": _durations, "cache_increment_tokens": _positive_int,
    "cache_route_requests_per_min": _positive_int, "cache_storage_usd_per_mtok_hour": _price,
    "cache_checked_on": _date,
}
SECTIONS = ("catalog", "providers", "models")


def read_layer(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check one override file (.toml or .json)."""
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CatalogError(f"cannot read the file ({exc.strerror or exc})", source=source, field="<file>") from exc
    parse = parse_json if path.suffix.lower() == ".json" else parse_toml
    return check_layer(parse(raw, source), source)


def parse_json(raw: bytes, source: str) -> Any:
    """Parse JSON text; a syntax error becomes a CatalogError naming `source`."""
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise CatalogError(f"not valid JSON ({exc})", source=source, field="<file>") from exc


def parse_toml(raw: bytes, source: str) -> Any:
    """Parse TOML text (tomllib, or tomli before Python 3.11); a syntax error becomes a CatalogError."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib  # type: ignore[import-not-found]
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CatalogError(f"not valid TOML ({exc})", source=source, field="<file>") from exc


def check_layer(data: Any, source: str) -> dict[str, Any]:
    """Check a layer's shape and every field's type; return it as plain nested dicts.

    Raises:
        CatalogError: naming `source` and the first bad field.
    """
    table = _table(data, source, "<top level>")
    _known_keys(table, SECTIONS, source, "")
    catalog = _table(table.get("catalog", {}), source, "catalog")
    _check_fields(catalog, {"checked_on": _date}, source, "catalog")
    providers = _table(table.get("providers", {}), source, "providers")
    models = _table(table.get("models", {}), source, "models")
    return {
        "catalog": dict(catalog),
        "providers": {p: _check_model(v, source, f"providers.{p}") for p, v in providers.items()},
        "models": {m: _check_model(v, source, f"models.{m}") for m, v in models.items()},
    }


def _check_model(data: Any, source: str, where: str) -> dict[str, Any]:
    table = _table(data, source, where)
    _check_fields(table, MODEL_CHECKS, source, where, nested=("prices",))
    out = dict(table)
    if "prices" in table:
        out["prices"] = _check_prices(table["prices"], source, f"{where}.prices")
    return out


def _check_prices(data: Any, source: str, where: str) -> dict[str, Any]:
    table = _table(data, source, where)
    _check_fields(table, PRICE_CHECKS, source, where, nested=("tiers",))
    out = dict(table)
    if "tiers" in table:
        tiers = table["tiers"]
        if not isinstance(tiers, (list, tuple)):
            raise CatalogError(f"must be a list of tables, got {tiers!r}", source=source, field=f"{where}.tiers")
        out["tiers"] = [_check_tier(t, source, f"{where}.tiers[{i}]") for i, t in enumerate(tiers)]
    return out


def _check_tier(data: Any, source: str, where: str) -> dict[str, Any]:
    table = _table(data, source, where)
    _check_fields(table, TIER_CHECKS, source, where)
    if "above_input_tokens" not in table:
        raise CatalogError("a tier needs above_input_tokens", source=source, field=f"{where}.above_input_tokens")
    return dict(table)


def _check_fields(table: Mapping[str, Any], checks: Mapping[str, Check], source: str, where: str, *,
                  nested: tuple[str, ...] = ()) -> None:
    """Check each known field; `nested` names sub-tables the caller checks itself."""
    _known_keys(table, (*checks, *nested), source, where)
    for key, value in table.items():
        problem = checks[key](value) if key in checks else None
        if problem:
            raise CatalogError(problem, source=source, field=f"{where}.{key}")


def _known_keys(table: Mapping[str, Any], known: tuple[str, ...], source: str, where: str) -> None:
    for key in table:
        if key not in known:
            near = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f"; known fields: {', '.join(known)}"
            raise CatalogError(f"unknown field{hint}", source=source, field=f"{where}.{key}".lstrip("."))


def _table(data: Any, source: str, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise CatalogError(f"must be a table, got {type(data).__name__}", source=source, field=where)
    return data


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `update` into a copy of `base` field by field: tables merge, everything else (lists too) replaces."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out
