"""AsyncPostgresStore answers exactly as PostgresStore does (one parity test), plus its own lifecycle."""

from __future__ import annotations

import asyncio
import inspect

import pytest
from support import need

from contextwise.errors import StoreError
from contextwise.protocols import AsyncVectorStore
from contextwise.stores import InvalidTenantError
from contextwise.types import Record


def _script(vectors):
    vecs = [tuple(map(float, v)) for v in vectors.unit(12, seed=4)]
    records = [Record(f"r{i}", f"text {i}", vecs[i], {"n": i, "even": i % 2 == 0}, float(i)) for i in range(10)]
    return [
        ("upsert", (records,), {"tenant": "a"}),
        ("upsert", (records[:3],), {"tenant": "b"}),
        ("upsert", ([Record("r1", "new", vecs[11], {"n": 100})],), {"tenant": "a"}),
        ("query", (vecs[10], 4), {"tenant": "a"}),
        ("query", (vecs[10], 4), {"tenant": "a", "where": {"even": True, "n": {"$gte": 2}}}),
        ("get", (["r9", "r1", "zz"],), {"tenant": "a"}),
        ("delete", (["r2", "r3", "zz"],), {"tenant": "a"}),
        ("count", (), {"tenant": "a"}),
        ("scan", (), {"tenant": "a", "where": {"n": {"$in": [0, 4, 100]}}, "limit": 2}),
        ("tenants", (), {}),
        ("drop_tenant", ("b",), {}),
        ("tenants", (), {}),
    ]


def test_async_store_has_the_same_methods_as_the_sync_one():
    from contextwise.stores import AsyncPostgresStore, PostgresStore

    public = {n for n in dir(PostgresStore) if not n.startswith("_")}
    assert public == {n for n in dir(AsyncPostgresStore) if not n.startswith("_")}
    for name in public - {"name"}:
        if callable(getattr(PostgresStore, name)):
            assert inspect.iscoroutinefunction(getattr(AsyncPostgresStore, name)), name


def test_async_and_sync_stores_answer_alike(pg_dsn, pg_table, vectors):
    from contextwise.stores import AsyncPostgresStore, PostgresStore

    with PostgresStore(pg_dsn, 8, pg_table) as sync_store:
        expected = [getattr(sync_store, op)(*args, **kwargs) for op, args, kwargs in _script(vectors)]
        sync_store.drop_tenant("a")

    async def run():
        async with AsyncPostgresStore(pg_dsn, 8, pg_table) as store:
            assert isinstance(store, AsyncVectorStore)
            return [await getattr(store, op)(*args, **kwargs) for op, args, kwargs in _script(vectors)]

    assert asyncio.run(run()) == expected


def test_async_store_raises_the_same_typed_errors(pg_dsn, pg_table):
    from contextwise.stores import AsyncPostgresStore

    async def run():
        store = AsyncPostgresStore(pg_dsn, 8, pg_table)
        with pytest.raises(InvalidTenantError):
            await store.count(tenant="")
        assert await store.count(tenant="t") == 0  # connects on first use
        await store.close()
        with pytest.raises(StoreError):
            await store.count(tenant="t")

    asyncio.run(run())


def test_async_store_bad_dsn_raises_store_error():
    need("psycopg")
    from contextwise.stores import AsyncPostgresStore

    async def run():
        async with AsyncPostgresStore("postgresql://nobody@127.0.0.1:1/none", 8, connect_timeout_s=1):
            pass

    with pytest.raises(StoreError):
        asyncio.run(run())


def test_async_build_index_runs_beside_the_stores_other_calls(pg_dsn, pg_table, vectors):
    from contextwise.stores import AsyncPostgresStore, HnswSearch, PostgresStore

    vecs = [tuple(map(float, v)) for v in vectors.unit(300, seed=7)]
    records = [Record(f"r{i}", "", vecs[i]) for i in range(300)]

    async def run():
        async with AsyncPostgresStore(pg_dsn, 8, pg_table, search=HnswSearch(min_vectors=200)) as store:
            await store.upsert(records, tenant="a")
            # The build has a connection of its own: the store's queries and writes interleave with it.
            builds, hits, _ = await asyncio.gather(store.build_indexes(), store.query(vecs[0], 3, tenant="a"),
                                                   store.upsert(records[:5], tenant="b"))
            return builds, hits, await store.build_index(tenant="a"), await store.count(tenant="b")

    builds, hits, again, count_b = asyncio.run(run())
    assert [(b.tenant, b.vectors, b.built) for b in builds] == [("a", 300, True)]
    assert hits[0].record.id == "r0" and count_b == 5
    assert again.built is False
    with PostgresStore(pg_dsn, 8, pg_table, search=HnswSearch(min_vectors=200)) as sync_store:
        assert sync_store.build_index(tenant="a").built is False  # another process sees the registered index


def test_async_store_keeps_rows_whole_and_analyzes_a_bulk_write(pg_dsn, pg_table):
    import psycopg

    from contextwise.stores import AsyncPostgresStore, PostgresStore
    from contextwise.stores._pg_core import ANALYZE_MIN_ROWS

    records = [Record(f"r{i}", f"note {i}", tuple([1.0, float(i % 5)] + [0.0] * 6)) for i in range(ANALYZE_MIN_ROWS)]
    PostgresStore(pg_dsn, 8, pg_table).close()  # the table as the store makes it, then only the store analyzes it
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        # The target as a table older contextwise made has it (PostgreSQL's default): the async open must set it.
        conn.execute(f"ALTER TABLE {pg_table} SET (autovacuum_enabled = false), RESET (toast_tuple_target)")

    async def run():
        async with AsyncPostgresStore(pg_dsn, 8, pg_table) as store:
            await store.upsert(records, tenant="t")

    asyncio.run(run())
    with psycopg.connect(pg_dsn) as conn:
        ((options, rows),) = conn.execute("SELECT reloptions, reltuples FROM pg_class WHERE oid = %s::regclass",
                                          (pg_table,)).fetchall()
    assert "toast_tuple_target=8160" in options and rows == ANALYZE_MIN_ROWS
