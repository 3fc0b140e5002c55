"""Context: sections in, a prompt that fits out, with a Report of every decision.

>>> import contextwise as cw
>>> ctx = cw.Context("gpt-4o-mini", output_reserve=500)
>>> built = ctx.system("Be brief.").documents(["Paris is the capital of France."]).user("Capital?").build()
>>> built.report.prompt_tokens <= built.report.available_tokens
True
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, replace
from typing import Any
from collections.abc import Iterable, Sequence

from contextwise.arrange.layout import CachePlan, plan_cache, volatile_findings
from contextwise.arrange.markers import Markdown, Markers
from contextwise.budget.allocate import Allocation, ByPriority, Demand, by_priority
from contextwise.budget.fit import FitEnv, Fitted, Measured, default_fit
from contextwise.budget.report import Report, SectionReport
from contextwise.budget.section import Item, Section, message_units, texts_to_items
from contextwise.errors import BudgetExceededError, TruncationWarning, UsageError
from contextwise.observe._emit import context_built as observe_built
from contextwise.protocols import Tokenizer
from contextwise.types import Chunk, ImagePart, Message, TextPart, Tool, Usage

_DEFAULT_RESERVE_TOKENS = 4096
_MAX_CORRECTIONS = 32


@dataclass(frozen=True)
class Built:
    """A built context: the messages and tools to send, and the Report of how they were chosen."""

    messages: tuple[Message, ...]
    tools: tuple[Tool, ...]
    report: Report

    def to_openai(self) -> dict[str, Any]:
        """The request body's `messages` (and `tools`, when there are any) in OpenAI wire format."""
        body: dict[str, Any] = {"messages": [m.to_openai() for m in self.messages]}
        if self.tools:
            body["tools"] = [t.to_openai() for t in self.tools]
        return body


