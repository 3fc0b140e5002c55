"""One conformance suite, run unchanged against the in-memory, SQLite and PostgreSQL stores."""

from __future__ import annotations

import numpy as np
import pytest

from contextwise.errors import StoreError
from contextwise.protocols import VectorStore
from contextwise.types import Record


def _records(vectors, count, *, prefix="r", metadata=None):
    vecs = vectors.unit(count, seed=hash(prefix) % 1000)
    return [Record(f"{prefix}{i}", f"text {prefix}{i}", tuple(map(float, vecs[i])),
                   metadata(i) if metadata else {"i": i}, created_at=float(i)) for i in range(count)]


def _exact_ids(records, query, k):
    matrix = np.array([r.vector for r in records], dtype=np.float32)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    q = np.asarray(query, dtype=np.float32) / np.linalg.norm(query)
    order = np.argsort(-(matrix @ q), kind="stable")[:k]
    return [records[i].id for i in order]


def test_store_implements_the_protocol(store):
    assert isinstance(store, VectorStore)
    assert store.dimensions == 8 and store.name in {"memory", "sqlite", "postgres"}


def test_upsert_inserts_and_get_returns_in_asked_order(store, vectors):
    records = _records(vectors, 5)
    store.upsert(records, tenant="t1")
    got = store.get(["r3", "missing", "r0"], tenant="t1")
    assert [r.id for r in got] == ["r3", "r0"]
    assert got[0].text == "text r3" and got[0].metadata == {"i": 3} and got[0].created_at == 3.0
    assert np.allclose(got[0].vector, records[3].vector, atol=1e-6)


def test_upsert_replaces_by_id(store, vectors):
    store.upsert(_records(vectors, 3), tenant="t1")
    new_vector = tuple(map(float, vectors.unit(1, seed=99)[0]))
    store.upsert([Record("r1", "replaced", new_vector, {"v": 2})], tenant="t1")
    assert store.count(tenant="t1") == 3
    (record,) = store.get(["r1"], tenant="t1")
    assert (record.text, record.metadata) == ("replaced", {"v": 2})
    assert store.query(new_vector, 1, tenant="t1")[0].record.id == "r1"


def test_query_returns_exact_top_k_best_first(store, vectors):
    records = _records(vectors, 60)
    store.upsert(records, tenant="t1")
    query = vectors.unit(1, seed=7)[0]
    hits = store.query(query, 5, tenant="t1")
    assert [h.record.id for h in hits] == _exact_ids(records, query, 5)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True) and -1.0 <= scores[-1] <= scores[0] <= 1.0 + 1e-6


def test_query_scores_are_cosine_similarity(store):
    store.upsert([Record("a", "a", (2.0, 0, 0, 0, 0, 0, 0, 0)), Record("b", "b", (1.0, 1.0, 0, 0, 0, 0, 0, 0))],
                 tenant="t1")
    hits = {h.record.id: h.score for h in store.query((3.0, 0, 0, 0, 0, 0, 0, 0), 2, tenant="t1")}
    assert hits["a"] == pytest.approx(1.0, abs=1e-5)
    assert hits["b"] == pytest.approx(2 ** -0.5, abs=1e-5)


def test_query_with_k_over_count_returns_all(store, vectors):
    store.upsert(_records(vectors, 4), tenant="t1")
    assert len(store.query(vectors.unit(1)[0], 50, tenant="t1")) == 4


def test_records_without_vector_are_stored_but_never_hit(store, vectors):
    store.upsert([Record("plain", "no vector"), *_records(vectors, 2)], tenant="t1")
    assert store.count(tenant="t1") == 3
    assert store.get(["plain"], tenant="t1")[0].vector is None
    assert "plain" not in {h.record.id for h in store.query(vectors.unit(1)[0], 10, tenant="t1")}


def test_unknown_tenant_is_empty(store, vectors):
    assert store.query(vectors.unit(1)[0], 3, tenant="nobody") == []
    assert store.count(tenant="nobody") == 0 and store.get(["r0"], tenant="nobody") == []


def test_delete_returns_how_many_existed(store, vectors):
    store.upsert(_records(vectors, 5), tenant="t1")
    assert store.delete(["r1", "r2", "nope"], tenant="t1") == 2
    assert store.delete(["r1"], tenant="t1") == 0
    assert store.count(tenant="t1") == 3
    assert {h.record.id for h in store.query(vectors.unit(1)[0], 10, tenant="t1")} == {"r0", "r3", "r4"}


def test_same_id_in_two_tenants_is_two_records(store, vectors):
    store.upsert(_records(vectors, 2), tenant="a")
    store.upsert([Record("r0", "other tenant", tuple(map(float, vectors.unit(1, seed=5)[0])))], tenant="b")
    assert store.get(["r0"], tenant="a")[0].text == "text r0"
    assert store.get(["r0"], tenant="b")[0].text == "other tenant"
    assert store.delete(["r0"], tenant="b") == 1 and store.count(tenant="a") == 2


