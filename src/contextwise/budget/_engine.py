"""The one budget engine: one plan row per section; allocate once, fit once per grant, share the slack by a
second allocation over what the fitted sections used, arrange, count exactly, report."""

from __future__ import annotations

import warnings
import weakref
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from collections.abc import Callable, Iterator, Mapping, Sequence

from contextwise.arrange.layout import CachePlan, plan_cache, volatile_findings
from contextwise.budget._built import Built
from contextwise.budget.allocate import Demand, by_priority
from contextwise.budget.fit import FitEnv, Fitted, Measured, default_fit
from contextwise.budget.report import Report, SectionReport
from contextwise.budget.section import Item, Section
from contextwise.errors import BudgetExceededError, TruncationWarning
from contextwise.observe._emit import context_built as observe_built
from contextwise.types import Chunk, Citation, Message, TextPart, Tool, Usage

if TYPE_CHECKING:
    from contextwise.budget.context import Context

_MAX_CORRECTIONS = 32
_MAX_WRAP_CACHE = 16_384
_WRAP_CACHE: weakref.WeakKeyDictionary[Any, dict[Any, dict[tuple[str, str, str | bool], int]]] = \
    weakref.WeakKeyDictionary()
_EMPTY = Fitted((), ())


@dataclass
class _Row:
    """Everything the build knows about one section: its measured items, demand, grant and fit (cached per
    grant, so no grant is fitted, and no item compressed, twice)."""

    section: Section
    items: list[Measured]
    overhead: int
    demand: Demand
    env: FitEnv
    counter: Any
    grant: int = 0
    fitted: Fitted = _EMPTY
    fits: dict[int, Fitted] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.section.name

    @property
    def used(self) -> int:
        """Tokens the fitted section takes (its markers and one message's framing included)."""
        if self.section.placement == "tools":
            tools = tuple(m.item.origin for m in self.fitted.kept)
            return int(self.counter.tools(tools)) if tools else 0
        return self.fitted.tokens + self.overhead if self.fitted.kept else 0

    def fit(self, grant: int) -> None:
        """Fit the section to `grant` (a grant fitted before is reused)."""
        self.grant = grant
        if grant not in self.fits:
            self.fits[grant] = self._fit(grant)
        self.fitted = self.fits[grant]

    def _fit(self, grant: int) -> Fitted:
        if not self.items:
            return _EMPTY
        s = self.section
        limit = max(grant - self.overhead, 0)
        fitted = (s.fit or default_fit(s.kind)).fit(self.items, limit, self.env)
        if s.pinned and len(fitted.kept) < len(self.items):
            raise BudgetExceededError(f"pinned section {s.name!r} lost items while fitting",
                                      needed_tokens=sum(m.tokens for m in self.items), available_tokens=limit,
                                      sections=[s.name])
        return fitted

    def hungry(self, slack: int) -> bool:
        """Whether more tokens could bring back something this section left out. A section that compressed is
        satisfied: its items were compressed once, to the grant they had."""
        d = self.fitted.decisions
        if self.section.pinned or self.used >= self.demand.cap_tokens or any(x.action == "compressed" for x in d):
            return False
        return any(x.action in ("truncated", "summarised") or x.tokens_before <= slack for x in d)


