"""Exact cache keys: one canonical serialisation of a whole request, hashed with its tenant and namespace.

Pure and sync. The canonical form keeps every field of the request except the schema's reviewed output-irrelevant
ones, fills in each documented default the request leaves out (an omitted OpenAI temperature is 1.0), drops
nulls (the APIs read a null as "omitted"), writes numbers one way (1 and 1.0 alike) and sorts object keys. The
hash frames every part with its length, so no choice of tenant, namespace or body can make two different
(tenant, request) pairs produce the same byte string.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any
from collections.abc import Mapping

from contextwise._wire import canonical_json
from contextwise.cache._schemas import Schema, get_schema
from contextwise.errors import UsageError
from contextwise.stores._core import check_tenant

KEY_VERSION = b"contextwise.cache/1"
# Which parts of a canonical request make the conversation; the rest (model, sampling, tools) is its frame.
CONVERSATION_FIELDS = frozenset({"messages", "system"})


def canonical_request(body: Mapping[str, Any], schema: Schema | str = "generic") -> dict[str, Any]:
    """The request as the key sees it: irrelevant fields out, defaults in, values normalised.

    >>> canonical_request({"model": "gpt-4o", "messages": [], "user": "u-17"}, "openai_chat")["temperature"]
    1
    """
    spec = get_schema(schema) if isinstance(schema, str) else schema
    if not isinstance(body, Mapping):
        raise UsageError(f"a request body is a mapping, got {type(body).__name__}")
    out: dict[str, Any] = {}
    for name, value in _flatten(body, spec.nested).items():
        if value is None or name in spec.ignored:
            continue
        param = spec.params.get(name)
        normal = _normal(value, spec.strip, name)
        if param is not None and param.kind == "stop":
            normal = [normal] if isinstance(normal, str) else normal
            if normal == []:
                continue
        out[name] = normal
    for name, param in spec.params.items():
        if param.has_default and name not in out:
            out[name] = _normal(param.default, spec.strip, name)
    return out


def canonical_bytes(canonical: Mapping[str, Any]) -> bytes:
    """The canonical request in the one serialisation of a request body (`budget.canonical_json`), as UTF-8."""
    return canonical_json(canonical).encode("utf-8", "surrogatepass")


def request_key(body: Mapping[str, Any], *, tenant: str, schema: Schema | str = "generic", namespace: str = "",
                scope: Mapping[str, Any] | None = None) -> str:
    """The exact cache key of a request body for `tenant` (mandatory: the tenant is part of every key).

    Args:
        body: the request as sent on the wire (an OpenAI, Anthropic or Ollama body, or any JSON mapping).
        tenant: the hard partition the entry belongs to.
        schema: which API the body follows; "generic" assumes no defaults and ignores nothing.
        namespace: a further partition chosen by the caller (e.g. an app or a prompt version).
        scope: where the request is sent (endpoint URL, client), so two servers never share entries.

    >>> a = request_key({"model": "gpt-4o", "messages": []}, tenant="acme", schema="openai_chat")
    >>> a == request_key({"model": "gpt-4o", "messages": [], "temperature": 1.0}, tenant="acme",
    ...                  schema="openai_chat")
    True
    """
    spec = get_schema(schema) if isinstance(schema, str) else schema
    return digest(tenant, namespace, spec.name, canonical_bytes(_normal(dict(scope or {}), frozenset(), "scope")),
                  canonical_bytes(canonical_request(body, spec)))


def digest(tenant: str, namespace: str, *parts: str | bytes) -> str:
    """sha256 over the key version, the tenant, the namespace and `parts`, each framed by its length."""
    check_tenant(tenant)
    check_namespace(namespace)
    h = hashlib.sha256(KEY_VERSION)
    for part in (tenant, namespace, *parts):
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def check_namespace(namespace: Any) -> str:
    """Return `namespace` if it is "" or a valid partition name, else raise UsageError."""
    if not isinstance(namespace, str) or (namespace and len(namespace) > 128) or "\x00" in namespace:
        raise UsageError(f"a namespace is a string of at most 128 characters without NUL, got {namespace!r}")
    return namespace


def split_conversation(canonical: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(frame, conversation): the canonical request without / with only its messages and system prompt."""
    frame = {k: v for k, v in canonical.items() if k not in CONVERSATION_FIELDS}
    talk = {k: v for k, v in canonical.items() if k in CONVERSATION_FIELDS}
    return frame, talk


def _flatten(body: Mapping[str, Any], nested: frozenset[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in body.items():
        if not isinstance(key, str):
            raise UsageError(f"request fields are strings, got {key!r}")
        if key in nested and isinstance(value, Mapping):
            out.update((f"{key}.{inner}", v) for inner, v in value.items())
        else:
            out[key] = value
    return out


def _normal(value: Any, strip: frozenset[str], where: str) -> Any:
    """JSON values written one way: integral floats as ints, tuples as lists, stripped keys removed."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UsageError(f"{where}: {value!r} is not a JSON number")
        return int(value) if value.is_integer() and abs(value) < 2 ** 53 else value
    if isinstance(value, Mapping):
        return {str(k): _normal(v, strip, f"{where}.{k}") for k, v in value.items() if k not in strip}
    if isinstance(value, (list, tuple)):
        return [_normal(v, strip, where) for v in value]
    raise UsageError(f"{where}: {type(value).__name__} is not a JSON value; pass plain JSON data")
