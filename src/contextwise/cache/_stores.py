"""Where response-cache entries live: in memory (bounded LRU), in SQLite (the embedded default) or in Redis.

Every call names its tenant, and the tenant is a hard partition in each back-end: its own column of the primary
key in SQLite, its own key space (hex-encoded, so no tenant or key can spell another's) in Redis, a separate
dict key in memory. Entries are opaque bytes; dependency tokens index them for explicit invalidation.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from collections.abc import Iterator, Sequence

from contextwise.errors import MissingDependencyError, StoreError, UsageError

Slot = tuple[str, str]  # (namespace, key)


@runtime_checkable
class EntryStore(Protocol):
    """A key-value store of cache entries, partitioned by tenant, with a dependency index."""

    name: str

    def get(self, tenant: str, namespace: str, key: str) -> bytes | None: ...

    def put(self, tenant: str, namespace: str, key: str, value: bytes, *, expires_at: float | None,
            ttl_s: float | None = None, tokens: Sequence[str] = ()) -> None: ...

    def delete(self, tenant: str, namespace: str, key: str) -> bool: ...

    def dependents(self, tenant: str, token: str) -> list[Slot]: ...

    def clear(self, tenant: str) -> int: ...

    def count(self, tenant: str) -> int: ...

    def close(self) -> None: ...


class MemoryEntries:
    """Entries in this process, at most `max_entries` (least recently used evicted first); thread-safe."""

    name = "memory"

    def __init__(self, *, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise UsageError(f"max_entries must be at least 1, got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, str, str], tuple[bytes, tuple[str, ...]]] = OrderedDict()
        self._deps: dict[tuple[str, str], set[Slot]] = {}
        self._lock = threading.Lock()

    def get(self, tenant: str, namespace: str, key: str) -> bytes | None:
        """The entry's bytes, or None."""
        with self._lock:
            found = self._entries.get((tenant, namespace, key))
            if found is None:
                return None
            self._entries.move_to_end((tenant, namespace, key))
            return found[0]

    def put(self, tenant: str, namespace: str, key: str, value: bytes, *, expires_at: float | None,
            ttl_s: float | None = None, tokens: Sequence[str] = ()) -> None:
        """Store or replace an entry (expiry is checked by the cache when it reads the entry)."""
        with self._lock:
            self._drop((tenant, namespace, key))
            self._entries[(tenant, namespace, key)] = (value, tuple(tokens))
            for token in tokens:
                self._deps.setdefault((tenant, token), set()).add((namespace, key))
            while len(self._entries) > self.max_entries:
                self._drop(next(iter(self._entries)))

    def _drop(self, slot: tuple[str, str, str]) -> bool:
        found = self._entries.pop(slot, None)
        if found is None:
            return False
        for token in found[1]:
            members = self._deps.get((slot[0], token))
            if members is not None:
                members.discard(slot[1:])
                if not members:
                    del self._deps[(slot[0], token)]
        return True

    def delete(self, tenant: str, namespace: str, key: str) -> bool:
        """Remove an entry; True if it was there."""
        with self._lock:
            return self._drop((tenant, namespace, key))

    def dependents(self, tenant: str, token: str) -> list[Slot]:
        """The entries of `tenant` indexed under a dependency token."""
        with self._lock:
            return sorted(self._deps.get((tenant, token), ()))

    def clear(self, tenant: str) -> int:
        """Remove every entry of `tenant`; returns how many."""
        with self._lock:
            slots = [s for s in self._entries if s[0] == tenant]
            for slot in slots:
                self._drop(slot)
            return len(slots)

    def count(self, tenant: str) -> int:
        """How many entries `tenant` holds."""
        with self._lock:
            return sum(1 for s in self._entries if s[0] == tenant)

    def close(self) -> None:
        """Nothing to release."""


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS cache_entries (tenant TEXT NOT NULL, namespace TEXT NOT NULL, key TEXT NOT NULL, "
    "value BLOB NOT NULL, expires_at REAL, PRIMARY KEY (tenant, namespace, key)) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS cache_deps (tenant TEXT NOT NULL, token TEXT NOT NULL, namespace TEXT NOT NULL, "
    "key TEXT NOT NULL, PRIMARY KEY (tenant, token, namespace, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS cache_deps_entry ON cache_deps (tenant, namespace, key)",
    "CREATE INDEX IF NOT EXISTS cache_entries_expiry ON cache_entries (expires_at) WHERE expires_at IS NOT NULL",
)


