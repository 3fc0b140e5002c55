"""Episodic ranking in context: dense and lexical relevance fused linearly, then every episode lifted by the
relevance of the episodes recorded just before and after it.

Why: in a conversation the turn a question rests on often does not name its topic — the turn before asked about
it ("What did you paint?" / "A lake sunrise.") — and the turns about one event sit together. Chosen on LoCoMo's
tuning conversations (conv-26..conv-47) against the reciprocal-rank fusion it replaces; see
benchmarks/bench_locomo.py. Pure: it ranks hits the store has already found, and reads only their metadata.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from contextwise.embed._fusion import RawCut, fuse_scores
from contextwise.errors import UsageError
from contextwise.types import Record

#: The metadata field holding an episode's position in the order recorded (consecutive integers per tenant).
POSITION = "episode_seq"


@dataclass(frozen=True)
class ContextRanking:
    """How episodic recall ranks: `lexical_weight * bm25/top + dense_weight * cosine`, plus `neighbour_weight`
    times the fused relevance of the episode just before and just after, plus `window_weight` times the best
    fused relevance within `window` positions. `pool` hits per search are ranked (at least 3k).

    >>> ContextRanking(window=0, neighbour_weight=0.0)  # linear fusion only, no context
    ContextRanking(dense_weight=2.5, lexical_weight=1.0, neighbour_weight=0.0, window=0, window_weight=0.5, pool=60)
    """

    dense_weight: float = 2.5
    lexical_weight: float = 1.0
    neighbour_weight: float = 0.3
    window: int = 4
    window_weight: float = 0.5
    pool: int = 60

    def __post_init__(self) -> None:
        weights = (self.dense_weight, self.lexical_weight, self.neighbour_weight, self.window_weight)
        if any(not isinstance(w, (int, float)) or not math.isfinite(w) or w < 0 for w in weights) \
                or self.dense_weight + self.lexical_weight <= 0:
            raise UsageError("ranking weights must be finite and >= 0, with dense or lexical weight above 0")
        if not isinstance(self.window, int) or self.window < 0 or not isinstance(self.pool, int) or self.pool < 1:
            raise UsageError(f"window must be >= 0 and pool >= 1 (whole numbers), got {self.window}, {self.pool}")

    def rank(self, dense: Sequence[tuple[Record, float]],
             lexical: Sequence[tuple[Record, float]]) -> list[tuple[Record, float]]:
        """The union of both hit lists, best first, each with a relevance in [0, 1] (the best is 1)."""
        records = {r.id: r for r, _ in [*dense, *lexical]}
        if not records:
            return []
        ids, how, weights = list(records), RawCut(self.pool), (self.dense_weight, self.lexical_weight)
        columns = [_column(hits, ids) for hits in (dense, lexical)]
        fused = fuse_scores([c for c, _ in columns], strategy=how, weights=weights, present=[m for _, m in columns])
        base = dict(zip(ids, fused.tolist()))
        floor = sum(w * how.absent(c, m) for w, (c, m) in zip(weights, columns))
        at: dict[int, float] = {}
        for i, r in records.items():
            p = _position(r)
            if p is not None:
                at[p] = max(at.get(p, floor), base[i])
        scored = {i: self._in_context(base[i], _position(records[i]), at, floor) for i in records}
        top = max(scored.values()) or 1.0
        order = sorted(records, key=lambda i: (-scored[i], i))
        return [(records[i], max(0.0, min(1.0, scored[i] / top))) for i in order]

    def _in_context(self, own: float, p: int | None, at: dict[int, float], floor: float) -> float:
        if p is None:
            return own + (2 * self.neighbour_weight + self.window_weight) * floor
        near = at.get(p - 1, floor) + at.get(p + 1, floor)
        best = max([own, *(at.get(p + d, floor) for d in range(-self.window, self.window + 1) if d)])
        return own + self.neighbour_weight * near + self.window_weight * best


def _column(hits: Sequence[tuple[Record, float]], ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The hits' scores in `ids` order (the last of a repeated id), and which ids the search returned."""
    scores = {r.id: float(s) for r, s in hits}
    return np.array([scores.get(i, 0.0) for i in ids]), np.array([i in scores for i in ids], dtype=bool)


def _position(record: Record) -> int | None:
    p = record.metadata.get(POSITION)
    return p if isinstance(p, int) and not isinstance(p, bool) else None


_WORD = re.compile(r"[A-Za-z][A-Za-z']+")
_QUESTION_WORDS = frozenset("what when where which who whom whose why how does did do have has had would could "
                            "should will".split())


def expand_query(query: str) -> str:
    """The query with the other inflections of its content words added ("painted" -> paint, paints, painting),
    so a lexical index that does not stem still matches "painting" for "painted". Names and question words are
    left as they are.

    >>> expand_query("What did she paint?")
    'What did she paint? paints painting painted'
    """
    extra: list[str] = []
    for word in _WORD.findall(query):
        low = word.lower()
        if len(low) <= 3 or low in _QUESTION_WORDS or word[0].isupper():
            continue
        extra += [v for v in _inflections(low) if v != low and v not in extra]
    return f"{query} {' '.join(extra)}" if extra else query


def _base_form(word: str) -> str:
    for suffix in ("ies", "ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[:-len(suffix)] + ("y" if suffix == "ies" else "")
            if suffix in ("ing", "ed") and base[-1] == base[-2] and base[-1] not in "ls":
                base = base[:-1]  # "running" -> "run"
            return base
    return word


def _inflections(word: str) -> list[str]:
    base = _base_form(word)
    out = [base, base + "s", base + "ing", base + "ed"]
    if base.endswith("e"):
        out += [base[:-1] + "ing", base + "d"]
    if base.endswith("y"):
        out += [base[:-1] + "ies", base[:-1] + "ied"]
    return list(dict.fromkeys(out))
