"""Embeddings cached by content hash: the same text is never embedded twice by the same embedder.

Entries are keyed by (embedder name, kind, sha256(text)). `CachedEmbedder` and `AsyncCachedEmbedder` are twins
over one I/O-free plan: look up, embed only what is missing (each distinct text once), store, assemble.
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from collections.abc import Mapping, Sequence

import numpy as np

from contextwise._sqlite import connect
from contextwise.errors import StoreError, UsageError


@runtime_checkable
class EmbeddingCache(Protocol):
    """Where cached vectors live. Keys are (embedder name, kind, sha256 digest of the text)."""

    def get_many(self, embedder: str, kind: str, digests: Sequence[bytes]) -> dict[bytes, np.ndarray]: ...

    def put_many(self, embedder: str, kind: str, vectors: Mapping[bytes, np.ndarray]) -> None: ...


def text_digest(text: str) -> bytes:
    """The cache key of a text: sha256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class MemoryCache:
    """An in-memory LRU cache of at most `max_entries` vectors; thread-safe.

    >>> MemoryCache(max_entries=2).max_entries
    2
    """

    def __init__(self, *, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise UsageError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str, bytes], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get_many(self, embedder: str, kind: str, digests: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors among `digests`; each hit becomes the most recently used."""
        found = {}
        with self._lock:
            for digest in digests:
                key = (embedder, kind, digest)
                if key in self._entries:
                    self._entries.move_to_end(key)
                    found[digest] = self._entries[key]
        return found

    def put_many(self, embedder: str, kind: str, vectors: Mapping[bytes, np.ndarray]) -> None:
        """Store `vectors`, evicting the least recently used beyond `max_entries`."""
        with self._lock:
            for digest, vector in vectors.items():
                key = (embedder, kind, digest)
                self._entries[key] = _frozen(vector)
                self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


class SQLiteCache:
    """A persistent cache in a SQLite file (WAL), shared by processes; vectors are stored as float32 bytes.

    Args:
        path: the database file; created with its folder if missing.

    Raises:
        StoreError: the file cannot be opened or written.
    """

    _SCHEMA = ("CREATE TABLE IF NOT EXISTS embeddings (embedder TEXT NOT NULL, kind TEXT NOT NULL, "
               "digest BLOB NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (embedder, kind, digest)) WITHOUT ROWID")

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = connect(self.path, durable=False, autocommit=False)  # a cache: a lost entry is recomputed
            with self._db:
                self._db.execute(self._SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the embedding cache {self.path}: {exc}", backend="sqlite") from exc

    def __enter__(self) -> SQLiteCache:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    def get_many(self, embedder: str, kind: str, digests: Sequence[bytes]) -> dict[bytes, np.ndarray]:
        """The cached vectors among `digests`."""
        found: dict[bytes, np.ndarray] = {}
        unique = list(dict.fromkeys(digests))
        for start in range(0, len(unique), 500):  # stay under SQLite's bound-parameter limit
            chunk = unique[start:start + 500]
            sql = (f"SELECT digest, vector FROM embeddings WHERE embedder = ? AND kind = ? "
                   f"AND digest IN ({','.join('?' * len(chunk))})")
            for digest, blob in self._query(sql, [embedder, kind, *chunk]):
                found[bytes(digest)] = _frozen(np.frombuffer(blob, dtype=np.float32))
        return found

    def put_many(self, embedder: str, kind: str, vectors: Mapping[bytes, np.ndarray]) -> None:
        """Store `vectors` in one transaction; an existing entry is replaced."""
        rows = [(embedder, kind, digest, np.asarray(v, dtype=np.float32).tobytes()) for digest, v in vectors.items()]
        try:
            with self._lock, self._db:
                self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the embedding cache {self.path}: {exc}", backend="sqlite") from exc

    def _query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read the embedding cache {self.path}: {exc}", backend="sqlite") from exc


@dataclass(frozen=True)
class _Plan:
    """What one embed call needs: every text's digest, and the distinct texts the cache did not have."""

    digests: list[bytes]
    found: dict[bytes, np.ndarray]
    missing: dict[bytes, str]


class _CachedBase:
    def __init__(self, embedder: Any, cache: EmbeddingCache | None = None) -> None:
        for attribute in ("name", "dimensions", "embed"):
            if not hasattr(embedder, attribute):
                raise UsageError(f"CachedEmbedder needs an embedder with .{attribute}, got {type(embedder).__name__}")
        self.inner = embedder
        self.cache: EmbeddingCache = cache if cache is not None else MemoryCache()
        self.name = embedder.name
        self.dimensions = embedder.dimensions

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.inner!r}, cache={type(self.cache).__name__})"

    def _plan(self, texts: Sequence[str], kind: str) -> _Plan:
        if isinstance(texts, str):
            raise UsageError("embed() takes a sequence of texts; wrap a single text in a list")
        digests = [text_digest(t) for t in texts]
        found = self.cache.get_many(self.name, kind, digests)
        missing = {d: t for d, t in zip(digests, texts) if d not in found}
        return _Plan(digests, found, missing)

    def _apply(self, plan: _Plan, kind: str, vectors: Any) -> np.ndarray:
        fresh = dict(zip(plan.missing, np.asarray(vectors, dtype=np.float32)))
        if len(fresh) != len(plan.missing):
            raise UsageError(f"{self.name} returned {len(fresh)} vectors for {len(plan.missing)} texts")
        if fresh:
            self.cache.put_many(self.name, kind, fresh)
        out = np.empty((len(plan.digests), self.dimensions), dtype=np.float32)
        for row, digest in enumerate(plan.digests):
            out[row] = plan.found[digest] if digest in plan.found else fresh[digest]
        return out


class CachedEmbedder(_CachedBase):
    """Wraps an embedder so that each distinct text is embedded once, then served from `cache`.

    Args:
        embedder: any Embedder.
        cache: a MemoryCache (the default: 10,000 entries, 15 MB of 384-float vectors), or a SQLiteCache
            for a cache that persists.

    >>> from contextwise.testing import HashEmbedder
    >>> cached = CachedEmbedder(HashEmbedder())
    >>> cached.embed(["same", "same"]).shape
    (2, 64)
    """

    def embed(self, texts: Sequence[str], kind: str = "document") -> np.ndarray:
        """Embed `texts`, calling the inner embedder only for texts not cached yet."""
        plan = self._plan(texts, kind)
        vectors = self.inner.embed(list(plan.missing.values()), kind) if plan.missing else ()
        return self._apply(plan, kind, vectors)


class AsyncCachedEmbedder(_CachedBase):
    """The async twin of CachedEmbedder, over an AsyncEmbedder (the cache itself is called synchronously)."""

    async def embed(self, texts: Sequence[str], kind: str = "document") -> np.ndarray:
        """Embed `texts`, awaiting the inner embedder only for texts not cached yet."""
        plan = self._plan(texts, kind)
        vectors = await self.inner.embed(list(plan.missing.values()), kind) if plan.missing else ()
        return self._apply(plan, kind, vectors)


def _frozen(vector: np.ndarray) -> np.ndarray:
    vector = np.array(vector, dtype=np.float32)
    vector.setflags(write=False)
    return vector
