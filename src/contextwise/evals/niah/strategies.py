"""The pipeline under test: what a contextwise strategy does to a NIAH context before the model reads it.

Every strategy here is a thin adapter over the public APIs (`contextwise.arrange`, `contextwise.compress`,
`contextwise.documents`), so a change there changes what is measured and nothing else has to move. All but
`Raw` send at most `keep` of the cell's context tokens (the same budget for each, counted in the target
model's tokenizer); `Raw` sends the whole context and is the reference.

- `Raw()`: the context as built.
- `Reordered(Bookend())` / `Reordered(LongContextReorder())`: chunked, ranked against the question, the best
  kept within the budget, laid out by the ordering (most relevant at the edges).
- `Compressed(Extractive())` / `Compressed(TokenPruning(...))`: compressed to the budget for the question.
- `Retrieved()`: chunked, ranked, the best kept within the budget, in document order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from contextwise.errors import UsageError
from contextwise.protocols import Tokenizer

DEFAULT_KEEP = 0.5
CHUNK_TOKENS = 64


class Strategy(Protocol):
    """Turns a built context into what is sent, for one question, in the target's tokenizer."""

    @property
    def name(self) -> str: ...

    @property
    def spec(self) -> str:
        """Everything that changes the output (part of the cell id)."""
        ...

    def fit(self, context: str, question: str, tokenizer: Tokenizer) -> str: ...


def _budget(context: str, keep: float, tokenizer: Tokenizer) -> int:
    return max(1, int(tokenizer.count(context) * keep))


def _check_keep(keep: float) -> None:
    if not 0 < keep <= 1:
        raise UsageError(f"keep must be in (0, 1], got {keep}")


@dataclass(frozen=True)
class Raw:
    """The context unchanged: the reference every other strategy is compared with."""

    name: str = "raw"

    @property
    def spec(self) -> str:
        """No parameters."""
        return "raw"

    def fit(self, context: str, question: str, tokenizer: Tokenizer) -> str:
        """The context itself."""
        return context


def _ranked(context: str, question: str, tokenizer: Tokenizer, embedder: Any) -> list[Any]:
    from contextwise.documents import Hybrid, chunk_document, rank

    chunks = chunk_document(context, tokenizer, max_tokens=CHUNK_TOKENS, doc_id="haystack")
    if embedder is None:
        return rank(chunks, question, relevance=Hybrid(lexical=1.0))
    return rank(chunks, question, embedder=embedder, relevance=Hybrid(lexical=0.3))


def _keep_best(ranked: list[Any], budget_tokens: int, tokenizer: Tokenizer) -> list[Any]:
    kept, used = [], 0
    for item in ranked:
        cost = tokenizer.count(item.chunk.text) + 1
        if used + cost <= budget_tokens:
            kept.append(item)
            used += cost
    return kept


@dataclass(frozen=True)
class Retrieved:
    """Chunk the context (64 tokens of whole sentences), rank the chunks against the question (BM25 alone by
    default, or an embedder's hybrid), keep the best within `keep` of the tokens, in document order."""

    keep: float = DEFAULT_KEEP
    embedder: Any = None
    name: str = "retrieved"

    def __post_init__(self) -> None:
        _check_keep(self.keep)

    @property
    def spec(self) -> str:
        """keep and the relevance used."""
        return f"retrieved:keep={self.keep}:{getattr(self.embedder, 'name', 'bm25')}"

    def fit(self, context: str, question: str, tokenizer: Tokenizer) -> str:
        """The best chunks within budget, in their original order."""
        kept = _keep_best(_ranked(context, question, tokenizer, self.embedder),
                          _budget(context, self.keep, tokenizer), tokenizer)
        kept.sort(key=lambda r: r.chunk.start_char)
        return "\n".join(r.chunk.text for r in kept)


