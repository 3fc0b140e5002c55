"""Names resolve through aliases, dated snapshots and provider prefixes; unknown names suggest neighbours."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.errors import UnknownBackendError, UsageError
from contextwise.models import Catalog, CatalogError, ModelInfo, Prices, get_model

CATALOG = Catalog.default()
ALIASES = [(alias, m.name) for m in CATALOG for alias in m.aliases]


@pytest.mark.parametrize(("alias", "name"), ALIASES, ids=[a for a, _ in ALIASES])
def test_resolve_every_alias_to_its_model(alias: str, name: str) -> None:
    assert CATALOG.get(alias).name == name


@pytest.mark.parametrize(("spelling", "name"), [
    ("gpt-4o-2024-08-06", "gpt-4o"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),
    ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
    ("openai/gpt-4o", "gpt-4o"),
    ("openai:gpt-4o-mini", "gpt-4o-mini"),
    ("anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
    ("anthropic/claude-3-7-sonnet-20250219", "claude-3-7-sonnet"),
    ("models/gemini-2.5-pro", "gemini-2.5-pro"),
    ("gemini/gemini-2.5-flash", "gemini-2.5-flash"),
    ("openrouter/meta-llama/llama-3.3-70b-instruct", "llama-3.3-70b-instruct"),
    ("together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo", "llama-3.3-70b-instruct"),
    ("us.anthropic.claude-3-5-sonnet-20241022-v2:0", "claude-3-5-sonnet"),
    ("vertex_ai/claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
    ("vertex_ai/claude-sonnet-4-5@20250929", "claude-sonnet-4-5"),
    ("mistral/mistral-large-latest", "mistral-large"),
    ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
    ("o3-mini-2025-01-31", "o3-mini"),
    ("gpt-5-2025-08-07", "gpt-5"),
    ("gemini-1.5-pro-002", "gemini-1.5-pro"),
    ("deepseek/deepseek-chat", "deepseek-chat"),
    ("  GPT-4o  ", "gpt-4o"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_resolve_snapshot_prefix_and_case(spelling: str, name: str) -> None:
    assert get_model(spelling).name == name


def test_resolve_exact_name_wins_over_snapshot_stripping() -> None:
    # gpt-4o-2024-05-13 is its own entry (different price); it must not collapse to gpt-4o.
    assert get_model("gpt-4o-2024-05-13").prices.input_usd_per_mtok != get_model("gpt-4o").prices.input_usd_per_mtok


@pytest.mark.parametrize(("typo", "expected"), [
    ("gpt-4-o", "gpt-4o"), ("claude-sonet-4-5", "claude-sonnet-4-5"), ("gemini-2.5-pr", "gemini-2.5-pro"),
    ("openai/gpt4o-mini", "gpt-4o-mini"),
])
def test_resolve_unknown_name_suggests_nearest(typo: str, expected: str) -> None:
    with pytest.raises(UnknownBackendError) as info:
        get_model(typo)
    assert expected in info.value.suggestions
    assert expected in str(info.value)
    assert isinstance(info.value, UsageError) and isinstance(info.value, LookupError)


def test_resolve_unrelated_name_fails_without_inventing_a_match() -> None:
    with pytest.raises(UnknownBackendError) as info:
        get_model("zzzz-qqqq")
    assert "zzzz-qqqq" in str(info.value)
    assert "zzzz-qqqq" not in CATALOG


def test_search_matches_every_word_and_filters_provider() -> None:
    assert [m.name for m in CATALOG.search("4o mini")] == ["gpt-4o-mini"]
    sonnets = CATALOG.search("sonnet", provider="anthropic")
    assert sonnets and all("sonnet" in m.name and m.provider == "anthropic" for m in sonnets)
    assert CATALOG.search("sonnet", provider="openai") == []
    assert len(CATALOG.search("")) == len(CATALOG)
    assert [m.name for m in CATALOG.search("2024-07-18")] == ["gpt-4o-mini"]  # aliases are searched too


@pytest.mark.parametrize("name", [m.name for m in CATALOG])
def test_resolve_every_name_to_itself(name: str) -> None:
    assert CATALOG.get(name).name == name


@settings(max_examples=200, deadline=None)
@given(pair=st.sampled_from([(m.name, m.name) for m in CATALOG] + ALIASES),
       prefix=st.sampled_from(["", "openai/", "anthropic/", "openrouter/", "litellm_proxy/", "google:", "azure:"]),
       upper=st.lists(st.booleans(), min_size=60, max_size=60))
def test_resolve_ignores_case_and_provider_prefix(pair: tuple[str, str], prefix: str, upper: list[bool]) -> None:
    spelling, name = pair
    mixed = "".join(c.upper() if i < len(upper) and upper[i] else c for i, c in enumerate(spelling))
    assert CATALOG.get(prefix + mixed).name == name


def test_catalog_built_from_model_infos() -> None:
    limits = {"context_window_tokens": 4_096, "max_output_tokens": 512, "tokenizer": "llama3",
              "prices": Prices(0.1, 0.2)}
    info = ModelInfo("tiny", "acme", aliases=("acme/tiny-v1",), **limits)
    catalog = Catalog([info])
    assert catalog.get("ACME/Tiny-V1") is info and len(catalog) == 1 and list(catalog) == [info]
    with pytest.raises(CatalogError):
        Catalog([info, ModelInfo("other", "acme", aliases=("tiny",), **limits)])


@pytest.mark.parametrize("name", [None, "", "  ", 5], ids=["none", "empty", "blank", "int"])
def test_get_model_refuses_what_is_not_a_name(name):
    with pytest.raises(UsageError, match="non-empty string"):
        get_model(name)
