"""Tokenizer ids and model names to Tokenizer objects, cached per process, and their registry entries."""

from __future__ import annotations

import difflib
import json
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from contextwise.errors import BackendError, UnknownBackendError, UsageError
from contextwise.protocols import Tokenizer
from contextwise.tokens._backends import (
    QUICKTOK_ENCODINGS,
    AdaptiveTokenizer,
    EstimatedTokenizer,
    QuicktokTokenizer,
    TiktokenTokenizer,
    quicktok_available,
)

EXACT_OPENAI = ("o200k_base", "cl100k_base")
TOKENIZER_IDS = ("o200k_base", "cl100k_base", "llama3", "qwen2", "mistral", "deepseek", "claude", "gemini")
_ALIASES = {"o200k": "o200k_base", "cl100k": "cl100k_base", "llama-3": "llama3", "qwen": "qwen2",
            "qwen2.5": "qwen2", "qwen3": "qwen2", "tekken": "mistral", "anthropic": "claude", "google": "gemini"}

# Used until contextwise.models is importable, and for names the catalog does not know.
_PREFIXES = (
    ("gpt-4o", "o200k_base"), ("gpt-4.1", "o200k_base"), ("gpt-4.5", "o200k_base"), ("gpt-5", "o200k_base"),
    ("chatgpt-4o", "o200k_base"), ("o1", "o200k_base"), ("o3", "o200k_base"), ("o4", "o200k_base"),
    ("gpt-oss", "o200k_base"), ("gpt-4", "cl100k_base"), ("gpt-3.5", "cl100k_base"),
    ("text-embedding-3", "cl100k_base"), ("text-embedding-ada", "cl100k_base"), ("claude", "claude"),
    ("gemini", "gemini"), ("gemma", "gemini"), ("llama-3", "llama3"), ("llama3", "llama3"),
    ("meta-llama-3", "llama3"), ("llama-4", "llama3"), ("qwen", "qwen2"), ("qwq", "qwen2"),
    ("mistral", "mistral"), ("mixtral", "mistral"), ("codestral", "mistral"), ("ministral", "mistral"),
    ("magistral", "mistral"), ("pixtral", "mistral"), ("devstral", "mistral"), ("deepseek", "deepseek"),
)

_lock = threading.RLock()  # an estimate builds its proxy tokenizer while holding it
_cache: dict[str, Tokenizer] = {}


@dataclass(frozen=True)
class EstimateSpec:
    """How an estimated tokenizer counts: `ceil(proxy.count(text) * ratio)`, and why."""

    proxy: str
    ratio: float
    source: str
    cjk_ratio: float | None = None


@lru_cache(maxsize=1)
def estimate_specs() -> dict[str, EstimateSpec]:
    """The calibration table shipped in contextwise/tokens/data/estimates.json."""
    raw = json.loads(resources.files("contextwise.tokens").joinpath("data/estimates.json").read_text("utf-8"))
    return {name: EstimateSpec(v["proxy"], float(v["ratio"]), v["source"], v.get("cjk_ratio"))
            for name, v in raw["tokenizers"].items()}


def canonical_tokenizer_id(name: str) -> str:
    """The tokenizer id `name` stands for ("o200k" -> "o200k_base").

    Raises:
        UnknownBackendError: no tokenizer has that id; the message lists the near ones.
    """
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in TOKENIZER_IDS:
        known = list(TOKENIZER_IDS)
        raise UnknownBackendError(f"unknown tokenizer {name!r}; known: {', '.join(known)}",
                                  suggestions=difflib.get_close_matches(key, known + list(_ALIASES), n=3))
    return key


def get_tokenizer(name: str) -> Tokenizer:
    """The tokenizer for a tokenizer id, built once per process.

    Exact ids (o200k_base, cl100k_base; llama3 and qwen2 with the `fast` extra) use quicktok when it is installed
    and tiktoken otherwise (the same ids either way); the rest are calibrated estimates with `exact=False`.

    >>> get_tokenizer("o200k_base").exact, get_tokenizer("claude").exact
    (True, False)
    """
    key = canonical_tokenizer_id(name)
    found = _cache.get(key)
    if found is not None:
        return found
    with _lock:
        if key not in _cache:
            _cache[key] = _build(key)
        return _cache[key]


def _build(key: str) -> Tokenizer:
    if key in EXACT_OPENAI and quicktok_available():
        return AdaptiveTokenizer(key)
    if key in QUICKTOK_ENCODINGS and quicktok_available():
        try:
            return QuicktokTokenizer(key)
        except BackendError as exc:  # a broken fast install must not stop counting: fall back, and say so
            warnings.warn(f"{exc}; counting {key} without the fast back-end", RuntimeWarning, stacklevel=3)
    if key in EXACT_OPENAI:
        return TiktokenTokenizer.for_encoding(key)
    return _estimate(key)


def tokenizer_id_for_model(model: str) -> str:
    """The tokenizer id a model uses: from the model catalog when available, else from its name's prefix.

    Raises:
        UnknownBackendError: neither the catalog nor the prefixes know the model.
    """
    from_catalog = _catalog_tokenizer(model)
    if from_catalog is not None:
        return canonical_tokenizer_id(from_catalog)
    bare = model.strip().lower().rsplit("/", 1)[-1]
    for prefix, tokenizer in _PREFIXES:
        if bare.startswith(prefix):
            return tokenizer
    raise UnknownBackendError(f"unknown model {model!r}: no tokenizer is known for it; pass a tokenizer id "
                              f"({', '.join(TOKENIZER_IDS)}) or add the model to the catalog",
                              suggestions=_model_suggestions(model))


