"""PostgreSQL: a tenant that grows past HnswSearch.min_vectors gets its own partial HNSW index; filtered
queries stay exact (pgvector 0.6's HNSW with a WHERE loses most rows), and dropping the tenant drops its index."""

from __future__ import annotations

import numpy as np
import pytest

from contextwise.stores import HnswSearch
from contextwise.types import Record


def _indexes(dsn, table):
    import psycopg

    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s AND indexdef "
                                           "LIKE %s", (table, "%hnsw%"))]


@pytest.mark.slow
def test_large_tenant_gets_a_partial_hnsw_index_and_filters_stay_exact(pg_dsn, pg_table, vectors):
    from contextwise.stores import PostgresStore

    dims = 16
    with PostgresStore(pg_dsn, dims, pg_table, search=HnswSearch(min_vectors=400)) as store:
        big = vectors.clustered(600, dims, seed=1, clusters=6)
        for start in range(0, 600, 100):
            store.upsert([Record(f"r{i}", "big", tuple(map(float, big[i])), {"half": i % 2})
                          for i in range(start, start + 100)], tenant="big")
        store.upsert([Record(f"r{i}", "small", tuple(map(float, v)))
                      for i, v in enumerate(vectors.clustered(50, dims, seed=2))], tenant="small")
        (definition,) = _indexes(pg_dsn, pg_table)
        assert "WHERE (tenant = 'big'::text)" in definition
        unit = big / np.linalg.norm(big, axis=1, keepdims=True)
        odd = np.arange(600) % 2 == 1
        for q in vectors.clustered(20, dims, seed=3, clusters=6):
            exact = {f"r{i}" for i in np.flatnonzero(odd)[np.argsort(-(unit[odd] @ q))[:10]]}
            hits = store.query(q, 10, tenant="big", where={"half": 1})
            assert {h.record.id for h in hits} == exact
        assert store.drop_tenant("big") == 600
        assert _indexes(pg_dsn, pg_table) == []
