"""Users add and correct models from files, CONTEXTWISE_MODELS and arguments; bad values name file and field."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest

from contextwise.models import Catalog, CatalogError, default_catalog, get_model

MY_MODEL_TOML = """
[catalog]
checked_on = 2026-01-15

[models."acme-1"]
provider = "acme"
context_window_tokens = 32000
max_output_tokens = 4000
tokenizer = "cl100k_base"
aliases = ["acme/acme-1-2026"]
prices = { input_usd_per_mtok = 1.0, output_usd_per_mtok = 2.0 }
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_overrides_file_adds_a_model(tmp_path: Path) -> None:
    catalog = Catalog.load(write(tmp_path / "mine.toml", MY_MODEL_TOML))
    acme = catalog.get("acme/acme-1-2026")
    assert (acme.name, acme.provider, acme.context_window_tokens, acme.tokenizer) == ("acme-1", "acme", 32000,
                                                                                       "cl100k_base")
    assert acme.checked_on == dt.date(2026, 1, 15)
    assert acme.cache_kind is None  # no cached price, no provider defaults: no prompt cache
    assert len(catalog) == len(Catalog.default()) + 1


def test_overrides_new_model_with_cached_price_caches_automatically() -> None:
    catalog = Catalog.default().with_overrides({"models": {"acme-2": {
        "provider": "acme", "context_window_tokens": 8000, "max_output_tokens": 1000, "tokenizer": "qwen2",
        "prices": {"input_usd_per_mtok": 1.0, "output_usd_per_mtok": 2.0, "cached_input_usd_per_mtok": 0.1}}}})
    assert catalog.get("acme-2").cache_kind == "automatic" and catalog.get("acme-2").supports_prompt_cache


def test_overrides_merge_field_by_field(tmp_path: Path) -> None:
    path = write(tmp_path / "fix.json", json.dumps({"models": {"gpt-4o": {"prices": {"input_usd_per_mtok": 2.0}}}}))
    before, after = Catalog.default().get("gpt-4o"), Catalog.load(path).get("gpt-4o")
    assert after.prices.input_usd_per_mtok == 2.0
    assert after.prices.output_usd_per_mtok == before.prices.output_usd_per_mtok
    assert after.prices.cached_input_usd_per_mtok == before.prices.cached_input_usd_per_mtok
    assert (after.context_window_tokens, after.aliases) == (before.context_window_tokens, before.aliases)
    # A changed price with no date of its own no longer claims the old date.
    assert after.checked_on is None


def test_overrides_alias_key_changes_the_canonical_model() -> None:
    catalog = Catalog.default().with_overrides({"models": {"gpt-4o-2024-08-06": {"max_output_tokens": 8000}}})
    assert catalog.get("gpt-4o").max_output_tokens == 8000
    assert len(catalog) == len(Catalog.default())


def test_overrides_new_model_starts_from_provider_defaults() -> None:
    catalog = Catalog.default().with_overrides({"models": {"claude-next": {
        "provider": "anthropic", "max_output_tokens": 64000,
        "prices": {"input_usd_per_mtok": 3.0, "output_usd_per_mtok": 15.0}}}})
    info = catalog.get("claude-next")
    assert (info.context_window_tokens, info.tokenizer, info.cache_kind) == (200_000, "claude", "explicit")


def test_overrides_provider_table_applies_to_every_model_of_that_provider() -> None:
    catalog = Catalog.default().with_overrides({"providers": {"mistral": {"priced_by": "my-host"}}})
    assert {m.priced_by for m in catalog.search(provider="mistral")} == {"my-host"}
    assert catalog.get("gpt-4o").priced_by == "openai"


def test_overrides_later_source_wins(tmp_path: Path) -> None:
    first = write(tmp_path / "a.toml", '[models."gpt-4o"]\nmax_output_tokens = 1000\n')
    second = write(tmp_path / "b.toml", '[models."gpt-4o"]\nmax_output_tokens = 2000\n')
    assert Catalog.load(first, second).get("gpt-4o").max_output_tokens == 2000
    assert Catalog.load(second, first).get("gpt-4o").max_output_tokens == 1000


def test_overrides_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mine = write(tmp_path / "mine.toml", MY_MODEL_TOML)
    fix = write(tmp_path / "fix.toml", '[models."acme-1"]\nmax_output_tokens = 3000\n')
    monkeypatch.setenv("CONTEXTWISE_MODELS", os.pathsep.join([str(mine), str(fix)]))
    assert get_model("acme-1").max_output_tokens == 3000
    assert "acme-1" in default_catalog()
    monkeypatch.delenv("CONTEXTWISE_MODELS")
    assert "acme-1" not in default_catalog()


