"""Bad input gets a typed UsageError and writes nothing; database failures surface as StoreError."""

from __future__ import annotations

import sqlite3

import pytest

from contextwise.errors import StoreError, UsageError
from contextwise.stores import (
    DimensionMismatchError, DuplicateIdError, InvalidRecordError, InvalidTenantError, InvalidVectorError,
    SQLiteStore, TextTooLongError,
)
from contextwise.types import Record

GOOD = (1.0, 0, 0, 0, 0, 0, 0, 0)


def _deep(depth):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


BAD_RECORDS = {
    "wrong dimension": (Record("x", "t", (1.0, 2.0)), DimensionMismatchError),
    "nan": (Record("x", "t", (float("nan"),) + GOOD[1:]), InvalidVectorError),
    "inf": (Record("x", "t", (float("inf"),) + GOOD[1:]), InvalidVectorError),
    "zero vector": (Record("x", "t", (0.0,) * 8), InvalidVectorError),
    "not numbers": (Record("x", "t", ("a",) * 8), InvalidVectorError),
    "text too long": (Record("x", "y" * 101, GOOD), TextTooLongError),
    "empty id": (Record("", "t", GOOD), InvalidRecordError),
    "id not str": (Record(7, "t", GOOD), InvalidRecordError),
    "metadata nan": (Record("x", "t", GOOD, {"v": float("nan")}), InvalidRecordError),
    "metadata key not str": (Record("x", "t", GOOD, {1: "v"}), InvalidRecordError),
    "metadata not json": (Record("x", "t", GOOD, {"v": object()}), InvalidRecordError),
    "created_at nan": (Record("x", "t", GOOD, created_at=float("nan")), InvalidRecordError),
    "created_at beyond float": (Record("x", "t", GOOD, created_at=10**400), InvalidRecordError),
    "metadata 5,000 deep": (Record("x", "t", GOOD, {"v": _deep(5000)}), InvalidRecordError),
    "metadata of 2 MB": (Record("x", "t", GOOD, {"v": "x" * 2_000_000}), InvalidRecordError),
    "text not str": (Record("x", b"bytes", GOOD), InvalidRecordError),
    "nul in text": (Record("x", "a\x00b", GOOD), InvalidRecordError),
    "nul in id": (Record("x\x00", "t", GOOD), InvalidRecordError),
    "nul in metadata": (Record("x", "t", GOOD, {"k": "a\x00"}), InvalidRecordError),
    "lone surrogate in text": (Record("x", "a\ud800", GOOD), InvalidRecordError),
    "lone surrogate in metadata key": (Record("x", "t", GOOD, {"\udc80": 1}), InvalidRecordError),
}


@pytest.mark.parametrize("case", list(BAD_RECORDS))
def test_bad_record_raises_typed_error_and_writes_nothing_of_its_batch(make_store, case):
    store = make_store(max_text_chars=100)
    bad, error = BAD_RECORDS[case]
    store.upsert([Record("keep", "old", GOOD)], tenant="t1")
    with pytest.raises(error):
        store.upsert([Record("keep", "new", GOOD), Record("fresh", "t", GOOD), bad], tenant="t1")
    assert store.count(tenant="t1") == 1
    assert store.get(["keep"], tenant="t1")[0].text == "old"


def test_duplicate_ids_in_one_batch_raise_and_write_nothing(store):
    with pytest.raises(DuplicateIdError):
        store.upsert([Record("a", "1", GOOD), Record("b", "2", GOOD), Record("a", "3", GOOD)], tenant="t1")
    assert store.count(tenant="t1") == 0


@pytest.mark.parametrize("scale", [1e-30, 1e-300, 1e20, 1e39, 1e300], ids=repr)
def test_vectors_of_extreme_norm_are_normalised_in_float64_and_rank_right(store, scale):
    # float32 norms of these under- or overflow (1e-30 scored inf/NaN, 1e20 was stored as zeros): the direction
    # is taken in float64, so the vector ranks by its direction only, like any other.
    store.upsert([Record("near", "t", (1.0, 1.0) + (0.0,) * 6), Record("far", "t", (0.0,) * 7 + (1.0,))],
                 tenant="t1")
    store.upsert([Record("scaled", "t", tuple(scale * x for x in (1.0, 0.9) + (0.0,) * 6))], tenant="t1")
    hits = store.query((1.0, 1.0) + (0.0,) * 6, 3, tenant="t1")
    assert [h.record.id for h in hits] == ["near", "scaled", "far"]
    assert all(-1.0001 <= h.score <= 1.0001 for h in hits)
    stored = store.get(["scaled"], tenant="t1")[0].vector
    assert abs(sum(x * x for x in stored) - 1.0) < 1e-5  # kept as its unit direction