def build(ctx: Context) -> Built:
    """Allocate, fit, arrange and count the context's sections (see Context.build)."""
    query = _query(ctx)
    rows = [_row(ctx, s, query) for s in ctx._sections]
    available = ctx.prompt_limit_tokens - ctx.counter.messages([])
    if available < 0:
        raise BudgetExceededError("not even the reply priming fits", needed_tokens=ctx.counter.messages([]),
                                  available_tokens=ctx.prompt_limit_tokens)
    grants = ctx.allocation.allocate([r.demand for r in rows], available)
    for r in rows:
        r.fit(grants[r.name])
    _share_slack(ctx, rows, available)
    limit = ctx.prompt_limit_tokens
    rendered = _render(ctx, rows)
    for _ in range(_MAX_CORRECTIONS):
        if rendered.total <= limit:
            break
        _correct(rows, rendered.total - limit)
        rendered = _render(ctx, rows)
    else:
        raise BudgetExceededError("could not fit after trimming every unpinned section",
                                  needed_tokens=rendered.total, available_tokens=limit)
    report = _report(ctx, rows, rendered)
    if report.decisions:
        warnings.warn(f"{len(report.decisions)} item(s) dropped or cut to fit {ctx.model}; see the Report",
                      TruncationWarning, stacklevel=3)
    report = observe_built(report, rendered.messages)  # contextwise.observe: ContextBuilt event, calibration note
    return Built(tuple(rendered.messages), rendered.tools, report, rendered.citations,
                 ctx.citation_style)


# -- measuring --------------------------------------------------------------------------------------------------

def _row(ctx: Context, section: Section, query: str | None) -> _Row:
    env = FitEnv(section.name, lambda item: _measure(ctx, section, item), ctx.counter.tokenizer, query)
    if section.placement in ("messages", "tools") or _layout(section) is not None:
        items = [Measured(it, _measure(ctx, section, it, n)) for n, it in enumerate(section.items, 1)]
    else:  # the hot path: thousands of chunks, counted once per process (the counter caches by content), the
        # ones not counted yet together on all cores
        counts, wrap = _count_many(ctx.counter, [it.text for it in section.items]), _wrap_cache(ctx)
        style = ctx.citation_style
        left, right = style.marker(0).split("0", 1) if section.cite else ("", "")
        items = []
        for n, (it, tokens) in enumerate(zip(section.items, counts), 1):
            last = it.text[-1:]
            marker = f"{left}{n}{right}" if section.cite else ""
            items.append(Measured(it, int(tokens) + wrap(_header(it), marker, last.isalnum() or last)))
    overhead = _overhead(ctx, section, items)
    requested = (sum(m.tokens for m in items) + overhead) if items else 0
    demand = Demand(section.name, section.priority or 0, requested, section.min_tokens, section.budget_tokens,
                    bool(section.pinned))
    return _Row(section, items, overhead, demand, env, ctx.counter)


def _count_many(counter: Any, texts: list[str]) -> list[int]:
    many = getattr(counter, "count_many", None)  # a counter of the caller's own may count one text at a time
    return list(many(texts)) if many is not None else [int(counter.count(t)) for t in texts]


def _overhead(ctx: Context, section: Section, items: list[Measured]) -> int:
    """Tokens a section costs beyond its items: markers and (at most) a message's framing; for tools, what
    the definitions cost together beyond their separate counts."""
    if section.placement == "messages":
        return 0
    if section.placement == "tools":
        return int(ctx.counter.tools(tuple(m.item.origin for m in items))) - sum(m.tokens for m in items)
    layout = _layout(section)
    # each block of a layout is counted with the separator before it; the first block has none
    lead = -int(ctx.counter.count(layout.separator)) if layout is not None else 0
    return _markers_tokens(ctx, section) + int(ctx.counter.message(Message.system(""))) + lead


def _markers_tokens(ctx: Context, section: Section) -> int:
    return int(ctx.counter.count(ctx.markers.open(section.title) + ctx.markers.close(section.title)))


def _measure(ctx: Context, section: Section, item: Item, index: int = 1) -> int:
    if isinstance(item.content, tuple):
        return sum(int(ctx.counter.message(m)) for m in item.content)
    if section.placement == "tools":
        return int(ctx.counter.tools((item.origin,)))
    marker = ctx.citation_style.marker(index) if section.cite else ""
    layout = _layout(section)
    if layout is not None:
        return int(ctx.counter.count(layout.separator + layout.block(item, marker)))
    last = item.content[-1:]
    return int(ctx.counter.count(item.content)) + _wrap_cache(ctx)(_header(item), marker, last.isalnum() or last)


