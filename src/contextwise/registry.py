"""Resolve "provider:name" strings to back-end objects.

Built-ins and third-party plugins take one path: each is a `module:attribute` reference to a factory
`f(name: str) -> object`, imported on its first lookup. Plugins declare theirs as entry points in the
`contextwise` group named "<kind>.<provider>"; the built-ins are the table below. `register()` adds one at
run time; it never silently replaces another: registering a provider that exists raises unless
`replace=True`, and what a user registered is never overwritten by a built-in loading later.

>>> register("tokenizer", "demo", lambda name: name.upper())
>>> resolve("tokenizer", "demo:x")
'X'
"""

from __future__ import annotations

import difflib
import importlib
import threading
from typing import Any
from collections.abc import Callable

from contextwise.errors import UnknownBackendError, UsageError

Factory = Callable[[str], Any]
KINDS = ("tokenizer", "embedder", "chat", "store", "compressor", "cache")
ENTRY_POINT_GROUP = "contextwise"

# (kind, provider) -> "module:attribute" of the factory. A provider of "" takes every spec whose provider is not
# registered, whole (a tokenizer id "o200k_base" or a model name "gpt-4o" names no provider). The built-in store
# factory gets the whole spec ("sqlite:mem.db"), every other factory the part after the first colon.
BUILTINS: dict[tuple[str, str], str] = {
    ("tokenizer", ""): "contextwise.tokens._catalog:tokenizer_from_name",
    ("tokenizer", "auto"): "contextwise.tokens._catalog:get_tokenizer",
    ("tokenizer", "tiktoken"): "contextwise.tokens._catalog:tiktoken_tokenizer",
    ("tokenizer", "quicktok"): "contextwise.tokens._catalog:quicktok_tokenizer",
    ("tokenizer", "estimate"): "contextwise.tokens._catalog:estimated_tokenizer",
    ("tokenizer", "model"): "contextwise.tokens._catalog:tokenizer_for_model",
    ("embedder", "onnx"): "contextwise.embed:onnx_factory",
    ("embedder", "hash"): "contextwise.embed:hash_factory",
    ("embedder", "openai"): "contextwise.embed:openai_factory",
    ("chat", "openai"): "contextwise.llm:openai_chat",
    ("chat", "anthropic"): "contextwise.llm:anthropic_chat",
    ("chat", "gemini"): "contextwise.llm:gemini_chat",
    ("chat", "local"): "contextwise.llm:local_chat",
    ("store", "memory"): "contextwise.stores:open_store",
    ("store", "sqlite"): "contextwise.stores:open_store",
    ("store", "postgres"): "contextwise.stores:open_store",
    ("store", "postgresql"): "contextwise.stores:open_store",
    ("compressor", "extractive"): "contextwise.compress._factories:extractive",
    ("compressor", "truncate"): "contextwise.compress._factories:truncate",
    ("compressor", "pruning"): "contextwise.compress._factories:pruning",
    ("compressor", "summarize"): "contextwise.compress._factories:summarize",
    ("compressor", "auto"): "contextwise.compress._factories:auto",
}
_WHOLE_SPEC = frozenset(key for key in BUILTINS if key[0] == "store")

_registered: dict[tuple[str, str], Factory] = {}  # what register() added: always wins, never overwritten
_plugins: dict[tuple[str, str], str] = {}
_loaded: dict[tuple[str, str], Factory] = {}  # built-ins and plugins imported so far
_lock = threading.RLock()
_plugins_loaded = False


def register(kind: str, provider: str, factory: Factory, *, replace: bool = False) -> None:
    """Register `factory` for "provider:name" strings of `kind`.

    Raises:
        UsageError: the kind is unknown, the provider is empty or has a colon, or it is already registered
            (built-ins and plugins included) and `replace` is not set.
    """
    _check_kind(kind)
    if not isinstance(provider, str) or not provider or ":" in provider:
        raise UsageError(f"a provider is a non-empty name without ':', got {provider!r}")
    if not callable(factory):
        raise UsageError(f"a factory is a callable f(name) -> object, got {type(factory).__name__}")
    key = (kind, provider)
    with _lock:
        if _builtin_declaring_itself(key, factory):
            return
        if not replace and _known(key):
            raise UsageError(f"{kind} provider {provider!r} is already registered; pass replace=True to replace it")
        _registered[key] = factory


def providers(kind: str) -> list[str]:
    """The providers registered for `kind`, built-ins and plugins included."""
    _check_kind(kind)
    _load_plugins()
    keys = set(_registered) | set(BUILTINS) | set(_plugins)
    return sorted(p for k, p in keys if k == kind and p)


def resolve(kind: str, spec: Any) -> Any:
    """Return `spec` itself if it is already an object, else build it from a "provider:name" string.

    Raises:
        UsageError: `spec` is None or empty.
        UnknownBackendError: no provider of `kind` has that name; the nearest are suggested.
    """
    _check_kind(kind)
    if spec is None:
        raise UsageError(f"no {kind} given: pass an object or a 'provider:name' string")
    if not isinstance(spec, str):
        return spec
    if not spec.strip():
        raise UsageError(f"an empty string names no {kind}; pass an object or a 'provider:name' string")
    provider, _, name = spec.partition(":")
    key = (kind, provider)
    factory = _factory(key) if provider else None
    if factory is not None:
        return factory(f"{provider}:{name}" if key in _WHOLE_SPEC and key not in _registered else name)
    fallback = _factory((kind, ""))
    if fallback is not None:
        return fallback(spec)
    known = providers(kind)
    raise UnknownBackendError(f"no {kind} provider {provider!r} (from {spec!r}); known: {', '.join(known) or 'none'}",
                              suggestions=difflib.get_close_matches(provider, known, n=3))


def is_registered(kind: str, provider: str) -> bool:
    """Whether "provider:…" strings of `kind` resolve through a registered provider."""
    _load_plugins()
    return bool(provider) and _known((kind, provider))


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r}; use one of {', '.join(KINDS)}")


def _known(key: tuple[str, str]) -> bool:
    return key in _registered or key in BUILTINS or key in _plugins


def _builtin_declaring_itself(key: tuple[str, str], factory: Factory) -> bool:
    # Modules that still call register() for their own built-ins at import time: the table already holds them.
    module = BUILTINS.get(key, "").partition(":")[0]
    return bool(module) and getattr(factory, "__module__", None) == module


def _factory(key: tuple[str, str]) -> Factory | None:
    found = _registered.get(key) or _loaded.get(key)
    if found is not None:
        return found
    _load_plugins()
    target = BUILTINS.get(key) or _plugins.get(key)
    if target is None:
        return None
    module, _, attribute = target.partition(":")
    loaded: Factory = getattr(importlib.import_module(module), attribute)
    with _lock:
        _loaded.setdefault(key, loaded)
        return _registered.get(key) or _loaded[key]


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    with _lock:
        if _plugins_loaded:
            return
        from importlib import metadata  # on first resolve only: it costs ~20 ms of `import contextwise`

        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            kind, _, provider = ep.name.partition(".")
            if kind in KINDS and provider and (kind, provider) not in BUILTINS:
                _plugins.setdefault((kind, provider), ep.value)
        _plugins_loaded = True
