"""BM25Index: scores against the Lucene BM25 formula, tenant partitions, add / replace / remove."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import need

from contextwise.embed import BM25Index, Scored
from contextwise.errors import UsageError

DOCS = {
    "d1": "The cat sat on the mat with another cat",
    "d2": "A dog chased the cat across the garden",
    "d3": "Dogs and cats rarely agree on anything",
    "d4": "Quarterly revenue grew while costs fell",
    "d5": "The garden was full of roses and a sleepy dog",
}


@pytest.fixture()
def index() -> BM25Index:
    idx = BM25Index()
    idx.add(list(DOCS), list(DOCS.values()), tenant="t1")
    return idx


def lucene_bm25(query: list[str], docs: dict[str, list[str]], k1: float = 1.5, b: float = 0.75) -> dict[str, float]:
    """Lucene's BM25 (no (k1 + 1) factor), written out independently of the index under test."""
    n = len(docs)
    avgdl = sum(len(t) for t in docs.values()) / n
    scores = {}
    for doc_id, terms in docs.items():
        tf = Counter(terms)
        score = 0.0
        for term in query:
            df = sum(term in t for t in docs.values())
            if tf[term]:
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score += idf * tf[term] / (tf[term] + k1 * (1 - b + b * len(terms) / avgdl))
        if score > 0:
            scores[doc_id] = score
    return scores


@pytest.mark.parametrize("query", ["cat", "dog garden", "the cat and the dog", "revenue costs", "zebra"])
def test_bm25_scores_follow_the_lucene_formula(index, query):
    docs = {i: index.tokenize(t) for i, t in DOCS.items()}
    expected = lucene_bm25(index.tokenize(query), docs)
    got = index.search(query, k=10, tenant="t1")
    assert {h.id for h in got} == set(expected)
    for hit in got:
        assert hit.score == pytest.approx(expected[hit.id], rel=1e-5)
    assert [h.score for h in got] == sorted((h.score for h in got), reverse=True)


def test_bm25_drops_stopwords_and_lowercases(index):
    assert index.tokenize("The CAT and a Dog") == ["cat", "dog"]
    assert index.search("the and a", tenant="t1") == []
    assert BM25Index(stopwords=()).tokenize("The cat") == ["the", "cat"]


def test_bm25_k_limits_results_and_keeps_the_best(index):
    full = index.search("cat dog garden", k=10, tenant="t1")
    assert index.search("cat dog garden", k=2, tenant="t1") == full[:2]


def test_bm25_ties_come_in_insertion_order():
    idx = BM25Index()
    idx.add(["z", "y", "x", "w"], ["apple pie", "apple pie", "apple pie", "banana"], tenant="t")
    assert [h.id for h in idx.search("apple", k=2, tenant="t")] == ["z", "y"]
    idx.remove(["z"], tenant="t")
    idx.add(["v"], ["apple pie"], tenant="t")  # takes z's freed slot, but was inserted last
    assert [h.id for h in idx.search("apple", k=3, tenant="t")] == ["y", "x", "v"]


def test_bm25_add_replaces_an_existing_id(index):
    index.add(["d4"], ["a cat in the boardroom"], tenant="t1")
    assert index.count(tenant="t1") == len(DOCS)
    assert "d4" in {h.id for h in index.search("cat", tenant="t1")}
    assert index.search("revenue", tenant="t1") == []


def test_bm25_remove_takes_ids_out_and_counts_them(index):
    assert index.remove(["d1", "d2", "missing"], tenant="t1") == 2
    assert index.count(tenant="t1") == 3
    hits = {h.id for h in index.search("cat", tenant="t1")}
    assert not hits & {"d1", "d2"}
    assert index.remove(["d1"], tenant="nobody") == 0


def test_bm25_one_tenant_never_sees_or_shifts_another(index):
    before = index.search("cat dog", tenant="t1")
    index.add(["x1", "x2"], ["cat cat cat", "dog"], tenant="t2")
    assert index.search("cat dog", tenant="t1") == before
    assert {h.id for h in index.search("cat dog", tenant="t2")} == {"x1", "x2"}
    assert index.search("cat", tenant="t3") == []


