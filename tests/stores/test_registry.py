"""Stores open from "memory:", "sqlite:<path>" and "postgres:<dsn>", directly and through the registry."""

from __future__ import annotations

import pytest

from contextwise.errors import UnknownBackendError, UsageError
from contextwise.registry import providers, resolve
from contextwise.stores import InMemoryStore, SQLiteStore, open_store
from contextwise.types import Record


def test_open_store_memory_and_sqlite(tmp_path):
    assert isinstance(open_store("memory:", dimensions=4), InMemoryStore)
    path = tmp_path / "s.db"
    with open_store(f"sqlite:{path}", dimensions=4) as store:
        assert isinstance(store, SQLiteStore) and store.dimensions == 4
        store.upsert([Record("a", "t", (1.0, 0, 0, 0))], tenant="t1")
    with open_store(f"sqlite:{path}", dimensions=4) as again:
        assert again.count(tenant="t1") == 1


def test_open_store_postgres(pg_dsn):
    from contextwise.stores import PostgresStore

    for spec in (f"postgres:{pg_dsn}", pg_dsn):
        with open_store(spec, dimensions=4, table="cw_registry") as store:
            assert isinstance(store, PostgresStore)
            store.drop_tenant("t")


def test_registry_resolves_store_strings(tmp_path, pg_dsn):
    assert {"memory", "sqlite", "postgres"} <= set(providers("store"))
    assert isinstance(resolve("store", "memory:"), InMemoryStore)
    store = resolve("store", f"sqlite:{tmp_path / 'r.db'}")
    assert isinstance(store, SQLiteStore) and store.dimensions == 384
    store.close()
    resolve("store", f"postgres:{pg_dsn}").close()


@pytest.mark.parametrize("spec", ["sqlite:", "nonsense"])
def test_bad_spec_is_a_usage_error(spec):
    with pytest.raises(UsageError):
        open_store(spec)


def test_unknown_provider_suggests_the_nearest(tmp_path):
    with pytest.raises(UnknownBackendError, match="sqlite"):
        open_store(f"sqlit:{tmp_path / 'x.db'}")


@pytest.mark.parametrize("table", ["", "1abc", "a-b", "x" * 41, 'a"; DROP TABLE t; --'])
def test_postgres_table_name_must_be_a_plain_identifier(pg_dsn, table):
    from contextwise.stores import PostgresStore

    with pytest.raises(UsageError):
        PostgresStore(pg_dsn, 4, table)