def _wrap_cache(ctx: Context) -> Callable[[str, str, str | bool], int]:
    """Tokens the markers add around an item (by its header, marker and last character: True for a letter or
    digit), cached per counter and markers, weakly: a dropped counter takes its cache with it.

    Item text is stripped, so on BPE tokenizers the wrapper counts apart from the text except where a final
    punctuation mark merges with the newline after it; the exact count of the prompt checks it anyway."""
    per_counter = _WRAP_CACHE.get(ctx.counter)
    if per_counter is None:
        per_counter = _WRAP_CACHE[ctx.counter] = {}
    markers, count = ctx.markers, ctx.counter.count
    cache = per_counter.setdefault(markers, {})

    def wrap(header: str, marker: str, last: str | bool) -> int:
        key = (header, marker, last)
        cached = cache.get(key)
        if cached is None:
            if len(cache) >= _MAX_WRAP_CACHE:
                cache.clear()
            probe = "x" if last is True or not last else f"x{last}"
            cached = cache[key] = int(count(markers.item(probe, header, marker)) - count(probe))
        return cached

    return wrap


def _layout(section: Section) -> Any:
    """The section's document layout (a fusion strategy's blocks and group headers), or None."""
    order = section.order
    return order if order is not None and callable(getattr(order, "block", None)) else None


def _header(item: Item) -> str:
    """What heads an item in the prompt: a chunk's title and source, an item's label; memories have none."""
    origin = item.origin
    if origin is None:
        return item.label
    if origin.__class__ is Chunk:
        title, source = origin.title, origin.source
        return f"{title} | {source}" if title and source else title or source
    if type(origin).__name__ == "MemoryItem":
        return ""
    return item.label


def _query(ctx: Context) -> str | None:
    users = [s for s in ctx._sections if s.kind == "user"]
    return "\n".join(i.text for s in users for i in s.items) or None


# -- allocating -------------------------------------------------------------------------------------------------

def _share_slack(ctx: Context, rows: list[_Row], available: int) -> None:
    """A second allocation over what the fitted sections used: satisfied sections ask only for that, so the
    tokens they left flow to sections that could bring something back; only those are fitted again."""
    slack = available - sum(r.used for r in rows)
    if slack <= 0 or not any(r.hungry(slack) for r in rows):
        return
    hungry = {r.name for r in rows if r.hungry(slack)}
    demands = [r.demand if r.name in hungry else replace(r.demand, requested_tokens=r.used,
                                                         min_tokens=min(r.demand.min_tokens, r.used))
               for r in rows]
    grants = ctx.allocation.allocate(demands, available)
    for d in by_priority(demands):
        row = next(r for r in rows if r.name == d.name)
        slack = available - sum(r.used for r in rows)
        grant = min(grants[d.name], row.used + slack)
        if d.name in hungry and grant > row.grant:
            row.fit(grant)


def _correct(rows: list[_Row], over: int) -> None:
    """Take `over` tokens from the lowest-priority unpinned section that still has content."""
    for d in reversed(by_priority([r.demand for r in rows])):
        row = next(r for r in rows if r.name == d.name)
        if d.pinned or row.used == 0:
            continue
        row.fit(max(row.used - over, 0))
        return
    raise BudgetExceededError("pinned content and message framing do not fit", needed_tokens=over,
                              available_tokens=0, sections=[r.name for r in rows if r.demand.pinned])


# -- arranging --------------------------------------------------------------------------------------------------

@dataclass
class _Rendered:
    messages: list[Message]
    tools: tuple[Tool, ...]
    citations: _Citations
    total: int = 0


def _layout_order(rows: list[_Row]) -> list[_Row]:
    """System first, then stable before volatile, otherwise in the order added."""
    indexed = list(enumerate(rows))
    indexed.sort(key=lambda p: (p[1].section.kind != "system", not p[1].section.stable, p[0]))
    return [r for _, r in indexed]


