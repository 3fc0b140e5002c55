"""Resolve "provider:name" strings to back-end objects.

Built-ins register exactly as third-party plugins do: a plugin declares an entry point in the `contextwise`
group named "<kind>.<provider>" pointing at a factory `f(name: str) -> object`.

>>> register("tokenizer", "demo", lambda name: name.upper())
>>> resolve("tokenizer", "demo:x")
'X'
"""

from __future__ import annotations

import difflib
import importlib
import threading
from importlib import metadata
from typing import Any
from collections.abc import Callable

from contextwise.errors import UnknownBackendError, UsageError

Factory = Callable[[str], Any]
KINDS = ("tokenizer", "embedder", "chat", "store", "compressor", "cache")
ENTRY_POINT_GROUP = "contextwise"
# The package whose import registers the built-ins of each kind; imported on first resolve, so a spec like
# "onnx:all-minilm-l6-v2" works without importing contextwise.embed first (and without its cost until then).
_BUILTINS = {"tokenizer": "contextwise.tokens", "embedder": "contextwise.embed", "chat": "contextwise.llm",
             "store": "contextwise.stores", "compressor": "contextwise.compress"}

_factories: dict[tuple[str, str], Factory] = {}
_lock = threading.Lock()
_plugins_loaded = False


def register(kind: str, provider: str, factory: Factory) -> None:
    """Register `factory` for "provider:name" strings of `kind`; a later registration replaces an earlier one."""
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")
    with _lock:
        _factories[(kind, provider)] = factory


def providers(kind: str) -> list[str]:
    """The providers registered for `kind`, built-ins and plugins included."""
    _load_builtins(kind)
    _load_plugins()
    return sorted(p for k, p in _factories if k == kind)


def resolve(kind: str, spec: Any) -> Any:
    """Return `spec` itself if it is already an object, else build it from a "provider:name" string."""
    if not isinstance(spec, str):
        return spec
    provider, _, name = spec.partition(":")
    _load_builtins(kind)
    _load_plugins()
    factory = _factories.get((kind, provider))
    if factory is None:
        known = providers(kind)
        raise UnknownBackendError(
            f"no {kind} provider {provider!r} (from {spec!r}); known: {', '.join(known) or 'none'}",
            suggestions=difflib.get_close_matches(provider, known, n=3),
        )
    return factory(name)


def _load_builtins(kind: str) -> None:
    module = _BUILTINS.get(kind)
    if module is not None:
        importlib.import_module(module)


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    with _lock:
        if _plugins_loaded:
            return
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            kind, _, provider = ep.name.partition(".")
            if kind in KINDS and provider and (kind, provider) not in _factories:
                _factories[(kind, provider)] = _lazy(ep)
        _plugins_loaded = True


def _lazy(ep: metadata.EntryPoint) -> Factory:
    def factory(name: str) -> Any:
        return ep.load()(name)

    return factory
