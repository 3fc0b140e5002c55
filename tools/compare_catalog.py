"""Compare the contextwise model catalog with litellm's price and context-window table.

litellm (MIT-licensed) ships `model_prices_and_context_window_backup.json` inside its wheel: one entry per model
and host with per-token prices and token limits. This script reads that file as data (no litellm code runs) and
prints, for every model in our catalog, each figure that differs from the reference entry of the same host (the
one named by the model's `priced_by`), then the notable models of the families we cover that the catalog lacks.

Re-run it against a newer table whenever litellm publishes one; nothing here is tied to one version:

    pip download litellm --no-deps --only-binary :all: -d /tmp/llw
    python tools/compare_catalog.py /tmp/llw/litellm-*.whl            # reads the JSON straight from the wheel
    python tools/compare_catalog.py path/to/model_prices_and_context_window.json --catalog my-models.toml

The reference is a second opinion, not the truth: it can lag a provider, omit long-context tiers, or use another
convention (the input limit for the window, 0 for "no separate cache-write charge"). Judge each difference, keep
the catalog's conventions, and say in catalog.toml where it deliberately differs. The exit status is 0 whatever
the differences.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import re
import sys
import textwrap
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from contextwise.models import Catalog, ModelInfo

JSON_NAMES = ("model_prices_and_context_window_backup.json", "model_prices_and_context_window.json")
PER_MTOK = 1_000_000
# Our `priced_by` value -> the litellm provider whose entries carry that host's list prices.
HOSTS = {"openai": "openai", "anthropic": "anthropic", "google": "gemini", "together.ai": "together_ai",
         "mistral": "mistral", "alibaba-cloud": "dashscope", "deepseek": "deepseek"}
# The families we cover, by host: a reference model outside these is not ours to add.
FAMILIES = {
    "openai": r"^(gpt-\d|o\d|chatgpt-)", "anthropic": r"^claude-", "gemini": r"^gemini-\d",
    "together_ai": r"(llama|qwen)", "mistral": r"^(mistral|ministral|magistral|codestral|devstral|pixtral)",
    "dashscope": r"^(qwen|qwq)", "deepseek": r"^deepseek",
}
# Variants that are not general chat models (or are a second copy of one).
SKIP = re.compile(r"(^ft:|audio|realtime|tts|transcribe|live|image|search|computer-use|embed|deep-research|"
                  r"robotics|customtools|-fim|vision-exp|cli-)")
SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$")
# litellm field -> our price field
PRICE_KEYS = {
    "input_cost_per_token": "input_usd_per_mtok", "output_cost_per_token": "output_usd_per_mtok",
    "cache_read_input_token_cost": "cached_input_usd_per_mtok",
    "cache_creation_input_token_cost": "cache_write_usd_per_mtok",
    "cache_creation_input_token_cost_above_1hr": "cache_write_1h_usd_per_mtok",
}
LABELS = {
    "input_usd_per_mtok": "input $/Mtok", "output_usd_per_mtok": "output $/Mtok",
    "cached_input_usd_per_mtok": "cached input $/Mtok", "cache_write_usd_per_mtok": "cache write $/Mtok",
    "cache_write_1h_usd_per_mtok": "cache write 1h $/Mtok",
}
_ABOVE = re.compile(r"^(?P<base>.+)_above_(?P<k>\d+)k_tokens$")


@dataclass(frozen=True)
class Figures:
    """One model's comparable figures: flat prices, long-context tiers (threshold -> prices) and limits."""

    prices: Mapping[str, float | None]
    tiers: Mapping[int, Mapping[str, float]] = field(default_factory=dict)
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    min_cacheable_tokens: int | None = None


@dataclass(frozen=True)
class Entry:
    """One chat model of the reference table, under a host we price from."""

    key: str
    host: str
    name: str
    figures: Figures
    deprecation_date: dt.date | None


@dataclass(frozen=True)
class Difference:
    """One figure on which our catalog and the reference disagree."""

    label: str
    ours: Any
    theirs: Any


# -- reading the reference -----------------------------------------------------------------------------------------

def read_reference(path: Path) -> dict[str, Any]:
    """The reference table from a litellm JSON file, or from the JSON inside a litellm wheel."""
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            for name in JSON_NAMES:
                member = f"litellm/{name}"
                if member in wheel.namelist():
                    return json.loads(wheel.read(member))
        raise SystemExit(f"{path}: no {' or '.join(JSON_NAMES)} inside the wheel")
    return json.loads(path.read_text("utf-8"))