@pytest.mark.parametrize("tenant", ["", " ", "has space", "a/b", "x" * 129, "-lead", None, 3, "é", "alice\n"], ids=repr)
def test_bad_tenant_raises_on_every_call(store, tenant):
    calls = [
        lambda: store.upsert([Record("a", "t", GOOD)], tenant=tenant),
        lambda: store.query(GOOD, 1, tenant=tenant),
        lambda: store.get(["a"], tenant=tenant),
        lambda: store.delete(["a"], tenant=tenant),
        lambda: store.count(tenant=tenant),
        lambda: store.scan(tenant=tenant),
        lambda: store.drop_tenant(tenant),
    ]
    for call in calls:
        with pytest.raises(InvalidTenantError):
            call()
    assert store.tenants() == []


@pytest.mark.parametrize("tenant", ["a", "user@example.com", "org:42.team-7_x", "x" * 128])
def test_good_tenant_names_are_accepted(store, tenant):
    store.upsert([Record("a", "t", GOOD)], tenant=tenant)
    assert store.tenants() == [tenant]


@pytest.mark.parametrize("query,k,error", [
    ((1.0, 2.0), 3, DimensionMismatchError), ((float("nan"),) * 8, 3, InvalidVectorError),
    ((0.0,) * 8, 3, InvalidVectorError), (GOOD, 0, UsageError), (GOOD, 10_001, UsageError), (GOOD, 2.5, UsageError),
], ids=["dimension", "nan", "zero", "k=0", "k too big", "k float"])
def test_bad_query_raises_usage_error(store, query, k, error):
    with pytest.raises(error):
        store.query(query, k, tenant="t1")


@pytest.mark.parametrize("call", ["get", "delete"])
def test_ids_must_be_a_sequence_of_str(store, call):
    with pytest.raises(UsageError):
        getattr(store, call)("abc", tenant="t1")


def test_upsert_takes_a_sequence_not_a_record(store):
    with pytest.raises(InvalidRecordError):
        store.upsert(Record("a", "t", GOOD), tenant="t1")


def test_every_usage_error_is_a_value_error():
    for _, error in BAD_RECORDS.values():
        assert issubclass(error, UsageError) and issubclass(error, ValueError)


def test_reopening_with_other_dimensions_is_refused(make_store):
    if make_store.backend == "memory":
        pytest.skip("an in-memory store cannot be reopened")
    make_store(8).upsert([Record("a", "t", GOOD)], tenant="t1")
    with pytest.raises(DimensionMismatchError):
        make_store(16)


def test_sqlite_locked_file_raises_store_error_and_keeps_data(tmp_path):
    path = tmp_path / "locked.db"
    store = SQLiteStore(path, 8, timeout_s=0.05)
    store.upsert([Record("a", "t", GOOD)], tenant="t1")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as info:
            store.upsert([Record("b", "t", GOOD)], tenant="t1")
        assert isinstance(info.value.__cause__, sqlite3.Error)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert store.count(tenant="t1") == 1
    store.upsert([Record("b", "t", GOOD)], tenant="t1")
    assert store.count(tenant="t1") == 2
    store.close()


def test_sqlite_unopenable_path_raises_store_error(tmp_path):
    with pytest.raises(StoreError):
        SQLiteStore(tmp_path / "no" / "such" / "dir.db", 8)


def test_postgres_bad_dsn_raises_store_error(pg_dsn):  # pg_dsn: needs psycopg and pgvector
    from contextwise.stores import PostgresStore

    with pytest.raises(StoreError):
        PostgresStore("postgresql://nobody@127.0.0.1:1/none", 8, connect_timeout_s=1)


def test_postgres_failure_mid_call_raises_store_error_and_store_recovers(pg_dsn, pg_table):
    import psycopg

    from contextwise.stores import PostgresStore

    store = PostgresStore(pg_dsn, 8, pg_table)
    store.upsert([Record("a", "t", GOOD)], tenant="t1")
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(f'ALTER TABLE "{pg_table}" RENAME TO "{pg_table}_away"')
        with pytest.raises(StoreError) as info:
            store.count(tenant="t1")
        assert isinstance(info.value.__cause__, psycopg.Error)
        admin.execute(f'ALTER TABLE "{pg_table}_away" RENAME TO "{pg_table}"')
    assert store.count(tenant="t1") == 1
    store.close()
