"""tools/compare_catalog.py: reading litellm's table, diffing our figures, listing what we lack."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import sys
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from contextwise.models import Catalog, ModelInfo, Prices, PriceTier

TOOL = Path(__file__).resolve().parents[2] / "tools" / "compare_catalog.py"
TODAY = dt.date(2030, 6, 1)


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("compare_catalog", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def per_token(usd_per_mtok: float) -> float:
    return usd_per_mtok / 1_000_000


def acme(**prices: Any) -> ModelInfo:
    tiers = prices.pop("tiers", ())
    return ModelInfo("acme-1", "openai", context_window_tokens=100_000, max_output_tokens=8_000,
                     tokenizer="o200k_base", priced_by="openai", aliases=("acme-1-2030-01-01",),
                     prices=Prices(**{"input_usd_per_mtok": 2.0, "output_usd_per_mtok": 8.0, **prices},
                                   tiers=tiers))


def entry(**fields: Any) -> dict[str, Any]:
    return {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": per_token(2.0),
            "output_cost_per_token": per_token(8.0), "max_input_tokens": 100_000, "max_output_tokens": 8_000,
            **fields}


def diff(tool: ModuleType, info: ModelInfo, raw: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {d.label: (d.ours, d.theirs) for d in tool.differences(tool.our_figures(info), tool.reference_figures(raw))}


def test_compare_agreeing_entry_has_no_differences(tool: ModuleType) -> None:
    assert diff(tool, acme(), entry()) == {}


def test_compare_reports_each_differing_figure(tool: ModuleType) -> None:
    found = diff(tool, acme(cached_input_usd_per_mtok=0.5),
                 entry(input_cost_per_token=per_token(2.5), cache_read_input_token_cost=per_token(0.25),
                       max_output_tokens=16_000))
    assert found == {"input $/Mtok": (2.0, 2.5), "cached input $/Mtok": (0.5, 0.25),
                     "max output tokens": (8_000, 16_000)}


def test_compare_absent_cache_price_means_billed_as_input(tool: ModuleType) -> None:
    same = entry(cache_read_input_token_cost=per_token(2.0), cache_creation_input_token_cost=0.0)
    assert diff(tool, acme(), same) == {}
    assert "cached input $/Mtok" in diff(tool, acme(), entry(cache_read_input_token_cost=per_token(0.2)))


def test_compare_reads_both_tier_spellings(tool: ModuleType) -> None:
    keyed = tool.reference_figures(entry(input_cost_per_token_above_200k_tokens=per_token(4.0)))
    banded = tool.reference_figures({"tiered_pricing": [
        {"input_cost_per_token": per_token(1.0), "output_cost_per_token": per_token(3.0), "range": [0, 32_000]},
        {"input_cost_per_token": per_token(2.0), "output_cost_per_token": per_token(6.0), "range": [32_000, 1e6]},
    ]})
    assert keyed.tiers == {200_000: {"input_usd_per_mtok": 4.0}}
    assert banded.prices["input_usd_per_mtok"] == 1.0
    assert banded.tiers == {32_000: {"input_usd_per_mtok": 2.0, "output_usd_per_mtok": 6.0}}


def test_compare_reports_a_tier_only_one_side_has(tool: ModuleType) -> None:
    tiered = acme(tiers=(PriceTier(50_000, input_usd_per_mtok=4.0),))
    assert diff(tool, tiered, entry()) == {"tier above 50,000 input tokens": ("input 4", "none")}
    assert diff(tool, tiered, entry(input_cost_per_token_above_50k_tokens=per_token(4.0))) == {}


def test_compare_matches_aliases_and_prefers_the_latest_id(tool: ModuleType) -> None:
    catalog = Catalog([acme()])
    table = {"acme-1-2030-01-01": entry(), "acme-1-latest": entry(), "azure/acme-1": entry(litellm_provider="azure")}
    matched = tool.match(catalog, tool.entries(table))
    assert [e.key for e in matched["acme-1"]] == ["acme-1-latest", "acme-1-2030-01-01"]


def test_compare_lists_notable_missing_models_only(tool: ModuleType) -> None:
    table = {
        "gpt-9": entry(), "gpt-9-2030-01-01": entry(), "ft:gpt-9": entry(), "gpt-9-audio-preview": entry(),
        "gpt-8": entry(deprecation_date="2030-01-01"), "whisper-9": entry(), "gpt-9-free": entry(
            input_cost_per_token=0.0), "acme-1-2031-01-01": entry(), "gpt-7-embed": entry(mode="embedding"),
        "gemini/gemini-9-pro": entry(litellm_provider="gemini"), "vertex_ai/gemini-9-pro": entry(
            litellm_provider="vertex_ai-language-models"),
    }
    lacking = tool.missing(Catalog([acme()]), tool.entries(table), today=TODAY)
    assert {host: [e.key for e in found] for host, found in lacking.items()} == {
        "openai": ["gpt-9"], "gemini": ["gemini/gemini-9-pro"]}


def test_compare_reads_the_table_from_a_wheel_or_a_json_file(tool: ModuleType, tmp_path: Path) -> None:
    table = {"gpt-9": entry()}
    wheel = tmp_path / "litellm-9.9.9-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("litellm/model_prices_and_context_window_backup.json", json.dumps(table))
    plain = tmp_path / "table.json"
    plain.write_text(json.dumps(table), encoding="utf-8")
    assert tool.read_reference(wheel) == tool.read_reference(plain) == table


def test_compare_main_prints_every_section(tool: ModuleType, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    reference = tmp_path / "table.json"
    reference.write_text(json.dumps({"gpt-4o": entry(input_cost_per_token=per_token(123.0)), "gpt-9": entry()}))
    assert tool.main([str(reference), "--today", TODAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "gpt-4o  (reference: gpt-4o)" in out and "-> 123.0" in out
    assert "does not list" in out and "  gpt-9 " in out