def entries(table: Mapping[str, Any]) -> Iterator[Entry]:
    """The chat models of the reference under the hosts in HOSTS (the spec sample and other modes left out)."""
    for key, raw in table.items():
        if not isinstance(raw, dict) or raw.get("mode") not in ("chat", "responses"):
            continue
        host = raw.get("litellm_provider")
        if host not in HOSTS.values():
            continue
        name = key[len(host) + 1:] if key.startswith(f"{host}/") else key
        yield Entry(key, host, name, reference_figures(raw), _date(raw.get("deprecation_date")))


def reference_figures(raw: Mapping[str, Any]) -> Figures:
    """Per-Mtok prices, tiers and limits of one reference entry (both of litellm's tier spellings)."""
    prices = {ours: _mtok(raw.get(theirs)) for theirs, ours in PRICE_KEYS.items()}
    tiers: dict[int, dict[str, float]] = {}
    for key, value in raw.items():
        above = _ABOVE.match(key)
        if above and above["base"] in PRICE_KEYS and value is not None:
            tiers.setdefault(int(above["k"]) * 1000, {})[PRICE_KEYS[above["base"]]] = _mtok(value)
    for band in raw.get("tiered_pricing") or ():
        low = int(band.get("range", [0])[0])
        band_prices = {ours: _mtok(band[theirs]) for theirs, ours in PRICE_KEYS.items() if theirs in band}
        if low == 0:
            prices.update(band_prices)
        else:
            tiers[low] = band_prices
    minimum = raw.get("prompt_cache_min_tokens")
    return Figures(prices, tiers, raw.get("max_input_tokens"), raw.get("max_output_tokens"),
                   None if minimum is None else int(minimum))


def _mtok(per_token: Any) -> float | None:
    return None if per_token is None else round(float(per_token) * PER_MTOK, 6)


def _date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


# -- our side --------------------------------------------------------------------------------------------------

def our_figures(info: ModelInfo) -> Figures:
    """Our figures in the reference's shape; the input limit is the window unless a stricter one is set."""
    prices = {f: getattr(info.prices, f) for f in LABELS}
    tiers = {t.above_input_tokens: {f: getattr(t, f) for f in LABELS if getattr(t, f) is not None}
             for t in info.prices.tiers}
    limit = info.max_input_tokens or info.context_window_tokens
    return Figures(prices, tiers, limit, info.max_output_tokens, info.min_cacheable_tokens)


def match(catalog: Catalog, refs: Iterable[Entry]) -> dict[str, list[Entry]]:
    """Reference entries per catalog model, from the model's own host only, best match first."""
    found: dict[str, list[Entry]] = {}
    for entry in refs:
        info = catalog.find(entry.name)
        if info is not None and HOSTS.get(info.priced_by) == entry.host:
            found.setdefault(info.name, []).append(entry)
    for name, matches in found.items():
        matches.sort(key=lambda e: (_rank(e.name.lower(), catalog.get(name)), len(e.key)))
    return found


def _rank(spelling: str, info: ModelInfo) -> int:
    # A moving "-latest" id is what the bare name means today; a host's bare id is sometimes a legacy model.
    if spelling == f"{info.name}-latest":
        return 0
    if spelling == info.name:
        return 1
    return 2 if spelling in (a.lower() for a in info.aliases) else 3


# -- comparing -------------------------------------------------------------------------------------------------

def differences(ours: Figures, theirs: Figures) -> list[Difference]:
    """Every figure that differs; figures the reference leaves out are not compared.

    An absent cache price on our side (billed at the input price) equals a reference price equal to input, and an
    absent cache-write price equals the reference's 0, its spelling of "no separate charge".
    """
    out = [Difference(LABELS[f], ours.prices[f], theirs.prices.get(f)) for f in LABELS
           if not _same_price(f, ours.prices, theirs.prices.get(f))]
    for label, a, b in (("max input tokens", ours.max_input_tokens, theirs.max_input_tokens),
                        ("max output tokens", ours.max_output_tokens, theirs.max_output_tokens),
                        ("min cacheable tokens", ours.min_cacheable_tokens, theirs.min_cacheable_tokens)):
        if b is not None and a != b:
            out.append(Difference(label, a, b))
    for threshold in sorted(set(ours.tiers) | set(theirs.tiers)):
        out += _tier_differences(threshold, ours.tiers.get(threshold), theirs.tiers.get(threshold))
    return out


def _tier_differences(threshold: int, ours: Mapping[str, float] | None,
                      theirs: Mapping[str, float] | None) -> list[Difference]:
    where = f"tier above {threshold:,} input tokens"
    if ours is None or theirs is None:
        return [Difference(where, _describe(ours), _describe(theirs))]
    return [Difference(f"{where}: {LABELS[f]}", ours.get(f), theirs.get(f)) for f in LABELS
            if (f in ours or f in theirs) and not _close(ours.get(f), theirs.get(f))]


