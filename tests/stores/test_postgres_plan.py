"""PostgreSQL: no write builds an index; `build_index` / `build_indexes` give a tenant its own partial HNSW index
(concurrently), used for its unfiltered queries; filtered queries stay exact (pgvector 0.6's HNSW with a WHERE
loses most rows), a half-built index is redone, and dropping the tenant drops its index."""

from __future__ import annotations

import numpy as np
import pytest

from contextwise.errors import UsageError
from contextwise.stores import ExactSearch, HnswSearch, IndexBuild
from contextwise.types import Record

DIMS = 16


def _indexes(dsn, table):
    import psycopg

    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexdef "
                                           "LIKE %s", (table, "%hnsw%"))]


def _sql(dsn, query, params=()):
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else None


def _load(store, vectors, tenant, count, seed):
    matrix = vectors.clustered(count, DIMS, seed=seed, clusters=6)
    for start in range(0, count, 100):
        store.upsert([Record(f"r{i}", tenant, tuple(map(float, matrix[i])), {"half": i % 2})
                      for i in range(start, min(count, start + 100))], tenant=tenant)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _exact(unit, q, rows=None):
    rows = np.arange(len(unit)) if rows is None else rows
    return {f"r{i}" for i in rows[np.argsort(-(unit[rows] @ q))[:10]]}


@pytest.mark.slow
def test_build_indexes_indexes_large_tenants_only_and_filters_stay_exact(pg_dsn, pg_table, vectors):
    from contextwise.stores import PostgresStore

    with PostgresStore(pg_dsn, DIMS, pg_table, search=HnswSearch(min_vectors=400)) as store:
        unit = _load(store, vectors, "big", 600, seed=1)
        _load(store, vectors, "small", 50, seed=2)
        assert _indexes(pg_dsn, pg_table) == []  # crossing min_vectors in a write builds nothing
        (build,) = store.build_indexes()
        assert (build.tenant, build.vectors, build.built) == ("big", 600, True)
        (definition,) = _indexes(pg_dsn, pg_table)
        assert "WHERE ((tenant = 'big'::text) AND (part = ''::text))" in definition
        assert store.build_indexes() == []
        assert store.build_index(tenant="big").built is False
        odd = np.flatnonzero(np.arange(600) % 2 == 1)
        found = 0
        for q in vectors.clustered(20, DIMS, seed=3, clusters=6):
            hits = store.query(q, 10, tenant="big", where={"half": 1})
            assert {h.record.id for h in hits} == _exact(unit, q, odd)
            found += len(_exact(unit, q) & {h.record.id for h in store.query(q, 10, tenant="big")})
        assert found / 200 >= 0.99
        assert store.drop_tenant("big") == 600
        assert _indexes(pg_dsn, pg_table) == []


def test_an_indexed_tenant_is_planned_as_an_hnsw_scan(pg_dsn, pg_table, vectors):
    from contextwise.stores import PostgresStore

    with PostgresStore(pg_dsn, DIMS, pg_table, search=HnswSearch(min_vectors=10_000)) as store:
        _load(store, vectors, "a", 200, seed=4)
        build = store.build_index(tenant="a")  # below min_vectors: an explicit build still builds
        assert isinstance(build, IndexBuild) and build.built and build.vectors == 200
        q = "[" + ",".join(["0.25"] * DIMS) + "]"
        import psycopg

        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute("SET enable_seqscan = off")  # at 200 rows a scan is cheaper; ask whether the index serves
            plan = conn.execute(f"EXPLAIN SELECT id FROM \"{pg_table}\" WHERE tenant = 'a' AND part = '' "
                                f"AND vector IS NOT NULL ORDER BY vector <=> '{q}' LIMIT 10").fetchall()
        assert f"Index Scan using {store._core.index_name('a')}" in " ".join(r[0] for r in plan)


