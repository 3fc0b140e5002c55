"""Store fixtures: every conformance test runs against the in-memory, SQLite and PostgreSQL back-ends.

PostgreSQL (with pgvector) is a real server started once per session from PyPI `pgserver`; each test gets its
own table so tests never see each other's rows.
"""

from __future__ import annotations

import tempfile
import uuid
import warnings
from typing import Any
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from support import missing, need

from contextwise.stores import ExactSearch, InMemoryStore, SQLiteStore

DIMENSIONS = 8
BACKENDS = ["memory", "sqlite", "postgres"]


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A DSN of a real PostgreSQL 16 + pgvector server, started from PyPI pgserver for this session."""
    with warnings.catch_warnings():  # pgserver warns at import that XDG_RUNTIME_DIR is unset; not ours to fix
        warnings.simplefilter("ignore")
        pgserver = need("pgserver", "PostgreSQL tests start a server from PyPI pgserver")
    need("psycopg", "the PostgreSQL store needs psycopg 3")
    need("pgvector", "the PostgreSQL store needs the pgvector adapter")
    data_dir = tempfile.mkdtemp(prefix="cw-pg-")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server = pgserver.get_server(data_dir, cleanup_mode="delete")
            dsn = server.get_uri()
    except Exception as exc:  # pgserver raises its own types; any failure to start means "not available here"
        missing(f"could not start PostgreSQL from pgserver: {exc}")
    yield dsn
    server.cleanup()


def drop_pg_tables(dsn: str, table: str) -> None:
    """Drop a store's table and its helper tables."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in (table, f"{table}_schema_version", f"{table}_info", f"{table}_hnsw"):
            conn.execute(f'DROP TABLE IF EXISTS "{name}" CASCADE')


@pytest.fixture
def pg_table(pg_dsn: str) -> Iterator[str]:
    """A fresh table name, dropped after the test."""
    table = f"cw_{uuid.uuid4().hex[:12]}"
    yield table
    drop_pg_tables(pg_dsn, table)


StoreFactory = Callable[..., Any]


@pytest.fixture(params=BACKENDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[StoreFactory]:
    """A factory `make_store(dimensions=8, **options)` for the parametrized back-end; the same factory call
    with the same arguments reopens the same data (a file or table) for the SQL back-ends."""
    backend = request.param
    opened: list[Any] = []
    memory: dict[int, Any] = {}
    if backend == "postgres":
        dsn, table = request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_table")

    def factory(dimensions: int = DIMENSIONS, **options: Any) -> Any:
        if backend == "memory":
            options.pop("search", None)
            store = memory.setdefault(dimensions, InMemoryStore(dimensions, **options))
            return store
        if backend == "sqlite":
            store = SQLiteStore(tmp_path / "store.db", dimensions, **options)
        else:
            from contextwise.stores import PostgresStore

            store = PostgresStore(dsn, dimensions, table, **options)
        opened.append(store)
        return store

    factory.backend = backend  # type: ignore[attr-defined]
    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> Any:
    """A fresh 8-d store of the parametrized back-end, searching exactly."""
    return make_store(search=ExactSearch())


def unit_vectors(count: int, dimensions: int = DIMENSIONS, *, seed: int = 0) -> np.ndarray:
    """Random unit vectors (float32)."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, dimensions)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def clustered_vectors(count: int, dimensions: int, *, clusters: int = 20, spread: float = 0.35,
                      seed: int = 0) -> np.ndarray:
    """Unit vectors around `clusters` random centres, shaped like real embeddings rather than uniform noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dimensions))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    noise = rng.standard_normal((count, dimensions)) * spread / np.sqrt(dimensions)
    vectors = (centres[rng.integers(0, clusters, count)] + noise).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


class Vectors:
    """Vector generators for tests (a fixture, since test modules cannot import conftest)."""

    unit = staticmethod(unit_vectors)
    clustered = staticmethod(clustered_vectors)


@pytest.fixture(scope="session")
def vectors() -> type[Vectors]:
    """Vector generators: `vectors.unit(n)`, `vectors.clustered(n, d)`."""
    return Vectors
