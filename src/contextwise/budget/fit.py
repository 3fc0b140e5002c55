"""Fit strategies: how a section shrinks to the tokens it was granted.

Each is a small strategy object; the section's items come in measured (`Measured`), and the kept items go out
(`Fitted`) with a Decision for everything dropped, truncated or compressed. Kept items stay in section order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol
from collections.abc import Callable, Sequence

from contextwise.budget.report import Decision
from contextwise.budget.section import Item
from contextwise.errors import UsageError
from contextwise.protocols import Compressor, Tokenizer

Side = Literal["tail", "head", "middle"]


@dataclass(frozen=True, slots=True)
class Measured:
    """An item and what it costs in the rendered prompt."""

    item: Item
    tokens: int


@dataclass(frozen=True)
class Fitted:
    """The result of fitting a section: the kept items (possibly shortened) and the decisions taken."""

    kept: tuple[Measured, ...]
    decisions: tuple[Decision, ...]

    @property
    def tokens(self) -> int:
        return sum(m.tokens for m in self.kept)


@dataclass(frozen=True)
class FitEnv:
    """What a strategy may use: the section name, the measure of an item, the tokenizer and the user's query."""

    section: str
    measure: Callable[[Item], int]
    tokenizer: Tokenizer
    query: str | None = None


class FitStrategy(Protocol):
    """Shrinks measured items to at most `limit_tokens`."""

    @property
    def name(self) -> str:
        """The strategy's name, shown in the Report."""
        ...


    def fit(self, items: Sequence[Measured], limit_tokens: int, env: FitEnv) -> Fitted: ...


def _label(m: Measured, index: int) -> str:
    return m.item.label or f"#{index}"


def _drop(m: Measured, index: int, env: FitEnv, reason: str) -> Decision:
    return Decision(env.section, _label(m, index), "dropped", m.tokens, 0, reason)


def _shorten(m: Measured, index: int, env: FitEnv, limit_tokens: int, side: Side) -> tuple[Measured | None,
                                                                                               Decision]:
    """Cut a text item on token boundaries so that its measured cost fits `limit_tokens`."""
    from contextwise.compress.truncate import truncate_tokens

    overhead = m.tokens - env.tokenizer.count(m.item.text)
    room = limit_tokens - overhead
    if m.item.is_messages or room <= 0:
        return None, _drop(m, index, env, "no room left for even part of it")
    text = truncate_tokens(m.item.text, room, env.tokenizer, side=side).text
    item = replace(m.item, content=text)
    tokens = env.measure(item)
    while tokens > limit_tokens and text:  # a cut can re-merge at the seam; shave until it fits
        room -= tokens - limit_tokens
        text = truncate_tokens(text, max(room, 0), env.tokenizer, side=side).text
        item = replace(m.item, content=text)
        tokens = env.measure(item)
    if not text:
        return None, _drop(m, index, env, "no room left for even part of it")
    return Measured(item, tokens), Decision(env.section, _label(m, index), "truncated", m.tokens, tokens,
                                            f"cut at the {side} on a token boundary to fit")


