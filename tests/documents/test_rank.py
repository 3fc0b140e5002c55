"""Ranking: relevance, recency and authority, with hand-checkable scores."""

from __future__ import annotations

import pytest
from support import need

from contextwise.documents import Dense, Hybrid, Precomputed, Ranked, RankWeights, rank
from contextwise.errors import UsageError
from contextwise.testing import HashEmbedder
from contextwise.types import Chunk

EMB = HashEmbedder(4096)


def test_rank_relevance_identical_text_scores_one_and_comes_first():
    chunks = [Chunk("far", "stock markets fell on tuesday"), Chunk("same", "cats purr softly")]
    ranked = rank(chunks, "cats purr softly", embedder=EMB)
    assert [r.chunk.id for r in ranked] == ["same", "far"]
    assert ranked[0].relevance == pytest.approx(1.0)
    assert ranked[0].score == pytest.approx(1.0)


def test_rank_recency_halves_every_half_life():
    chunks = [Chunk("old", "x", timestamp=80.0), Chunk("new", "x", timestamp=100.0), Chunk("mid", "x", timestamp=90.0)]
    ranked = rank(chunks, "q", weights=RankWeights(relevance=0, recency=1, half_life_s=10), now=100.0)
    assert [(r.chunk.id, r.recency) for r in ranked] == [("new", 1.0), ("mid", 0.5), ("old", 0.25)]
    assert [r.score for r in ranked] == [1.0, 0.5, 0.25]


def test_rank_recency_future_timestamp_counts_as_now():
    ranked = rank([Chunk("f", "x", timestamp=500.0)], "q", weights=RankWeights(relevance=0, recency=1), now=100.0)
    assert ranked[0].recency == 1.0


@pytest.mark.parametrize("undated", [0.0, 0.3], ids=["zero", "custom"])
def test_rank_recency_undated_chunk_gets_undated_recency(undated):
    weights = RankWeights(relevance=0, recency=1, undated_recency=undated)
    assert rank([Chunk("u", "x")], "q", weights=weights, now=1.0)[0].recency == undated


def test_rank_authority_source_overrides_chunk():
    chunks = [Chunk("a", "x", source="blog", authority=0.9), Chunk("b", "x", source="paper", authority=0.1)]
    weights = RankWeights(relevance=0, authority=1)
    assert [r.chunk.id for r in rank(chunks, "q", weights=weights)] == ["a", "b"]
    ranked = rank(chunks, "q", weights=weights, source_authority={"paper": 0.8, "blog": 0.2})
    assert [(r.chunk.id, r.authority) for r in ranked] == [("b", 0.8), ("a", 0.2)]


def test_rank_score_is_weighted_mean_of_components():
    chunk = Chunk("c", "cats purr softly", timestamp=0.0, authority=0.2)
    weights = RankWeights(relevance=2, recency=1, authority=1, half_life_s=50)
    (ranked,) = rank([chunk], "cats purr softly", embedder=EMB, weights=weights, now=50.0)
    assert (ranked.relevance, ranked.recency, ranked.authority) == (pytest.approx(1.0), 0.5, 0.2)
    assert ranked.score == pytest.approx((2 * 1.0 + 0.5 + 0.2) / 4)
    assert ranked.explain().startswith("c: score 0.675")


def test_rank_weights_trade_relevance_for_recency():
    chunks = [Chunk("relevant-old", "cats purr softly", timestamp=0.0),
              Chunk("fresh-off-topic", "quarterly tax filings", timestamp=1000.0)]
    by_relevance = rank(chunks, "cats purr softly", embedder=EMB, now=1000.0)
    by_recency = rank(chunks, "cats purr softly", embedder=EMB, now=1000.0,
                      weights=RankWeights(relevance=1, recency=3, half_life_s=100))
    assert by_relevance[0].chunk.id == "relevant-old"
    assert by_recency[0].chunk.id == "fresh-off-topic"


def test_rank_ties_keep_input_order():
    chunks = [Chunk(str(i), "same words") for i in range(5)]
    assert [r.chunk.id for r in rank(chunks, "same words", embedder=EMB)] == ["0", "1", "2", "3", "4"]


def test_rank_empty_input_gives_empty_list():
    assert rank([], "q", embedder=EMB) == []


def test_rank_keeps_every_component_and_the_chunk():
    chunk = Chunk("a", "text", authority=0.7)
    (ranked,) = rank([chunk], "text", embedder=EMB, weights=RankWeights(relevance=1, authority=1), now=0.0)
    assert isinstance(ranked, Ranked) and ranked.chunk is chunk
    assert ranked.score == pytest.approx((ranked.relevance + ranked.authority) / 2)