words = st.sampled_from(["alpha", "beta", "gamma", "delta", "omega", "sigma", "tau"])
corpora = st.dictionaries(st.sampled_from([f"id{i}" for i in range(12)]),
                          st.lists(words, min_size=1, max_size=6).map(" ".join), max_size=8)


@settings(max_examples=40, deadline=None)
@given(corpora, corpora, st.lists(words, min_size=1, max_size=3).map(" ".join))
def test_bm25_tenant_results_equal_a_private_index(mine, theirs, query):
    shared, private = BM25Index(), BM25Index()
    shared.add(list(mine), list(mine.values()), tenant="me")
    shared.add(list(theirs), list(theirs.values()), tenant="them")
    private.add(list(mine), list(mine.values()), tenant="me")
    assert shared.search(query, k=20, tenant="me") == private.search(query, k=20, tenant="me")
    assert {h.id for h in shared.search(query, k=20, tenant="me")} <= set(mine)


@pytest.mark.parametrize("call", [
    lambda i: i.add(["a", "b"], ["only one"], tenant="t"),
    lambda i: i.add("a", "text", tenant="t"),
    lambda i: i.search("x", k=0, tenant="t"),
    lambda i: i.search("x", tenant=""),
    lambda i: BM25Index(stopwords="english"),
    lambda i: BM25Index(b=1.5),
], ids=["length-mismatch", "bare-strings", "k-zero", "empty-tenant", "stopword-language", "b-above-one"])
def test_bm25_rejects_bad_calls(call):
    with pytest.raises(UsageError):
        call(BM25Index())


def test_bm25_results_are_scored_ids(index):
    hit = index.search("cat", k=1, tenant="t1")[0]
    assert isinstance(hit, Scored) and isinstance(hit.score, float)


def test_bm25_stopwords_are_lucenes_english_list():
    stopwords = need("bm25s.stopwords")
    assert BM25Index().stopwords == frozenset(stopwords.STOPWORDS_EN)


ops = st.lists(st.tuples(st.sampled_from(["add", "remove"]), st.sampled_from([f"id{i}" for i in range(8)]),
                         st.lists(words, min_size=1, max_size=5).map(" ".join)), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(ops, st.lists(words, min_size=1, max_size=4).map(" ".join))
def test_bm25_after_any_adds_and_removes_scores_equal_bm25s_built_fresh(operations, query):
    bm25s = need("bm25s")
    index, live = BM25Index(), {}
    for op, doc_id, text in operations:
        if op == "add":
            index.add([doc_id], [text], tenant="t")
            live[doc_id] = text
        else:
            assert index.remove([doc_id], tenant="t") == (live.pop(doc_id, None) is not None)
    got = {h.id: h.score for h in index.search(query, k=50, tenant="t")}
    if not live:
        assert got == {}
        return
    reference = bm25s.BM25(method="lucene")
    order = list(live)
    reference.index([index.tokenize(live[i]) for i in order], show_progress=False)
    term_ids = reference.get_tokens_ids(index.tokenize(query))
    expected = dict(zip(order, reference.get_scores_from_ids(term_ids))) if term_ids else {}
    assert got.keys() == {i for i, score in expected.items() if score > 0}
    assert all(got[i] == pytest.approx(expected[i], rel=1e-4) for i in got)


@pytest.mark.parametrize("query", ["cat", "dog garden", "the cat and the dog", "revenue costs"])
def test_bm25_one_formula_in_compression_documents_and_memory(index, query):
    from contextwise.compress import Bm25Scorer
    from contextwise.documents import Hybrid, rank
    from contextwise.embed import analyze, bm25_scores
    from contextwise.types import Chunk

    one_off = bm25_scores([analyze(t) for t in DOCS.values()], analyze(query))
    indexed = {h.id: h.score for h in index.search(query, k=10, tenant="t1")}
    assert one_off.tolist() == pytest.approx([indexed.get(i, 0.0) for i in DOCS], rel=1e-5)
    # documents and compression scale the same scores to [0, 1]: the best text is the same everywhere
    ranked = rank([Chunk(i, t) for i, t in DOCS.items()], query, relevance=Hybrid(lexical=1.0))
    sentences = Bm25Scorer().score(list(DOCS.values()), query).relevance
    best = max(indexed, key=indexed.get)
    assert ranked[0].chunk.id == best == list(DOCS)[int(sentences.argmax())]
