"""The request schemas of the chat APIs (`params.toml`): each parameter's kind and documented default, and the
reviewed list of fields that cannot change the answer."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Any
from collections.abc import Mapping

from contextwise.errors import UnknownBackendError

KINDS = frozenset({"string", "messages", "object", "choice", "list", "boolean", "integer", "number", "enum",
                   "string_list", "stop"})


@dataclass(frozen=True)
class Param:
    """One documented request parameter: its kind, bounds or values, and the default the provider applies."""

    name: str
    kind: str
    default: Any = None
    has_default: bool = False
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] = ()
    nested: bool = False


@dataclass(frozen=True)
class Schema:
    """A chat API's request schema.

    Attributes:
        params: the documented parameters by name ("options.num_ctx" for a member of a nested object).
        ignored: the reviewed output-irrelevant fields, each with the reason it cannot change the answer.
        strip: keys removed wherever they occur (markers such as Anthropic's cache_control).
        temperature: the parameter that holds the sampling temperature ("" when the schema has none).
    """

    name: str
    title: str
    params: Mapping[str, Param]
    ignored: Mapping[str, str]
    strip: frozenset[str] = frozenset()
    temperature: str = ""

    @property
    def nested(self) -> frozenset[str]:
        """The object parameters whose members are parameters of their own."""
        return frozenset(p.name for p in self.params.values() if p.nested)

    def default_temperature(self) -> float | None:
        """The temperature the provider samples at when the request gives none (None: unknown)."""
        param = self.params.get(self.temperature)
        return float(param.default) if param is not None and param.has_default else None


def _param(name: str, raw: Mapping[str, Any]) -> Param:
    if raw.get("kind") not in KINDS:
        raise ValueError(f"params.toml: {name}: unknown kind {raw.get('kind')!r}")
    return Param(name, raw["kind"], raw.get("default"), "default" in raw, raw.get("min"), raw.get("max"),
                 tuple(raw.get("values", ())), bool(raw.get("nested", False)))


@functools.lru_cache(maxsize=1)
def _schemas() -> dict[str, Schema]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib  # type: ignore[import-not-found,no-redef]
    text = resources.files("contextwise.cache").joinpath("params.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    out = {}
    for name, raw in data["schemas"].items():
        params = {key: _param(key, value) for key, value in raw.get("params", {}).items()}
        out[name] = Schema(name, raw.get("title", name), params, dict(raw.get("ignored", {})),
                           frozenset(raw.get("strip", ())), raw.get("temperature", ""))
    return out


def get_schema(name: str) -> Schema:
    """The request schema `name`: "openai_chat", "anthropic_messages", "ollama_chat" or "generic".

    >>> get_schema("openai_chat").params["temperature"].default
    1.0
    """
    schemas = _schemas()
    if name not in schemas:
        raise UnknownBackendError(f"no request schema {name!r}", suggestions=sorted(schemas))
    return schemas[name]


def schema_names() -> list[str]:
    """The names of the shipped request schemas."""
    return sorted(_schemas())
