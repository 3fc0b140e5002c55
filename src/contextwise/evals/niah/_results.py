"""Results: one JSON line per finished cell, keyed by its content-addressed id; aggregates over them (the
depth x length matrix, per-length curves with intervals over seeds, RULER's effective length)."""

from __future__ import annotations

import json
import math
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from contextwise.errors import UsageError

#: RULER's threshold: Llama-2-7B's score at 4K (85.6%), the bar a length must clear to count as effective.
RULER_THRESHOLD = 0.856


@dataclass(frozen=True)
class CellResult:
    """One finished cell: what was asked, what came back, and what it cost.

    `score` is the deterministic scorer's; `judge_score` the optional model judge's, kept apart. Token counts
    are the model's own: `context_tokens` of the haystack with its needle as built, `prompt_tokens` as sent
    (after the strategy), `cached_tokens` of the prompt reused from the model's cache. `cost_usd` is what the
    call cost (0 on a local model); `priced_usd` what the same prompt and answer cost on `price_model`, a
    catalog model, at list prices (`--price-as`).
    """

    cell_id: str
    model: str
    tokenizer: str
    strategy: str
    length: int
    depth: float
    seed: int
    needle: str
    needle_kind: str
    needle_digest: str
    haystack: str
    order: str
    context_tokens: int
    prompt_tokens: int
    output_tokens: int
    cached_tokens: int
    response: str
    score: float
    scorer: str
    latency_s: float
    strategy_s: float = 0.0
    cost_usd: float | None = None
    judge_score: float | None = None
    price_model: str | None = None
    priced_usd: float | None = None

    def to_json(self) -> str:
        """One line of JSON."""
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> CellResult:
        """Parse one line written by `to_json` (unknown keys ignored, so older files still read)."""
        data = json.loads(line)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class ResultsFile:
    """An append-only JSONL file of CellResults. A line cut short by an interrupted run is ignored on reading
    (that cell simply runs again); a rewritten cell (a judge added later) supersedes the earlier line."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._checked = False

    def load(self) -> dict[str, CellResult]:
        """Finished cells by id."""
        if not self.path.exists():
            return {}
        done: dict[str, CellResult] = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                result = CellResult.from_json(line)
            except (ValueError, TypeError):
                continue
            done[result.cell_id] = result
        return done

    def append(self, result: CellResult) -> None:
        """Write one finished cell and flush it to disk."""
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            torn = not self._checked and self._torn()
            self._checked = True
            with self.path.open("a", encoding="utf-8") as out:
                out.write(("\n" if torn else "") + result.to_json() + "\n")
                out.flush()

    def _torn(self) -> bool:
        if not self.path.exists() or not self.path.stat().st_size:
            return False
        with self.path.open("rb") as raw:
            raw.seek(-1, 2)
            return raw.read(1) != b"\n"


@dataclass(frozen=True)
class Matrix:
    """Mean scores, one row per depth and one column per length (NaN where no cell ran)."""

    title: str
    lengths: tuple[int, ...]
    depths: tuple[float, ...]
    values: tuple[tuple[float, ...], ...]

    def at(self, length: int, depth: float) -> float:
        """The value at one (length, depth)."""
        return self.values[self.depths.index(depth)][self.lengths.index(length)]

    def minus(self, other: Matrix, title: str) -> Matrix:
        """This matrix less `other`, cell by cell, on the lengths and depths both have."""
        lengths = tuple(n for n in self.lengths if n in other.lengths)
        depths = tuple(d for d in self.depths if d in other.depths)
        return Matrix(title, lengths, depths,
                      tuple(tuple(self.at(n, d) - other.at(n, d) for n in lengths) for d in depths))

    @property
    def mean(self) -> float:
        """The mean over the cells that ran."""
        cells = [v for row in self.values for v in row if not math.isnan(v)]
        return sum(cells) / len(cells) if cells else math.nan


def matrix_of(points: Iterable[tuple[int, float, float]], title: str) -> Matrix:
    """A Matrix from (length, depth, score) points; repeated points are averaged."""
    sums: dict[tuple[int, float], list[float]] = defaultdict(list)
    for length, depth, score in points:
        sums[(int(length), float(depth))].append(float(score))
    lengths = tuple(sorted({n for n, _ in sums}))
    depths = tuple(sorted({d for _, d in sums}))
    values = tuple(tuple(_mean(sums[(n, d)]) if (n, d) in sums else math.nan for n in lengths) for d in depths)
    return Matrix(title, lengths, depths, values)


@dataclass(frozen=True)
class CurvePoint:
    """The score at one length: the mean over seeds of each seed's mean over depths and needles, with a 95%
    normal interval over seeds (equal to the mean when there is one seed)."""

    length: int
    mean: float
    low: float
    high: float
    seeds: int


@dataclass(frozen=True)
class StrategySummary:
    """One strategy's figures over the whole grid."""

    strategy: str
    cells: int
    accuracy: float
    judge: float | None
    effective_length: int | None
    prompt_tokens: float
    cost_usd: float | None
    latency_s: float
    price_model: str | None = None
    priced_usd: float | None = None


