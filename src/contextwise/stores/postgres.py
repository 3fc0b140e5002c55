"""PostgresStore and AsyncPostgresStore: PostgreSQL + pgvector through psycopg 3 (extra `postgres`).

Both run the statements `_pg_core.PgCore` yields; they differ only in how a statement is sent. psycopg and
database errors become StoreError here, at the boundary; a failed operation is rolled back whole. An HNSW index
build runs on a connection of its own, so the store's connection keeps serving other calls meanwhile.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, NoReturn, TypeVar
from collections.abc import Mapping, Sequence

from contextwise.errors import MissingDependencyError, StoreError
from contextwise.protocols import Where
from contextwise.stores import _core
from contextwise.stores._core import IndexBuild
from contextwise.types import Hit, Record

# Before anything that imports psycopg (_pg_core does): a guard after the import it guards never runs.
try:
    import psycopg
    from pgvector.psycopg import register_vector, register_vector_async
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("the PostgreSQL store", "postgres") from exc

from contextwise.stores._pg_core import Plan, PgCore, Step, Steps  # noqa: E402  (needs psycopg, checked above)

PG_DEFAULT_SEARCH = _core.HnswSearch(min_vectors=50_000)
_T = TypeVar("_T")


class PostgresStore(_core.Closing):
    """A VectorStore in a PostgreSQL table with pgvector; safe to share between threads (calls are serialized).

    Args:
        dsn: a libpq connection string or URL.
        dimensions: the vector size; the table remembers it and refuses another.
        table: the table name; its helper tables are named after it.
        search: ExactSearch(), or HnswSearch(...) to let `build_index` / `build_indexes` give a tenant its own
            partial HNSW index, used for that tenant's unfiltered queries once built; filtered queries and
            tenants without an index are searched exactly. `build_indexes` picks the tenants of at least
            `min_vectors` vectors; the default 50,000 (PG_DEFAULT_SEARCH) is where an exact scan inside
            PostgreSQL gets slow: ~137 ms p50 at 100k 384-d vectors on a busy 2-core machine, against ~16 ms
            for HNSW at recall 1.0.
        max_text_chars: longer texts are refused with TextTooLongError.

    No write builds an index: a build takes minutes (~140 s at 100k vectors, tens of minutes at 1M on 2
    cores), so call `build_indexes()` after a bulk load, or from a maintenance job, not in a request.
    """

    name = "postgres"

    def __init__(self, dsn: str, dimensions: int = 384, table: str = "cw_records", *,
                 search: _core.Search = PG_DEFAULT_SEARCH, max_text_chars: int = _core.DEFAULT_MAX_TEXT_CHARS,
                 connect_timeout_s: float = 10.0) -> None:
        self._core = PgCore(table, dimensions, search, max_text_chars)
        self.dimensions = self._core.dimensions
        self._dsn, self._connect_timeout_s = dsn, connect_timeout_s
        self._lock = threading.RLock()
        self._conn: Any = None
        self._text_lock = threading.Lock()  # never held while waiting for _lock: close() takes _lock first
        self._text_conn: Any = None  # full-text search's own connection (see parallel_reads)
        try:
            self._conn = self._connect()
            self.migrated_from = self._drive(self._core.migrate())
            register_vector(self._conn)
        except BaseException as exc:
            self.close()
            _raise_translated(exc, self.name)

    @property
    def embedder_name(self) -> str | None:
        """The name of the embedder this store object is bound to (`bind_embedder`), None while unbound."""
        return self._core.embedder.name

    def bind_embedder(self, name: str) -> None:
        """Bind this store to the embedder named `name` (its `.name`: model and compute).

        The table records the name (in `<table>_info`) in the transaction of the first write that adds vectors;
        once recorded, a store bound to another name refuses writes and queries. A table that holds vectors but
        no name (written before names were recorded) adopts `name` now and logs a warning.

        Raises:
            EmbedderMismatchError: the table's vectors come from another embedder (nothing was changed).
        """
        self._drive(self._core.bind_embedder(name))

    def upsert(self, records: Sequence[Record], *, tenant: str, partition: str = "") -> None:
        """Insert or replace `records` (by id; an id is unique in its tenant) in `partition` of `tenant` in one
        transaction; bad input raises before any write. HNSW and full-text indexes are kept up to date by
        PostgreSQL in the same transaction; no HNSW index is built here."""
        self._drive(self._core.upsert(records, tenant=tenant, partition=partition))

    def upsert_partitions(self, batches: Mapping[str, Sequence[Record]], *, tenant: str,
                          expect: Mapping[str, str | int | None] | None = None) -> None:
        """`upsert` of several partitions' records in one transaction; `expect` (record id -> the text it must
        hold now, None: absent) is checked under row locks first: WriteConflictError, nothing written, when it
        does not hold."""
        self._drive(self._core.upsert_partitions(batches, tenant=tenant, expect=expect))

    def build_index(self, *, tenant: str, partition: str = "",
                    maintenance_work_mem_mb: int | None = None) -> IndexBuild:
        """Build the partial HNSW index of `partition` of `tenant` now, whatever its size, and use it for that
        partition's unfiltered queries.

        CREATE INDEX CONCURRENTLY, on a connection of its own: every tenant's reads and writes (this store's
        included, from other threads) go on while it runs; queries of `tenant` stay exact until it is done.
        Idempotent: with a valid index already there it returns at once with `built=False`. Blocks while
        another connection builds the same index, then returns that.

        Args:
            tenant: the tenant to index.
            maintenance_work_mem_mb: memory for the build; None sizes it to hold the tenant's graph
                (64 MB to 4 GB), since pgvector builds ~10x slower once the graph overflows it.

        Raises:
            UsageError: the store was opened with ExactSearch.
            StoreError: the build failed (its half-built index is dropped by the next call).
        """
        return self._build(self._core.build_index(tenant=tenant, partition=partition,
                                                  maintenance_work_mem_mb=maintenance_work_mem_mb))

    def build_indexes(self, *, maintenance_work_mem_mb: int | None = None) -> list[IndexBuild]:
        """`build_index` for every tenant of at least `search.min_vectors` vectors that has no index yet, one
        after the other; returns what was built (an empty list when there was nothing to do)."""
        return self._build(self._core.build_indexes(maintenance_work_mem_mb=maintenance_work_mem_mb))

    def query(self, vector: Sequence[float], k: int = 10, *, tenant: str, where: Where | None = None,
              partition: str = "", ef_search: int | None = None, vectors: bool = True) -> list[Hit]:
        """The `k` records of `partition` of `tenant` most similar (cosine) to `vector` that
        match `where`, best first. `ef_search`: this query's HNSW ef_search where the partition has an index
        (None: `search.ef_search`; pgvector caps it at 1000). `vectors=False`: records without vectors (None),
        which then do not cross the wire."""
        return self._drive(self._core.query(vector, k, tenant=tenant, where=where, partition=partition,
                                            ef_search=ef_search, vectors=vectors))

    def search_text(self, query: str, k: int = 10, *, tenant: str, where: Where | None = None,
                    partition: str = "", vectors: bool = True) -> list[Hit]:
        """The `k` records of `partition` of `tenant` that best match the words of `query`,
        by PostgreSQL full-text search (score: ts_rank), best first; records sharing no word are left out.
        ts_rank reads no statistics of other rows, so a partition's scores are its own whatever else the table
        holds; it is computed for every row holding a query word, so its time grows with the partition: ~38 ms at
        20k LoCoMo memories, ~380 ms at 200k (benchmarks/bench_memory.py --postgres), where the SQLite store's
        FTS5 search takes ~15-18 ms. `vectors=False`: records without vectors."""
        return self._drive(self._core.search_text(query, k, tenant=tenant, where=where, partition=partition,
                                                  vectors=vectors), text=True)

    @property
    def parallel_reads(self) -> bool:
        """True: `search_text` runs on a connection of its own (opened at its first use), so a full-text search
        and a `query` of two threads run at once in two PostgreSQL backends; hybrid memory recall runs its two
        searches at once that way."""
        return True

    def get(self, ids: Sequence[str], *, tenant: str) -> list[Record]:
        """The records of `tenant` with these ids, in the order asked; missing ids are left out."""
        return self._drive(self._core.get(ids, tenant=tenant))

    def delete(self, ids: Sequence[str], *, tenant: str) -> int:
        """Delete these ids from `tenant`; returns how many existed."""
        return self._drive(self._core.delete(ids, tenant=tenant))

    def count(self, *, tenant: str, partition: str | None = None) -> int:
        """How many records `tenant` (or `partition` of it) holds."""
        return self._drive(self._core.count(tenant=tenant, partition=partition))

    def tenants(self) -> list[str]:
        """The tenants that hold at least one record, sorted."""
        return self._drive(self._core.tenants())

    def scan(self, *, tenant: str, where: Where | None = None, limit: int | None = None,
             partition: str | None = None) -> list[Record]:
        """The records of `tenant` (of `partition` only, if given) matching `where`, oldest `created_at` first
        (then by id), at most `limit`."""
        return self._drive(self._core.scan(tenant=tenant, where=where, limit=limit, partition=partition))

    def drop_tenant(self, tenant: str) -> int:
        """Delete every record of `tenant` (and its HNSW index); returns how many there were."""
        return self._drive(self._core.drop_tenant(tenant))

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            with self._text_lock:
                if self._text_conn is not None:
                    self._text_conn.close()
                    self._text_conn = None

    def _build(self, steps: Plan[_T]) -> _T:
        self._connection()  # a closed store refuses, as for every other call
        try:
            with self._connect() as conn:
                return _run(steps, lambda step: self._send(conn, step))
        except BaseException as exc:
            _raise_translated(exc, self.name)

    def _drive(self, steps: Plan[_T], *, text: bool = False) -> _T:
        """Run `steps` on the store's connection under its lock, or (`text`: full-text search) on that
        search's own connection under its own lock."""
        with self._text_lock if text else self._lock:
            conn = self._text_connection() if text else self._connection()
            try:
                return _run(steps, lambda step: self._send(conn, step))
            except BaseException as exc:
                if _in_transaction(conn):
                    _safe(lambda: conn.execute("ROLLBACK"))
                _raise_translated(exc, self.name)

    def _send(self, conn: Any, step: Step) -> Any:
        with conn.cursor(binary=True) as cur:
            if step.copy_types:
                with cur.copy(step.query) as copy:
                    copy.set_types(step.copy_types)
                    for row in step.params or ():
                        copy.write_row(row)
                return None
            cur.execute(step.query, step.params)
            return cur.fetchall() if cur.description else cur.rowcount

    def _connection(self) -> Any:
        if self._conn is None:
            raise StoreError("the store is closed; open a new one", backend=self.name)
        return self._conn

    def _connect(self) -> Any:
        """A new autocommit connection to the store's database (the caller registers pgvector's types once the
        extension exists)."""
        return psycopg.connect(self._dsn, autocommit=True, connect_timeout=max(1, int(self._connect_timeout_s)))

    def _text_connection(self) -> Any:
        """Full-text search's connection (under _text_lock), opened at its first use; a broken one is replaced."""
        self._connection()  # a closed store refuses
        if self._text_conn is not None and self._text_conn.closed:
            self._text_conn = None
        if self._text_conn is None:
            conn = None
            try:
                conn = self._connect()
                register_vector(conn)
            except BaseException as exc:
                if conn is not None:
                    _safe(conn.close)
                _raise_translated(exc, self.name)
            self._text_conn = conn
        return self._text_conn


