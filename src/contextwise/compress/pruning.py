"""Token pruning in the manner of LLMLingua: drop what a small language model finds predictable.

Coarse to fine. The model is the slow part (SmolLM2-135M evaluates a few hundred tokens a second on 2 cores), so
first a cheap extractive pass (`Prefilter`: BM25 against the query, centrality without one) keeps the best
sentences up to a small multiple of the target; for a light cut, where that would still be more than the model
should read, the best of them pass verbatim and the model works only on a bounded band of the next best. Then
the small LM scores every token left with its surprisal
(-log p given the text before it, and the query when there is one); whole sentences with the lowest mean
surprisal go (with a query, the least relevant ones), until the text is within `coarse_slack` times the target;
then single words with the lowest surprisal go, until it fits. Spans a reader cannot rebuild are kept to the
last: numbers, names, code identifiers and quoted strings.

Tokens are pruned as whole words (a word's surprisal is the sum over the model tokens starting in it), so the
output re-tokenizes cleanly under the caller's tokenizer, which may differ from the model's: the model's tokens
are mapped back to character offsets, and the output is re-counted exactly under the target tokenizer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable
from collections.abc import Sequence

import numpy as np

from contextwise.compress._base import backend, local_model, start
from contextwise.compress._lexical import _STOPWORDS, unit_scale
from contextwise.compress._sentences import sentence_spans
from contextwise.compress.extractive import Extractive, placed_spans, select
from contextwise.compress.scoring import Bm25Scorer, SentenceScorer, resolve_scorer
from contextwise.compress.truncate import fit_tokens
from contextwise.errors import UsageError
from contextwise.protocols import Tokenizer
from contextwise.types import Compressed

#: Spans kept until nothing else is left to drop: numbers, capitalised words, code identifiers, quoted strings.
KEEP_PATTERNS: tuple[str, ...] = (
    r"\d(?:[\d,.:/-]*\d)?%?",
    r"\b[A-Z][\w'\u2019-]*",
    r"\b[A-Za-z]\w*_\w+\b|\b[a-z]+[A-Z]\w*\b|\b\w+(?:\.\w+)+\(?\)?|\b\w+\(\)",
    r"`[^`\n]+`",
    r"\"[^\"\n]{1,200}\"|\u201c[^\u201d\n]{1,200}\u201d|(?<!\w)'[^'\n]{1,80}'(?!\w)",
)
_WORD = re.compile(r"\s*\S+")


@runtime_checkable
class SurprisalModel(Protocol):
    """A language model that scores text: each token with -log p given the tokens before it.

    The pieces should join back to the text; where they do not, they are matched to it one by one.
    """

    def token_surprisal(self, text: str) -> list[tuple[str, float]]: ...


class Word(NamedTuple):
    """A word with the whitespace before it, as offsets, with its surprisal and model-token count."""

    start: int
    end: int
    surprisal: float
    model_tokens: int


@dataclass(frozen=True)
class Prefilter:
    """The cheap coarse stage before the model: the best sentences, picked extractively, up to `slack` x target.

    It bounds the model's work to about `slack` times the target tokens, whatever the text's length.

    Args:
        slack: how many times the target the model is given to score, at least 1. The default 2 was measured on
            NaturalQuestions (gold passage + 19 distractors, the question as query, benchmarks/bench_compress.py,
            the same 20 questions): the answer survived 2x/4x/10x in 0.95/0.90/0.85 of them, against 0.95/0.90/0.75
            for the model scoring the whole text and 0.95/0.85/0.85 for BM25 extractive alone; at 4x and 10x the
            model scores a half and a fifth of the text. BM25 alone at 2x the target keeps 0.95-1.00 of the
            answers (n=100), so smaller slacks trade little retention for speed at light cuts.
        scorer: ranks the sentences; default BM25 against the query, centrality (the most typical sentences)
            without one. Any SentenceScorer, or "bm25", "embedding", "hybrid".
        model_tokens: the most the model reads, whatever the target (None: `slack` x target). When `slack` x
            target is more, the best sentences pass verbatim and the model prunes only the next best ones, the
            marginal band: it reads `model_tokens` of them and keeps `model_tokens / slack`. This bounds a light
            cut (2x of 4,000 tokens) to a few seconds instead of the model reading everything.
    """

    slack: float = 2.0
    scorer: SentenceScorer | str | None = None
    model_tokens: int | None = 1000

    def __post_init__(self) -> None:
        if not self.slack >= 1.0:
            raise UsageError(f"the prefilter's slack must be at least 1, got {self.slack}")
        if self.model_tokens is not None and self.model_tokens < 1:
            raise UsageError(f"model_tokens must be at least 1 (or None), got {self.model_tokens}")

    def select(self, text: str, target_tokens: int, tokenizer: Tokenizer, query: str | None = None) -> str:
        """`text` cut to its best sentences within `slack` x `target_tokens` tokens (unchanged if it fits)."""
        return self.plan(text, target_tokens, tokenizer, query)[0]

    def plan(self, text: str, target_tokens: int, tokenizer: Tokenizer,
             query: str | None = None) -> tuple[str, list[tuple[int, int]]]:
        """What the model is given: the selected text, and the character ranges of it the model scores (the
        rest passes verbatim). Without a band, the one range is the whole selected text."""
        budget = math.ceil(self.slack * target_tokens)
        if self.model_tokens is None or budget <= self.model_tokens or tokenizer.count(text) <= self.model_tokens:
            kept = Extractive(scorer=self.scorer, diversity=0.0).compress(text, budget, tokenizer, query).text
            return kept, [(0, len(kept))]
        spans = sentence_spans(text)
        scores = resolve_scorer(self.scorer).score([text[a:b] for a, b in spans], query)
        costs = np.array([tokenizer.count(text[a:b]) + 1 for a, b in spans])
        verbatim = select(scores, costs, max(0, target_tokens - int(self.model_tokens / self.slack)), diversity=0.0)
        rest = np.ones(len(spans), dtype=bool)
        rest[verbatim] = False
        band = select(scores, np.where(rest, costs, 10**12), self.model_tokens, diversity=0.0)  # the rest only
        order, banded = sorted(verbatim + band), set(band)
        joined, places = placed_spans(text, spans, order)
        return joined, _merged([place for i, place in zip(order, places) if i in banded])


class TokenPruning:
    """Drop low-information sentences, then low-information words, as scored by a small local LM.

    Args:
        model: a SurprisalModel; default the embedded SmolLM2 (`contextwise.llm.local_model()`).
        query: what the text is compressed for; surprisal is computed with the query before the text, and the
            sentence stage ranks by relevance as well. A `query` passed to `compress` takes precedence.
        keep_patterns: regular expressions of spans to keep to the last; () keeps nothing specially.
        coarse_slack: the model's sentence stage stops once the text is within this many times the target.
        prefilter: the extractive stage before the model runs; None lets the model score the whole text.

    Raises:
        MissingDependencyError: (on first use) llama-cpp-python or the model weights are not installed.
    """

    def __init__(self, *, model: SurprisalModel | str | None = None, query: str | None = None,
                 keep_patterns: Sequence[str] = KEEP_PATTERNS, coarse_slack: float = 1.5,
                 prefilter: Prefilter | None = Prefilter()) -> None:
        if not coarse_slack >= 1.0:
            raise UsageError(f"coarse_slack must be at least 1, got {coarse_slack}")
        self._model = model
        self.query = query
        self.keep = tuple(re.compile(p) for p in keep_patterns)
        self.coarse_slack = coarse_slack
        self.prefilter = prefilter
        self.name = "token-pruning"

    @property
    def model(self) -> SurprisalModel:
        """The surprisal model, loaded on first use."""
        self._model = backend(self._model, "chat", local_model)
        return self._model  # type: ignore[return-value]

    def compress(self, text: str, target_tokens: int, tokenizer: Tokenizer,
                 query: str | None = None) -> Compressed:
        """Shorten `text` to at most `target_tokens` tokens under `tokenizer`."""
        original, done = start(text, target_tokens, tokenizer, self.name)
        if done:
            return done
        query = query or self.query
        scored = [(0, len(text))]
        if self.prefilter is not None:
            text, scored = self.prefilter.plan(text, target_tokens, tokenizer, query)
        words = score_words(text, self.model, query, ranges=scored)
        fixed = ~_inside(np.array([w.start for w in words], dtype=np.int64), scored)
        costs = np.array([tokenizer.count(text[w.start:w.end]) for w in words])
        alive = self._coarse(text, words, costs, target_tokens, query, fixed)
        order = self._drop_order(text, words)
        kept = _prune(text, words, costs, alive, order[~fixed[order]], target_tokens, tokenizer)
        return fit_tokens(kept, target_tokens, tokenizer, original_tokens=original, method=self.name)

    def _coarse(self, text: str, words: Sequence[Word], costs: np.ndarray, target_tokens: int,
                query: str | None, fixed: np.ndarray) -> np.ndarray:
        """A mask of the words in the sentences that survive the sentence stage (`fixed` words always do)."""
        spans = sentence_spans(text)
        starts = np.array([s.start for s in spans])
        firsts = np.array([w.start + len(text[w.start:w.end]) - len(text[w.start:w.end].lstrip()) for w in words])
        owner = np.clip(np.searchsorted(starts, firsts, side="right") - 1, 0, len(spans) - 1)
        rank = _sentence_rank(text, spans, words, owner, query)
        cost = np.bincount(owner, weights=costs, minlength=len(spans))
        keep = np.ones(len(spans), dtype=bool)
        pinned = np.bincount(owner, weights=fixed, minlength=len(spans)) > 0
        total, limit = cost.sum(), self.coarse_slack * target_tokens
        for s in np.argsort(rank, kind="stable"):
            if total <= limit or keep.sum() == 1:
                break
            if not pinned[s]:
                keep[s], total = False, total - cost[s]
        return keep[owner]

    def _drop_order(self, text: str, words: Sequence[Word]) -> np.ndarray:
        """Word indices in the order they go: unprotected by rising surprisal, then protected ones likewise."""
        protected = _protected(text, words, self.keep)
        surprisal = np.array([w.surprisal for w in words])
        return np.lexsort((surprisal, protected))


def _sentence_rank(text: str, spans: Sequence[Any], words: Sequence[Word], owner: np.ndarray,
                   query: str | None) -> np.ndarray:
    total = np.bincount(owner, weights=[w.surprisal for w in words], minlength=len(spans))
    count = np.bincount(owner, weights=[w.model_tokens for w in words], minlength=len(spans))
    information = unit_scale(np.divide(total, count, out=np.zeros_like(total), where=count > 0))
    if not query:
        return information
    relevance = Bm25Scorer().score([text[s.start:s.end] for s in spans], query).relevance
    return 0.5 * information + 0.5 * np.asarray(relevance)


def _prune(text: str, words: Sequence[Word], costs: np.ndarray, alive: np.ndarray, order: np.ndarray,
           target_tokens: int, tokenizer: Tokenizer) -> str:
    """Drop words in `order` until the kept text counts at most `target_tokens` (re-counted exactly)."""
    alive = alive.copy()
    queue = [int(i) for i in order if alive[i]]
    estimate, at = int(costs[alive].sum()), 0
    while True:
        while estimate > target_tokens and at < len(queue):
            alive[queue[at]] = False
            estimate -= int(costs[queue[at]])
            at += 1
        kept = "".join(text[w.start:w.end] for w, a in zip(words, alive) if a).lstrip()
        over = tokenizer.count(kept) - target_tokens
        if over <= 0 or at >= len(queue):
            return kept
        estimate = target_tokens + over  # the estimate was low by this much; drop that much more


def _protected(text: str, words: Sequence[Word], patterns: Sequence[re.Pattern[str]]) -> np.ndarray:
    marks = np.zeros(len(text) + 1, dtype=np.int32)
    for pattern in patterns:
        for match in pattern.finditer(text):
            if match.group(0).lower() not in _STOPWORDS:
                marks[match.start()] += 1
                marks[match.end()] -= 1
    covered = np.cumsum(marks)[:-1] > 0
    return np.array([covered[w.start:w.end].any() for w in words], dtype=bool)


def score_words(text: str, model: SurprisalModel, query: str | None = None, *,
                ranges: Sequence[tuple[int, int]] | None = None) -> list[Word]:
    """The words of `text` (each with the whitespace before it) with surprisal summed over their model tokens.

    With `ranges`, the model scores only those character ranges of `text` (each after the query); words outside
    them get surprisal 0 and no model tokens.
    """
    prefix = f"{query}\n\n" if query else ""
    spans = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    word_starts = [s for s, _ in spans]
    total, count = np.zeros(len(spans)), np.zeros(len(spans), dtype=np.int64)
    for begin, end in ranges if ranges is not None else [(0, len(text))]:
        piece = prefix + text[begin:end]
        starts, values = align(piece, model.token_surprisal(piece))
        starts = starts - len(prefix)
        values, starts = values[starts >= 0], starts[starts >= 0] + begin
        owner = np.searchsorted(word_starts, starts, side="right") - 1
        inside = owner >= 0
        total += np.bincount(owner[inside], weights=values[inside], minlength=len(spans))
        count += np.bincount(owner[inside], minlength=len(spans))
    return [Word(s, e, float(t), int(c)) for (s, e), t, c in zip(spans, total, count)]


def _merged(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted ranges with touching neighbours joined."""
    out: list[tuple[int, int]] = []
    for begin, end in ranges:
        if out and out[-1][1] == begin:
            out[-1] = (out[-1][0], end)
        else:
            out.append((begin, end))
    return out


