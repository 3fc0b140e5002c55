"""Retention: the share of answers (or answer-bearing sentences) that survive compression."""

from __future__ import annotations

import pytest

from contextwise.compress import retention
from contextwise.compress.retention import normalize
from contextwise.errors import UsageError

ORIGINAL = "The first prize went to Wilhelm Röntgen in 1901. The second went to H. A. Lorentz. It was cold."


def test_retention_counts_answers_that_survive():
    assert retention(ORIGINAL, "Wilhelm Röntgen won.", ["Wilhelm Röntgen", "1901"]) == 0.5


def test_retention_ignores_answers_the_original_never_had():
    assert retention(ORIGINAL, "Röntgen, 1901", ["1901", "Marie Curie"]) == 1.0
    assert retention(ORIGINAL, "", ["Marie Curie"]) == 1.0


def test_retention_forgives_punctuation_case_and_articles():
    assert retention("It opened on May 18, 2018 at the Hall.", "opened may 18 2018 at hall", ["May 18, 2018",
                                                                                              "the Hall"]) == 1.0


def test_retention_matches_whole_words_only():
    assert retention("He was 19 in 1901.", "He was 190", ["19"]) == 0.0


def test_retention_by_sentence_needs_the_whole_sentence():
    kept_whole = "The first prize went to Wilhelm Röntgen in 1901."
    assert retention(ORIGINAL, kept_whole, ["1901", "Lorentz"], unit="sentence") == 0.5
    assert retention(ORIGINAL, "Röntgen 1901", ["1901"], unit="sentence") == 0.0


def test_retention_checks_its_arguments():
    with pytest.raises(UsageError):
        retention(ORIGINAL, "", "1901")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        retention(ORIGINAL, "", ["1901"], unit="word")  # type: ignore[arg-type]


def test_normalize_is_squad_style():
    assert normalize("  The Café, “Blue”!  ") == "café blue"
