"""SQLiteStore's per-tenant matrix cache (and its HNSW index) follows every write, its own and another
connection's, so a query never answers from stale vectors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contextwise.stores import ExactSearch, HnswSearch, SQLiteStore
from contextwise.types import Record

DIMS = 6
_vector = st.lists(st.integers(-3, 3), min_size=DIMS, max_size=DIMS).filter(any)
_op = st.one_of(
    st.tuples(st.just("upsert"), st.lists(st.tuples(st.integers(0, 30), st.one_of(st.none(), _vector)),
                                          min_size=1, max_size=6, unique_by=lambda x: x[0])),
    st.tuples(st.just("delete"), st.lists(st.integers(0, 30), max_size=5)),
)


def _expected(model, query, k):
    q = np.asarray(query, dtype=np.float64) / np.linalg.norm(query)
    scores = {rid: float(np.dot(v, q) / np.linalg.norm(v)) for rid, v in model.items() if v is not None}
    return scores, min(k, len(scores))


@pytest.mark.parametrize("search", [ExactSearch(), HnswSearch(min_vectors=4, ef_search=64)], ids=["exact", "hnsw"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(_op, min_size=1, max_size=12), query=_vector)
def test_reader_cache_follows_writes_of_another_connection(tmp_path_factory, search, ops, query):
    path = tmp_path_factory.mktemp("cache") / "s.db"
    with SQLiteStore(path, DIMS, search=ExactSearch()) as writer, SQLiteStore(path, DIMS, search=search) as reader:
        model: dict[str, tuple | None] = {}
        for kind, payload in ops:
            if kind == "upsert":
                writer.upsert([Record(f"r{i}", "t", None if v is None else tuple(map(float, v)))
                               for i, v in payload], tenant="t")
                model.update((f"r{i}", v) for i, v in payload)
            else:
                writer.delete([f"r{i}" for i in payload], tenant="t")
                for i in payload:
                    model.pop(f"r{i}", None)
            scores, count = _expected(model, query, 5)
            hits = reader.query(tuple(map(float, query)), 5, tenant="t")
            assert len(hits) == count
            kth = sorted(scores.values(), reverse=True)[count - 1] if count else 0.0
            assert all(scores[h.record.id] >= kth - 1e-5 for h in hits)


def test_own_writes_are_seen_by_the_next_query(tmp_path):
    with SQLiteStore(tmp_path / "s.db", 2, search=HnswSearch(min_vectors=2)) as store:
        store.upsert([Record("a", "t", (1.0, 0.0)), Record("b", "t", (0.0, 1.0)), Record("c", "t", (-1.0, 0.0))],
                     tenant="t")
        assert store.query((1.0, 0.1), 1, tenant="t")[0].record.id == "a"
        store.upsert([Record("a", "t", (-1.0, 0.1))], tenant="t")
        assert store.query((1.0, 0.1), 1, tenant="t")[0].record.id == "b"
        store.delete(["b"], tenant="t")
        assert [h.record.id for h in store.query((1.0, 0.1), 3, tenant="t")] in (["a", "c"], ["c", "a"])
