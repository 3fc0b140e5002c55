"""Partitions inside a tenant: searches (dense and lexical) stay inside one; writes to several are one
transaction, optionally compare-and-set; drop_tenant erases every partition. Every back-end."""

from __future__ import annotations

import pytest

from contextwise.stores import ExactSearch, InvalidTenantError, WriteConflictError
from contextwise.types import Record


def _rec(i, text, vectors, *, seed=0):
    return Record(i, text, tuple(map(float, vectors.unit(1, seed=seed)[0])))


def test_searches_stay_inside_their_partition(store, vectors):
    store.upsert([_rec("a", "red apples", vectors, seed=1)], tenant="t", partition="episodic")
    store.upsert([_rec("b", "red apples again", vectors, seed=1)], tenant="t", partition="semantic")
    store.upsert([_rec("c", "red apples default", vectors, seed=1)], tenant="t")
    q = vectors.unit(1, seed=1)[0]
    for partition, expected in (("episodic", "a"), ("semantic", "b"), ("", "c")):
        assert [h.record.id for h in store.query(q, 5, tenant="t", partition=partition)] == [expected]
        assert [h.record.id for h in store.search_text("apples", 5, tenant="t", partition=partition)] == [expected]
    assert [h.record.id for h in store.query(q, 5, tenant="t")] == ["c"]  # '' is a partition like the others
    assert store.count(tenant="t") == 3 and store.count(tenant="t", partition="semantic") == 1
    assert [r.id for r in store.scan(tenant="t", partition="episodic")] == ["a"]
    assert store.search_text("apples", 5, tenant="other") == []


def test_lexical_search_follows_updates_and_deletes(store, vectors):
    store.upsert([_rec("a", "the blue whale", vectors), _rec("b", "a grey heron", vectors, seed=2)], tenant="t")
    assert [h.record.id for h in store.search_text("whale", 5, tenant="t")] == ["a"]
    store.upsert([Record("a", "the red fox", None)], tenant="t")
    assert store.search_text("whale", 5, tenant="t") == []
    assert [h.record.id for h in store.search_text("fox", 5, tenant="t")] == ["a"]
    store.delete(["a"], tenant="t")
    assert store.search_text("fox", 5, tenant="t") == []
    assert [h.record.id for h in store.search_text("heron whale fox", 5, tenant="t")] == ["b"]


def test_lexical_search_ranks_by_bm25_and_honours_where(store, vectors):
    texts = ["cats and dogs", "cats cats cats", "dogs only here", "nothing relevant", "a cat"]
    store.upsert([Record(f"r{i}", t, None, {"n": i}) for i, t in enumerate(texts)], tenant="t")
    store.upsert([Record(f"x{i}", "filler words about weather", None) for i in range(20)], tenant="t")
    hits = store.search_text("cats", 5, tenant="t")
    assert [h.record.id for h in hits][:2] == ["r1", "r0"] and all(h.score > 0 for h in hits)
    assert [h.record.id for h in store.search_text("cats", 5, tenant="t", where={"n": 0})] == ["r0"]
    assert store.search_text("the and of", 5, tenant="t") == []  # stop words only


def test_a_record_moved_to_another_partition_leaves_the_first(store, vectors):
    store.upsert([_rec("a", "moving day", vectors)], tenant="t", partition="one")
    store.upsert([_rec("a", "moving day", vectors)], tenant="t", partition="two")
    q = vectors.unit(1, seed=0)[0]
    assert store.query(q, 5, tenant="t", partition="one") == []
    assert store.search_text("moving", 5, tenant="t", partition="one") == []
    assert [h.record.id for h in store.query(q, 5, tenant="t", partition="two")] == ["a"]


def test_upsert_partitions_is_one_transaction_and_compare_and_set(store, vectors):
    store.upsert([Record("f", "old text", None)], tenant="t", partition="facts")
    with pytest.raises(WriteConflictError):
        store.upsert_partitions({"facts": [Record("f", "new text", None)], "log": [Record("h", "change", None)]},
                                tenant="t", expect={"f": "stale text"})
    assert store.get(["f"], tenant="t")[0].text == "old text" and store.get(["h"], tenant="t") == []
    store.upsert_partitions({"facts": [Record("f", "new text", None)], "log": [Record("h", "change", None)]},
                            tenant="t", expect={"f": "old text", "g": None})
    assert store.get(["f"], tenant="t")[0].text == "new text"
    assert [r.id for r in store.scan(tenant="t", partition="log")] == ["h"]


def test_drop_tenant_erases_every_partition(store, vectors):
    for partition in ("", "episodic", "semantic"):
        store.upsert([_rec(f"r-{partition}", "secret words", vectors)], tenant="alice", partition=partition)
    store.upsert([_rec("keep", "secret words", vectors)], tenant="bob", partition="episodic")
    assert store.drop_tenant("alice") == 3
    for partition in ("", "episodic", "semantic"):
        assert store.search_text("secret", 5, tenant="alice", partition=partition) == []
        assert store.query(vectors.unit(1)[0], 5, tenant="alice", partition=partition) == []
    assert [h.record.id for h in store.search_text("secret", 5, tenant="bob", partition="episodic")] == ["keep"]


@pytest.mark.parametrize("partition", [" ", "a/b", "-x", "x\n", None, 3], ids=repr)
def test_bad_partition_names_are_refused(store, partition):
    with pytest.raises(InvalidTenantError):
        store.upsert([Record("a", "t", None)], tenant="t", partition=partition)
    with pytest.raises(InvalidTenantError):
        store.search_text("t", 5, tenant="t", partition=partition)


def test_make_store_exact(make_store):
    assert make_store(search=ExactSearch()).count(tenant="t") == 0


def test_lexical_scores_are_the_partitions_own(make_store):
    """Words written to other partitions and tenants do not move a partition's lexical scores (SQLite: once a
    partition has an FTS5 table of its own; here at its first record)."""
    options = {"lexical_table_min_records": 1} if make_store.backend == "sqlite" else {}
    store = make_store(search=ExactSearch(), **options)
    texts = ["red apples and pears", "green apples", "a pear tree", "apples apples everywhere", "plums"]
    store.upsert([Record(f"e{i}", t, None) for i, t in enumerate(texts)], tenant="t", partition="episodic")
    before = [(h.record.id, h.score) for h in store.search_text("apples pear", 5, tenant="t", partition="episodic")]
    assert [i for i, _ in before][:1] and {i for i, _ in before} == {"e0", "e1", "e2", "e3"}
    store.upsert([Record(f"s{i}", "apples pear apples", None) for i in range(30)], tenant="t", partition="semantic")
    store.upsert([Record(f"o{i}", "pear", None) for i in range(30)], tenant="other", partition="episodic")
    after = [(h.record.id, h.score) for h in store.search_text("apples pear", 5, tenant="t", partition="episodic")]
    assert after == before
