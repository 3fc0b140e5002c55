"""Compression retention: how many answers survive each compressor at each ratio, on NaturalQuestions-Open
contexts (Lost in the Middle's oracle file: the gold passage among distractor passages) or your own cases.

A case is a question, its answer aliases and a context holding at least one alias. At ratio r a compressor
gets `original_tokens // r` tokens (o200k_base unless another tokenizer is given) and the question; a case is
retained when an alias still occurs in the output (`contextwise.compress.retention`).
"""

from __future__ import annotations

import gzip
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from contextwise.compress.retention import normalize, retention
from contextwise.errors import UsageError
from contextwise.protocols import Tokenizer

Progress = Callable[[int, int], None]
DISTRACTORS = 19


@dataclass(frozen=True)
class Case:
    """One question, its answer aliases, and the context to compress."""

    question: str
    answers: tuple[str, ...]
    context: str


def _has_answer(text: str, answers: Sequence[str]) -> bool:
    padded = f" {normalize(text)} "
    return any(normalize(a) and f" {normalize(a)} " in padded for a in answers)


def load_nq(path: str | Path, *, n: int = 50, seed: int = 0, distractors: int = DISTRACTORS) -> list[Case]:
    """`n` cases from Lost in the Middle's nq-open-oracle.jsonl(.gz): each gold passage whose text holds an
    answer, shuffled among `distractors` gold passages of other questions (by `seed`), as "Document [k]" blocks.

    Raises:
        UsageError: the file is missing or not in that format.
    """
    rows = _jsonl(path)
    try:
        usable = [i for i, r in enumerate(rows) if _has_answer(r["ctxs"][0]["text"], r["answers"])]
    except (KeyError, IndexError, TypeError) as exc:
        raise UsageError(f"{path}: not the nq-open-oracle format (question, answers, ctxs[0].text)") from exc
    rng = random.Random(seed)
    cases = []
    for index in rng.sample(usable, min(n, len(usable))):
        pick = random.Random(seed * 1_000_003 + index)
        others = pick.sample([i for i in range(len(rows)) if i != index], min(distractors, len(rows) - 1))
        passages = [rows[index]["ctxs"][0]] + [rows[i]["ctxs"][0] for i in others]
        pick.shuffle(passages)
        context = "\n\n".join(f"Document [{k}](Title: {p['title']}) {p['text']}" for k, p in enumerate(passages, 1))
        cases.append(Case(rows[index]["question"], tuple(rows[index]["answers"]), context))
    return cases


def load_cases(path: str | Path) -> list[Case]:
    """Your own cases: JSONL rows {"question", "answers": [...], "context"} (gzip if the name ends .gz).

    Raises:
        UsageError: a row without those fields, or no row whose context holds one of its answers.
    """
    cases = []
    for number, row in enumerate(_jsonl(path), 1):
        try:
            cases.append(Case(str(row["question"]), tuple(map(str, row["answers"])), str(row["context"])))
        except (KeyError, TypeError) as exc:
            raise UsageError(f"{path}:{number}: a case needs question, answers (a list) and context") from exc
    usable = [c for c in cases if _has_answer(c.context, c.answers)]
    if not usable:
        raise UsageError(f"{path}: no case's context holds one of its answers; nothing to measure")
    return usable


def _jsonl(path: str | Path) -> list[Any]:
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"no data file at {file}")
    opener = gzip.open if file.suffix == ".gz" else open
    try:
        with opener(file, "rt", encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{file}: not JSON lines ({exc})") from exc


@dataclass(frozen=True)
class CaseResult:
    """One case compressed by one compressor at one ratio."""

    compressor: str
    ratio: float
    case: int
    original_tokens: int
    tokens: int
    retained: float
    seconds: float


@dataclass(frozen=True)
class CompressionReport:
    """Every case result, with the means a table or chart shows."""

    results: tuple[CaseResult, ...]

    @property
    def compressors(self) -> list[str]:
        """Compressor names in first-seen order."""
        return list(dict.fromkeys(r.compressor for r in self.results))

    @property
    def ratios(self) -> list[float]:
        """The ratios, ascending."""
        return sorted({r.ratio for r in self.results})

    def retention(self, compressor: str, ratio: float) -> float:
        """The share of cases whose answer survived."""
        rs = [r.retained for r in self.results if r.compressor == compressor and r.ratio == ratio]
        return sum(rs) / len(rs) if rs else float("nan")

    def seconds(self, compressor: str, ratio: float) -> float:
        """Mean seconds per case."""
        rs = [r.seconds for r in self.results if r.compressor == compressor and r.ratio == ratio]
        return sum(rs) / len(rs) if rs else float("nan")

    def rows(self) -> list[dict[str, Any]]:
        """The case results as dicts (one JSON line each in results.jsonl)."""
        return [asdict(r) for r in self.results]


def evaluate_compression(cases: Sequence[Case], compressors: Mapping[str, Any], ratios: Sequence[float], *,
                         tokenizer: Tokenizer | None = None, progress: Progress | None = None) -> CompressionReport:
    """Compress every case with every compressor at every ratio and measure retention.

    Raises:
        UsageError: no case, no compressor, or a ratio below 1.
    """
    if not cases or not compressors or not ratios or min(ratios) < 1:
        raise UsageError("give at least one case and one compressor, and ratios of at least 1 (2 = half)")
    if tokenizer is None:
        from contextwise.tokens import get_tokenizer

        tokenizer = get_tokenizer("o200k_base")
    sizes = [tokenizer.count(c.context) for c in cases]
    results, total = [], len(cases) * len(compressors) * len(ratios)
    for name, compressor in compressors.items():
        for ratio in ratios:
            for i, (case, size) in enumerate(zip(cases, sizes)):
                started = time.perf_counter()
                out = compressor.compress(case.context, max(1, int(size / ratio)), tokenizer, case.question)
                seconds = time.perf_counter() - started
                kept = max(retention(case.context, out.text, [a]) if _has_answer(case.context, [a]) else 0.0
                           for a in case.answers)
                results.append(CaseResult(name, float(ratio), i, size, out.tokens, kept, seconds))
                if progress:
                    progress(len(results), total)
    return CompressionReport(tuple(results))


def plot_retention(report: CompressionReport, path: str | Path, *, title: str = "Answer retention") -> Path:
    """A PNG of retention against ratio, one line per compressor; returns the path."""
    from contextwise.evals._plot import _pyplot
    from contextwise.evals.niah._plot import _save

    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 4))
    for name in report.compressors:
        axis.plot(report.ratios, [report.retention(name, r) for r in report.ratios], marker="o", label=name)
    axis.set_xscale("log")
    axis.set_xticks(report.ratios, [f"{r:g}x" for r in report.ratios])
    axis.set_ylim(0, 1.02)
    axis.set_xlabel("compression ratio (original tokens / target)")
    axis.set_ylabel("share of cases whose answer survived")
    axis.legend(fontsize=8)
    axis.set_title(f"{title} ({len({r.case for r in report.results})} cases)")
    return _save(figure, plt, path)
