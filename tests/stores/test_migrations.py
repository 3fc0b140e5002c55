"""Opening a store written by an older schema migrates it; v0 and v1 files and tables are built here by hand."""

from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from contextwise.errors import StoreError
from contextwise.stores import DimensionMismatchError, SQLiteStore
from contextwise.stores._sqlite_schema import SCHEMA_VERSION

V0_SQLITE = ("CREATE TABLE records (tenant TEXT NOT NULL, id TEXT NOT NULL, text TEXT NOT NULL, vector BLOB, "
             "metadata TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (tenant, id))")


def _old_sqlite(path, version):
    conn = sqlite3.connect(path)
    conn.execute(V0_SQLITE)
    rows = [("t1", f"r{i}", f"text {i}", np.eye(4, dtype=np.float32)[i].tobytes(), json.dumps({"i": i}))
            for i in range(3)]
    conn.executemany("INSERT INTO records (tenant, id, text, vector, metadata) VALUES (?, ?, ?, ?, ?)", rows)
    if version == 1:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute("ALTER TABLE records ADD COLUMN created_at REAL NOT NULL DEFAULT 0")
        conn.execute("UPDATE records SET created_at = 5 WHERE id = 'r2'")
    conn.commit()
    conn.close()


@pytest.mark.parametrize("version", [0, 1])
def test_sqlite_old_schema_is_migrated_on_open(tmp_path, version):
    path = tmp_path / "old.db"
    _old_sqlite(path, version)
    with SQLiteStore(path, 4) as store:
        assert store.migrated_from == version
        assert store.count(tenant="t1") == 3
        assert store.get(["r1"], tenant="t1")[0].metadata == {"i": 1}
        assert store.query((0.0, 1.0, 0.0, 0.0), 1, tenant="t1")[0].record.id == "r1"
        assert store.get(["r2"], tenant="t1")[0].created_at == (5.0 if version == 1 else 0.0)
        store.upsert([store.get(["r0"], tenant="t1")[0]], tenant="t2")
        assert store.tenants() == ["t1", "t2"]
        assert [h.record.id for h in store.search_text("text 1", 3, tenant="t1")][0] == "r1"  # FTS filled
        assert store.get(["r1"], tenant="t1")[0].version == 1  # v4: rows written before versions start at 1
        store.upsert([store.get(["r1"], tenant="t1")[0]], tenant="t1")
        assert store.get(["r1"], tenant="t1")[0].version == 2
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    conn.close()
    with SQLiteStore(path, 4) as again:
        assert again.migrated_from == SCHEMA_VERSION and again.count(tenant="t1") == 3


def test_sqlite_migration_takes_dimensions_from_stored_vectors(tmp_path):
    path = tmp_path / "old.db"
    _old_sqlite(path, 0)
    with pytest.raises(DimensionMismatchError, match="4-d"):
        SQLiteStore(path, 8).close()


def test_sqlite_failed_migration_leaves_the_file_as_it_was(tmp_path):
    path = tmp_path / "old.db"
    _old_sqlite(path, 0)
    with pytest.raises(DimensionMismatchError):
        SQLiteStore(path, 8)
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert tables == {"records"}


def test_sqlite_newer_schema_is_refused(tmp_path):
    path = tmp_path / "new.db"
    SQLiteStore(path, 4).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE schema_version SET version = 99")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        SQLiteStore(path, 4)


def _old_postgres(dsn, table, version):
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        conn.execute(f'CREATE TABLE "{table}" (tenant text NOT NULL, id text NOT NULL, text text NOT NULL, '
                     "vector vector(4), metadata jsonb NOT NULL DEFAULT '{}', PRIMARY KEY (tenant, id))")
        for i in range(3):
            vec = "[" + ",".join("1" if j == i else "0" for j in range(4)) + "]"
            conn.execute(f'INSERT INTO "{table}" VALUES (%s, %s, %s, %s::vector, %s::jsonb)',
                         ("t1", f"r{i}", f"text {i}", vec, json.dumps({"i": i})))
        if version == 1:
            conn.execute(f'CREATE TABLE "{table}_schema_version" (version integer NOT NULL)')
            conn.execute(f'INSERT INTO "{table}_schema_version" VALUES (1)')
            conn.execute(f'ALTER TABLE "{table}" ADD COLUMN created_at double precision NOT NULL DEFAULT 0')


@pytest.mark.parametrize("version", [0, 1])
def test_postgres_old_schema_is_migrated_on_open(pg_dsn, pg_table, version):
    from contextwise.stores import PostgresStore

    _old_postgres(pg_dsn, pg_table, version)
    with PostgresStore(pg_dsn, 4, pg_table) as store:
        assert store.migrated_from == version
        assert store.count(tenant="t1") == 3
        assert store.get(["r1"], tenant="t1")[0].metadata == {"i": 1}
        assert store.query((0.0, 1.0, 0.0, 0.0), 1, tenant="t1")[0].record.id == "r1"
        assert [h.record.id for h in store.search_text("text 1", 3, tenant="t1")][0] == "r1"  # tsvector filled
        assert store.get(["r1"], tenant="t1")[0].version == 1  # v4: rows written before versions start at 1
        store.upsert([store.get(["r1"], tenant="t1")[0]], tenant="t1")
        assert store.get(["r1"], tenant="t1")[0].version == 2
    with PostgresStore(pg_dsn, 4, pg_table) as again:
        assert again.migrated_from == 4


def test_postgres_newer_schema_is_refused(pg_dsn, pg_table):
    import psycopg

    from contextwise.stores import PostgresStore

    PostgresStore(pg_dsn, 4, pg_table).close()
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'UPDATE "{pg_table}_schema_version" SET version = 99')
    with pytest.raises(StoreError, match="newer"):
        PostgresStore(pg_dsn, 4, pg_table)