def test_a_half_built_index_is_dropped_and_built_again(pg_dsn, pg_table, vectors):
    from contextwise.stores import PostgresStore

    with PostgresStore(pg_dsn, DIMS, pg_table, search=HnswSearch(min_vectors=100)) as store:
        unit = _load(store, vectors, "a", 150, seed=5)
        store.build_index(tenant="a")
        name = store._core.index_name("a")
        # What a failed CREATE INDEX CONCURRENTLY leaves behind: an invalid index, not registered.
        _sql(pg_dsn, "UPDATE pg_index SET indisvalid = false WHERE indexrelid = to_regclass(%s)", (f'"{name}"',))
        _sql(pg_dsn, f'DELETE FROM "{pg_table}_hnsw"')
        assert store.build_indexes()[0].built is True
        assert _sql(pg_dsn, "SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)",
                    (f'"{name}"',)) == [(True,)]
        q = vectors.clustered(1, DIMS, seed=6, clusters=6)[0]
        assert len(_exact(unit, q) & {h.record.id for h in store.query(q, 10, tenant="a")}) >= 9


def test_building_an_index_on_an_exact_store_is_a_usage_error(pg_dsn, pg_table):
    from contextwise.stores import PostgresStore

    with PostgresStore(pg_dsn, DIMS, pg_table, search=ExactSearch()) as store:
        with pytest.raises(UsageError):
            store.build_index(tenant="a")
        with pytest.raises(UsageError):
            store.build_indexes()
    with PostgresStore(pg_dsn, DIMS, pg_table, search=HnswSearch()) as store, pytest.raises(UsageError):
        store.build_index(tenant="a", maintenance_work_mem_mb=0)


def test_a_build_waits_for_another_builder_while_the_store_serves_calls(pg_dsn, pg_table, vectors):
    import threading
    import time

    import psycopg

    from contextwise.stores import PostgresStore

    with PostgresStore(pg_dsn, DIMS, pg_table, search=HnswSearch(min_vectors=100)) as store, \
            psycopg.connect(pg_dsn, autocommit=True) as other:
        unit = _load(store, vectors, "a", 120, seed=8)
        name = store._core.index_name("a")
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", (name,))  # another process is building "a"
        result: list = []
        builder = threading.Thread(target=lambda: result.append(store.build_index(tenant="a")))
        builder.start()
        deadline = time.monotonic() + 60
        while not other.execute("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").fetchall():
            assert time.monotonic() < deadline, "build_index never waited on the lock"
            time.sleep(0.05)
        # The waiting build holds no lock of the store: its queries and writes go on (a thread, so that a
        # regression fails here instead of hanging).
        q = vectors.clustered(1, DIMS, seed=9, clusters=6)[0]
        served: list = []
        caller = threading.Thread(target=lambda: served.append(
            (store.query(q, 10, tenant="a"), store.upsert([Record("x", "b", tuple(map(float, q)))], tenant="b"))))
        caller.start()
        caller.join(60)
        alive = caller.is_alive()
        if alive:  # free the build so that the test ends
            other.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))
        assert not alive, "the store's calls waited for the build"
        assert {h.record.id for h in served[0][0]} == _exact(unit, q)
        assert result == [] and _indexes(pg_dsn, pg_table) == []
        other.execute("SELECT pg_advisory_unlock(hashtext(%s))", (name,))
        builder.join(60)
        assert result[0].built is True and result[0].vectors == 120


def _buffers(dsn, query, params=()):
    """Shared buffers a query reads (EXPLAIN (ANALYZE, BUFFERS) of its top node)."""
    import re

    import psycopg
    from pgvector.psycopg import register_vector

    with psycopg.connect(dsn, autocommit=True) as conn:
        register_vector(conn)
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + query, params).fetchall()
    return int(re.search(r"shared hit=(\d+)(?: read=(\d+))?", " ".join(r[0] for r in plan)).group(1))


def _storage(dsn, table):
    """The vector column's storage and the table's toast_tuple_target (None: PostgreSQL's default)."""
    ((storage, options),) = _sql(dsn, "SELECT a.attstorage, c.reloptions FROM pg_attribute a JOIN pg_class c "
                                      "ON c.oid = a.attrelid WHERE a.attrelid = %s::regclass AND a.attname = "
                                      "'vector'", (table,))
    target = [int(o.split("=")[1]) for o in options or [] if o.startswith("toast_tuple_target=")]
    return storage, (target[0] if target else None)


