"""Memory's lexical relevances and compression's unit scaling are embed's ByPeak and MinMax: the same values
(hence rankings) as the formulas they replaced, written out here as the reference."""

from __future__ import annotations

import numpy as np
import pytest

from contextwise.compress._lexical import unit_scale
from contextwise.memory._base import _lexical_hits
from contextwise.types import Hit, Record


def old_unit_scale(values):
    values = np.asarray(values, dtype=np.float64)
    span = values.max() - values.min() if len(values) else 0.0
    if span <= 1e-6 * max(1.0, float(np.abs(values).max()) if len(values) else 0.0):
        return np.zeros_like(values)
    return (values - values.min()) / span


def old_lexical(scores):
    peak = scores[0] if scores and scores[0] > 0 else 1.0
    return [max(0.0, s / peak) for s in scores]


def cases(seed):
    rng = np.random.default_rng(seed)
    yield np.array([])
    yield np.array([2.5])
    yield np.array([1.0, 1.0, 1.0])
    yield np.array([0.3, 0.3 + 1e-9, 0.3])  # a tie to rounding
    yield np.array([0.0, 0.0])
    yield (rng.random(50) * 20).astype(np.float32)  # float32 cosines, as compression sees them
    yield rng.normal(size=40)
    yield rng.integers(0, 4, size=30).astype(np.float64)  # many exact ties
    yield rng.random(200) * 1e-7  # a spread below the tolerance


@pytest.mark.parametrize("seed", range(5))
def test_unit_scale_is_the_replaced_formula(seed):
    for values in cases(seed):
        got, want = unit_scale(values), old_unit_scale(values)
        assert got.dtype == np.float64 and got.tolist() == want.tolist()
        assert np.argsort(-got, kind="stable").tolist() == np.argsort(-want, kind="stable").tolist()


@pytest.mark.parametrize("seed", range(5))
def test_lexical_relevance_is_the_replaced_formula(seed):
    for values in cases(seed):
        scores = sorted((float(v) for v in values), reverse=True)  # stores return lexical hits best first
        hits = [Hit(Record(f"r{i}", "t"), s) for i, s in enumerate(scores)]
        got = _lexical_hits(hits)
        assert [r.id for r, _ in got] == [h.record.id for h in hits]
        assert [s for _, s in got] == old_lexical(scores)