class NiahResults:
    """The results of one grid run (or of a results file), with the aggregates the reports draw.

    >>> NiahResults([]).strategies
    []
    """

    def __init__(self, results: Sequence[CellResult]) -> None:
        self.results = list(results)

    @classmethod
    def read(cls, path: str | Path) -> NiahResults:
        """Every finished cell of a results.jsonl."""
        return cls(list(ResultsFile(path).load().values()))

    @property
    def strategies(self) -> list[str]:
        """Strategy names in first-seen order."""
        return list(dict.fromkeys(r.strategy for r in self.results))

    def of(self, strategy: str | None = None) -> list[CellResult]:
        """The results of one strategy (all when None)."""
        return [r for r in self.results if strategy is None or r.strategy == strategy]

    def matrix(self, strategy: str | None = None, *, judge: bool = False) -> Matrix:
        """Depth x length mean scores of one strategy (or the judge's scores)."""
        chosen = self.of(strategy or (self.strategies[0] if self.strategies else None))
        if judge:
            points = [(r.length, r.depth, r.judge_score) for r in chosen if r.judge_score is not None]
        else:
            points = [(r.length, r.depth, r.score) for r in chosen]
        return matrix_of(points, strategy or "")

    def curve(self, strategy: str | None = None) -> list[CurvePoint]:
        """Per-length score with its interval over seeds."""
        by: dict[int, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
        for r in self.of(strategy):
            by[r.length][r.seed].append(r.score)
        points = []
        for length in sorted(by):
            per_seed = [_mean(v) for v in by[length].values()]
            mean, half = _mean(per_seed), _half_interval(per_seed)
            points.append(CurvePoint(length, mean, max(0.0, mean - half), min(1.0, mean + half), len(per_seed)))
        return points

    def effective_length(self, strategy: str | None = None, threshold: float = RULER_THRESHOLD) -> int | None:
        """RULER's effective length: the longest length up to which every length scores at least `threshold`
        (None when even the shortest does not)."""
        return effective_length(self.curve(strategy), threshold)

    def summary(self, threshold: float = RULER_THRESHOLD) -> list[StrategySummary]:
        """Per strategy: accuracy, judge, effective length, mean prompt tokens, total cost (its own, and as the
        catalog model the cells were priced as, when all of them were priced as one), mean latency."""
        out = []
        for name in self.strategies:
            rs = self.of(name)
            judged = [r.judge_score for r in rs if r.judge_score is not None]
            costs = [r.cost_usd for r in rs if r.cost_usd is not None]
            priced_as = {r.price_model for r in rs}
            priced = priced_as.pop() if len(priced_as) == 1 else None
            priced_usd = sum(r.priced_usd or 0.0 for r in rs) if priced is not None else None
            out.append(StrategySummary(name, len(rs), _mean([r.score for r in rs]), _mean(judged) if judged else None,
                                       self.effective_length(name, threshold), _mean([r.prompt_tokens for r in rs]),
                                       sum(costs) if len(costs) == len(rs) else None,
                                       _mean([r.latency_s + r.strategy_s for r in rs]), priced, priced_usd))
        return out


def effective_length(curve: Sequence[CurvePoint], threshold: float) -> int | None:
    """The longest length of `curve` before the first point below `threshold`."""
    if not 0 <= threshold <= 1:
        raise UsageError(f"threshold must be in [0, 1], got {threshold}")
    best = None
    for point in sorted(curve, key=lambda p: p.length):
        if point.mean < threshold:
            break
        best = point.length
    return best


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def _half_interval(values: Sequence[float]) -> float:
    if len(values) < 2:
        return 0.0
    mean = _mean(values)
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    return 1.96 * sd / math.sqrt(len(values))


def as_records(results: Iterable[CellResult]) -> list[dict[str, Any]]:
    """Results as plain dicts (for pandas or a notebook)."""
    return [asdict(r) for r in results]