def test_tenants_lists_non_empty_tenants_sorted(store, vectors):
    for tenant in ("zeta", "Alpha", "beta"):
        store.upsert(_records(vectors, 1), tenant=tenant)
    store.delete(["r0"], tenant="beta")
    assert store.tenants() == ["Alpha", "zeta"]


def test_drop_tenant_removes_only_that_tenant(store, vectors):
    store.upsert(_records(vectors, 3), tenant="a")
    store.upsert(_records(vectors, 2), tenant="b")
    assert store.drop_tenant("a") == 3
    assert store.count(tenant="a") == 0 and store.count(tenant="b") == 2
    assert store.query(vectors.unit(1)[0], 5, tenant="a") == []


def test_scan_orders_by_created_at_then_id_and_limits(store, vectors):
    created = {"r0": 3.0, "r1": 3.0, "r2": 2.0, "r3": 2.0, "r4": 1.0, "r5": 1.0}
    store.upsert([Record(r.id, r.text, r.vector, r.metadata, created_at=created[r.id])
                  for r in _records(vectors, 6)], tenant="t1")
    assert [r.id for r in store.scan(tenant="t1")] == ["r4", "r5", "r2", "r3", "r0", "r1"]
    assert [r.id for r in store.scan(tenant="t1", limit=2)] == ["r4", "r5"]


def test_empty_upsert_delete_and_get_are_no_ops(store):
    store.upsert([], tenant="t1")
    assert store.delete([], tenant="t1") == 0 and store.get([], tenant="t1") == []
    assert store.count(tenant="t1") == 0


def test_closed_store_raises_store_error(make_store):
    store = make_store()
    store.close()
    with pytest.raises(StoreError):
        store.count(tenant="t1")


def test_nested_metadata_round_trips(store, vectors):
    meta = {"tags": ["x", "y"], "source": {"url": "u", "page": 3}, "score": 0.25, "ok": True, "none": None}
    store.upsert([Record("m", "t", tuple(map(float, vectors.unit(1)[0])), meta)], tenant="t1")
    assert store.get(["m"], tenant="t1")[0].metadata == meta


def test_unicode_text_and_ids_round_trip(store, vectors):
    vector = tuple(map(float, vectors.unit(1)[0]))
    store.upsert([Record("ключ-🔑", "naïve café — 東京", vector)], tenant="t1")
    assert store.get(["ключ-🔑"], tenant="t1")[0].text == "naïve café — 東京"


def test_tenant_with_only_vectorless_records_has_no_hits(store, vectors):
    store.upsert([Record("plain", "no vector", None, {"k": 1})], tenant="t1")
    assert store.query(vectors.unit(1)[0], 3, tenant="t1") == []
    assert store.query(vectors.unit(1)[0], 3, tenant="t1", where={"k": 1}) == []
    assert [r.id for r in store.scan(tenant="t1", where={"k": 1})] == ["plain"]


def test_searches_without_vectors_give_the_same_hits_with_no_vector(store, vectors):
    records = [Record(r.id, f"apple pear {r.id}" if i % 3 else f"plum {r.id}", r.vector, r.metadata, r.created_at)
               for i, r in enumerate(_records(vectors, 30))]
    store.upsert(records, tenant="t1")
    query = vectors.unit(1, seed=5)[0]
    for search in (lambda **kw: store.query(query, 7, tenant="t1", **kw),
                   lambda **kw: store.query(query, 7, tenant="t1", where={"i": {"$gte": 10}}, **kw),
                   lambda **kw: store.search_text("apple plum", 7, tenant="t1", **kw)):
        full, bare = search(), search(vectors=False)
        assert full and all(h.record.vector is not None for h in full)
        assert [(h.record.id, h.record.text, h.record.metadata, h.record.created_at, h.score) for h in bare] == \
            [(h.record.id, h.record.text, h.record.metadata, h.record.created_at, h.score) for h in full]
        assert all(h.record.vector is None for h in bare)
    assert store.get(["r1"], tenant="t1")[0].vector is not None  # the stored record keeps its vector


@pytest.mark.parametrize("bad", [None, 0, 1, "no"])
def test_a_bad_vectors_flag_is_a_usage_error(store, vectors, bad):
    from contextwise.errors import UsageError

    store.upsert(_records(vectors, 3), tenant="t1")
    with pytest.raises(UsageError, match="vectors must be True or False"):
        store.query(vectors.unit(1)[0], 2, tenant="t1", vectors=bad)
    with pytest.raises(UsageError, match="vectors must be True or False"):
        store.search_text("text", 2, tenant="t1", vectors=bad)
