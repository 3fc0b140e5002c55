"""The model catalog: the packaged data file, user overrides, and name resolution (aliases, snapshots, prefixes)."""

from __future__ import annotations

import difflib
import functools
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from typing import Any

from contextwise.errors import UnknownBackendError, UsageError
from contextwise.models._build import FIGURES, build_model, model_fields
from contextwise.models._schema import check_layer, merge, parse_toml, read_layer
from contextwise.models._types import CatalogError, ModelInfo

ENV_VAR = "CONTEXTWISE_MODELS"
DEFAULT_SOURCE = "<default catalog>"
ARGUMENT_SOURCE = "<argument>"
Override = str | os.PathLike[str] | Mapping[str, Any]

# A dated snapshot or moving tag at the end of a name: -2024-08-06, -20241022, -0613, -002, -latest, -preview-05-20,
# and Vertex AI's @20250514.
_SNAPSHOT = re.compile(r"(?:-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{3,4}|latest|exp|preview(?:-\d{2}-\d{2,4})?)|@\d{8})$")
# Bedrock ids: [region.]anthropic.claude-...-v2:0
_BEDROCK = re.compile(r"^(?:[a-z]{2}\.)?[a-z]+\.(?P<name>[a-z].*?)(?:-v\d+(?::\d+)?)?$")


def _key(name: str) -> str:
    return name.strip().lower()


