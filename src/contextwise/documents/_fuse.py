"""Fuse ranked chunks into one cited context that never exceeds a token budget: a shortcut over the budget
engine (one documents section in a Context whose window is the budget, counted as bare text)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal

from contextwise.arrange import Ordering
from contextwise.budget.fit import FitEnv, Fitted, Measured
from contextwise.budget.report import Decision
from contextwise.budget.section import Item
from contextwise.documents._cite import CitationCheck, CitationStyle, parse_citations
from contextwise.documents._rank import Ranked, check_ids
from contextwise.documents._sentences import Splitter, sentence_spans
from contextwise.errors import UsageError
from contextwise.protocols import Tokenizer
from contextwise.registry import resolve
from contextwise.tokens.framing import Framing
from contextwise.types import Chunk, Citation

if TYPE_CHECKING:
    from contextwise.budget import Built

Status = Literal["included", "cut", "dropped"]
_FIELDS = ("marker", "text", "title", "source", "date")
_NO_ROOM = "no room left in the budget"
# A Context over bare text: no message framing, no reply priming, so its prompt count is the text's count.
_TEXT = Framing("text", per_message_tokens=0, per_name_tokens=0, reply_priming_tokens=0, role_counted=False)


class _Strategy:
    """What the fusion strategies share: the block template, the separator between blocks, and the hooks the
    budget engine calls when a strategy is a documents section's `order` (see `as_layout`)."""

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

    def show(self, chunks: list[Chunk]) -> list[Chunk]:
        """The order in which the chosen chunks (in claim order) are shown."""
        return chunks

    def as_layout(self) -> Layout:
        """This strategy as the `order` of a documents section in a Context."""
        return Layout(self)


@dataclass(frozen=True)
class Layout:
    """A fusion strategy inside the budget engine: the claim order, the display order, the block template and
    the group headers of a documents section. `Context.documents(..., order=Structured())` makes one."""

    strategy: _Strategy

    @property
    def name(self) -> str:
        """The strategy's class name."""
        return type(self.strategy).__name__.lower()

    @property
    def separator(self) -> str:
        """What goes between blocks."""
        return self.strategy.separator

    def claim(self, items: Sequence[Item]) -> list[Item]:
        """The items in the order they claim the budget, with priorities falling in that order."""
        by_chunk = {id(_chunk(i)): i for i in items}
        ordered = [by_chunk[id(c)] for c in self.strategy.priority([_chunk(i) for i in items])]
        return [replace(item, priority=float(len(ordered) - n)) for n, item in enumerate(ordered)]

    def order(self, items: Sequence[Item], priorities: Sequence[float]) -> list[Item]:
        """The kept items (in claim order) in the order they are shown."""
        by_chunk = {id(_chunk(i)): i for i in items}
        return [by_chunk[id(c)] for c in self.strategy.show([_chunk(i) for i in items])]

    def block(self, item: Item, marker: str) -> str:
        """The item as its block (the template filled from its chunk)."""
        return self.strategy.block(_chunk(item), marker, item.text)

    def header(self, item: Item) -> tuple[object, str]:
        """The item's group and the header shown above the group's first block ("" for none)."""
        chunk = _chunk(item)
        group = self.strategy.group(chunk)
        return group, _header(chunk) if group else ""


def _chunk(item: Item) -> Chunk:
    if not isinstance(item.origin, Chunk):
        raise UsageError("a fusion layout orders document chunks; give the section Chunks or Ranked results")
    return item.origin


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

    def show(self, chunks: list[Chunk]) -> list[Chunk]:
        """Rank order, or the arrangement's order of it."""
        if self.order is None:
            return chunks
        return list(self.order.order(chunks, [float(len(chunks) - i) for i in range(len(chunks))]))


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

    def show(self, chunks: list[Chunk]) -> list[Chunk]:
        """Documents in order of their best chunk; within a document, by position in it."""
        first: dict[tuple[str, str] | None, int] = {}
        for i, chunk in enumerate(chunks):
            first.setdefault(self.group(chunk), i)
        return sorted(chunks, key=lambda c: (first[self.group(c)], c.start_char))


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
    live = [c for c in chunks if c.text.strip()]
    built = _build(live, budget_tokens, tok, strategy, style, splitter) if live and budget_tokens else None
    return _result(chunks, built, budget_tokens, style)


