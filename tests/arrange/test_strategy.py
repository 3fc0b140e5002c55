"""The long-context vs RAG recommendation."""

from __future__ import annotations

import pytest

from contextwise.arrange import Workload, recommend
from contextwise.errors import UsageError


def test_recommend_rag_when_the_corpus_does_not_fit():
    rec = recommend(Workload(corpus_tokens=5_000_000), "gpt-4o")
    assert rec.choice == "rag" and not rec.long_context.fits
    assert "does not fit" in rec.reasons[0]


def test_recommend_long_context_for_a_small_cross_document_corpus():
    rec = recommend(Workload(corpus_tokens=20_000, cross_document=True, queries_per_day=1000), "gpt-4o-mini")
    assert rec.choice == "long_context"
    assert rec.long_context.cost_per_query_usd > rec.rag.cost_per_query_usd > 0


def test_recommend_rag_under_a_tight_latency_budget_and_high_cost_sensitivity():
    rec = recommend(Workload(corpus_tokens=100_000, latency_budget_s=1.0, cost_sensitivity="high",
                             precision="high"), "gpt-4o")
    assert rec.choice == "rag"
    assert any("latency" in r for r in rec.reasons) and any("costs" in r for r in rec.reasons)


def test_cached_prefix_makes_long_context_cheaper_when_the_corpus_is_stable():
    stable = recommend(Workload(corpus_tokens=50_000, updates_per_day=0, queries_per_day=100), "gpt-4o")
    churn = recommend(Workload(corpus_tokens=50_000, updates_per_day=1000, queries_per_day=100), "gpt-4o")
    assert stable.long_context.cost_per_query_usd < churn.long_context.cost_per_query_usd


def test_workload_rejects_nonsense():
    with pytest.raises(UsageError):
        Workload(corpus_tokens=0)


def test_recommend_respects_an_input_cap_below_the_window():
    # gpt-5: a 400k window, but at most 272k tokens of input
    rec = recommend(Workload(corpus_tokens=300_000, answer_tokens=500), "gpt-5")
    assert not rec.long_context.fits and rec.choice == "rag"
    assert recommend(Workload(corpus_tokens=200_000), "gpt-5").long_context.fits


def test_recommend_prices_cache_reads_only_while_queries_keep_the_cache_warm():
    busy = Workload(corpus_tokens=50_000, queries_per_day=50_000)
    rare = Workload(corpus_tokens=50_000, queries_per_day=2)  # one query every 12 hours: the 5-minute cache is cold
    assert busy.cache_hit_share > 0.9 > 0.01 > rare.cache_hit_share
    assert recommend(busy, "gpt-4o").long_context.cost_per_query_usd < \
        recommend(rare, "gpt-4o").long_context.cost_per_query_usd
    hour = Workload(corpus_tokens=50_000, queries_per_day=2, cache_ttl_s=86_400.0)
    assert hour.cache_hit_share > rare.cache_hit_share


def test_recommend_counts_cache_writes_where_the_provider_bills_them():
    from contextwise.models import get_model

    info = get_model("claude-sonnet-4-5")
    assert info.prices.cache_write_usd_per_mtok > info.prices.input_usd_per_mtok
    rare = recommend(Workload(corpus_tokens=50_000, queries_per_day=1), "claude-sonnet-4-5")
    uncached_input = (50_000 + 200) * info.prices.input_usd_per_mtok / 1e6
    assert rare.long_context.cost_per_query_usd > uncached_input + 500 * info.prices.output_usd_per_mtok / 1e6


@pytest.mark.parametrize("sensitivity, expected", [("low", 0.0), ("high", 2.0), (0.5, 0.5), (3, 3.0)])
def test_recommend_cost_sensitivity_is_named_or_a_number(sensitivity, expected):
    assert Workload(corpus_tokens=1000, cost_sensitivity=sensitivity).cost_weight == expected


@pytest.mark.parametrize("bad", [-1, float("nan"), "extreme", True], ids=["negative", "nan", "unknown", "bool"])
def test_recommend_refuses_a_bad_cost_sensitivity(bad):
    with pytest.raises(UsageError, match="cost_sensitivity"):
        Workload(corpus_tokens=1000, cost_sensitivity=bad)


def test_compare_models_ranks_several_models_by_the_cost_of_their_choice():
    from contextwise.arrange import compare_models

    recs = compare_models(Workload(corpus_tokens=20_000, cross_document=True), ["gpt-4o", "gpt-4o-mini", "gpt-5"])
    assert {r.model for r in recs} == {"gpt-4o", "gpt-4o-mini", "gpt-5"}
    costs = [r.cost_per_query_usd for r in recs]
    assert costs == sorted(costs)
    with pytest.raises(UsageError):
        compare_models(Workload(corpus_tokens=1000), "gpt-4o")
