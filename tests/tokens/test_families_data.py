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


def test_families_framings_and_image_rules_come_from_the_data_file():
    from contextwise.tokens.framing import _BY_NAME

    data = families()
    # every framing the data file names, and every alias, is what framing_for serves
    assert set(data.framings) | set(data.framing_aliases) == set(_BY_NAME)
    for alias, target in data.framing_aliases.items():
        assert framing_for(alias) is framing_for(target)
    # a framing based on another takes the other's figures unless it names its own
    legacy = data.framings["openai-legacy"]
    assert legacy["based_on"] == "openai"
    assert framing_for("openai-legacy").per_message_tokens == data.framings["openai"]["per_message_tokens"]
    assert framing_for("openai-legacy").tool_rule.per_tool_tokens == legacy["tool_rule"]["per_tool_tokens"]
    prefix, spec = data.openai_images["prefixes"][0]
    assert framing_for(f"{prefix}-2099").image_rule.tile_tokens == spec["tile_tokens"]


def test_families_rule_specs_of_an_unknown_kind_are_refused():
    from contextwise.errors import UsageError
    from contextwise.tokens.framing import tool_rule_from
    from contextwise.tokens.images import image_rule_from

    with pytest.raises(UsageError, match="tile"):
        image_rule_from({"kind": "hexagon"})
    with pytest.raises(UsageError, match="json"):
        tool_rule_from({"preamble_tokens": 3})
    assert image_rule_from({"kind": "area"}).pixels_per_token == 750
