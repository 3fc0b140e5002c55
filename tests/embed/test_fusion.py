"""Reciprocal-rank fusion and weighted score fusion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contextwise.embed import Scored, fuse_rrf, fuse_weighted
from contextwise.errors import UsageError

ids = st.sampled_from(list("abcdefgh"))
rankings = st.lists(st.lists(ids, max_size=6, unique=True), min_size=1, max_size=4)


def test_fuse_rrf_scores_are_reciprocal_ranks():
    fused = {s.id: s.score for s in fuse_rrf(["a", "b", "c"], [Scored("c", 9.0), Scored("a", 1.0)], k=60)}
    assert fused == pytest.approx({"a": 1 / 61 + 1 / 62, "b": 1 / 62, "c": 1 / 63 + 1 / 61})


def test_fuse_rrf_weights_scale_each_ranking():
    fused = {s.id: s.score for s in fuse_rrf(["a"], ["b"], k=0, weights=[1, 3])}
    assert fused == pytest.approx({"a": 1.0, "b": 3.0})


def test_fuse_rrf_counts_a_repeated_id_once_at_its_best_rank():
    assert fuse_rrf(["a", "b", "a"], k=0) == [Scored("a", 1.0), Scored("b", 0.5)]


def test_fuse_rrf_ties_keep_first_seen_order():
    assert [s.id for s in fuse_rrf(["x", "y"], ["y", "x"])] == ["x", "y"]


@given(rankings)
def test_fuse_rrf_covers_the_union_and_sorts_best_first(lists):
    fused = fuse_rrf(*lists)
    assert {s.id for s in fused} == {i for r in lists for i in r}
    assert [s.score for s in fused] == sorted((s.score for s in fused), reverse=True)


@given(rankings)
def test_fuse_rrf_does_not_depend_on_the_order_of_rankings(lists):
    forward = {s.id: s.score for s in fuse_rrf(*lists)}
    backward = {s.id: s.score for s in fuse_rrf(*reversed(lists))}
    assert forward.keys() == backward.keys()
    assert all(forward[i] == pytest.approx(backward[i]) for i in forward)


@given(st.lists(ids, min_size=1, max_size=6, unique=True))
def test_fuse_rrf_of_one_ranking_keeps_its_order(ranking):
    assert [s.id for s in fuse_rrf(ranking)] == ranking


def test_fuse_weighted_min_max_scales_then_sums():
    lexical = [Scored("a", 12.0), Scored("b", 7.0), Scored("c", 2.0)]
    dense = [Scored("c", 0.9), Scored("a", 0.5)]
    fused = {s.id: s.score for s in fuse_weighted(lexical, dense, weights=[0.3, 0.7])}
    assert fused == pytest.approx({"a": 0.3 * 1.0 + 0.7 * 0.0, "b": 0.3 * 0.5, "c": 0.3 * 0.0 + 0.7 * 1.0})


def test_fuse_weighted_equal_scores_scale_to_one():
    assert fuse_weighted([Scored("a", 3.0), Scored("b", 3.0)]) == [Scored("a", 1.0), Scored("b", 1.0)]


@given(st.lists(st.lists(st.tuples(ids, st.floats(-1e6, 1e6)), max_size=6), min_size=1, max_size=3))
def test_fuse_weighted_scores_stay_within_the_weight_sum(lists):
    fused = fuse_weighted(*[[Scored(i, s) for i, s in r] for r in lists])
    assert all(-1e-9 <= s.score <= len(lists) + 1e-9 for s in fused)


@pytest.mark.parametrize("call", [
    lambda: fuse_rrf(["a"], ["b"], weights=[1.0]),
    lambda: fuse_rrf(["a"], k=-1),
    lambda: fuse_weighted(["a"]),
], ids=["weights-count", "negative-k", "ids-not-scored"])
def test_fusion_rejects_bad_calls(call):
    with pytest.raises(UsageError):
        call()


def test_fusion_one_implementation_behind_every_hybrid():
    import numpy as np

    from contextwise.compress import HybridScorer
    from contextwise.embed import ByPeak, MinMax, Raw, ReciprocalRank, fuse_rankings, fuse_scores
    from contextwise.testing import HashEmbedder

    dense, lexical = np.array([0.9, 0.1, 0.4]), np.array([0.0, 6.0, 3.0])
    assert fuse_scores([dense, lexical], strategy=[Raw(), ByPeak()], weights=[0.5, 0.5]).tolist() == \
        pytest.approx([0.45, 0.55, 0.45])
    assert fuse_scores([lexical], strategy=MinMax()).tolist() == pytest.approx([0.0, 1.0, 0.5])
    assert fuse_scores([dense], strategy=ReciprocalRank(k=0)).tolist() == pytest.approx([1.0, 1 / 3, 1 / 2])
    by_scores = fuse_rankings([Scored("a", 5.0), Scored("b", 1.0)], strategy=MinMax())
    assert by_scores == fuse_weighted([Scored("a", 5.0), Scored("b", 1.0)])
    scorer = HybridScorer(HashEmbedder(64), semantic_weight=0.25)
    sentences, query = ["Cats purr.", "Dogs bark loudly.", "Cows moo."], "dogs"
    fused = scorer.score(sentences, query).relevance
    expected = 0.25 * scorer.semantic.score(sentences, query).relevance + \
        0.75 * scorer.lexical.score(sentences, query).relevance
    assert fused.tolist() == pytest.approx(expected.tolist())


def test_fusion_strategies_refuse_mismatched_columns():
    import numpy as np

    from contextwise.embed import Raw, fuse_scores

    with pytest.raises(UsageError, match="strategies"):
        fuse_scores([np.zeros(2), np.zeros(2)], strategy=[Raw()])
    with pytest.raises(UsageError, match="scored items"):
        fuse_weighted(["a"])  # type: ignore[list-item]


def test_fusion_raw_cut_counts_a_missing_item_at_the_lowest_score_only_when_the_search_was_cut():
    from contextwise.embed import RawCut, fuse_scores

    scores, present = np.array([0.9, 0.4, 0.0]), np.array([True, True, False])
    assert RawCut(pool=2).normalize(scores, present).tolist() == [0.9, 0.4, 0.4]  # cut at 2: it may be just below
    assert RawCut(pool=3).normalize(scores, present).tolist() == [0.9, 0.4, 0.0]  # all that matched came back
    fused = fuse_scores([scores, np.array([0.0, 1.0, 0.5])], strategy=RawCut(pool=2), weights=[2.5, 1.0],
                        present=[present, np.array([False, True, True])])
    assert fused.tolist() == [2.5 * 0.9 + 1.0 * 0.5, 2.5 * 0.4 + 1.0, 2.5 * 0.4 + 0.5]
    with pytest.raises(UsageError):
        RawCut(pool=0)
