"""Metadata filters behave the same on every back-end: equality, $in, numeric ranges, $ne / $nin, strict types."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contextwise.stores import InMemoryStore, InvalidFilterError
from contextwise.types import Record

ROWS = {
    "a": {"kind": "fact", "year": 2019, "score": 0.5, "flag": True},
    "b": {"kind": "event", "year": 2021, "score": 1.5, "flag": False},
    "c": {"kind": "fact", "year": 2023, "score": 2.5},
    "d": {"kind": "note", "year": "2021", "flag": 1},
    "e": {},
}

CASES = [
    ({"kind": "fact"}, {"a", "c"}),
    ({"kind": {"$eq": "event"}}, {"b"}),
    ({"kind": {"$in": ["event", "note"]}}, {"b", "d"}),
    ({"kind": {"$in": []}}, set()),
    ({"year": {"$gte": 2021}}, {"b", "c"}),
    ({"year": {"$gt": 2019, "$lt": 2023}}, {"b"}),
    ({"score": {"$lte": 1.5}}, {"a", "b"}),
    ({"year": 2021}, {"b"}),
    ({"year": "2021"}, {"d"}),
    ({"flag": True}, {"a"}),
    ({"flag": 1}, {"d"}),
    ({"flag": False}, {"b"}),
    ({"kind": {"$ne": "fact"}}, {"b", "d", "e"}),
    ({"kind": {"$nin": ["fact", "note"]}}, {"b", "e"}),
    ({"kind": "fact", "year": {"$gt": 2020}}, {"c"}),
    ({"year": 2021.0}, {"b"}),
    ({"missing": "x"}, set()),
    ({}, {"a", "b", "c", "d", "e"}),
]


@pytest.fixture
def filled(store, vectors):
    vecs = vectors.unit(len(ROWS))
    store.upsert([Record(rid, rid, tuple(map(float, v)), meta) for (rid, meta), v in zip(ROWS.items(), vecs)],
                 tenant="t1")
    return store


@pytest.mark.parametrize("where,expected", CASES, ids=[str(c[0]) for c in CASES])
def test_filter_selects_the_same_rows_in_query_and_scan(filled, vectors, where, expected):
    assert {r.id for r in filled.scan(tenant="t1", where=where)} == expected
    assert {h.record.id for h in filled.query(vectors.unit(1, seed=3)[0], 10, tenant="t1", where=where)} == expected


@pytest.mark.parametrize("where", [
    {"kind": {"$regex": "f.*"}}, {"year": {"$gt": "2020"}}, {"year": {"$lt": True}}, {"kind": {"$in": "fact"}},
    {"bad field!": 1}, {"kind": {}}, {"kind": ["fact"]}, {"score": float("nan")}, {"x": {"$eq": None}},
    {"year": 2**64}, {"year": {"$gt": -(2**63) - 1}}, {"year": {"$in": [1, 10**30]}}, {"kind\n": "fact"},
], ids=str)
def test_bad_filter_raises_invalid_filter_error(filled, vectors, where):
    with pytest.raises(InvalidFilterError):
        filled.scan(tenant="t1", where=where)
    with pytest.raises(InvalidFilterError):
        filled.query(vectors.unit(1)[0], 3, tenant="t1", where=where)


_values = st.one_of(st.booleans(), st.integers(-3, 3), st.sampled_from([0.5, -1.5, 2.0]),
                    st.sampled_from(["x", "y", "3"]))
_metadata = st.dictionaries(st.sampled_from(["f", "g"]), _values, max_size=2)
_ops = st.sampled_from(["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte"])


@st.composite
def _wheres(draw):
    where = {}
    for field in draw(st.lists(st.sampled_from(["f", "g"]), max_size=2, unique=True)):
        op = draw(_ops)
        if op in ("$in", "$nin"):
            where[field] = {op: draw(st.lists(_values, max_size=3))}
        elif op.startswith(("$g", "$l")):
            where[field] = {op: draw(st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.5])))}
        else:
            where[field] = {op: draw(_values)}
    return where


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(metadata=st.lists(_metadata, min_size=1, max_size=8), where=_wheres())
def test_sql_back_ends_filter_like_the_in_memory_store(store, metadata, where):
    if store.name == "memory":
        pytest.skip("the in-memory store is the reference")
    reference = InMemoryStore(8)
    records = [Record(f"r{i}", "t", None, meta) for i, meta in enumerate(metadata)]
    store.drop_tenant("p")
    for target in (store, reference):
        target.upsert(records, tenant="p")
    expected = {r.id for r in reference.scan(tenant="p", where=where)}
    assert {r.id for r in store.scan(tenant="p", where=where)} == expected
