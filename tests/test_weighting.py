"""One relevance/recency weighting: documents' RankWeights and memory's RecallWeights score the same way."""

from __future__ import annotations

import math

import pytest

from contextwise._weighting import DAY_S
from contextwise.documents import RankWeights
from contextwise.errors import UsageError
from contextwise.memory import RecallWeights


def test_weighting_documents_and_memory_combine_the_same_components_the_same_way():
    docs = RankWeights(relevance=0.6, recency=0.3, authority=0.1, half_life_s=10 * DAY_S)
    memory = RecallWeights(relevance=0.6, recency=0.3, importance=0.1, half_life_s=10 * DAY_S)
    for age_days in (0, 5, 10, 40):
        assert docs.decay(age_days * DAY_S) == memory.decay(age_days * DAY_S) == 0.5 ** (age_days / 10)
        recency = docs.decay(age_days * DAY_S)
        assert docs.combine(0.8, recency, 0.25) == memory.score(0.8, age_days * DAY_S, 0.25)
    assert memory.decay(-DAY_S) == 1.0  # a clock that went back counts as new, never above 1


@pytest.mark.parametrize("cls, third", [(RankWeights, "authority"), (RecallWeights, "importance")])
@pytest.mark.parametrize("bad", [{"relevance": -1.0}, {"relevance": math.nan}, {"half_life_s": 0},
                                 {"relevance": 0.0, "recency": 0.0, "third": 0.0}])
def test_weighting_bad_weights_are_refused_by_both(cls, third, bad):
    kwargs = {(third if k == "third" else k): v for k, v in bad.items()}
    with pytest.raises(UsageError):
        cls(**kwargs)


def test_weighting_combine_takes_one_score_per_component():
    with pytest.raises(UsageError, match="relevance, recency, authority"):
        RankWeights().combine(1.0, 0.5)
