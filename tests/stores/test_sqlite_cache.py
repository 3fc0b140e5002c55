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


def _fill(store, vectors, ids, *, seed, tenant="t"):
    matrix = vectors.clustered(len(ids), 16, seed=seed, clusters=4)
    store.upsert([Record(i, "t", tuple(map(float, v))) for i, v in zip(ids, matrix)], tenant=tenant)
    return dict(zip(ids, matrix))


def _assert_exact_top(store, model, queries, k=5):
    for q in queries:
        unit = {i: v / np.linalg.norm(v) for i, v in model.items()}
        exact = sorted(unit, key=lambda i: -float(unit[i] @ q))[:k]
        assert {h.record.id for h in store.query(q, k, tenant="t")} == set(exact)


@pytest.mark.parametrize("damage", ["none", "corrupt state", "other parameters"])
def test_saved_hnsw_index_is_reused_patched_or_rebuilt_and_stays_correct(tmp_path, vectors, damage):
    path = tmp_path / "s.db"
    search = HnswSearch(min_vectors=50, ef_search=200)
    queries = vectors.clustered(10, 16, seed=9, clusters=4)
    with SQLiteStore(path, 16, search=search) as first:
        model = _fill(first, vectors, [f"a{i}" for i in range(300)], seed=1)
        _assert_exact_top(first, model, queries)  # answered exactly while the first query builds in the background
        assert first.wait_for_builds(120)
    saved = list((tmp_path / "s.db.hnsw").glob("*/state.json"))
    assert len(saved) == 1
    if damage == "corrupt state":
        saved[0].write_text("{not json")
    with SQLiteStore(path, 16, search=ExactSearch()) as writer:  # changes made while no index is open
        model.update(_fill(writer, vectors, [f"b{i}" for i in range(20)], seed=2))
        writer.delete([f"a{i}" for i in range(10)], tenant="t")
        for i in range(10):
            model.pop(f"a{i}")
    later = HnswSearch(min_vectors=50, ef_search=200, m=24 if damage == "other parameters" else 16)
    with SQLiteStore(path, 16, search=later) as second:
        _assert_exact_top(second, model, queries)


def test_drop_tenant_removes_the_saved_index(tmp_path, vectors):
    with SQLiteStore(tmp_path / "s.db", 16, search=HnswSearch(min_vectors=50)) as store:
        _fill(store, vectors, [f"a{i}" for i in range(60)], seed=1)
        store.query(vectors.clustered(1, 16)[0], 3, tenant="t")  # starts the build, answers exactly
        assert store.wait_for_builds(120)
        assert list((tmp_path / "s.db.hnsw").glob("*/state.json"))
        store.drop_tenant("t")
        assert not list((tmp_path / "s.db.hnsw").glob("*/state.json"))


def test_build_index_indexes_large_tenants_on_request_and_saves_it(tmp_path, vectors):
    search = HnswSearch(min_vectors=50, ef_search=200)
    queries = vectors.clustered(10, 16, seed=9, clusters=4)
    with SQLiteStore(tmp_path / "s.db", 16, search=search) as store:
        model = _fill(store, vectors, [f"a{i}" for i in range(300)], seed=1)
        _fill(store, vectors, [f"s{i}" for i in range(10)], seed=3, tenant="small")
        built = store.build_indexes()
        assert [(b.tenant, b.vectors, b.built) for b in built] == [("t", 300, True)]
        assert list((tmp_path / "s.db.hnsw").glob("*/state.json"))
        assert store.build_index(tenant="t").built is False  # already there
        _assert_exact_top(store, model, queries)
    with SQLiteStore(tmp_path / "s.db", 16, search=search) as reopened:
        assert reopened.build_index(tenant="t").built is False  # loaded from disk, not rebuilt


def test_build_index_patches_in_writes_made_while_it_built(tmp_path, vectors, monkeypatch):
    from contextwise.stores import _hnsw

    search = HnswSearch(min_vectors=50, ef_search=200)
    queries = vectors.clustered(10, 16, seed=9, clusters=4)
    with SQLiteStore(tmp_path / "s.db", 16, search=search) as store:
        model = _fill(store, vectors, [f"a{i}" for i in range(200)], seed=1)
        real_build = _hnsw.HnswIndex.build

        def build_then_write(unit, labels, params):
            index = real_build(unit, labels, params)
            assert store.query(queries[0], 3, tenant="t")  # the store answers (exactly) during the build
            model.update(_fill(store, vectors, [f"b{i}" for i in range(20)], seed=2))
            store.delete([f"a{i}" for i in range(10)], tenant="t")
            for i in range(10):
                model.pop(f"a{i}")
            return index

        monkeypatch.setattr(_hnsw.HnswIndex, "build", staticmethod(build_then_write))
        assert store.build_index(tenant="t").built
        monkeypatch.undo()
        _assert_exact_top(store, model, queries)


def test_build_index_needs_an_hnsw_store(tmp_path):
    from contextwise.errors import UsageError

    with SQLiteStore(tmp_path / "s.db", 4, search=ExactSearch()) as store, pytest.raises(UsageError):
        store.build_index(tenant="t")


def test_no_query_builds_an_index_under_the_lock(tmp_path, vectors, monkeypatch):
    """The first unfiltered query of a large partition starts a background build and is answered exactly; the
    store's other calls go on while the graph is built, and once built the index serves the queries."""
    import threading

    from contextwise.stores import _hnsw

    release = threading.Event()
    started = threading.Event()
    real_build = _hnsw.HnswIndex.build

    def slow_build(unit, labels, params):
        started.set()
        release.wait(60)
        return real_build(unit, labels, params)

    monkeypatch.setattr(_hnsw.HnswIndex, "build", staticmethod(slow_build))
    search = HnswSearch(min_vectors=50, ef_search=200)
    queries = vectors.clustered(5, 16, seed=9, clusters=4)
    with SQLiteStore(tmp_path / "s.db", 16, search=search) as store:
        model = _fill(store, vectors, [f"a{i}" for i in range(120)], seed=1)
        _assert_exact_top(store, model, queries)  # exact answers; the build has started meanwhile
        assert started.wait(60)
        served: list = []
        caller = threading.Thread(target=lambda: served.append(
            (store.count(tenant="t"), store.query(queries[0], 3, tenant="t"),
             store.upsert([Record("z", "t", tuple(map(float, queries[0])))], tenant="other"))))
        caller.start()
        caller.join(60)
        alive = caller.is_alive()
        release.set()
        assert not alive, "a store call waited for the index build"
        assert served[0][0] == 120
        assert store.wait_for_builds(120)
        assert list((tmp_path / "s.db.hnsw").glob("*/state.json"))
        _assert_exact_top(store, model, queries)
