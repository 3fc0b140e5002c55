"""Vector + record stores: in-memory, SQLite (the embedded default) and PostgreSQL + pgvector (scale-out).

Every store has the same methods (`upsert`, `upsert_partitions`, `query`, `search_text`, `get`, `delete`,
`count`, `scan`, `tenants`, `drop_tenant`, `close`) and every call is scoped by a tenant that is a hard
partition; inside a tenant, searches are scoped by a partition ('' by default), which memory uses for its tiers.
Lexical search runs where the data is: FTS5 in SQLite, full-text search in PostgreSQL, BM25 in memory.
A store bound to an embedder (`bind_embedder(embedder.name)`, as memory does) records the name with its first
vectors, and refuses to serve another embedder (EmbedderMismatchError): two models' vectors do not compare.

>>> store = open_store("memory:", dimensions=3)
>>> store.name
'memory'
"""

from __future__ import annotations

from typing import Any

from contextwise.errors import UsageError
from contextwise.registry import register
from contextwise.stores._core import ExactSearch, HnswSearch, IndexBuild
from contextwise.stores._errors import (
    DimensionMismatchError, DuplicateIdError, EmbedderMismatchError, InvalidFilterError, InvalidRecordError,
    InvalidTenantError, InvalidVectorError, TextTooLongError, WriteConflictError,
)
from contextwise.stores.memory import InMemoryStore
from contextwise.stores.sqlite import SQLiteStore

__all__ = [
    "AsyncPostgresStore", "DimensionMismatchError", "DuplicateIdError", "EmbedderMismatchError", "ExactSearch",
    "HnswSearch", "InMemoryStore", "IndexBuild", "InvalidFilterError", "InvalidRecordError", "InvalidTenantError",
    "InvalidVectorError", "PostgresStore", "SQLiteStore", "TextTooLongError", "WriteConflictError", "open_store",
]


def __getattr__(name: str) -> Any:
    # The PostgreSQL stores import psycopg lazily through their module; keep `import contextwise.stores` light.
    if name in ("PostgresStore", "AsyncPostgresStore"):
        from contextwise.stores import postgres

        return getattr(postgres, name)
    raise AttributeError(f"module 'contextwise.stores' has no attribute {name!r}")


def open_store(spec: str, *, dimensions: int = 384, **options: Any) -> Any:
    """Open a store from "memory:", "sqlite:<path>" or "postgres:<dsn>".

    >>> open_store("sqlite::memory:", dimensions=8).name
    'sqlite'
    """
    provider, sep, target = spec.partition(":")
    if not sep:
        raise UsageError(f"a store spec looks like 'memory:', 'sqlite:<path>' or 'postgres:<dsn>', got {spec!r}")
    if provider == "memory":
        return InMemoryStore(dimensions, **options)
    if provider == "sqlite":
        if not target:
            raise UsageError("sqlite: needs a path, e.g. 'sqlite:memory.db' (or 'sqlite::memory:')")
        return SQLiteStore(target, dimensions, **options)
    if provider in ("postgres", "postgresql"):
        from contextwise.stores.postgres import PostgresStore

        return PostgresStore(_dsn(provider, target), dimensions, **options)
    from contextwise.registry import resolve

    return resolve("store", spec)


def _dsn(provider: str, target: str) -> str:
    # "postgres:postgresql://u@h/db" and "postgres://u@h/db" (a plain URL) both work.
    return f"{provider}:{target}" if target.startswith("//") else target


register("store", "memory", lambda name: InMemoryStore())
register("store", "sqlite", lambda name: open_store(f"sqlite:{name}"))
register("store", "postgres", lambda name: open_store(f"postgres:{name}"))
register("store", "postgresql", lambda name: open_store(f"postgresql:{name}"))
