"""Model families (tokenizer by name prefix, framing by provider) come from the data file; the behaviour is the
one the prefix tables in code had, pinned by a table recorded from them before they moved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contextwise.tokens import TokenCounter, framing_for, tokenizer_for_model, tokenizer_id_for_model
from contextwise.tokens._families import families

GOLDEN = json.loads((Path(__file__).parent / "data" / "families_before_data.json").read_text("utf-8"))


def observed(name: str) -> list:
    try:
        tokenizer, exact = tokenizer_id_for_model(name), tokenizer_for_model(name).exact
    except LookupError as exc:
        tokenizer, exact = type(exc).__name__, None
    return [name, tokenizer, exact, repr(framing_for(name))]


@pytest.mark.parametrize("row", GOLDEN["models"], ids=[r[0] for r in GOLDEN["models"]])
def test_families_model_names_resolve_as_before(row):
    assert observed(row[0]) == row


@pytest.mark.parametrize("row", GOLDEN["tokenizers"], ids=[r[0] for r in GOLDEN["tokenizers"]])
def test_families_tokenizer_ids_frame_as_before(row):
    assert [row[0], repr(TokenCounter(row[0]).framing)] == row


def test_families_data_file_is_dated_and_complete():
    data = families()
    assert data.checked_on
    assert all(tok for _, tok in data.tokenizer_prefixes)
    assert {"openai", "anthropic", "google"} <= {p for _, p in data.provider_prefixes}