@dataclass(frozen=True)
class Reordered:
    """Retrieved's chunks within the budget, laid out by an `arrange` Ordering (Bookend, LongContextReorder)
    by relevance instead of in document order; with keep=1 every chunk stays and only the order changes."""

    ordering: Any = None
    keep: float = DEFAULT_KEEP
    embedder: Any = None

    def __post_init__(self) -> None:
        _check_keep(self.keep)
        if self.ordering is None:
            from contextwise.arrange import Bookend

            object.__setattr__(self, "ordering", Bookend())

    @property
    def name(self) -> str:
        """"reordered-" and the ordering's name."""
        return f"reordered-{self.ordering.name}"

    @property
    def spec(self) -> str:
        """The ordering, keep and relevance."""
        return f"{self.name}:keep={self.keep}:{getattr(self.embedder, 'name', 'bm25')}"

    def fit(self, context: str, question: str, tokenizer: Tokenizer) -> str:
        """The kept chunks in the ordering's layout."""
        kept = _keep_best(_ranked(context, question, tokenizer, self.embedder),
                          _budget(context, self.keep, tokenizer), tokenizer)
        ordered = self.ordering.order(kept, [r.score for r in kept])
        return "\n".join(r.chunk.text for r in ordered)


@dataclass(frozen=True)
class Compressed:
    """A `contextwise.compress` Compressor (Extractive, TokenPruning, Auto…) to `keep` of the tokens, for the
    question."""

    compressor: Any = None  # a Compressor
    keep: float = DEFAULT_KEEP
    label: str = ""

    def __post_init__(self) -> None:
        _check_keep(self.keep)
        if self.compressor is None:
            from contextwise.compress import Extractive

            object.__setattr__(self, "compressor", Extractive())

    @property
    def name(self) -> str:
        """"compressed-" and the compressor's kind."""
        return f"compressed-{self.label or type(self.compressor).__name__.lower()}"

    @property
    def spec(self) -> str:
        """The compressor's repr and keep."""
        return f"{self.name}:keep={self.keep}:{getattr(self.compressor, 'name', type(self.compressor).__name__)}"

    def fit(self, context: str, question: str, tokenizer: Tokenizer) -> str:
        """The compressed text."""
        return str(self.compressor.compress(context, _budget(context, self.keep, tokenizer), tokenizer, question).text)


def standard_strategies(*, keep: float = DEFAULT_KEEP, pruning_model: Any = None) -> list[Strategy]:
    """Raw, Bookend and LongContextReorder, Extractive (and TokenPruning when a scoring model is given),
    Retrieved: the side-by-side set of the README figure."""
    from contextwise.arrange import Bookend, LongContextReorder
    from contextwise.compress import Extractive, TokenPruning

    chosen: list[Strategy] = [Raw(), Reordered(Bookend(), keep), Reordered(LongContextReorder(), keep),
                              Compressed(Extractive(), keep, "extractive")]
    if pruning_model is not None:
        chosen.append(Compressed(TokenPruning(model=pruning_model), keep, "pruning"))
    chosen.append(Retrieved(keep))
    return chosen


STRATEGY_NAMES = ("raw", "bookend", "long-context-reorder", "extractive", "pruning", "retrieved")


def strategy_from(name: str, *, keep: float = DEFAULT_KEEP, pruning_model: Any = None) -> Strategy:
    """A strategy by its CLI name (STRATEGY_NAMES)."""
    from contextwise.arrange import Bookend, LongContextReorder
    from contextwise.compress import Extractive, TokenPruning

    makers: dict[str, Callable[[], Strategy]] = {"raw": lambda: Raw(), "bookend": lambda: Reordered(Bookend(), keep),
              "long-context-reorder": lambda: Reordered(LongContextReorder(), keep),
              "extractive": lambda: Compressed(Extractive(), keep, "extractive"),
              "pruning": lambda: Compressed(TokenPruning(model=pruning_model), keep, "pruning"),
              "retrieved": lambda: Retrieved(keep)}
    if name not in makers:
        raise UsageError(f"strategy {name!r}: use one of {', '.join(STRATEGY_NAMES)}")
    return makers[name]()