def _render(ctx: Context, rows: list[_Row]) -> _Rendered:
    out = _Rendered([], (), _Citations())
    system_parts: list[str] = []
    before_user: list[str] = []
    history: list[Message] = []
    user: list[Message] = []
    for row in _layout_order(rows):
        s, kept = row.section, row.fitted.kept
        if not kept:
            continue
        if s.placement == "tools":
            out.tools += tuple(m.item.origin for m in kept)
        elif s.placement in ("system", "before_user"):
            (system_parts if s.placement == "system" else before_user).append(_render_text(ctx, s, kept, out))
        else:
            (user if s.kind == "user" else history).extend(msg for m in kept for msg in m.item.messages)
    messages = [Message.system("\n\n".join(system_parts))] if system_parts else []
    messages += history
    block = "\n\n".join(before_user)
    if block and user and user[-1].role == "user":
        user[-1] = _prefix(user[-1], block)
    elif block:
        user.append(Message.user(block))
    out.messages = messages + user
    out.total = int(ctx.counter.messages(out.messages, tools=out.tools))
    return out


def _render_text(ctx: Context, section: Section, kept: Sequence[Measured], out: _Rendered) -> str:
    items = [m.item for m in kept]
    if section.order is not None:
        items = section.order.order(items, [i.priority for i in items])
    layout = _layout(section)
    if layout is not None:
        return _render_layout(ctx, layout, section, items, out)
    parts = []
    left, right = ctx.citation_style.marker(0).split("0", 1) if section.cite else ("", "")
    for item in items:
        marker = ""
        if section.cite:
            marker = f"{left}{len(out.citations) + 1}{right}"
            out.citations.cited[marker] = (item, section)
        parts.append(ctx.markers.item(item.text, _header(item), marker))
    return (ctx.markers.open(section.title) + "".join(parts) + ctx.markers.close(section.title)).strip()


def _render_layout(ctx: Context, layout: Any, section: Section, items: list[Item], out: _Rendered) -> str:
    """Blocks in the layout's template, separated by its separator, a group's header above its first block."""
    parts: list[str] = []
    group: object = object()
    for item in items:
        marker = ctx.citation_style.marker(len(out.citations) + 1) if section.cite else ""
        if section.cite:
            out.citations.cited[marker] = (item, section)
        if parts:
            parts.append(layout.separator)
        item_group, header = layout.header(item)
        if header and item_group != group:
            parts.append(header + "\n")
        group = item_group
        parts.append(layout.block(item, marker))
    return (ctx.markers.open(section.title) + "".join(parts) + ctx.markers.close(section.title)).strip()


class _Citations(Mapping[str, Citation]):
    """Marker to Citation, worked out on first read (a build with thousands of chunks need not pay for it)."""

    def __init__(self) -> None:
        self.cited: dict[str, tuple[Item, Section]] = {}
        self._done: dict[str, Citation] | None = None

    def _all(self) -> dict[str, Citation]:
        if self._done is None:
            positions: dict[int, dict[tuple[str, float], int]] = {}
            for item, section in self.cited.values():
                if not isinstance(item.origin, Chunk) and id(section) not in positions:
                    positions[id(section)] = {}
                    for n, original in enumerate(section.items):
                        positions[id(section)].setdefault((original.label, original.priority), n)
            self._done = {m: _citation(m, item, section, positions.get(id(section), {}))
                          for m, (item, section) in self.cited.items()}
        return self._done

    def __getitem__(self, marker: str) -> Citation:
        return self._all()[marker]

    def __iter__(self) -> Iterator[str]:
        return iter(self.cited)

    def __len__(self) -> int:
        return len(self.cited)

    def __repr__(self) -> str:
        return repr(self._all())


def _citation(marker: str, item: Item, section: Section, positions: dict[tuple[str, float], int]) -> Citation:
    """What a marker cites: the chunk, its source and title, and the span of its text that was kept. A text
    that is no Chunk is its own source: "doc<n>" (its place in the section) unless it has a label."""
    chunk = item.origin
    if isinstance(chunk, Chunk):
        return Citation(marker, chunk.id, chunk.source, chunk.title,
                        *_span(chunk.text, item.text, chunk.start_char))
    n = positions.get((item.label, item.priority), 0)
    original = section.items[n].text if n < len(section.items) else item.text
    return Citation(marker, item.label or f"doc{n + 1}", "", item.label, *_span(original, item.text, 0))