def _inside(offsets: np.ndarray, ranges: Sequence[tuple[int, int]]) -> np.ndarray:
    """Which offsets fall in any of the (sorted, disjoint) ranges."""
    if not ranges:
        return np.zeros(len(offsets), dtype=bool)
    begins = np.array([a for a, _ in ranges])
    ends = np.array([b for _, b in ranges])
    at = np.searchsorted(begins, offsets, side="right") - 1
    return (at >= 0) & (offsets < ends[np.clip(at, 0, None)])


def align(text: str, pieces: Sequence[tuple[str, float]]) -> tuple[np.ndarray, np.ndarray]:
    """Start offsets in `text` of the model's token pieces, and their surprisals (made finite).

    Pieces that do not match the text where expected (a byte of a split character, a special token) pass their
    surprisal on to the next piece that does.
    """
    values = np.array([s for _, s in pieces], dtype=np.float64)
    finite = values[np.isfinite(values)]
    values = np.nan_to_num(values, nan=0.0, posinf=finite.max() if len(finite) else 0.0, neginf=0.0)
    if "".join(p for p, _ in pieces) == text:
        lengths = np.array([len(p) for p, _ in pieces], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64), values
    return _align_fuzzy(text, [p for p, _ in pieces], values)


def _align_fuzzy(text: str, pieces: Sequence[str], values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts, out, pos, pending = [], [], 0, 0.0
    for piece, value in zip(pieces, values):
        found = text.find(piece, pos, pos + len(piece) + 8) if piece else -1
        if found < 0:
            pending += value
            continue
        starts.append(found)
        out.append(value + pending)
        pos, pending = found + len(piece), 0.0
    return np.array(starts, dtype=np.int64), np.array(out, dtype=np.float64)