class SQLiteEntries:
    """Entries in one SQLite file (WAL), shared by threads and processes; the tenant is a key column.

    >>> store = SQLiteEntries(":memory:")
    >>> store.put("acme", "", "k", b"v", expires_at=None)
    >>> store.get("acme", "", "k"), store.get("other", "", "k")
    (b'v', None)
    """

    name = "sqlite"

    def __init__(self, path: str | Path, *, timeout_s: float = 30.0) -> None:
        self.path = str(path)
        self._lock = threading.Lock()
        try:
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                self.path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = NORMAL")  # a lost last entry costs a miss, never a wrong hit
            for statement in _SCHEMA:
                self._conn.execute(statement)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the cache file {self.path}: {exc}", backend=self.name) from exc

    def get(self, tenant: str, namespace: str, key: str) -> bytes | None:
        """The entry's bytes, or None."""
        with self._run() as conn:
            row = conn.execute("SELECT value FROM cache_entries WHERE tenant = ? AND namespace = ? AND key = ?",
                               (tenant, namespace, key)).fetchone()
        return None if row is None else bytes(row[0])

    def put(self, tenant: str, namespace: str, key: str, value: bytes, *, expires_at: float | None,
            ttl_s: float | None = None, tokens: Sequence[str] = ()) -> None:
        """Store or replace an entry and its dependency tokens in one transaction."""
        with self._run() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM cache_deps WHERE tenant = ? AND namespace = ? AND key = ?",
                             (tenant, namespace, key))
                conn.execute("INSERT OR REPLACE INTO cache_entries (tenant, namespace, key, value, expires_at) "
                             "VALUES (?, ?, ?, ?, ?)", (tenant, namespace, key, value, expires_at))
                conn.executemany("INSERT OR IGNORE INTO cache_deps (tenant, token, namespace, key) "
                                 "VALUES (?, ?, ?, ?)", [(tenant, t, namespace, key) for t in tokens])
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def delete(self, tenant: str, namespace: str, key: str) -> bool:
        """Remove an entry; True if it was there."""
        with self._run() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute("DELETE FROM cache_deps WHERE tenant = ? AND namespace = ? AND key = ?",
                             (tenant, namespace, key))
                gone = conn.execute("DELETE FROM cache_entries WHERE tenant = ? AND namespace = ? AND key = ?",
                                    (tenant, namespace, key)).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return gone > 0

    def dependents(self, tenant: str, token: str) -> list[Slot]:
        """The entries of `tenant` indexed under a dependency token."""
        with self._run() as conn:
            rows = conn.execute("SELECT namespace, key FROM cache_deps WHERE tenant = ? AND token = ? "
                                "ORDER BY namespace, key", (tenant, token)).fetchall()
        return [(r[0], r[1]) for r in rows]

    def clear(self, tenant: str) -> int:
        """Remove every entry of `tenant`; returns how many."""
        with self._run() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM cache_deps WHERE tenant = ?", (tenant,))
            gone = conn.execute("DELETE FROM cache_entries WHERE tenant = ?", (tenant,)).rowcount
            conn.execute("COMMIT")
        return int(gone)

    def purge_expired(self, now: float | None = None) -> int:
        """Remove entries whose time has passed (they are never served anyway); returns how many."""
        at = time.time() if now is None else now
        with self._run() as conn:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM cache_deps WHERE (tenant, namespace, key) IN (SELECT tenant, namespace, key "
                         "FROM cache_entries WHERE expires_at IS NOT NULL AND expires_at <= ?)", (at,))
            gone = conn.execute("DELETE FROM cache_entries WHERE expires_at IS NOT NULL AND expires_at <= ?",
                                (at,)).rowcount
            conn.execute("COMMIT")
        return int(gone)

    def count(self, tenant: str) -> int:
        """How many entries `tenant` holds (expired ones not yet purged included)."""
        with self._run() as conn:
            return int(conn.execute("SELECT count(*) FROM cache_entries WHERE tenant = ?", (tenant,)).fetchone()[0])

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _run(self) -> _Locked:
        return _Locked(self)