class Catalog:
    """An immutable set of models, looked up by name, alias, dated snapshot or provider-prefixed name.

    >>> Catalog.default().get("openai/gpt-4o-2024-08-06").name
    'gpt-4o'
    """

    def __init__(self, models: Iterable[ModelInfo] = (), *,
                 provider_defaults: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._models: dict[str, ModelInfo] = {}
        self._index: dict[str, str] = {}
        self._provider_defaults = {p: dict(v) for p, v in (provider_defaults or {}).items()}
        for info in models:
            self._add(info)

    def _add(self, info: ModelInfo, source: str = ARGUMENT_SOURCE) -> None:
        if _key(info.name) in self._index:
            raise CatalogError(f"two models are named {info.name!r}", source=source, field=f"models.{info.name}")
        self._models[info.name] = info
        for key in (_key(info.name), *map(_key, info.aliases)):
            owner = self._index.setdefault(key, info.name)
            if owner != info.name:
                raise CatalogError(f"alias {key!r} already names {owner!r}", source=source,
                                   field=f"models.{info.name}.aliases")

    # -- construction ------------------------------------------------------------------------------------------

    @classmethod
    def default(cls) -> Catalog:
        """The catalog shipped with contextwise, without user overrides."""
        return _packaged()

    @classmethod
    def load(cls, *paths: str | os.PathLike[str], include_default: bool = True) -> Catalog:
        """The packaged catalog (unless `include_default=False`) with each file in `paths` merged over it in order.

        Raises:
            CatalogError: a file is missing, unparsable, or holds a bad field (the error names both).
        """
        base = cls.default() if include_default else cls()
        return base.with_overrides(*paths)

    def with_overrides(self, *overrides: Override) -> Catalog:
        """A new catalog with each override (a .toml/.json path or a mapping) merged in, field by field.

        An override uses the data file's layout: `models.<name>.<field>`, `providers.<provider>.<field>` and
        `catalog.checked_on`. Naming an existing model (or one of its aliases) changes only the fields given;
        a new name adds a model, starting from its provider's defaults.

        >>> cat = Catalog.default().with_overrides({"models": {"gpt-4o": {"prices": {"input_usd_per_mtok": 2.0}}}})
        >>> cat.get("gpt-4o").prices.input_usd_per_mtok, cat.get("gpt-4o").prices.output_usd_per_mtok
        (2.0, 10.0)
        """
        catalog = self
        for override in overrides:
            if isinstance(override, Mapping):
                catalog = catalog._merged(check_layer(override, ARGUMENT_SOURCE), ARGUMENT_SOURCE)
            else:
                catalog = catalog._merged(read_layer(override), str(override))
        return catalog

    def _merged(self, layer: Mapping[str, Any], source: str) -> Catalog:
        checked_on = layer["catalog"].get("checked_on")
        defaults = merge(self._provider_defaults, layer["providers"])
        fields = {name: model_fields(info) for name, info in self._models.items()}
        touched: dict[str, str] = {}
        for name, current in fields.items():
            update = layer["providers"].get(current["provider"])
            if update:
                fields[name] = _apply(current, update, checked_on)
                touched[name] = source
        for key, update in layer["models"].items():
            name = self._index.get(_key(key), key)
            base = fields.get(name) or _new_model_base(key, update, defaults, source)
            fields[name] = _apply(base, update, checked_on, new=name not in self._models)
            touched[name] = source
        out = Catalog(provider_defaults=defaults)
        for name in [n for n in fields if n not in touched]:  # untouched first: a clash then blames the change
            out._add(self._models[name])
        for name, by in touched.items():
            out._add(build_model(name, fields[name], by), by)
        out._models = {name: out._models[name] for name in fields}  # keep the file order for listings
        return out

    # -- lookup ------------------------------------------------------------------------------------------------

    def get(self, name: str) -> ModelInfo:
        """The model `name` resolves to.

        Raises:
            UsageError: `name` is not a non-empty string.
            UnknownBackendError: no model matches; `.suggestions` holds the nearest known names.
        """
        if not isinstance(name, str) or not name.strip():
            raise UsageError(f"a model name is a non-empty string, e.g. 'gpt-4o', got {name!r}")
        found = self.find(name)
        if found is None:
            raise UnknownBackendError(
                f"unknown model {name!r} (add it with a models file: CONTEXTWISE_MODELS=path or "
                f"Catalog.with_overrides)", suggestions=self.suggest(name))
        return found

    def find(self, name: str) -> ModelInfo | None:
        """The model `name` resolves to, or None (also for a name that is not a string)."""
        if not isinstance(name, str):
            return None
        for candidate in _candidates(_key(name)):
            if candidate in self._index:
                return self._models[self._index[candidate]]
        return None

    def suggest(self, name: str, *, limit: int = 5) -> list[str]:
        """The known model names nearest to `name`, best first."""
        key = _key(name).rsplit("/", 1)[-1]
        keys = list(self._index)
        near = difflib.get_close_matches(key, keys, n=limit * 3, cutoff=0.6)
        near += [k for k in keys if key and (key in k or k in key)]
        near += difflib.get_close_matches(key, keys, n=limit * 3, cutoff=0.4)
        return list(dict.fromkeys(self._index[k] for k in near))[:limit]

    def search(self, query: str = "", *, provider: str | None = None) -> list[ModelInfo]:
        """Models whose name, an alias or provider contains every word of `query` (case-insensitive).

        >>> [m.name for m in Catalog.default().search("4o mini")]
        ['gpt-4o-mini']
        """
        words = _key(query).split()
        wanted = _key(provider) if provider else None
        return [info for info in self if (wanted is None or info.provider == wanted)
                and all(any(w in _key(s) for s in (info.name, info.provider, *info.aliases)) for w in words)]

    def providers(self) -> list[str]:
        """The providers that have at least one model, sorted."""
        return sorted({info.provider for info in self})

    def provider_defaults(self, provider: str) -> dict[str, Any]:
        """The `[providers.<provider>]` fields every model of `provider` starts from ({} for none)."""
        return dict(self._provider_defaults.get(_key(provider), {}))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def __iter__(self) -> Iterator[ModelInfo]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def __repr__(self) -> str:
        return f"Catalog({len(self)} models)"


def _apply(base: Mapping[str, Any], update: Mapping[str, Any], checked_on: Any, *, new: bool = False) -> dict[str, Any]:
    """Merge `update` into `base`; figures changed without a date of their own take the layer's date or none."""
    out = merge(base, update)
    if "checked_on" not in update and (new or FIGURES & set(update)):
        out.pop("checked_on", None)
        if checked_on is not None:
            out["checked_on"] = checked_on
    return out


def _new_model_base(key: str, update: Mapping[str, Any], defaults: Mapping[str, Any], source: str) -> dict[str, Any]:
    provider = update.get("provider")
    if provider is None:
        raise CatalogError("missing; a new model needs a provider", source=source, field=f"models.{key}.provider")
    return dict(defaults.get(provider, {}))


def _candidates(key: str) -> Iterator[str]:
    """Spellings to try for `key`, most literal first."""
    forms = [key]
    head, sep, tail = key.partition(":")
    if sep and "/" not in head:
        forms.append(tail)
    forms += [key[i + 1:] for i, char in enumerate(key) if char == "/"]
    bedrock = _BEDROCK.match(key)
    if bedrock:
        forms.append(bedrock["name"])
    yield from forms
    for form in forms:
        stripped = _SNAPSHOT.sub("", form)
        if stripped != form:
            yield stripped


@functools.lru_cache(maxsize=1)
def _packaged() -> Catalog:
    raw = resources.files("contextwise.models").joinpath("catalog.toml").read_bytes()
    layer = check_layer(parse_toml(raw, DEFAULT_SOURCE), DEFAULT_SOURCE)
    return Catalog()._merged(layer, DEFAULT_SOURCE)


@functools.lru_cache(maxsize=8)
def _with_env(value: str) -> Catalog:
    paths = [p for p in value.split(os.pathsep) if p.strip()]
    return Catalog.load(*paths)


def default_catalog() -> Catalog:
    """The packaged catalog with the files named in CONTEXTWISE_MODELS (path[:path], os.pathsep) merged over it.

    Files are read once per distinct value of the variable.

    >>> default_catalog().get("claude-3-5-sonnet-latest").name
    'claude-3-5-sonnet'
    """
    value = os.environ.get(ENV_VAR, "").strip()
    return _with_env(value) if value else Catalog.default()


def get_model(name: str, *, catalog: Catalog | None = None) -> ModelInfo:
    """Look up a model by name, alias, dated snapshot or provider-prefixed name.

    >>> get_model("anthropic/claude-sonnet-4-5-20250929").context_window_tokens
    200000

    Raises:
        UsageError: `name` is not a non-empty string.
        UnknownBackendError: nothing matches; the message lists the nearest known names.
    """
    return (catalog if catalog is not None else default_catalog()).get(name)
