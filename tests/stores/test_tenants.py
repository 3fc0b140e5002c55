"""Tenants are hard partitions: no query ever returns another tenant's record, and a tenant's query returns the
exact top-k of that tenant (recall >= 0.99), on every back-end and on both search plans (exact and HNSW)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contextwise.stores import HnswSearch
from contextwise.types import Record

TENANTS = ["t0", "t1", "t2"]
_vector = st.lists(st.integers(-4, 4), min_size=8, max_size=8).filter(any)
_upsert = st.tuples(st.just("upsert"), st.sampled_from(TENANTS), st.lists(st.integers(0, 9), min_size=1,
                                                                           max_size=5, unique=True), st.data())
_delete = st.tuples(st.just("delete"), st.sampled_from(TENANTS), st.lists(st.integers(0, 9), max_size=4), st.none())


def _exact_scores(model, query):
    q = np.asarray(query, dtype=np.float64) / np.linalg.norm(query)
    return {rid: float(np.dot(v, q) / np.linalg.norm(v)) for rid, v in model.items()}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.one_of(_upsert, _delete), min_size=1, max_size=8), query=_vector, k=st.integers(1, 6))
def test_no_query_returns_another_tenants_record_and_top_k_is_exact(store, ops, query, k):
    for tenant in TENANTS:
        store.drop_tenant(tenant)
    model: dict[str, dict[str, tuple[float, ...]]] = {t: {} for t in TENANTS}
    for kind, tenant, ids, data in ops:
        if kind == "upsert":
            batch = [Record(f"id{i}", f"{tenant}/id{i}", tuple(map(float, data.draw(_vector)))) for i in ids]
            store.upsert(batch, tenant=tenant)
            model[tenant].update((r.id, r.vector) for r in batch)
        else:
            store.delete([f"id{i}" for i in ids], tenant=tenant)
            for i in ids:
                model[tenant].pop(f"id{i}", None)
    for tenant in TENANTS:
        hits = store.query(tuple(map(float, query)), k, tenant=tenant)
        assert all(h.record.text == f"{tenant}/{h.record.id}" for h in hits)
        exact = _exact_scores(model[tenant], query)
        assert len(hits) == min(k, len(exact))
        kth = sorted(exact.values(), reverse=True)[len(hits) - 1] if hits else 0.0
        assert all(exact[h.record.id] >= kth - 1e-5 for h in hits)
        assert store.count(tenant=tenant) == len(model[tenant])


def _recall(store, tenant, matrix, ids, queries, k=10):
    unit = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    found = 0
    for q in queries:
        exact = {ids[i] for i in np.argsort(-(unit @ q))[:k]}
        hits = store.query(q, k, tenant=tenant)
        assert all(h.record.text.startswith(f"{tenant}/") for h in hits)
        found += len(exact & {h.record.id for h in hits})
    return found / (k * len(queries))


@pytest.mark.slow
def test_recall_inside_a_tenant_on_both_search_plans(make_store, vectors):
    """A large tenant (over HnswSearch.min_vectors: HNSW where the back-end has one) beside small ones (exact)."""
    dims = 32
    store = make_store(dims, search=HnswSearch(min_vectors=1500))
    sizes = {"big": 2000, "small-a": 300, "small-b": 300}
    data = {}
    for seed, (tenant, size) in enumerate(sizes.items()):
        matrix = vectors.clustered(size, dims, seed=seed, clusters=8)
        ids = [f"r{i}" for i in range(size)]
        for start in range(0, size, 500):
            store.upsert([Record(ids[i], f"{tenant}/{ids[i]}", tuple(map(float, matrix[i])))
                          for i in range(start, min(size, start + 500))], tenant=tenant)
        data[tenant] = (matrix, ids)
    if hasattr(store, "build_indexes"):  # PostgreSQL indexes only when asked
        assert [b.tenant for b in store.build_indexes()] == ["big"]
    queries = vectors.clustered(40, dims, seed=99, clusters=8)
    for tenant, (matrix, ids) in data.items():
        assert _recall(store, tenant, matrix, ids, queries) >= 0.99, tenant
