"""Compressed versions are cached: a document re-sent every turn is compressed once.

A result is keyed by (sha256 of the text, target tokens, tokenizer, the compressor's class and settings, query),
kept in memory with a bound and, optionally, in a ResponseCache's store (shared by processes, partitioned by
tenant). `CachedCompressor` satisfies the Compressor protocol; what it returns says whether it came from the
cache (`CachedCompressed.from_cache`), for a budget Report to show.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from contextwise.cache._keys import canonical_bytes, digest
from contextwise.cache._stores import EntryStore
from contextwise.errors import UsageError
from contextwise.observe import _bus, _emit
from contextwise.protocols import Tokenizer
from contextwise.stores._core import check_tenant
from contextwise.types import Compressed

NAMESPACE = "cw.compressed"
_MAX_DEPTH = 4


@dataclass(frozen=True)
class CachedCompressed(Compressed):
    """A Compressed that says whether it was served from the cache, and under which key."""

    from_cache: bool = False
    key: str = ""


def settings_of(value: Any, depth: int = 0) -> Any:
    """A JSON fingerprint of a compressor's settings: its class and public and private attributes, recursively
    (a nested back-end with a `name`, such as a model, counts by class, name and path; deeper objects by class).

    >>> from contextwise.compress import Extractive
    >>> settings_of(Extractive(diversity=0.5))["diversity"]
    0.5
    """
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, re.Pattern):
        return {"re": value.pattern, "flags": value.flags}
    if isinstance(value, (list, tuple, frozenset, set)):
        items = [settings_of(v, depth + 1) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict):
        return {str(k): settings_of(v, depth + 1) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    kind = f"{type(value).__module__}.{type(value).__qualname__}"
    if callable(value) and not hasattr(value, "__dict__"):
        return {"callable": getattr(value, "__qualname__", kind)}
    if depth > 0 and isinstance(getattr(value, "name", None), str):
        return {"class": kind, "name": value.name, "path": str(getattr(value, "path", ""))}
    if depth >= _MAX_DEPTH:
        return {"class": kind}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    else:
        fields = dict(getattr(value, "__dict__", {}))
    return {"class": kind, **{k: settings_of(v, depth + 1) for k, v in sorted(fields.items())}}


class CachedCompressor:
    """A Compressor whose results are kept, so the same compression is never computed twice.

    Args:
        compressor: any Compressor.
        store: also keep results in this EntryStore (e.g. `ResponseCache("sqlite:cache.db").entries`), shared
            by processes; None keeps them in this process only.
        tenant: the partition of `store` (required with a store).
        max_entries: the in-memory bound (least recently used first out).
        settings: a fingerprint of the compressor's settings to key on instead of the automatic one, which is
            read here, once (a back-end the compressor loads later does not change it): to change settings,
            make a new CachedCompressor.

    >>> from contextwise.compress import Extractive
    >>> from contextwise.testing import FakeTokenizer
    >>> squeeze = CachedCompressor(Extractive(diversity=0))
    >>> text = "Paris is in France. Bananas are yellow. The capital of France is Paris."
    >>> first = squeeze.compress(text, 7, FakeTokenizer(), query="capital of France")
    >>> second = squeeze.compress(text, 7, FakeTokenizer(), query="capital of France")
    >>> (first.from_cache, second.from_cache, second.text)
    (False, True, 'The capital of France is Paris.')
    """

    def __init__(self, compressor: Any, *, store: EntryStore | None = None, tenant: str | None = None,
                 max_entries: int = 1024, settings: Any = None) -> None:
        if not callable(getattr(compressor, "compress", None)):
            raise UsageError(f"CachedCompressor wraps a Compressor, got {type(compressor).__name__}")
        if store is not None and tenant is None:
            raise UsageError("a CachedCompressor with a store needs the tenant it is partitioned by")
        if max_entries < 1:
            raise UsageError(f"max_entries must be at least 1, got {max_entries}")
        self.compressor = compressor
        self.name = getattr(compressor, "name", type(compressor).__name__)
        self.store = store
        self.tenant = check_tenant(tenant) if tenant is not None else "local"
        self.max_entries = max_entries
        self.settings = settings if settings is not None else settings_of(compressor)
        self._memory: OrderedDict[str, Compressed] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, text: str, target_tokens: int, tokenizer: Tokenizer, query: str | None = None) -> str:
        """The cache key of one compression."""
        text_hash = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        spec = {"text": text_hash, "target_tokens": target_tokens, "tokenizer": getattr(tokenizer, "name", ""),
                "compressor": self.settings, "query": query}
        return digest(self.tenant, NAMESPACE, "compressed", canonical_bytes(spec))

    def compress(self, text: str, target_tokens: int, tokenizer: Tokenizer,
                 query: str | None = None) -> CachedCompressed:
        """The compressor's result for these arguments, computed once."""
        started = time.perf_counter()
        key = self.key(text, target_tokens, tokenizer, query)
        found = self._get(key)
        if _bus.subscribers:  # a CacheLookup event (cache "compressed") for every lookup, hit or miss
            _emit.compressed_lookup(hit=found is not None, key=key, method=self.name, started_s=started)
        if found is not None:
            return _tagged(found, True, key)
        done = self.compressor.compress(text, target_tokens, tokenizer, query=query)
        self._put(key, done)
        return _tagged(done, False, key)

    def _get(self, key: str) -> Compressed | None:
        with self._lock:
            found = self._memory.get(key)
            if found is not None:
                self._memory.move_to_end(key)
                return found
        if self.store is None:
            return None
        raw = self.store.get(self.tenant, NAMESPACE, key)
        if raw is None:
            return None
        data = json.loads(raw)
        found = Compressed(data["text"], data["original_tokens"], data["tokens"], data["method"])
        self._remember(key, found)
        return found

    def _put(self, key: str, done: Compressed) -> None:
        self._remember(key, done)
        if self.store is not None:
            data = {"text": done.text, "original_tokens": done.original_tokens, "tokens": done.tokens,
                    "method": done.method}
            self.store.put(self.tenant, NAMESPACE, key, json.dumps(data, ensure_ascii=False).encode("utf-8"),
                           expires_at=None)

    def _remember(self, key: str, done: Compressed) -> None:
        with self._lock:
            self._memory[key] = done
            self._memory.move_to_end(key)
            while len(self._memory) > self.max_entries:
                self._memory.popitem(last=False)

    def __repr__(self) -> str:
        return f"CachedCompressor({self.compressor!r})"


def _tagged(done: Compressed, from_cache: bool, key: str) -> CachedCompressed:
    return CachedCompressed(done.text, done.original_tokens, done.tokens, done.method, from_cache, key)
