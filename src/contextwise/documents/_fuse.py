"""Fuse ranked chunks into one cited context that never exceeds a token budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Literal

from contextwise.arrange import Ordering
from contextwise.documents._cite import CitationCheck, CitationStyle, parse_citations
from contextwise.documents._rank import Ranked, check_ids
from contextwise.documents._sentences import Splitter, sentence_spans
from contextwise.errors import UsageError
from contextwise.protocols import Tokenizer
from contextwise.registry import resolve
from contextwise.types import Chunk, Citation

Status = Literal["included", "cut", "dropped"]
_FIELDS = ("marker", "text", "title", "source", "date")


@dataclass(frozen=True)
class _Pick:
    chunk: Chunk
    body: str
    group: tuple[str, str] | None = None
    header: str = ""
    reason: str = "fits whole"


class _Strategy:
    """What the fusion strategies share: the block template and the separator between blocks."""

    template: str
    separator: str

    def _check(self) -> None:
        try:
            self.template.format(**{name: "" for name in _FIELDS})
        except (KeyError, IndexError, ValueError) as exc:
            raise UsageError(f"template {self.template!r} may only use the fields {', '.join(_FIELDS)}") from exc
        if "{marker}" not in self.template or "{text}" not in self.template:
            raise UsageError(f"template {self.template!r} must contain {{marker}} and {{text}}")

    def block(self, chunk: Chunk, marker: str, body: str) -> str:
        """One chunk as it appears in the context."""
        return self.template.format(marker=marker, text=body, title=chunk.title, source=chunk.source,
                                    date=_date(chunk.timestamp))

    def priority(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        """The order in which chunks claim the budget."""
        return list(chunks)

    def group(self, chunk: Chunk) -> tuple[str, str] | None:
        """The group a chunk is shown under (None: no group headers)."""
        return None

    def layout(self, picks: list[_Pick]) -> list[_Pick]:
        """The order in which the chosen chunks are shown."""
        return picks


@dataclass(frozen=True)
class Sequential(_Strategy):
    """The chunks in rank order, each one block "{marker} {text}", separated by a blank line.

    Args:
        template: how one chunk is shown; fields marker, text, title, source, date.
        separator: what goes between blocks.
        order: an arrangement for the chunks that fit (e.g. contextwise.arrange.Bookend() against
            lost-in-the-middle); None shows them in rank order. Chunks always claim the budget in rank order.
    """

    template: str = "{marker} {text}"
    separator: str = "\n\n"
    order: Ordering | None = None

    def __post_init__(self) -> None:
        self._check()

    def layout(self, picks: list[_Pick]) -> list[_Pick]:
        """Rank order, or the arrangement's order of it."""
        if self.order is None:
            return picks
        return list(self.order.order(picks, [float(len(picks) - i) for i in range(len(picks))]))


@dataclass(frozen=True)
class Interleaved(_Strategy):
    """Round-robin across sources: the best chunk of each source, then the second best of each, and so on.

    Sources take turns in the order of their best chunk, so no single source can take the whole budget.
    """

    template: str = "{marker} {text}"
    separator: str = "\n\n"

    def __post_init__(self) -> None:
        self._check()

    def priority(self, chunks: Sequence[Chunk]) -> list[Chunk]:
        """Round-robin over sources, each source's chunks in rank order."""
        queues: dict[str, list[Chunk]] = {}
        for chunk in chunks:
            queues.setdefault(chunk.source, []).append(chunk)
        out: list[Chunk] = []
        for turn in range(max((len(q) for q in queues.values()), default=0)):
            out.extend(q[turn] for q in queues.values() if turn < len(q))
        return out


@dataclass(frozen=True)
class Structured(_Strategy):
    """Chunks grouped by document (source and title) under a header with its title, source and date.

    Chunks claim the budget in rank order; documents are shown in the order of their best chunk, and the
    chunks of one document in their order in it (by start_char).
    """

    template: str = "{marker} {text}"
    separator: str = "\n\n"

    def __post_init__(self) -> None:
        self._check()

    def group(self, chunk: Chunk) -> tuple[str, str] | None:
        """Chunks of one document (same source and title) share a header."""
        return (chunk.source, chunk.title)

    def layout(self, picks: list[_Pick]) -> list[_Pick]:
        """Documents in order of their best chunk; within a document, by position in it."""
        first: dict[tuple[str, str] | None, int] = {}
        for i, pick in enumerate(picks):
            first.setdefault(pick.group, i)
        return sorted(picks, key=lambda p: (first[p.group], p.chunk.start_char))


Strategy = Sequential | Interleaved | Structured