class _Locked:
    """Holds the store's lock around one use of its connection and maps sqlite3 errors to StoreError."""

    def __init__(self, store: SQLiteEntries) -> None:
        self._store = store

    def __enter__(self) -> sqlite3.Connection:
        self._store._lock.acquire()
        if self._store._conn is None:
            self._store._lock.release()
            raise StoreError("the cache is closed; open a new one", backend="sqlite")
        return self._store._conn

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self._store._lock.release()
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"{self._store.path}: {exc}", backend="sqlite") from exc


class RedisEntries:
    """Entries in Redis (redis-py), with Redis's own expiry; the tenant's hex spelling opens every key name.

    Keys: `cw:rc:<tenant hex>:<namespace hex>:<key>` hold an entry; `cw:rd:<tenant hex>:<token hex>` is the set
    of entries indexed under a dependency token.
    """

    name = "redis"

    def __init__(self, url: str, *, client: Any = None, timeout_s: float = 5.0) -> None:
        try:
            import redis
        except ImportError as exc:
            raise MissingDependencyError("the Redis response cache", "redis") from exc
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError,)
        self.url = url
        self.timeout_s = timeout_s
        self._async: tuple[Any, Any] | None = None
        self._redis = client if client is not None else redis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)

    @staticmethod
    def _entry(tenant: str, namespace: str, key: str) -> str:
        return f"cw:rc:{tenant.encode().hex()}:{namespace.encode().hex()}:{key}"

    @staticmethod
    def _dep(tenant: str, token: str) -> str:
        return f"cw:rd:{tenant.encode().hex()}:{token.encode().hex()}"

    def get(self, tenant: str, namespace: str, key: str) -> bytes | None:
        """The entry's bytes, or None."""
        with self._mapped():
            value = self._redis.get(self._entry(tenant, namespace, key))
        if value is None:
            return None
        return value if isinstance(value, bytes) else str(value).encode("utf-8")

    def put(self, tenant: str, namespace: str, key: str, value: bytes, *, expires_at: float | None,
            ttl_s: float | None = None, tokens: Sequence[str] = ()) -> None:
        """Store or replace an entry (with a Redis expiry when it has one) and index it, atomically."""
        ttl_ms = _ttl_ms(expires_at, ttl_s)
        name = self._entry(tenant, namespace, key)
        member = f"{namespace.encode().hex()}:{key}"
        with self._mapped():
            pipe = self._redis.pipeline(transaction=True)
            pipe.set(name, value, px=ttl_ms)
            for token in tokens:
                pipe.sadd(self._dep(tenant, token), member)
            pipe.execute()

    def delete(self, tenant: str, namespace: str, key: str) -> bool:
        """Remove an entry; True if it was there."""
        with self._mapped():
            return bool(self._redis.delete(self._entry(tenant, namespace, key)))

    # The async twins of get / put / delete, over redis.asyncio (one client per event loop).

    def _aclient(self) -> Any:
        import asyncio

        import redis.asyncio

        loop = asyncio.get_running_loop()
        if self._async is None or self._async[0] is not loop:
            self._async = (loop, redis.asyncio.Redis.from_url(self.url, socket_timeout=self.timeout_s,
                                                              socket_connect_timeout=self.timeout_s))
        return self._async[1]

    async def aget(self, tenant: str, namespace: str, key: str) -> bytes | None:
        """The async twin of `get`."""
        with self._mapped():
            value = await self._aclient().get(self._entry(tenant, namespace, key))
        if value is None:
            return None
        return value if isinstance(value, bytes) else str(value).encode("utf-8")

    async def aput(self, tenant: str, namespace: str, key: str, value: bytes, *, expires_at: float | None,
                   ttl_s: float | None = None, tokens: Sequence[str] = ()) -> None:
        """The async twin of `put`."""
        ttl_ms = _ttl_ms(expires_at, ttl_s)
        member = f"{namespace.encode().hex()}:{key}"
        with self._mapped():
            pipe = self._aclient().pipeline(transaction=True)
            pipe.set(self._entry(tenant, namespace, key), value, px=ttl_ms)
            for token in tokens:
                pipe.sadd(self._dep(tenant, token), member)
            await pipe.execute()

    async def adelete(self, tenant: str, namespace: str, key: str) -> bool:
        """The async twin of `delete`."""
        with self._mapped():
            return bool(await self._aclient().delete(self._entry(tenant, namespace, key)))

    def dependents(self, tenant: str, token: str) -> list[Slot]:
        """The entries of `tenant` indexed under a dependency token (members whose entry expired included)."""
        with self._mapped():
            members = self._redis.smembers(self._dep(tenant, token))
        out = []
        for raw in members:
            ns_hex, _, key = (raw.decode() if isinstance(raw, bytes) else raw).partition(":")
            out.append((bytes.fromhex(ns_hex).decode(), key))
        return sorted(out)

    def forget_dependency(self, tenant: str, token: str) -> None:
        """Drop a dependency token's index (after its entries were invalidated)."""
        with self._mapped():
            self._redis.delete(self._dep(tenant, token))

    def clear(self, tenant: str) -> int:
        """Remove every entry of `tenant`; returns how many."""
        hexed = tenant.encode().hex()
        with self._mapped():
            entries = list(self._redis.scan_iter(match=f"cw:rc:{hexed}:*", count=1000))
            deps = list(self._redis.scan_iter(match=f"cw:rd:{hexed}:*", count=1000))
            for batch in iter_chunks(entries + deps, 500):
                self._redis.delete(*batch)
        return len(entries)

    def count(self, tenant: str) -> int:
        """How many entries `tenant` holds."""
        with self._mapped():
            return sum(1 for _ in self._redis.scan_iter(match=f"cw:rc:{tenant.encode().hex()}:*", count=1000))

    def close(self) -> None:
        """Close the connection pool."""
        self._redis.close()

    def _mapped(self) -> _RedisErrors:
        return _RedisErrors(self._errors, self.url)