class AsyncPostgresStore:
    """The async twin of PostgresStore (psycopg AsyncConnection); connects on first use or `async with`.

    Takes the same arguments as PostgresStore; every method is a coroutine, `close()` included.
    """

    name = "postgres"

    def __init__(self, dsn: str, dimensions: int = 384, table: str = "cw_records", *,
                 search: _core.Search = PG_DEFAULT_SEARCH, max_text_chars: int = _core.DEFAULT_MAX_TEXT_CHARS,
                 connect_timeout_s: float = 10.0) -> None:
        self._core = PgCore(table, dimensions, search, max_text_chars)
        self.dimensions = self._core.dimensions
        self._dsn = dsn
        self._connect_timeout_s = connect_timeout_s
        self._conn: Any = None
        self._closed = False
        self._lock: asyncio.Lock | None = None
        self.migrated_from: int | None = None

    @property
    def parallel_reads(self) -> bool:
        """False: one connection serves every call (async memory recall runs its two searches in turn)."""
        return False

    @property
    def embedder_name(self) -> str | None:
        """The name of the embedder this store object is bound to (`bind_embedder`), None while unbound."""
        return self._core.embedder.name

    async def bind_embedder(self, name: str) -> None:
        """The async twin of PostgresStore.bind_embedder."""
        await self._drive(self._core.bind_embedder(name))

    async def upsert(self, records: Sequence[Record], *, tenant: str, partition: str = "") -> None:
        """Insert or replace `records` (by id) in `partition` of `tenant` in one transaction (see
        PostgresStore.upsert)."""
        await self._drive(self._core.upsert(records, tenant=tenant, partition=partition))

    async def upsert_partitions(self, batches: Mapping[str, Sequence[Record]], *, tenant: str,
                                expect: Mapping[str, str | int | None] | None = None) -> None:
        """The async twin of PostgresStore.upsert_partitions."""
        await self._drive(self._core.upsert_partitions(batches, tenant=tenant, expect=expect))

    async def build_index(self, *, tenant: str, partition: str = "",
                          maintenance_work_mem_mb: int | None = None) -> IndexBuild:
        """Build the partial HNSW index of `partition` of `tenant` concurrently on a connection of its own (see
        PostgresStore.build_index); this store's other calls go on meanwhile."""
        return await self._build(self._core.build_index(tenant=tenant, partition=partition,
                                                        maintenance_work_mem_mb=maintenance_work_mem_mb))

    async def build_indexes(self, *, maintenance_work_mem_mb: int | None = None) -> list[IndexBuild]:
        """`build_index` for every tenant of at least `search.min_vectors` vectors without an index."""
        return await self._build(self._core.build_indexes(maintenance_work_mem_mb=maintenance_work_mem_mb))

    async def query(self, vector: Sequence[float], k: int = 10, *, tenant: str, where: Where | None = None,
                    partition: str = "", ef_search: int | None = None, vectors: bool = True) -> list[Hit]:
        """The async twin of PostgresStore.query."""
        return await self._drive(self._core.query(vector, k, tenant=tenant, where=where, partition=partition,
                                                  ef_search=ef_search, vectors=vectors))

    async def search_text(self, query: str, k: int = 10, *, tenant: str, where: Where | None = None,
                          partition: str = "", vectors: bool = True) -> list[Hit]:
        """The async twin of PostgresStore.search_text."""
        return await self._drive(self._core.search_text(query, k, tenant=tenant, where=where, partition=partition,
                                                        vectors=vectors))

    async def get(self, ids: Sequence[str], *, tenant: str) -> list[Record]:
        """The records of `tenant` with these ids, in the order asked; missing ids are left out."""
        return await self._drive(self._core.get(ids, tenant=tenant))

    async def delete(self, ids: Sequence[str], *, tenant: str) -> int:
        """Delete these ids from `tenant`; returns how many existed."""
        return await self._drive(self._core.delete(ids, tenant=tenant))

    async def count(self, *, tenant: str, partition: str | None = None) -> int:
        """How many records `tenant` (or `partition` of it) holds."""
        return await self._drive(self._core.count(tenant=tenant, partition=partition))

    async def tenants(self) -> list[str]:
        """The tenants that hold at least one record, sorted."""
        return await self._drive(self._core.tenants())

    async def scan(self, *, tenant: str, where: Where | None = None, limit: int | None = None,
                   partition: str | None = None) -> list[Record]:
        """The records of `tenant` (of `partition` only, if given) matching `where`, oldest `created_at` first
        (then by id), at most `limit`."""
        return await self._drive(self._core.scan(tenant=tenant, where=where, limit=limit, partition=partition))

    async def drop_tenant(self, tenant: str) -> int:
        """Delete every record of `tenant` (and its HNSW index); returns how many there were."""
        return await self._drive(self._core.drop_tenant(tenant))

    async def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        self._closed = True
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()

    async def __aenter__(self) -> AsyncPostgresStore:
        await self._drive(_nothing())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _build(self, steps: Plan[_T]) -> _T:
        if self._closed:
            raise StoreError("the store is closed; open a new one", backend=self.name)
        try:
            async with await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True, connect_timeout=max(1, int(self._connect_timeout_s))) as conn:
                return await _arun(steps, lambda step: self._send(conn, step))
        except BaseException as exc:
            _raise_translated(exc, self.name)

    async def _drive(self, steps: Plan[_T]) -> _T:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            conn = await self._connection()
            try:
                return await _arun(steps, lambda step: self._send(conn, step))
            except BaseException as exc:
                if _in_transaction(conn):
                    await _asafe(lambda: conn.execute("ROLLBACK"))
                _raise_translated(exc, self.name)

    async def _send(self, conn: Any, step: Step) -> Any:
        async with conn.cursor(binary=True) as cur:
            if step.copy_types:
                async with cur.copy(step.query) as copy:
                    copy.set_types(step.copy_types)
                    for row in step.params or ():
                        await copy.write_row(row)
                return None
            await cur.execute(step.query, step.params)
            return await cur.fetchall() if cur.description else cur.rowcount

    async def _connection(self) -> Any:
        if self._closed:
            raise StoreError("the store is closed; open a new one", backend=self.name)
        if self._conn is None:
            conn = None
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True, connect_timeout=max(1, int(self._connect_timeout_s)))
                self.migrated_from = await _arun(self._core.migrate(), lambda step: self._send(conn, step))
                await register_vector_async(conn)
            except BaseException as exc:
                if conn is not None:
                    await _asafe(conn.close)
                _raise_translated(exc, self.name)
            self._conn = conn
        return self._conn


