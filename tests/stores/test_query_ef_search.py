"""One query's HNSW ef_search (`query(..., ef_search=)`): a wider search finds what the store's own misses, on
SQLite (hnswlib) and PostgreSQL (pgvector, SET LOCAL in the query's transaction); exact queries and the
in-memory store check it and ignore it; a bad value is a UsageError before any work."""

from __future__ import annotations

import numpy as np
import pytest

from contextwise.errors import UsageError
from contextwise.stores import ExactSearch, HnswSearch, SQLiteStore
from contextwise.types import Record


def _records(vectors: np.ndarray) -> list[Record]:
    return [Record(f"r{i}", f"text {i}", tuple(float(x) for x in v)) for i, v in enumerate(vectors)]


def _recall(store, exact, queries, ef_search) -> float:
    found = 0
    for q in queries:
        want = {h.record.id for h in exact.query(q, 10, tenant="t")}
        found += len(want & {h.record.id for h in store.query(q, 10, tenant="t", ef_search=ef_search)})
    return found / (10 * len(queries))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_wider_search_of_one_query_finds_what_the_stores_own_misses(backend, request, tmp_path, vectors):
    data, queries = vectors.unit(3000, 64, seed=1), vectors.unit(30, 64, seed=2)
    narrow = HnswSearch(min_vectors=1, ef_search=10)
    if backend == "sqlite":
        store = SQLiteStore(tmp_path / "a.db", 64, search=narrow, build_in_background=False)
        exact = SQLiteStore(tmp_path / "a.db", 64, search=ExactSearch())
    else:
        from contextwise.stores import PostgresStore

        dsn, table = request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_table")
        store = PostgresStore(dsn, 64, table, search=narrow)
        exact = PostgresStore(dsn, 64, table, search=ExactSearch())
    try:
        store.upsert(_records(data), tenant="t")
        assert store.build_index(tenant="t").built
        own = _recall(store, exact, queries, None)
        assert own == _recall(store, exact, queries, 10) and own < 0.9  # the store's own ef_search is 10
        assert _recall(store, exact, queries, 3000) >= 0.99  # pgvector caps it at 1000
        assert _recall(store, exact, queries, None) == own  # one query's ef_search is not kept
    finally:
        store.close()
        exact.close()


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "800", 10**6])
def test_a_bad_ef_search_is_a_usage_error(make_store, vectors, bad):
    store = make_store(search=ExactSearch()) if make_store.backend != "memory" else make_store()
    store.upsert(_records(vectors.unit(5)), tenant="t")
    with pytest.raises(UsageError, match="ef_search"):
        store.query(vectors.unit(1)[0], 3, tenant="t", ef_search=bad)


def test_exact_queries_ignore_ef_search(store, vectors):
    store.upsert(_records(vectors.unit(50)), tenant="t")
    q = vectors.unit(1, seed=9)[0]
    assert [(h.record.id, h.score) for h in store.query(q, 5, tenant="t", ef_search=7)] == \
        [(h.record.id, h.score) for h in store.query(q, 5, tenant="t")]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_hnsw_query_without_vectors_gives_the_same_hits(backend, request, tmp_path, vectors):
    data, queries = vectors.unit(600, 64, seed=3), vectors.unit(10, 64, seed=4)
    if backend == "sqlite":
        store = SQLiteStore(tmp_path / "b.db", 64, search=HnswSearch(min_vectors=1), build_in_background=False)
    else:
        from contextwise.stores import PostgresStore

        store = PostgresStore(request.getfixturevalue("pg_dsn"), 64, request.getfixturevalue("pg_table"),
                              search=HnswSearch(min_vectors=1))
    try:
        store.upsert(_records(data), tenant="t")
        assert store.build_index(tenant="t").built
        for q in queries:
            full, bare = store.query(q, 10, tenant="t"), store.query(q, 10, tenant="t", vectors=False)
            assert [(h.record.id, h.score) for h in bare] == [(h.record.id, h.score) for h in full]
            assert all(h.record.vector is None for h in bare) and all(h.record.vector for h in full)
    finally:
        store.close()