class _RedisErrors:
    def __init__(self, errors: tuple[type[BaseException], ...], url: str) -> None:
        self._errors, self._url = errors, url

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if exc is not None and isinstance(exc, self._errors):
            raise StoreError(f"Redis at {self._url}: {exc}", backend="redis") from exc


def _ttl_ms(expires_at: float | None, ttl_s: float | None) -> int | None:
    """Redis's expiry: the lifetime the cache measured on its own clock, else what is left until expires_at."""
    if ttl_s is not None:
        return max(1, int(ttl_s * 1000))
    return None if expires_at is None else max(1, int((expires_at - time.time()) * 1000))


def open_entries(spec: str) -> EntryStore:
    """An entry store from "memory:", "sqlite:PATH" or "redis://HOST:PORT/DB" (also "rediss://", "unix://")."""
    if not isinstance(spec, str):
        raise UsageError(f"a cache spec is a string such as 'sqlite:cache.db', got {type(spec).__name__}")
    if spec.startswith(("redis://", "rediss://", "unix://")):
        return RedisEntries(spec)
    provider, sep, target = spec.partition(":")
    if provider == "memory" and sep:
        return MemoryEntries()
    if provider == "sqlite" and target:
        return SQLiteEntries(target)
    raise UsageError(f"a cache spec looks like 'memory:', 'sqlite:cache.db' or 'redis://127.0.0.1:6379/0', "
                     f"got {spec!r}")


def iter_chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    """`items` in consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