def test_rows_stay_whole_so_exact_and_full_text_search_read_no_toast(pg_dsn, pg_table, vectors):
    from contextwise.stores import PostgresStore

    rng = np.random.default_rng(3)
    words = [f"w{n}" for n in rng.integers(0, 10**9, 6000)]  # incompressible: a row passes 2 kB
    unit = vectors.unit(300, 384, seed=4)
    with PostgresStore(pg_dsn, 384, pg_table, search=ExactSearch()) as store:
        assert _storage(pg_dsn, pg_table) == ("m", 8160)
        store.upsert([Record(f"r{i}", " ".join(words[i * 20:(i + 1) * 20] + ["common"]), tuple(map(float, unit[i])))
                      for i in range(300)], tenant="t")

    def read() -> tuple[int, int]:
        dense = _buffers(pg_dsn, f"SELECT id FROM {pg_table} WHERE tenant = 't' ORDER BY vector <=> %s LIMIT 10",
                         (unit[0],))
        text = _buffers(pg_dsn, f"SELECT id FROM {pg_table} WHERE tenant = 't' AND tsv @@ 'common'::tsquery "
                        "ORDER BY ts_rank(tsv, 'common'::tsquery) DESC LIMIT 10")
        return dense, text

    in_line = read()
    # The table as older contextwise left it (pgvector's EXTERNAL, the default target), rows rewritten: every
    # vector out of line; then with the vector kept in line but the default target: every tsvector out of line.
    _sql(pg_dsn, f"ALTER TABLE {pg_table} ALTER COLUMN vector SET STORAGE EXTERNAL, RESET (toast_tuple_target)")
    _sql(pg_dsn, f"VACUUM FULL {pg_table}")
    vectors_out = read()
    _sql(pg_dsn, f"ALTER TABLE {pg_table} ALTER COLUMN vector SET STORAGE MAIN")
    _sql(pg_dsn, f"UPDATE {pg_table} SET text = text || ''")  # new tuples: the tsvector is generated again
    _sql(pg_dsn, f"VACUUM FULL {pg_table}")
    texts_out = read()
    # In line, a query reads each heap page once (~100 for 300 rows of ~2.6 kB); out of line, TOAST pages per row.
    assert in_line[0] < 300 < vectors_out[0], (in_line, vectors_out)
    assert in_line[1] < 300 < texts_out[1], (in_line, texts_out)
    with PostgresStore(pg_dsn, 384, pg_table, search=ExactSearch()):  # the next open keeps new rows whole
        assert _storage(pg_dsn, pg_table) == ("m", 8160)


def test_a_table_s_own_toast_target_is_kept(pg_dsn, pg_table):
    from contextwise.stores import PostgresStore

    PostgresStore(pg_dsn, 8, pg_table, search=ExactSearch()).close()
    _sql(pg_dsn, f"ALTER TABLE {pg_table} SET (toast_tuple_target = 4000)")  # a DBA's choice
    PostgresStore(pg_dsn, 8, pg_table, search=ExactSearch()).close()
    assert _storage(pg_dsn, pg_table) == ("m", 4000)


def test_a_role_that_does_not_own_the_table_opens_it_as_before_and_is_told_why_it_is_slow(pg_dsn, pg_table, caplog):
    import uuid

    from contextwise.stores import PostgresStore

    with PostgresStore(pg_dsn, 8, pg_table, search=ExactSearch()) as store:
        store.upsert([Record("r1", "a", tuple([1.0] + [0.0] * 7))], tenant="t")
    # As older contextwise left it.
    _sql(pg_dsn, f"ALTER TABLE {pg_table} ALTER COLUMN vector SET STORAGE EXTERNAL, RESET (toast_tuple_target)")
    role = f"app_{uuid.uuid4().hex[:8]}"
    _sql(pg_dsn, f"CREATE ROLE {role} LOGIN")
    try:
        _sql(pg_dsn, f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}")
        with caplog.at_level("WARNING", logger="contextwise.stores"):
            with PostgresStore(pg_dsn.replace("postgres:@", f"{role}:@", 1), 8, pg_table,
                               search=ExactSearch()) as store:
                assert [h.record.id for h in store.query([1.0] + [0.0] * 7, 1, tenant="t")] == ["r1"]
        assert "ALTER COLUMN vector SET STORAGE MAIN, SET (toast_tuple_target = 8160)" in caplog.text
        assert _storage(pg_dsn, pg_table) == ("e", None)
    finally:
        _sql(pg_dsn, f"DROP OWNED BY {role}")
        _sql(pg_dsn, f"DROP ROLE {role}")


