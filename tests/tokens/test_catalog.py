"""Tokenizer ids and model names resolve to the right tokenizer; exact ones say so; the registry knows them."""

from __future__ import annotations

import pytest
from support import need

from contextwise.errors import UnknownBackendError
from contextwise.protocols import Tokenizer
from contextwise.registry import resolve
from contextwise.tokens import (
    TOKENIZER_IDS,
    EstimatedTokenizer,
    TiktokenTokenizer,
    canonical_tokenizer_id,
    estimate_specs,
    get_tokenizer,
    tokenizer_for_model,
    tokenizer_id_for_model,
)
from contextwise.tokens._backends import quicktok_available

ALWAYS_EXACT = {"o200k_base", "cl100k_base"}
EXACT_WITH_FAST = {"llama3", "qwen2"}
ESTIMATED = {"claude", "gemini", "mistral", "deepseek"}


def test_tokenizer_ids_cover_exact_and_estimated_sets() -> None:
    assert set(TOKENIZER_IDS) == ALWAYS_EXACT | EXACT_WITH_FAST | ESTIMATED


@pytest.mark.parametrize("name", sorted(ALWAYS_EXACT | EXACT_WITH_FAST | ESTIMATED))
def test_get_tokenizer_reports_exactness_and_is_cached(name: str) -> None:
    tok = get_tokenizer(name)
    assert isinstance(tok, Tokenizer)
    expected_exact = name in ALWAYS_EXACT or (name in EXACT_WITH_FAST and quicktok_available())
    assert tok.exact is expected_exact
    assert tok.name == name
    assert get_tokenizer(name) is tok
    assert tok.count("") == 0


def test_every_estimate_is_calibrated_against_an_exact_proxy() -> None:
    for name, spec in estimate_specs().items():
        assert spec.ratio >= 1.0, name  # outside CJK, estimates err on the high side
        assert get_tokenizer(spec.proxy).exact, name
        assert spec.source


@pytest.mark.parametrize(("alias", "canonical"), [("o200k", "o200k_base"), ("CL100K", "cl100k_base"),
                                                 ("qwen3", "qwen2"), ("qwen2.5", "qwen2"), ("anthropic", "claude")])
def test_aliases_resolve_to_canonical_ids(alias: str, canonical: str) -> None:
    assert canonical_tokenizer_id(alias) == canonical


def test_unknown_tokenizer_raises_with_suggestions() -> None:
    with pytest.raises(UnknownBackendError) as info:
        get_tokenizer("o200k_bse")
    assert "o200k_base" in info.value.suggestions


@pytest.mark.parametrize(("model", "tokenizer"), [
    ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"), ("openai/gpt-4.1", "o200k_base"),
    ("gpt-4", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"), ("claude-sonnet-4-5", "claude"),
    ("gemini-2.5-pro", "gemini"), ("meta-llama/Llama-3.1-8B-Instruct", "llama3"), ("qwen2.5-72b-instruct", "qwen2"),
    ("mistral-large", "mistral"), ("deepseek-chat", "deepseek"),
])
def test_tokenizer_for_model_known_families(model: str, tokenizer: str) -> None:
    assert tokenizer_id_for_model(model) == tokenizer
    assert tokenizer_for_model(model) is get_tokenizer(tokenizer)


def test_every_catalog_model_has_a_tokenizer() -> None:
    models = need("contextwise.models", "the model catalog")
    names = [info.name for info in models.default_catalog()]
    assert names
    for name in names:
        tokenizer, info = tokenizer_for_model(name), models.get_model(name)
        assert tokenizer.name == info.tokenizer
        if tokenizer.exact:
            assert tokenizer.name in ALWAYS_EXACT | EXACT_WITH_FAST and not info.tokenizer_estimated
        if info.tokenizer_estimated:
            assert tokenizer.exact is False


def test_llama_4_is_counted_with_llama_3_but_never_called_exact() -> None:
    tokenizer = tokenizer_for_model("llama-4-maverick")
    assert tokenizer.name == "llama3" and tokenizer.exact is False
    assert tokenizer.count("hello world") == get_tokenizer("llama3").count("hello world")


def test_unknown_model_raises_a_clear_error() -> None:
    with pytest.raises(UnknownBackendError, match="no tokenizer is known"):
        tokenizer_for_model("no-such-model-xyz")


@pytest.mark.parametrize(("spec", "kind"), [("tiktoken:o200k_base", TiktokenTokenizer),
                                            ("tiktoken:cl100k", TiktokenTokenizer),
                                            ("estimate:claude", EstimatedTokenizer)])
def test_registry_resolves_provider_specs(spec: str, kind: type) -> None:
    tok = resolve("tokenizer", spec)
    assert isinstance(tok, kind)
    assert tok.count("hello world") >= 2


def test_registry_auto_and_model_specs() -> None:
    assert resolve("tokenizer", "auto:o200k_base") is get_tokenizer("o200k_base")
    assert resolve("tokenizer", "model:gpt-4") is get_tokenizer("cl100k_base")


ENTRY_POINTS = {"auto": "get_tokenizer", "tiktoken": "tiktoken_tokenizer", "quicktok": "quicktok_tokenizer",
                "estimate": "estimated_tokenizer", "model": "tokenizer_for_model"}


@pytest.mark.parametrize("provider", sorted(ENTRY_POINTS))
def test_entry_point_targets_for_pyproject_exist(provider: str) -> None:
    from importlib import import_module

    from contextwise.registry import providers

    factory = getattr(import_module("contextwise.tokens"), ENTRY_POINTS[provider])
    assert callable(factory)
    assert provider in providers("tokenizer")