@dataclass(frozen=True)
class ChunkOutcome:
    """What became of one chunk: included whole, cut (a prefix of `kept_chars` kept) or dropped, and why."""

    chunk_id: str
    status: Status
    marker: str | None = None
    kept_chars: int = 0
    reason: str = ""


@dataclass(frozen=True)
class Fused:
    """A fused, cited context and an account of every chunk offered.

    Attributes:
        text: the context.
        tokens: its exact token count under the tokenizer used; never above `budget_tokens`.
        budget_tokens: the budget it was built for.
        citations: one Citation per marker in the text, in marker order, spanning the text kept.
        outcomes: one ChunkOutcome per chunk offered, in the order offered.
        style: the marker style used.
    """

    text: str
    tokens: int
    budget_tokens: int
    citations: tuple[Citation, ...]
    outcomes: tuple[ChunkOutcome, ...]
    style: CitationStyle = field(default_factory=CitationStyle)

    @property
    def citation_map(self) -> Mapping[str, Citation]:
        """Marker to Citation."""
        return MappingProxyType({c.marker: c for c in self.citations})

    @property
    def included(self) -> tuple[str, ...]:
        """Ids of the chunks included whole."""
        return self._ids("included")

    @property
    def cut(self) -> tuple[str, ...]:
        """Ids of the chunks included in part."""
        return self._ids("cut")

    @property
    def dropped(self) -> tuple[str, ...]:
        """Ids of the chunks left out."""
        return self._ids("dropped")

    def _ids(self, status: Status) -> tuple[str, ...]:
        return tuple(o.chunk_id for o in self.outcomes if o.status == status)

    def check(self, answer: str, *, splitter: Splitter | None = None) -> CitationCheck:
        """Parse and validate the citations in an answer written from this context."""
        return parse_citations(answer, self.citation_map, style=self.style, splitter=splitter)


def fuse(items: Sequence[Ranked | Chunk], budget_tokens: int, tokenizer: Tokenizer | str, *,
         strategy: Strategy | None = None, style: CitationStyle | None = None,
         splitter: Splitter | None = None) -> Fused:
    """Fuse chunks, best first, into one context of at most `budget_tokens` tokens, with citation markers.

    Chunks are taken in the strategy's order while they fit. The first that does not fit is cut at a sentence
    boundary (on a token boundary only if its first sentence alone exceeds what is left) and the rest are dropped.
    Anything in a chunk that reads as a marker (a "[3]" footnote) is shown with other brackets ("(3)"), so it
    cannot pass for a citation of the context.

    Args:
        items: Ranked results (from rank()) or Chunks, best first; chunk ids must be unique.
        budget_tokens: the most tokens the context may take.
        tokenizer: the Tokenizer (or "provider:name") the budget is counted in.
        strategy: Sequential() (default), Interleaved() or Structured().
        style: the citation marker style (default "[1]", "[2]" …).
        splitter: the sentence splitter for cuts (default contextwise.compress.split_sentences).

    >>> from contextwise.testing import FakeTokenizer
    >>> fused = fuse([Chunk("a", "Cats purr. They nap."), Chunk("b", "Dogs bark.")], 4, FakeTokenizer())
    >>> fused.text, fused.cut, fused.dropped
    ('[1] Cats purr.', ('a',), ('b',))
    """
    if budget_tokens < 0:
        raise UsageError(f"budget_tokens must be >= 0, got {budget_tokens}")
    chunks = [item.chunk if isinstance(item, Ranked) else item for item in items]
    check_ids(chunks)
    tok: Tokenizer = resolve("tokenizer", tokenizer)
    strategy, style = strategy or Sequential(), style or CitationStyle()
    chunks = [_neutral(chunk, style) for chunk in chunks]
    allowance = budget_tokens
    while True:  # token counts are not additive; shrink the allowance by any overshoot until the whole fits
        shown = strategy.layout(_select(chunks, allowance, tok, strategy, style, splitter))
        text = _render(shown, strategy, style)
        tokens = tok.count(text)
        if tokens <= budget_tokens:
            return _result(chunks, shown, text, tokens, budget_tokens, style)
        allowance -= tokens - budget_tokens


