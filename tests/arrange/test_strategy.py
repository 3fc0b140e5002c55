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