class Context:
    """Assemble a prompt that fits a model's window.

    Args:
        model: a catalog model name; sets the window, output cap, tokenizer, framing and prices.
        window_tokens: the input window, overriding the catalog's (required when `model` is None).
        output_reserve: tokens kept free for the answer: an int, or a float in (0, 1) as a fraction of the
            window. Default: the model's output cap, at most 4,096.
        tokenizer: a Tokenizer or tokenizer id overriding the model's (required when `model` is None).
        allocation: how tokens are shared among sections (ByPriority() by default).
        markers: how text sections and their items are marked (Markdown() by default).
        counter: a TokenCounter to share between contexts; by default one per model is shared in the process,
            so content counted by an earlier build is not counted again.
    """

    def __init__(self, model: str | None = None, *, window_tokens: int | None = None,
                 output_reserve: int | float | None = None, tokenizer: Tokenizer | str | None = None,
                 allocation: Allocation | None = None, markers: Markers | None = None,
                 counter: Any = None, catalog: Any = None) -> None:
        from contextwise.tokens import TokenCounter, framing_for, get_tokenizer

        self.info = _model_info(model, catalog) if model else None
        if self.info is None and (window_tokens is None or tokenizer is None):
            raise UsageError("without a model, give both window_tokens and tokenizer")
        self.model = self.info.name if self.info else (model or "custom")
        self.window_tokens = window_tokens or self.info.context_window_tokens
        if counter is not None:
            self.counter = counter
        elif tokenizer is None:
            self.counter = _shared_counter(self.info.name)
        else:
            tok = get_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
            self.counter = TokenCounter(tok, framing_for(self.info.provider if self.info else "generic"))
        self.output_reserve_tokens = resolve_reserve(
            self.window_tokens, output_reserve, max_output_tokens=self.info.max_output_tokens if self.info else None)
        if self.info is not None and window_tokens is None:
            # the catalog knows whether output shares the window (Gemini's does not) and any input cap (gpt-5)
            self.prompt_limit_tokens = self.info.prompt_limit_tokens(reserve_output_tokens=self.output_reserve_tokens)
        else:
            self.prompt_limit_tokens = self.window_tokens - self.output_reserve_tokens
        self.allocation = allocation or ByPriority()
        self.markers = markers or Markdown()
        self._catalog = catalog
        self._sections: list[Section] = []
        self._tools: tuple[Tool, ...] = ()

    # -- adding content -------------------------------------------------------------------------------------

    def add(self, section: Section) -> Context:
        """Add a section; its name must be unique in this context."""
        if any(s.name == section.name for s in self._sections):
            raise UsageError(f"a section named {section.name!r} was already added")
        self._sections.append(section)
        return self

    def system(self, text: str, **options: Any) -> Context:
        """The system prompt (pinned by default)."""
        return self.add(Section(options.pop("name", "system"), (Item(text),), "system", **options))

    def tools(self, tools: Iterable[Tool | dict[str, Any]]) -> Context:
        """Tool definitions offered to the model; always sent whole and counted the way the provider bills."""
        self._tools = tuple(t if isinstance(t, Tool) else Tool.from_openai(t) for t in tools)
        return self

    def memory(self, texts: Iterable[str | Item], **options: Any) -> Context:
        """Recalled memories, most relevant first."""
        options.setdefault("title", "Memory")
        return self.add(Section(options.pop("name", "memory"), texts_to_items(texts), "memory", **options))

    def documents(self, docs: Iterable[str | Chunk | Item], **options: Any) -> Context:
        """Documents or chunks, most relevant first; a Chunk's title (or source) labels it."""
        options.setdefault("title", "Documents")
        items = [Item(d.text, label=d.title or d.source or d.id) if isinstance(d, Chunk) else d for d in docs]
        return self.add(Section(options.pop("name", "documents"), texts_to_items(items), "documents",
                                **options))

    def history(self, messages: Sequence[Message], **options: Any) -> Context:
        """Earlier turns, oldest first; tool calls stay with their results; the most recent are kept first."""
        return self.add(Section(options.pop("name", "history"), message_units(messages), "history",
                                placement="messages", **options))

    def user(self, content: str | Message | tuple[TextPart | ImagePart, ...], **options: Any) -> Context:
        """The user's turn (pinned by default); its text is the query for query-aware compression."""
        msg = content if isinstance(content, Message) else Message.user(content)
        return self.add(Section(options.pop("name", "user"), (Item((msg,)),), "user", placement="messages",
                                **options))

    # -- building -------------------------------------------------------------------------------------------

    def build(self) -> Built:
        """Allocate, fit, arrange and count; the result never exceeds the window less the output reserve.

        Raises:
            BudgetExceededError: pinned sections (with tools and framing) do not fit.
        """
        available = self.prompt_limit_tokens
        fixed = self.counter.messages([], tools=self._tools)
        if fixed > available:
            raise BudgetExceededError("the tool definitions alone do not fit", needed_tokens=fixed,
                                      available_tokens=available, sections=["tools"])
        measured = {s.name: self._measure(s) for s in self._sections}
        demands = [self._demand(s, measured[s.name]) for s in self._sections]
        grants = self.allocation.allocate(demands, available - fixed)
        fitted = {s.name: self._fit(s, measured[s.name], grants[s.name]) for s in self._sections}
        self._share_slack(demands, grants, fitted, measured, available - fixed)
        messages, total = self._render_and_count(fitted)
        for _ in range(_MAX_CORRECTIONS):
            if total <= available:
                break
            self._correct(total - available, demands, grants, fitted, measured)
            messages, total = self._render_and_count(fitted)
        else:
            raise BudgetExceededError("could not fit after trimming every unpinned section",
                                      needed_tokens=total, available_tokens=available)
        report = self._report(available, total, fixed, demands, grants, fitted, measured, messages)
        if report.decisions:
            warnings.warn(f"{len(report.decisions)} item(s) dropped or cut to fit {self.model}; see the Report",
                          TruncationWarning, stacklevel=2)
        report = observe_built(report, messages)  # contextwise.observe: ContextBuilt event, calibration note
        return Built(tuple(messages), self._tools, report)

    def _overhead(self, section: Section) -> int:
        """Tokens a section costs beyond its items: its markers, and (at most) a message's framing."""
        if section.placement == "messages":
            return 0
        return self._markers_tokens(section) + self.counter.message(Message.system(""))

    def _markers_tokens(self, section: Section) -> int:
        return self.counter.count(self.markers.open(section.title) + self.markers.close(section.title))

    def _item_text(self, item: Item, index: int) -> str:
        return self.markers.item(item.text, item.label, index)

    def _measure_item(self, item: Item, index: int = 1) -> int:
        if isinstance(item.content, tuple):
            return sum(self.counter.message(m) for m in item.content)
        last = item.content[-1:]
        wrap = _wrap_tokens(self.counter, self.markers, item.label, index, last.isalnum() or last)
        return self.counter.count(item.content) + wrap

    def _measure(self, section: Section) -> list[Measured]:
        return [Measured(it, self._measure_item(it, n)) for n, it in enumerate(section.items, 1)]

    def _demand(self, section: Section, items: list[Measured]) -> Demand:
        requested = sum(m.tokens for m in items) + (self._overhead(section) if items else 0)
        return Demand(section.name, section.priority or 0, requested, section.min_tokens, section.max_tokens,
                      bool(section.pinned))

    def _fit(self, section: Section, items: list[Measured], grant: int) -> Fitted:
        if not items:
            return Fitted((), ())
        limit = grant - self._overhead(section)
        strategy = section.fit or default_fit(section.kind)
        env = FitEnv(section.name, self._measure_item, self.counter.tokenizer, self._query())
        fitted = strategy.fit(items, max(limit, 0), env)
        if section.pinned and len(fitted.kept) < len(items):
            raise BudgetExceededError(f"pinned section {section.name!r} lost items while fitting",
                                      needed_tokens=sum(m.tokens for m in items), available_tokens=limit,
                                      sections=[section.name])
        return fitted

    def _used(self, section: Section, fitted: Fitted) -> int:
        return fitted.tokens + self._overhead(section) if fitted.kept else 0

    def _share_slack(self, demands: list[Demand], grants: dict[str, int], fitted: dict[str, Fitted],
                     measured: dict[str, list[Measured]], available: int) -> None:
        """Tokens a section was granted but could not use (whole items skipped) go to sections still short."""
        sections = {s.name: s for s in self._sections}
        for d in by_priority(demands):
            slack = available - sum(self._used(sections[n], f) for n, f in fitted.items())
            used = self._used(sections[d.name], fitted[d.name])
            if d.pinned or slack <= 0 or used >= d.cap_tokens:
                continue
            if not any(dec.action != "dropped" or dec.tokens_before <= slack for dec in fitted[d.name].decisions):
                continue  # nothing that was cut could come back with the slack
            grants[d.name] = min(d.cap_tokens, used + slack)
            fitted[d.name] = self._fit(sections[d.name], measured[d.name], grants[d.name])

    def _correct(self, over: int, demands: list[Demand], grants: dict[str, int], fitted: dict[str, Fitted],
                 measured: dict[str, list[Measured]]) -> None:
        """Take `over` tokens from the lowest-priority unpinned section that still has content."""
        sections = {s.name: s for s in self._sections}
        for d in reversed(by_priority(demands)):
            used = self._used(sections[d.name], fitted[d.name])
            if d.pinned or used == 0:
                continue
            grants[d.name] = max(used - over, 0)
            fitted[d.name] = self._fit(sections[d.name], measured[d.name], grants[d.name])
            return
        raise BudgetExceededError("pinned content and message framing do not fit", needed_tokens=over,
                                  available_tokens=0, sections=[d.name for d in demands if d.pinned])

    def _query(self) -> str | None:
        users = [s for s in self._sections if s.kind == "user"]
        return "\n".join(i.text for s in users for i in s.items) or None

    def _render_and_count(self, fitted: dict[str, Fitted]) -> tuple[list[Message], int]:
        messages = self._render(fitted)
        return messages, self.counter.messages(messages, tools=self._tools)

    def _render_text(self, section: Section, kept: Sequence[Measured]) -> str:
        items = [m.item for m in kept]
        if section.order is not None:
            items = section.order.order(items, [i.priority for i in items])
        body = "".join(self._item_text(it, n) for n, it in enumerate(items, 1))
        return (self.markers.open(section.title) + body + self.markers.close(section.title)).strip()

    def _layout_order(self) -> list[Section]:
        """System first, then stable before volatile, otherwise in the order added."""
        indexed = list(enumerate(self._sections))
        indexed.sort(key=lambda p: (p[1].kind != "system", not p[1].stable, p[0]))
        return [s for _, s in indexed]

    def _render(self, fitted: dict[str, Fitted]) -> list[Message]:
        system_parts, before_user, history, user = [], [], [], []
        for s in self._layout_order():
            kept = fitted[s.name].kept
            if not kept:
                continue
            if s.placement == "system":
                system_parts.append(self._render_text(s, kept))
            elif s.placement == "before_user":
                before_user.append(self._render_text(s, kept))
            else:
                target = user if s.kind == "user" else history
                target.extend(m for measured_item in kept for m in measured_item.item.messages)
        out = [Message.system("\n\n".join(system_parts))] if system_parts else []
        out += history
        block = "\n\n".join(before_user)
        if block and user and user[-1].role == "user":
            user[-1] = _prefix(user[-1], block)
        elif block:
            user.append(Message.user(block))
        return out + user

    def _report(self, available: int, total: int, fixed: int, demands: list[Demand], grants: dict[str, int],
                fitted: dict[str, Fitted], measured: dict[str, list[Measured]],
                messages: list[Message]) -> Report:
        sections = []
        for s, d in zip(self._sections, demands):
            f = fitted[s.name]
            # Report content tokens; message framing is reported once, as framing_tokens.
            content = f.tokens + self._markers_tokens(s) if f.kept and s.placement != "messages" else f.tokens
            sections.append(SectionReport(s.name, s.kind, d.priority, d.pinned, d.requested_tokens,
                                          grants[s.name], content, len(measured[s.name]),
                                          len(f.kept), (s.fit or default_fit(s.kind)).name))
        if self._tools:
            tools_tokens = self.counter.tools(self._tools)
            sections.insert(0, SectionReport("tools", "tools", 95, True, tools_tokens, tools_tokens,
                                             tools_tokens, len(self._tools), len(self._tools), "pinned"))
        plan = self._cache_plan(messages)
        return Report(self.model, self.window_tokens, self.output_reserve_tokens, available, total,
                      bool(self.counter.exact), tuple(sections),
                      tuple(dec for f in fitted.values() for dec in f.decisions),
                      framing_tokens=total - sum(r.used_tokens for r in sections),
                      cost=self._cost(total), cache_plan=plan, warnings=plan.warnings)

    def _cost(self, prompt_tokens: int) -> Any:
        if self.info is None:
            return None
        from contextwise.models import cost

        return cost(Usage(prompt_tokens, self.output_reserve_tokens), self.info, catalog=self._catalog)

    def _cache_plan(self, messages: list[Message]) -> CachePlan:
        stable_sections = [s for s in self._sections if s.stable and s.kind != "user"]
        findings = [w for s in stable_sections if s.kind != "history"
                    for w in volatile_findings(s.name, "\n".join(i.text for i in s.items))]
        system_stable = all(s.stable for s in self._sections if s.placement == "system")
        ends: list[int] = []
        prefix = self.counter.tools(self._tools) if self._tools else 0
        for index, msg in enumerate(messages):
            if msg.role == "system" and index == 0 and not system_stable:
                break
            if msg.role == "user" and index == len(messages) - 1:
                break
            prefix += self.counter.message(msg)
            if msg.role == "system" or index == len(messages) - 2:
                ends.append(index)
        provider = self.info.provider if self.info else "generic"
        minimum = getattr(self.info, "min_cacheable_tokens", None)
        return plan_cache(provider, prefix, ends, min_cacheable_tokens=minimum,
                          mode=getattr(self.info, "cache_kind", None), warnings=findings)