def _select(chunks: Sequence[Chunk], allowance: int, tok: Tokenizer, strategy: Strategy, style: CitationStyle,
            splitter: Splitter | None) -> list[_Pick]:
    picks: list[_Pick] = []
    headers: dict[tuple[str, str] | None, str] = {}
    used = 0
    for chunk in strategy.priority(chunks):
        if not chunk.text.strip():
            continue
        group = strategy.group(chunk)
        header = headers.get(group, _header(chunk) if group else "")
        lead = (strategy.separator if picks else "") + (header + "\n" if header and group not in headers else "")
        marker = style.marker(len(picks) + 1)
        cost = tok.count(lead + strategy.block(chunk, marker, chunk.text))
        body, reason = chunk.text, "fits whole"
        if used + cost > allowance:
            body, reason = _cut(chunk.text, _room(tok, lead, strategy, chunk, marker, allowance - used), tok,
                                splitter)
        if body:
            picks.append(_Pick(chunk, body, group, header, reason))
            headers.setdefault(group, header)
            used += tok.count(lead + strategy.block(chunk, marker, body))
        if body != chunk.text:
            break
    return picks


def _room(tok: Tokenizer, lead: str, strategy: Strategy, chunk: Chunk, marker: str,
          room_tokens: int) -> Callable[[str], bool]:
    """Whether a chunk shown with `body` (after `lead`) takes at most `room_tokens`."""
    return lambda body: tok.count(lead + strategy.block(chunk, marker, body)) <= room_tokens


def _cut(text: str, fits: Callable[[str], bool], tok: Tokenizer, splitter: Splitter | None) -> tuple[str, str]:
    """The longest prefix of whole sentences that fits; failing one, the first sentence cut on a token boundary."""
    ends = [end for _, end in sentence_spans(text, splitter)]
    whole = _largest(len(ends), lambda k: fits(text[:ends[k - 1]]))
    if whole:
        return text[:ends[whole - 1]], f"cut after {whole} of {len(ends)} sentences to fit"
    first = text[:ends[0]] if ends else ""
    ids = tok.encode(first)
    body = _token_prefix(first, ids, _largest(len(ids), lambda n: fits(_token_prefix(first, ids, n, tok))), tok)
    return body, "cut on a token boundary: its first sentence alone is longer than the room left"


def _token_prefix(text: str, ids: Sequence[int], n: int, tok: Tokenizer) -> str:
    """The text of the first `n` tokens, backing off while that is not a prefix of `text` (a split character)."""
    while n > 0:
        piece = tok.decode(ids[:n]).rstrip()
        if text.startswith(piece):
            return piece
        n -= 1
    return ""


def _largest(top: int, ok: Callable[[int], bool]) -> int:
    """The largest n in [0, top] with ok(n), by bisection (0 if none is found); ok(0) is taken as true."""
    low, high = 0, top
    while low < high:
        mid = (low + high + 1) // 2
        if ok(mid):
            low = mid
        else:
            high = mid - 1
    return low


def _render(shown: list[_Pick], strategy: Strategy, style: CitationStyle) -> str:
    parts: list[str] = []
    group: object = object()
    for number, pick in enumerate(shown, 1):
        if parts:
            parts.append(strategy.separator)
        if pick.header and pick.group != group:
            parts.append(pick.header + "\n")
        group = pick.group
        parts.append(strategy.block(pick.chunk, style.marker(number), pick.body))
    return "".join(parts)


def _result(chunks: Sequence[Chunk], shown: list[_Pick], text: str, tokens: int, budget_tokens: int,
            style: CitationStyle) -> Fused:
    by_id = {pick.chunk.id: (style.marker(n), pick) for n, pick in enumerate(shown, 1)}
    citations = tuple(Citation(marker, p.chunk.id, p.chunk.source, p.chunk.title, p.chunk.start_char,
                               p.chunk.start_char + len(p.body)) for marker, p in by_id.values())
    outcomes = []
    for chunk in chunks:
        if chunk.id not in by_id:
            reason = "no room left in the budget" if chunk.text.strip() else "no text"
            outcomes.append(ChunkOutcome(chunk.id, "dropped", reason=reason))
            continue
        marker, pick = by_id[chunk.id]
        status: Status = "included" if pick.body == chunk.text else "cut"
        outcomes.append(ChunkOutcome(chunk.id, status, marker, len(pick.body), pick.reason))
    return Fused(text, tokens, budget_tokens, citations, tuple(outcomes), style)


def _neutral(chunk: Chunk, style: CitationStyle) -> Chunk:
    text = style.neutralize(chunk.text)
    return chunk if text == chunk.text else replace(chunk, text=text)


def _header(chunk: Chunk) -> str:
    lines = [f"## {chunk.title or chunk.source}"] if chunk.title or chunk.source else []
    facts = ([f"Source: {chunk.source}"] if chunk.title and chunk.source else []) + \
            ([f"Date: {_date(chunk.timestamp)}"] if chunk.timestamp is not None else [])
    if facts:
        lines.append(" | ".join(facts))
    return "\n".join(lines)


def _date(timestamp: float | None) -> str:
    return "" if timestamp is None else datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