def _span(original: str, kept: str, start: int) -> tuple[int, int]:
    """The span (in the source) of the text kept: a prefix or suffix of the original, else all of it."""
    if kept == original:
        return start, start + len(kept)
    lead = len(original) - len(original.lstrip())
    body = original.strip()
    if body.startswith(kept):
        return start + lead, start + lead + len(kept)
    end = start + lead + len(body)
    if body.endswith(kept):
        return end - len(kept), end
    return start + lead, end


def _prefix(msg: Message, block: str) -> Message:
    if isinstance(msg.content, str):
        return replace(msg, content=f"{block}\n\n{msg.content}")
    return replace(msg, content=(TextPart(block + "\n\n"),) + msg.content)


# -- reporting --------------------------------------------------------------------------------------------------

def _report(ctx: Context, rows: list[_Row], rendered: _Rendered) -> Report:
    sections = []
    for r in rows:
        s, f = r.section, r.fitted
        # Content tokens; message framing is reported once, as framing_tokens.
        if s.placement == "tools":
            content = r.used
        elif f.kept and s.placement != "messages":
            content = f.tokens + _markers_tokens(ctx, s)
        else:
            content = f.tokens
        sections.append(SectionReport(s.name, s.kind, r.demand.priority, r.demand.pinned, r.demand.requested_tokens,
                                      r.grant, content, len(r.items), len(f.kept),
                                      (s.fit or default_fit(s.kind)).name, tuple(m.item for m in f.kept)))
    plan = _cache_plan(ctx, rendered)
    total = rendered.total
    prompt_cost, reserve_cost = _costs(ctx, total)
    return Report(ctx.model, ctx.window_tokens, ctx.output_reserve_tokens, ctx.prompt_limit_tokens, total,
                  bool(ctx.counter.exact), tuple(sections), tuple(d for r in rows for d in r.fitted.decisions),
                  framing_tokens=total - sum(r.used_tokens for r in sections), cost=prompt_cost, cache_plan=plan,
                  warnings=ctx.estimate_notes + plan.warnings, output_reserve_cost=reserve_cost)


def _costs(ctx: Context, prompt_tokens: int) -> tuple[Any, Any]:
    if ctx.info is None:
        return None, None
    from contextwise.models import cost

    return (cost(Usage(prompt_tokens, 0), ctx.info, catalog=ctx._catalog),
            cost(Usage(0, ctx.output_reserve_tokens), ctx.info, catalog=ctx._catalog))


def _cache_plan(ctx: Context, rendered: _Rendered) -> CachePlan:
    sections = ctx._sections
    stable = [s for s in sections if s.stable and s.kind not in ("user", "history", "tools")]
    findings = [w for s in stable for w in volatile_findings(s.name, "\n".join(i.text for i in s.items))]
    system_stable = all(s.stable for s in sections if s.placement == "system")
    messages = rendered.messages
    ends: list[int] = []
    prefix = int(ctx.counter.tools(rendered.tools)) if rendered.tools else 0
    for index, msg in enumerate(messages):
        if msg.role == "system" and index == 0 and not system_stable:
            break
        if msg.role == "user" and index == len(messages) - 1:
            break
        prefix += int(ctx.counter.message(msg))
        if msg.role == "system" or index == len(messages) - 2:
            ends.append(index)
    provider = ctx.info.provider if ctx.info else "generic"
    minimum = getattr(ctx.info, "min_cacheable_tokens", None)
    return plan_cache(provider, prefix, ends, min_cacheable_tokens=minimum,
                      mode=getattr(ctx.info, "cache_kind", None), warnings=findings, catalog=ctx._catalog)