def _build(chunks: list[Chunk], budget_tokens: int, tok: Tokenizer, strategy: Strategy, style: CitationStyle,
           splitter: Splitter | None) -> Built:
    """The chunks as the one documents section of a Context whose window is the budget, counted as bare text."""
    import warnings

    from contextwise.budget import Context
    from contextwise.errors import TruncationWarning
    from contextwise.tokens import TokenCounter

    ctx = Context(window_tokens=budget_tokens, output_reserve_tokens=0, counter=TokenCounter(tok, _TEXT),
                  citation_style=style)
    ctx.documents(chunks, order=strategy, fit=_Claim(splitter), title="")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        return ctx.build()


@dataclass(frozen=True)
class _Claim:
    """fuse's fit: items claim the budget in order while they fit; the first that does not is cut at a sentence
    boundary (on a token boundary only if its first sentence alone is too long) and the rest are dropped."""

    splitter: Splitter | None = None
    name: str = "claim-in-order"

    def fit(self, items: Sequence[Measured], limit_tokens: int, env: FitEnv) -> Fitted:
        kept: list[Measured] = []
        decisions: list[Decision] = []
        left, full = limit_tokens, False
        for m in items:
            if not full and m.tokens <= left:
                kept.append(m)
                left -= m.tokens
                continue
            body, reason = ("", _NO_ROOM) if full else _cut(
                m.item.text, _fits(env, m.item, left), env.tokenizer, self.splitter)
            full = True
            if body:
                short = replace(m.item, content=body)
                kept.append(Measured(short, env.measure(short)))
                decisions.append(Decision(env.section, m.item.label, "truncated", m.tokens, kept[-1].tokens,
                                          reason))
            else:
                decisions.append(Decision(env.section, m.item.label, "dropped", m.tokens, 0, _NO_ROOM))
        return Fitted(tuple(kept), tuple(decisions))


def _fits(env: FitEnv, item: Item, room_tokens: int) -> Callable[[str], bool]:
    """Whether the item shown with `body` takes at most `room_tokens`."""
    return lambda body: env.measure(replace(item, content=body)) <= room_tokens


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


def _result(chunks: Sequence[Chunk], built: Built | None, budget_tokens: int, style: CitationStyle) -> Fused:
    if built is None:
        empty = tuple(ChunkOutcome(c.id, "dropped", reason=_NO_ROOM if c.text.strip() else "no text")
                      for c in chunks)
        return Fused("", 0, budget_tokens, (), empty, style)
    citations = tuple(built.citations.values())
    markers = {c.chunk_id: c.marker for c in citations}
    kept = {i.origin.id: i for i in built.report.section("documents").kept}
    reasons = {d.item: d.reason for d in built.report.decisions}
    outcomes: list[ChunkOutcome] = []
    for chunk in chunks:
        if chunk.id not in kept:
            outcomes.append(ChunkOutcome(chunk.id, "dropped", reason=reasons.get(chunk.id, "no text")))
            continue
        body = kept[chunk.id].text
        status: Status = "included" if body == kept[chunk.id].origin.text.strip() else "cut"
        outcomes.append(ChunkOutcome(chunk.id, status, markers[chunk.id], len(body),
                                     reasons.get(chunk.id, "fits whole")))
    text = built.messages[0].text if built.messages else ""
    return Fused(text, built.report.prompt_tokens, budget_tokens, citations, tuple(outcomes), style)


def _header(chunk: Chunk) -> str:
    lines = [f"## {chunk.title or chunk.source}"] if chunk.title or chunk.source else []
    facts = ([f"Source: {chunk.source}"] if chunk.title and chunk.source else []) + \
            ([f"Date: {_date(chunk.timestamp)}"] if chunk.timestamp is not None else [])
    if facts:
        lines.append(" | ".join(facts))
    return "\n".join(lines)


def _date(timestamp: float | None) -> str:
    return "" if timestamp is None else datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%d")