def test_a_busy_table_opens_at_once_and_keeps_its_rows_whole_from_a_later_open(pg_dsn, pg_table, caplog):
    import threading

    import psycopg

    from contextwise.stores import PostgresStore

    PostgresStore(pg_dsn, 8, pg_table, search=ExactSearch()).close()
    # As older contextwise left it.
    _sql(pg_dsn, f"ALTER TABLE {pg_table} ALTER COLUMN vector SET STORAGE EXTERNAL, RESET (toast_tuple_target)")
    counted: list[int] = []

    def open_and_count() -> None:
        with PostgresStore(pg_dsn, 8, pg_table, search=ExactSearch()) as store:
            counted.append(store.count(tenant="t"))

    with psycopg.connect(pg_dsn) as reader:  # a long read holds a lock the ALTER must wait for
        reader.execute(f"SELECT count(*) FROM {pg_table}")
        with caplog.at_level("WARNING", logger="contextwise.stores"):
            opener = threading.Thread(target=open_and_count)
            opener.start()
            opener.join(10)
            gave_up = not opener.is_alive()  # instead of queueing every call on the table behind its ALTER
            reader.rollback()
            opener.join(10)
    assert gave_up and counted == [0]
    assert "busy" in caplog.text and _storage(pg_dsn, pg_table) == ("e", None)
    PostgresStore(pg_dsn, 8, pg_table, search=ExactSearch()).close()
    assert _storage(pg_dsn, pg_table) == ("m", 8160)


def _reltuples(dsn, table):
    return _sql(dsn, "SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table,))[0][0]


def _texts(count, start=0):
    return [Record(f"r{i}", f"note {i} about item {i % 7}", tuple([1.0, float(i % 5)] + [0.0] * 6))
            for i in range(start, start + count)]


def test_a_bulk_write_is_analyzed_so_the_planner_knows_the_new_rows(pg_dsn, pg_table):
    from contextwise.stores import PostgresStore
    from contextwise.stores._pg_core import ANALYZE_MIN_ROWS

    with PostgresStore(pg_dsn, 8, pg_table, search=ExactSearch()) as store:
        _sql(pg_dsn, f"ALTER TABLE {pg_table} SET (autovacuum_enabled = false)")  # only the store analyzes it here
        store.upsert(_texts(ANALYZE_MIN_ROWS - 1), tenant="t")  # small: left to autovacuum
        assert _reltuples(pg_dsn, pg_table) < 0  # never analyzed
        store.upsert(_texts(ANALYZE_MIN_ROWS, start=ANALYZE_MIN_ROWS), tenant="t")
        assert _reltuples(pg_dsn, pg_table) == 2 * ANALYZE_MIN_ROWS - 1
        store.upsert(_texts(ANALYZE_MIN_ROWS, start=2 * ANALYZE_MIN_ROWS), tenant="t")  # a third: left
        assert _reltuples(pg_dsn, pg_table) == 2 * ANALYZE_MIN_ROWS - 1
        store.upsert(_texts(3 * ANALYZE_MIN_ROWS, start=3 * ANALYZE_MIN_ROWS), tenant="t")  # doubles it: again
        assert _reltuples(pg_dsn, pg_table) == 6 * ANALYZE_MIN_ROWS - 1


def test_a_bulk_write_does_not_wait_for_an_analyze_lock_held_elsewhere(pg_dsn, pg_table):
    import threading

    import psycopg

    from contextwise.stores import PostgresStore
    from contextwise.stores._pg_core import ANALYZE_MIN_ROWS

    with PostgresStore(pg_dsn, 8, pg_table, search=ExactSearch()) as store, psycopg.connect(pg_dsn) as other:
        _sql(pg_dsn, f"ALTER TABLE {pg_table} SET (autovacuum_enabled = false)")  # only the store analyzes it here
        other.execute(f"LOCK TABLE {pg_table} IN SHARE UPDATE EXCLUSIVE MODE")  # what an index build holds
        writer = threading.Thread(target=store.upsert, args=(_texts(ANALYZE_MIN_ROWS),), kwargs={"tenant": "t"})
        writer.start()
        writer.join(10)  # a thread, so that a regression fails here instead of hanging
        waited = writer.is_alive()
        other.rollback()
        writer.join(10)
        assert not waited, "the write waited for the lock of its ANALYZE"
        assert store.count(tenant="t") == ANALYZE_MIN_ROWS
        assert _reltuples(pg_dsn, pg_table) < 0  # left to autovacuum
