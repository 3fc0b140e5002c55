"""Scoring an answer against a needle: deterministic first (exact, normalised containment, regex); a model
judge is optional and its score is kept apart."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from contextwise.compress.retention import normalize
from contextwise.errors import UsageError
from contextwise.evals.niah._needles import Needle
from contextwise.protocols import ChatModel
from contextwise.types import ChatOptions, Message

class Scorer(Protocol):
    """Scores an answer in [0, 1]."""

    @property
    def name(self) -> str: ...

    def score(self, answer: str, needle: Needle) -> float: ...


@dataclass(frozen=True)
class Contains:
    """The fraction of the needle's answers found in the answer, compared after
    `contextwise.compress.retention.normalize` (SQuAD style; the default)."""

    name: str = "contains"

    def score(self, answer: str, needle: Needle) -> float:
        """Fraction of expected values present."""
        got = f" {normalize(answer)} "
        return sum(f" {normalize(a)} " in got for a in needle.answers) / len(needle.answers)


@dataclass(frozen=True)
class Exact:
    """1 when the normalised answer is exactly the expected answers joined by ", ", else 0."""

    name: str = "exact"

    def score(self, answer: str, needle: Needle) -> float:
        """1.0 or 0.0."""
        return float(normalize(answer) == normalize(", ".join(needle.answers)))


@dataclass(frozen=True)
class Regex:
    """1 when `pattern` (case-insensitive) is found in the answer, else 0."""

    pattern: str
    name: str = "regex"

    def __post_init__(self) -> None:
        try:
            re.compile(self.pattern)
        except re.error as exc:
            raise UsageError(f"bad regex {self.pattern!r}: {exc}") from exc

    def score(self, answer: str, needle: Needle) -> float:
        """1.0 or 0.0."""
        return float(re.search(self.pattern, answer, re.IGNORECASE) is not None)


SCORERS: dict[str, Scorer] = {"contains": Contains(), "exact": Exact()}


def scorer_from(spec: str) -> Scorer:
    """"contains", "exact" or "regex:<pattern>"."""
    if spec.startswith("regex:"):
        return Regex(spec[len("regex:"):])
    if spec not in SCORERS:
        raise UsageError(f"scorer {spec!r}: use contains, exact or regex:<pattern>")
    return SCORERS[spec]


_JUDGE_PROMPT = ("You grade answers. Question: {question}\nReference answer: {reference}\nAnswer to grade: "
                 "{answer}\nDoes the answer give the reference answer? Reply with one number from 1 (not at all) "
                 "to 10 (fully and exactly).")
_NUMBER = re.compile(r"\b(10|[1-9])\b")


@dataclass(frozen=True)
class Judge:
    """A model judge on gkamradt's 1-10 scale, reported as (score - 1) / 9 in its own column, never mixed into
    the deterministic score. An unparseable verdict scores None."""

    model: ChatModel

    def score(self, answer: str, needle: Needle) -> float | None:
        """The judge's verdict in [0, 1], or None when it gave no number."""
        prompt = _JUDGE_PROMPT.format(question=needle.question, reference="; ".join(needle.answers), answer=answer)
        reply = self.model.complete([Message.user(prompt)], 8, ChatOptions(temperature=0.0)).text
        found = _NUMBER.search(reply)
        return None if found is None else (int(found.group(1)) - 1) / 9