def test_overrides_catalog_argument_is_used_by_get_model(tmp_path: Path) -> None:
    catalog = Catalog.load(write(tmp_path / "mine.toml", MY_MODEL_TOML))
    assert get_model("acme-1", catalog=catalog).provider == "acme"
    assert "acme-1" not in default_catalog()


@pytest.mark.parametrize(("text", "field"), [
    ('[models."gpt-4o".prices]\ninput_usd_per_mtok = "cheap"\n', "models.gpt-4o.prices.input_usd_per_mtok"),
    ('[models."gpt-4o"]\ncontext_window_tokens = -5\n', "models.gpt-4o.context_window_tokens"),
    ('[models."gpt-4o"]\ntokenizer = "gpt2"\n', "models.gpt-4o.tokenizer"),
    ('[models."gpt-4o"]\nmax_tokens = 5\n', "models.gpt-4o.max_tokens"),
    ('[models."gpt-4o"]\naliases = "x"\n', "models.gpt-4o.aliases"),
    ('[models."gpt-4o"]\ncache_kind = "sometimes"\n', "models.gpt-4o.cache_kind"),
    ('[models."gpt-4o"]\ntokenizer_estimated = "yes"\n', "models.gpt-4o.tokenizer_estimated"),
    ('[models."gpt-4o"]\nmax_output_tokens = 200000\n', "models.gpt-4o.max_output_tokens"),
    ('[models."gpt-4o".prices]\ncached_input_usd_per_mtok = 99.0\n', "models.gpt-4o.prices.cached_input_usd_per_mtok"),
    ('[[models."gpt-4o".prices.tiers]]\ninput_usd_per_mtok = 3.0\n',
     "models.gpt-4o.prices.tiers[0].above_input_tokens"),
    ('[models."new-model"]\ncontext_window_tokens = 1000\n', "models.new-model.provider"),
    ('[models."new-model"]\nprovider = "x"\ncontext_window_tokens = 1000\n', "models.new-model.max_output_tokens"),
    ('[models."acme"]\nprovider = "openai"\nmax_output_tokens = 9\ncontext_window_tokens = 99\n'
     'aliases = ["GPT-4o"]\nprices = { input_usd_per_mtok = 1, output_usd_per_mtok = 1 }\n', "models.acme.aliases"),
    ('[catalog]\nchecked_on = "last week"\n', "catalog.checked_on"),
    ('[modles."gpt-4o"]\nx = 1\n', "modles"),
], ids=["price-type", "negative-window", "tokenizer", "unknown-field", "aliases-type", "cache-kind", "estimated-flag",
        "output-over-window", "cached-over-input", "tier-threshold", "new-no-provider", "new-missing-field",
        "alias-collision", "date", "section-typo"])
def test_overrides_bad_value_names_file_and_field(tmp_path: Path, text: str, field: str) -> None:
    path = write(tmp_path / "bad.toml", text)
    with pytest.raises(CatalogError) as info:
        Catalog.load(path)
    assert (info.value.source, info.value.field) == (str(path), field)
    assert str(path) in str(info.value) and field in str(info.value)


def test_overrides_unknown_field_suggests_the_right_one() -> None:
    with pytest.raises(CatalogError, match="max_output_tokens"):
        Catalog.default().with_overrides({"models": {"gpt-4o": {"max_output_token": 5}}})


def test_overrides_unreadable_or_unparsable_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as missing:
        Catalog.load(tmp_path / "absent.toml")
    assert missing.value.source == str(tmp_path / "absent.toml")
    with pytest.raises(CatalogError, match="not valid TOML"):
        Catalog.load(write(tmp_path / "broken.toml", "[models\n"))
    with pytest.raises(CatalogError, match="not valid JSON"):
        Catalog.load(write(tmp_path / "broken.json", "{"))


def test_overrides_leave_the_original_catalog_unchanged() -> None:
    base = Catalog.default()
    base.with_overrides({"models": {"gpt-4o": {"max_output_tokens": 10}}})
    assert base.get("gpt-4o").max_output_tokens == 16384


def test_overrides_mapping_error_names_the_argument() -> None:
    with pytest.raises(CatalogError) as info:
        Catalog.default().with_overrides({"models": {"gpt-4o": {"supports_tools": "yes"}}})
    assert (info.value.source, info.value.field) == ("<argument>", "models.gpt-4o.supports_tools")


def test_overrides_without_default_builds_only_the_files(tmp_path: Path) -> None:
    catalog = Catalog.load(write(tmp_path / "mine.toml", MY_MODEL_TOML), include_default=False)
    assert [m.name for m in catalog] == ["acme-1"]


def test_overrides_mark_a_tokenizer_estimated(tmp_path: Path) -> None:
    path = write(tmp_path / "mine.toml", '[models."gpt-4o"]\ntokenizer_estimated = true\n')
    assert not Catalog.default().get("gpt-4o").tokenizer_estimated
    assert Catalog.load(path).get("gpt-4o").tokenizer_estimated