def _describe(tier: Mapping[str, float] | None) -> str:
    if tier is None:
        return "none"
    return ", ".join(f"{LABELS[f].split(' $')[0]} {v:g}" for f, v in tier.items())


def _same_price(field_name: str, ours: Mapping[str, float | None], theirs: float | None) -> bool:
    mine = ours[field_name]
    if theirs is None:
        return True  # the reference says nothing: nothing to compare
    if mine is None and theirs == 0 and field_name.startswith("cache_write"):
        return True
    return _close(ours["input_usd_per_mtok"] if mine is None else mine, theirs)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


# -- what we lack ----------------------------------------------------------------------------------------------

def missing(catalog: Catalog, refs: Iterable[Entry], *, today: dt.date) -> dict[str, list[Entry]]:
    """Notable reference models we lack, per host: our families, priced, not retired, one entry per snapshot."""
    out: dict[str, dict[str, Entry]] = {}
    for entry in refs:
        name = entry.name.lower()
        if (catalog.find(entry.name) is not None or not re.search(FAMILIES[entry.host], name)
                or SKIP.search(name) or not entry.figures.prices["input_usd_per_mtok"]
                or (entry.deprecation_date is not None and entry.deprecation_date <= today)):
            continue
        kept = out.setdefault(entry.host, {})
        base = SNAPSHOT.sub("", name)
        if base not in kept or name == base:
            kept[base] = entry
    return {host: list(kept.values()) for host, kept in out.items()}


# -- printing --------------------------------------------------------------------------------------------------

def report(catalog: Catalog, table: Mapping[str, Any], *, today: dt.date, out: TextIO | None = None) -> int:
    """Print the comparison (to stdout unless `out`); returns how many of our models differ from their reference."""
    out = sys.stdout if out is None else out
    refs = list(entries(table))
    matched = match(catalog, refs)
    differing = 0
    print("== Catalog models that differ from the reference (ours -> reference)", file=out)
    for info in catalog:
        differing += _report_model(info, matched.get(info.name, []), out)
    unmatched = [info.name for info in catalog if info.name not in matched]
    if unmatched:
        print(f"\n== Catalog models the reference does not list under their host (retired?): {len(unmatched)}",
              file=out)
        print(textwrap.fill(", ".join(unmatched), width=116, initial_indent="  ", subsequent_indent="  ",
                            break_on_hyphens=False),
              file=out)
    print("\n== Notable reference models the catalog lacks", file=out)
    for host, lacking in sorted(missing(catalog, refs, today=today).items()):
        print(f"\n[{host}]", file=out)
        for entry in sorted(lacking, key=lambda e: e.name):
            print(f"  {entry.key:<48} {_summary(entry.figures)}", file=out)
    return differing


def _report_model(info: ModelInfo, matches: list[Entry], out: TextIO) -> int:
    if not matches:
        return 0
    ours = our_figures(info)
    best, others = matches[0], matches[1:]
    diffs = differences(ours, best.figures)
    if not diffs:
        return 0
    print(f"\n{info.name}  (reference: {best.key})", file=out)
    for diff in diffs:
        print(f"  {diff.label:<58} {diff.ours!s:>12} -> {diff.theirs}", file=out)
    unlike = [e.key for e in others if e.figures != best.figures]
    if unlike:
        print(f"  (other reference entries for this name disagree: {', '.join(unlike)})", file=out)
    return 1


def _summary(figures: Figures) -> str:
    p = figures.prices
    cached = "" if p["cached_input_usd_per_mtok"] is None else f" cached {p['cached_input_usd_per_mtok']:g}"
    tiers = f" tiers above {', '.join(f'{t:,}' for t in sorted(figures.tiers))}" if figures.tiers else ""
    return (f"in {p['input_usd_per_mtok']:g} out {p['output_usd_per_mtok']:g}{cached}{tiers}; "
            f"input {figures.max_input_tokens} output {figures.max_output_tokens}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="litellm's model_prices_and_context_window*.json, or its wheel")
    parser.add_argument("--catalog", type=Path, action="append", default=[],
                        help="an override file merged over the packaged catalog (repeatable)")
    parser.add_argument("--today", type=dt.date.fromisoformat, default=dt.date.today(),
                        help="models the reference deprecates on or before this date are not listed as missing")
    args = parser.parse_args(argv)
    catalog = Catalog.load(*args.catalog)
    differing = report(catalog, read_reference(args.reference), today=args.today)
    print(f"\n{differing} of {len(catalog)} catalog models differ from the reference.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