@dataclass(frozen=True)
class Truncate:
    """Keep items in order and cut the one that overflows on token boundaries; drop the rest.

    `side="tail"` keeps the beginning, `"head"` keeps the end, `"middle"` keeps both ends. Message items are
    never cut inside: they are kept or dropped whole.
    """

    side: Side = "tail"

    @property
    def name(self) -> str:
        return f"truncate-{self.side}"

    def fit(self, items: Sequence[Measured], limit_tokens: int, env: FitEnv) -> Fitted:
        if self.side not in ("tail", "head", "middle"):
            raise UsageError(f"Truncate side must be 'tail', 'head' or 'middle', not {self.side!r}")
        if sum(m.tokens for m in items) <= limit_tokens:
            return Fitted(tuple(items), ())
        if self.side == "middle" and len(items) == 1:
            return self._run(items, limit_tokens, env, "middle")
        if self.side == "middle":
            half = (len(items) + 1) // 2
            first = self._run(items[:half], limit_tokens // 2, env, "tail")
            rest = limit_tokens - first.tokens
            last = self._run(items[half:], rest, env, "head", offset=half)
            return Fitted(first.kept + last.kept, first.decisions + last.decisions)
        return self._run(items, limit_tokens, env, self.side)

    def _run(self, items: Sequence[Measured], limit_tokens: int, env: FitEnv, side: Side,
             offset: int = 0) -> Fitted:
        indexed = list(enumerate(items, start=offset))
        if side == "head":
            indexed.reverse()
        kept: list[tuple[int, Measured]] = []
        decisions: list[Decision] = []
        left = limit_tokens
        for index, m in indexed:
            if m.tokens <= left:
                kept.append((index, m))
                left -= m.tokens
                continue
            short, decision = _shorten(m, index, env, left, side) if left > 0 else (
                None, _drop(m, index, env, "the section's grant was used up"))
            decisions.append(decision)
            if short is not None:
                kept.append((index, short))
                left -= short.tokens
        kept.sort(key=lambda pair: pair[0])
        return Fitted(tuple(m for _, m in kept), tuple(decisions))


@dataclass(frozen=True)
class DropLowest:
    """Drop whole items, lowest priority first (the oldest first among equals), until the rest fits."""

    name: str = "drop-lowest"

    def fit(self, items: Sequence[Measured], limit_tokens: int, env: FitEnv) -> Fitted:
        total = sum(m.tokens for m in items)
        order = sorted(range(len(items)), key=lambda i: (items[i].item.priority, i))
        dropped: set[int] = set()
        decisions = []
        for i in order:
            if total <= limit_tokens:
                break
            dropped.add(i)
            total -= items[i].tokens
            decisions.append(_drop(items[i], i, env, "lowest priority in an over-full section"))
        return Fitted(tuple(m for i, m in enumerate(items) if i not in dropped), tuple(decisions))


@dataclass(frozen=True)
class PreferShorter:
    """Keep the most priority per token: rank items by priority density and fill the grant greedily.

    Many short relevant items beat one long one; an item that does not fit is skipped, not cut.
    """

    name: str = "prefer-shorter"

    def fit(self, items: Sequence[Measured], limit_tokens: int, env: FitEnv) -> Fitted:
        if sum(m.tokens for m in items) <= limit_tokens:
            return Fitted(tuple(items), ())
        ranks = {i: r for r, i in enumerate(sorted(range(len(items)), key=lambda i: items[i].item.priority))}
        density = sorted(range(len(items)), key=lambda i: (-(ranks[i] + 1) / max(items[i].tokens, 1), i))
        left, kept, decisions = limit_tokens, set(), []
        for i in density:
            if items[i].tokens <= left:
                kept.add(i)
                left -= items[i].tokens
            else:
                decisions.append(_drop(items[i], i, env, "less priority per token than what was kept"))
        return Fitted(tuple(m for i, m in enumerate(items) if i in kept), tuple(decisions))


@dataclass(frozen=True)
class Compress:
    """Shrink text items with a Compressor, each to its share of the grant; then drop lowest if still over.

    Shares are proportional to item size, so every item keeps the same fraction.
    """

    compressor: Compressor

    @property
    def name(self) -> str:
        return f"compress-{getattr(self.compressor, 'name', type(self.compressor).__name__)}"

    def fit(self, items: Sequence[Measured], limit_tokens: int, env: FitEnv) -> Fitted:
        total = sum(m.tokens for m in items)
        if total <= limit_tokens:
            return Fitted(tuple(items), ())
        ratio = limit_tokens / total
        out: list[Measured] = []
        decisions: list[Decision] = []
        for index, m in enumerate(items):
            if m.item.is_messages:
                out.append(m)
                continue
            overhead = m.tokens - env.tokenizer.count(m.item.text)
            target = int(m.tokens * ratio) - overhead
            if target <= 0:
                decisions.append(_drop(m, index, env, "its share of the grant was too small to compress into"))
                continue
            done = self.compressor.compress(m.item.text, target, env.tokenizer, query=env.query)
            item = replace(m.item, content=done.text)
            short = Measured(item, env.measure(item))
            out.append(short)
            decisions.append(Decision(env.section, _label(m, index), "compressed", m.tokens, short.tokens,
                                      f"{self.name} to {done.keep_ratio:.0%}"))
        rest = DropLowest().fit(out, limit_tokens, env)
        return Fitted(rest.kept, tuple(decisions) + rest.decisions)


def default_fit(kind: str) -> FitStrategy:
    """The fit strategy a section of `kind` gets when none is given (history: the newest whole turns)."""
    if kind == "history":
        from contextwise.budget._history import RecentTurns

        return RecentTurns()
    if kind in ("memory", "documents", "custom", "tools"):
        return DropLowest()
    return Truncate("tail")