def tokenizer_for_model(model: str) -> Tokenizer:
    """The tokenizer a model counts with (see `tokenizer_id_for_model`).

    Models whose own tokenizer differs from the one they are counted with (the catalog's `tokenizer_estimated`,
    e.g. Llama 4 counted with Llama 3's) get that tokenizer marked `exact=False`.

    >>> tokenizer_for_model("gpt-4o").name
    'o200k_base'
    """
    tokenizer = get_tokenizer(tokenizer_id_for_model(model))
    info = _catalog_info(model)
    if info is not None:
        estimated = bool(info.tokenizer_estimated)
    else:
        estimated = model.strip().lower().rsplit("/", 1)[-1].startswith(_APPROXIMATED_BY_KIN)
    return _inexact(tokenizer.name) if tokenizer.exact and estimated else tokenizer


# Models outside the catalog with a tokenizer of their own that is not shipped, counted with a relative's.
_APPROXIMATED_BY_KIN = ("llama-4", "llama4")
_inexact_cache: dict[str, Tokenizer] = {}


def _inexact(name: str) -> Tokenizer:
    with _lock:
        if name not in _inexact_cache:
            _inexact_cache[name] = EstimatedTokenizer(name, get_tokenizer(name), 1.0)
        return _inexact_cache[name]


def _catalog_tokenizer(model: str) -> str | None:
    info = _catalog_info(model)
    return None if info is None else str(info.tokenizer)


def _catalog_info(model: str) -> Any:
    get_model = _catalog_lookup()
    if get_model is None:
        return None
    try:
        return get_model(model)
    except (LookupError, UsageError):
        return None


def _catalog_lookup() -> Callable[[str], Any] | None:
    try:
        from contextwise.models import get_model
    except ImportError:
        return None
    return get_model


def _model_suggestions(model: str) -> list[str]:
    try:
        from contextwise.models import default_catalog

        names = [info.name for info in default_catalog()]
    except (ImportError, UsageError):
        return []
    return difflib.get_close_matches(model, names, n=3)


def tiktoken_tokenizer(name: str) -> TiktokenTokenizer:
    """The registry factory for "tiktoken:<encoding>" (o200k_base or cl100k_base), always tiktoken-backed."""
    return TiktokenTokenizer.for_encoding(canonical_tokenizer_id(name))


def quicktok_tokenizer(name: str) -> QuicktokTokenizer:
    """The registry factory for "quicktok:<id>" (o200k_base, cl100k_base, llama3, qwen2); needs the fast extra."""
    return QuicktokTokenizer(canonical_tokenizer_id(name))


def estimated_tokenizer(name: str) -> EstimatedTokenizer:
    """The registry factory for "estimate:<id>": the calibrated estimate, even where an exact tokenizer exists."""
    key = canonical_tokenizer_id(name)
    if key not in estimate_specs():
        raise UsageError(f"no estimate is calibrated for {name!r}; use one of {sorted(estimate_specs())}")
    return _estimate(key)


def _estimate(key: str) -> EstimatedTokenizer:
    spec = estimate_specs()[key]
    return EstimatedTokenizer(key, get_tokenizer(spec.proxy), spec.ratio, cjk_ratio=spec.cjk_ratio)


def resolve_tokenizer(spec: Tokenizer | str) -> Tokenizer:
    """The one tokenizer resolver every API uses: a Tokenizer object, a tokenizer id ("o200k_base"), a
    "provider:name" string ("tiktoken:o200k_base", "model:gpt-4o") or a model name ("gpt-4o").

    Raises:
        UsageError: `spec` is neither a string nor a tokenizer (e.g. None).
        UnknownBackendError: no tokenizer id, provider or model has that name; the near ones are suggested.

    >>> resolve_tokenizer("gpt-4o") is resolve_tokenizer("o200k_base") is resolve_tokenizer("auto:o200k_base")
    True
    """
    return tokenizer_and_model(spec)[0]


def tokenizer_and_model(spec: Tokenizer | str) -> tuple[Tokenizer, str | None]:
    """`resolve_tokenizer`, and the model `spec` named (None for a tokenizer id or object), for its framing."""
    if not isinstance(spec, str):
        if callable(getattr(spec, "count", None)) and callable(getattr(spec, "encode", None)):
            return spec, None
        raise UsageError(f"a tokenizer is a Tokenizer, a tokenizer id ({', '.join(TOKENIZER_IDS)}), a "
                         f"'provider:name' string or a model name, got {type(spec).__name__}")
    from contextwise.registry import is_registered, resolve

    name = spec.strip()
    provider, sep, rest = name.partition(":")
    if sep and is_registered("tokenizer", provider):
        return resolve("tokenizer", name), (rest.strip() if provider == "model" else None)
    return _from_name(name)


def tokenizer_from_name(name: str) -> Tokenizer:
    """The registry's fallback for specs that name no provider: a tokenizer id or a model name."""
    return _from_name(name.strip())[0]


def _from_name(name: str) -> tuple[Tokenizer, str | None]:
    if not name:
        raise UsageError(f"a tokenizer id or model name is needed; tokenizers: {', '.join(TOKENIZER_IDS)}")
    key = _ALIASES.get(name.lower(), name.lower())
    if key in TOKENIZER_IDS:
        return get_tokenizer(key), None
    return tokenizer_for_model(name), name