def resolve_reserve(window_tokens: int, output_reserve: int | float | None, *,
                    max_output_tokens: int | None = None) -> int:
    """Output reserve in tokens: an int as is, a float in (0, 1) as a fraction of the window, None for the
    model's output cap bounded by 4,096 tokens and half the window."""
    if output_reserve is None:
        return min(max_output_tokens or _DEFAULT_RESERVE_TOKENS, _DEFAULT_RESERVE_TOKENS, window_tokens // 2)
    if isinstance(output_reserve, float):
        if not 0 < output_reserve < 1:
            raise UsageError(f"a fractional output reserve must be between 0 and 1, not {output_reserve}")
        return int(window_tokens * output_reserve)
    if not 0 <= output_reserve < window_tokens:
        raise UsageError(f"the output reserve must be in [0, {window_tokens}), not {output_reserve}")
    return output_reserve


def _prefix(msg: Message, block: str) -> Message:
    if isinstance(msg.content, str):
        return replace(msg, content=f"{block}\n\n{msg.content}")
    return replace(msg, content=(TextPart(block + "\n\n"),) + msg.content)


@functools.lru_cache(maxsize=65_536)
def _wrap_tokens(counter: Any, markers: Markers, label: str, index: int, last: str | bool) -> int:
    """Tokens the markers add around an item whose text ends in `last` (True: a letter or digit).

    Item text is stripped, so on BPE tokenizers the wrapper counts apart from the text except where a final
    punctuation mark merges with the newline after it; the exact count of the prompt checks it anyway."""
    probe = "x" if last is True or not last else f"x{last}"
    return counter.count(markers.item(probe, label, index)) - counter.count(probe)


@functools.lru_cache(maxsize=16)
def _shared_counter(model: str) -> Any:
    from contextwise.tokens import TokenCounter

    return TokenCounter.for_model(model)


def _model_info(model: str, catalog: Any) -> Any:
    from contextwise.models import get_model

    return get_model(model, catalog=catalog)
