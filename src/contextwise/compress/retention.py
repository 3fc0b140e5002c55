"""How much of what matters survived compression: the share of answers (or answer-bearing sentences) kept."""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Literal
from collections.abc import Sequence

from contextwise.compress._sentences import split_sentences
from contextwise.errors import UsageError

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = str.maketrans({c: " " for c in string.punctuation + "\u2018\u2019\u201c\u201d\u2013\u2014"})


def normalize(text: str) -> str:
    """Text as answers are compared (SQuAD style): NFKC, lower case, no punctuation, articles or extra spaces."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def retention(original: str, compressed: str, answers: Sequence[str], *,
              unit: Literal["answer", "sentence"] = "answer") -> float:
    """The fraction of `answers` found in `original` that are still in `compressed` (1.0 when none were there).

    With `unit="answer"` each answer string counts once and survives if it still occurs (compared after
    `normalize`, so a dropped comma or article does not count as a loss). With `unit="sentence"` the units are
    the sentences of `original` that contain an answer, and one survives only if it is still there whole.

    >>> retention("Paris is in France. It rains.", "Paris is in France.", ["Paris", "rains"])
    0.5
    """
    if isinstance(answers, str):
        raise UsageError("answers is a sequence of strings; wrap a single answer in a list")
    wanted = [normalize(a) for a in answers if normalize(a)]
    kept = f" {normalize(compressed)} "
    if unit == "answer":
        units = [a for a in wanted if _has(f" {normalize(original)} ", a)]
    elif unit == "sentence":
        units = [s for s in map(normalize, split_sentences(original)) if any(_has(f" {s} ", a) for a in wanted)]
    else:
        raise UsageError(f"unit must be 'answer' or 'sentence', not {unit!r}")
    if not units:
        return 1.0
    return sum(_has(kept, u) for u in units) / len(units)


def _has(padded_text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `padded_text` as whole words (the text is padded with a space each side)."""
    return f" {phrase} " in padded_text