def test_rank_without_an_embedder_uses_the_embedded_default_as_memory_does():
    need("onnxruntime", "the embedded ONNX embedder ([embed])")
    from contextwise.embed import default_embedder

    chunks = [Chunk("a", "The cat purrs on the sofa."), Chunk("b", "Quarterly revenue rose by 4 percent.")]
    by_default = rank(chunks, "why do kittens purr")
    assert [r.chunk.id for r in by_default] == ["a", "b"]
    assert by_default == rank(chunks, "why do kittens purr", embedder=default_embedder())


def test_rank_with_lexical_relevance_loads_no_embedder():
    ranked = rank([Chunk("a", "cats purr"), Chunk("b", "dogs bark")], "dogs", relevance=Hybrid(lexical=1.0))
    assert ranked[0].chunk.id == "b"


def test_rank_duplicate_ids_fail():
    with pytest.raises(UsageError, match="twice"):
        rank([Chunk("a", "x"), Chunk("a", "y")], "q", embedder=EMB)


def test_rank_authority_outside_unit_interval_fails():
    with pytest.raises(UsageError, match="authority"):
        rank([Chunk("a", "x", authority=1.5)], "q", weights=RankWeights(relevance=0, authority=1))


@pytest.mark.parametrize("kwargs", [
    {"relevance": 0, "recency": 0, "authority": 0}, {"relevance": -1}, {"recency": float("nan")},
    {"half_life_s": 0}, {"undated_recency": 2},
], ids=["all-zero", "negative", "nan", "zero-half-life", "undated-out-of-range"])
def test_rank_weights_reject_bad_values(kwargs):
    with pytest.raises(UsageError):
        RankWeights(**kwargs)


def test_rank_hybrid_rejects_share_outside_unit_interval():
    with pytest.raises(UsageError):
        Hybrid(lexical=1.5)


def test_rank_hybrid_lexical_only_needs_no_embedder_and_best_match_scores_one():
    chunks = [Chunk("a", "the river flooded the valley"), Chunk("b", "zebra stripes confuse flies"),
              Chunk("c", "a quiet afternoon")]
    ranked = rank(chunks, "why do zebra have stripes", relevance=Hybrid(lexical=1.0))
    assert ranked[0].chunk.id == "b" and ranked[0].relevance == pytest.approx(1.0)
    assert {r.chunk.id: r.relevance for r in ranked}["c"] == 0.0


def test_rank_hybrid_mixes_dense_and_lexical_scores():
    chunks = [Chunk("a", "zebra stripes confuse flies"), Chunk("b", "a quiet afternoon")]
    dense = {r.chunk.id: r.relevance for r in rank(chunks, "zebra stripes", embedder=EMB, relevance=Dense())}
    mixed = {r.chunk.id: r.relevance for r in rank(chunks, "zebra stripes", embedder=EMB,
                                                    relevance=Hybrid(lexical=0.25))}
    # "a" is the only lexical match, so its BM25 share is 1 after scaling; "b" has none.
    assert mixed["a"] == pytest.approx(0.75 * dense["a"] + 0.25)
    assert mixed["b"] == pytest.approx(0.75 * dense["b"])


@pytest.mark.slow
def test_rank_real_onnx_embedder_finds_the_paraphrase():
    need("onnxruntime")
    from contextwise.embed import OnnxMiniLM

    chunks = [Chunk("market", "Share prices dropped sharply on Tuesday after the rate decision."),
              Chunk("cats", "Cats purr and meow to get attention from the people they live with."),
              Chunk("rain", "Rainfall in the Amazon basin peaks between December and May.")]
    ranked = rank(chunks, "How do felines communicate with humans?", embedder=OnnxMiniLM())
    assert ranked[0].chunk.id == "cats"
    assert all(0.0 <= r.relevance <= 1.0 for r in ranked)


def test_rank_precomputed_scores_need_no_embedder_and_are_clipped():
    chunks = [Chunk("a", "x"), Chunk("b", "y"), Chunk("c", "z")]
    ranked = rank(chunks, "q", relevance=Precomputed((0.2, 1.7, -0.5)))
    assert [(r.chunk.id, r.relevance) for r in ranked] == [("b", 1.0), ("a", 0.2), ("c", 0.0)]


@pytest.mark.parametrize("values", [(0.5,), (0.1, 0.2, 0.3)], ids=["too-few", "too-many"])
def test_rank_precomputed_needs_one_score_per_chunk(values):
    with pytest.raises(UsageError, match="one per"):
        rank([Chunk("a", "x"), Chunk("b", "y")], "q", relevance=Precomputed(values))


def test_rank_precomputed_rejects_nan():
    with pytest.raises(UsageError):
        Precomputed((float("nan"),))