def _nothing() -> Steps:
    return
    yield  # pragma: no cover - makes this a generator


def _run(steps: Plan[_T], send: Any) -> _T:
    """Drive `steps`, sending each step's result back in; returns the generator's return value."""
    result = None
    while True:
        try:
            step = steps.send(result)
        except StopIteration as stop:
            value: _T = stop.value
            return value
        result = send(step)


async def _arun(steps: Plan[_T], send: Any) -> _T:
    """The async twin of `_run`."""
    result = None
    while True:
        try:
            step = steps.send(result)
        except StopIteration as stop:
            value: _T = stop.value
            return value
        result = await send(step)


def _in_transaction(conn: Any) -> bool:
    return conn.info.transaction_status in (psycopg.pq.TransactionStatus.INTRANS,
                                            psycopg.pq.TransactionStatus.INERROR)


def _raise_translated(exc: BaseException, backend: str) -> NoReturn:
    if isinstance(exc, psycopg.Error):
        raise StoreError(f"{type(exc).__name__}: {exc}".strip(), backend=backend) from exc
    raise exc


def _safe(action: Any) -> None:
    try:
        action()
    except psycopg.Error:
        pass  # the connection is broken; the original error is what the caller needs


async def _asafe(action: Any) -> None:
    try:
        await action()
    except psycopg.Error:
        pass
