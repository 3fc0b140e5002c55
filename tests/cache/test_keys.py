"""Exact keys: every documented parameter changes the key, reviewed output-irrelevant ones do not, omitted
defaults equal explicit ones, and the tenant is part of every key."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from contextwise.cache import canonical_request, get_schema, request_key, schema_names
from contextwise.cache._schemas import Param
from contextwise.errors import UsageError

SCHEMAS = ["openai_chat", "anthropic_messages", "ollama_chat"]
BASE: dict[str, dict[str, Any]] = {
    "openai_chat": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Capital of France?"}]},
    "anthropic_messages": {"model": "claude-sonnet-4-5", "max_tokens": 256,
                           "messages": [{"role": "user", "content": "Capital of France?"}]},
    "ollama_chat": {"model": "llama3.2", "messages": [{"role": "user", "content": "Capital of France?"}]},
}
_text = st.text(min_size=1, max_size=12)
_json = st.recursive(st.none() | st.booleans() | st.integers(-1000, 1000) | _text,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
                     max_leaves=6)


def values(param: Param) -> st.SearchStrategy[Any]:
    """Values a parameter of this kind can take."""
    low, high = param.min, param.max
    by_kind: dict[str, st.SearchStrategy[Any]] = {
        "string": _text, "boolean": st.booleans(), "enum": st.sampled_from(param.values or ("x",)),
        "integer": st.integers(int(low if low is not None else -1000), int(high if high is not None else 1000)),
        "number": st.floats(low if low is not None else -100.0, high if high is not None else 100.0,
                            allow_nan=False),
        "string_list": st.lists(_text, min_size=1, max_size=3), "stop": _text | st.lists(_text, min_size=1,
                                                                                          max_size=3),
        "object": st.dictionaries(_text, _json, min_size=1, max_size=3),
        "list": st.lists(st.dictionaries(_text, _json, min_size=1, max_size=2), min_size=1, max_size=2),
        "choice": _text | st.dictionaries(_text, _json, min_size=1, max_size=2),
        "messages": st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]),
                                                    "content": _text}), min_size=1, max_size=3),
    }
    return by_kind[param.kind]


def put(body: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(body)
    head, _, tail = name.partition(".")
    if tail:
        out.setdefault(head, {})[tail] = value
    else:
        out[head] = value
    return out


def effective(body: dict[str, Any], schema: str, name: str) -> Any:
    return canonical_request(body, schema).get(name)


def relevant(schema: str) -> list[str]:
    return sorted(n for n, p in get_schema(schema).params.items() if not p.nested)


CASES = [(s, n) for s in SCHEMAS for n in relevant(s)]


@pytest.mark.parametrize(("schema", "name"), CASES, ids=[f"{s}.{n}" for s, n in CASES])
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_key_changes_when_any_documented_parameter_changes(schema, name, data):
    param = get_schema(schema).params[name]
    before = data.draw(st.none() | values(param), label="before")
    after = data.draw(values(param), label="after")
    base = BASE[schema] if before is None else put(BASE[schema], name, before)
    changed = put(base, name, after)
    assume(effective(base, schema, name) != effective(changed, schema, name))
    assert request_key(base, tenant="t", schema=schema) != request_key(changed, tenant="t", schema=schema)


IGNORED = [(s, n) for s in SCHEMAS for n in sorted(get_schema(s).ignored)]


@pytest.mark.parametrize(("schema", "name"), IGNORED, ids=[f"{s}.{n}" for s, n in IGNORED])
@settings(max_examples=10, deadline=None)
@given(value=_json)
def test_key_ignores_the_reviewed_output_irrelevant_fields(schema, name, value):
    changed = put(BASE[schema], name, value)
    assert request_key(changed, tenant="t", schema=schema) == request_key(BASE[schema], tenant="t", schema=schema)


DEFAULTS = [(s, n) for s in SCHEMAS for n, p in sorted(get_schema(s).params.items()) if p.has_default]


@pytest.mark.parametrize(("schema", "name"), DEFAULTS, ids=[f"{s}.{n}" for s, n in DEFAULTS])
def test_key_of_an_omitted_parameter_is_the_key_of_its_documented_default(schema, name):
    explicit = put(BASE[schema], name, get_schema(schema).params[name].default)
    assert request_key(explicit, tenant="t", schema=schema) == request_key(BASE[schema], tenant="t", schema=schema)


def test_key_of_an_omitted_openai_temperature_is_one_not_zero():
    body = BASE["openai_chat"]
    key = request_key(body, tenant="t", schema="openai_chat")
    assert key == request_key({**body, "temperature": 1}, tenant="t", schema="openai_chat")
    assert key != request_key({**body, "temperature": 0}, tenant="t", schema="openai_chat")


def test_key_of_an_unknown_field_counts_so_new_api_fields_never_share_a_key():
    body = BASE["openai_chat"]
    assert request_key({**body, "brand_new_option": 3}, tenant="t", schema="openai_chat") != \
        request_key(body, tenant="t", schema="openai_chat")


def test_key_strips_anthropic_cache_markers_but_keeps_the_text():
    body = {**BASE["anthropic_messages"], "system": [{"type": "text", "text": "Be brief."}]}
    marked = {**body, "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]}
    other = {**body, "system": [{"type": "text", "text": "Be long."}]}
    key = request_key(body, tenant="t", schema="anthropic_messages")
    assert request_key(marked, tenant="t", schema="anthropic_messages") == key
    assert request_key(other, tenant="t", schema="anthropic_messages") != key


_tenants = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,10}", fullmatch=True)
_namespaces = st.text(st.characters(blacklist_characters="\x00"), max_size=5)


@given(a=_tenants, b=_tenants, ns_a=_namespaces, ns_b=_namespaces)
def test_key_partitions_by_tenant_and_namespace_with_no_crafted_collision(a, b, ns_a, ns_b):
    assume((a, ns_a) != (b, ns_b))
    body = BASE["openai_chat"]
    assert request_key(body, tenant=a, namespace=ns_a) != request_key(body, tenant=b, namespace=ns_b)


def test_key_needs_a_valid_tenant_and_json_values():
    from contextwise.stores import InvalidTenantError

    with pytest.raises(InvalidTenantError):
        request_key(BASE["openai_chat"], tenant="")
    with pytest.raises(UsageError, match="JSON"):
        request_key({**BASE["openai_chat"], "temperature": float("nan")}, tenant="t")
    with pytest.raises(UsageError, match="JSON value"):
        request_key({**BASE["openai_chat"], "x": object()}, tenant="t")


def test_schemas_cover_the_three_apis_and_every_ignored_field_has_a_reason():
    assert {"openai_chat", "anthropic_messages", "ollama_chat", "generic"} <= set(schema_names())
    for name in SCHEMAS:
        schema = get_schema(name)
        assert all(reason.strip() for reason in schema.ignored.values())
        assert not set(schema.ignored) & set(schema.params)
