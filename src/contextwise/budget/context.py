"""Context: sections in, a prompt that fits out, with a Report of every decision.

Every source hands the one engine Sections: documents (Ranked, Chunk, str, Item) with citation markers, memory
(a UnifiedMemory with a query, a Recalled, MemoryItems), history (a Conversation, Messages, OpenAI dicts) in
whole turns, tools as a pinned section, and the user's turn.

>>> import contextwise as cw
>>> ctx = cw.Context("gpt-4o-mini", output_reserve_tokens=500)
>>> built = ctx.system("Be brief.").documents("Paris is the capital of France.").user("Capital?").build()
>>> built.report.prompt_tokens <= built.report.available_tokens, list(built.citations)
(True, ['[1]'])
"""

from __future__ import annotations

from typing import Any
from collections.abc import Iterable, Mapping

from contextwise._deprecated import UNSET, renamed_keyword
from contextwise.arrange.markers import Markdown, Markers
from contextwise.budget._built import Built
from contextwise.budget._sources import document_items, memory_items, to_messages
from contextwise.budget.allocate import Allocation, ByPriority
from contextwise.budget.section import Item, Section
from contextwise.errors import UsageError
from contextwise.observe._emit import built_count
from contextwise.observe._preflight import DEFAULT_ESTIMATE_MARGIN, check_estimate_margin, estimate_allowance
from contextwise.protocols import Tokenizer
from contextwise.tokens.counter import shared_counter  # noqa: F401  (here too for observe's preflight)
from contextwise.types import ImagePart, Message, TextPart, Tool

_DEFAULT_RESERVE_TOKENS = 4096


class Context:
    """Assemble a prompt that fits a model's window.

    Args:
        model: a catalog model name; sets the window, output cap, tokenizer, framing and prices.
        window_tokens: the input window, overriding the catalog's (required when `model` is None).
        output_reserve_tokens: tokens kept free for the answer: an int, or a float in (0, 1) as a fraction of
            the window. Default: the model's output cap, at most 4,096.
        tokenizer: a Tokenizer or tokenizer id overriding the model's (required when `model` is None).
        allocation: how tokens are shared among sections (ByPriority() by default).
        markers: how text sections and their items are marked (Markdown() by default).
        counter: a TokenCounter to share between contexts; by default one per model is shared in the process,
            so content counted by an earlier build is not counted again.
        citation_style: the citation markers of document items (default "[1]", "[2]" …).
        estimate_margin: for a tokenizer that estimates (`exact=False`: Claude, Gemini), the fraction of the
            input limit kept free for the estimate's error (default 0.05, as preflight adds); the calibrated
            factor is applied too, when calibration has learned the model. None: no margin. The Report's
            warnings say how the budget was set.
        output_reserve: deprecated spelling of `output_reserve_tokens`.

    Raises:
        UsageError: an argument of the wrong type or out of range.
    """

    def __init__(self, model: str | None = None, *, window_tokens: int | None = None,
                 output_reserve_tokens: Any = UNSET, tokenizer: Tokenizer | str | None = None,
                 allocation: Allocation | None = None, markers: Markers | None = None,
                 counter: Any = None, catalog: Any = None, citation_style: Any = None,
                 output_reserve: Any = UNSET, estimate_margin: float | None = DEFAULT_ESTIMATE_MARGIN) -> None:
        output_reserve_tokens = renamed_keyword("Context", "output_reserve", "output_reserve_tokens", output_reserve,
                                                output_reserve_tokens, None)
        _check_args(model, window_tokens, tokenizer, allocation, markers, counter)
        info: Any = _model_info(model, catalog) if model else None
        self.info = info
        if self.info is None and (window_tokens is None or tokenizer is None and counter is None):
            raise UsageError("without a model, give both window_tokens and tokenizer")
        self.model = self.info.name if self.info else "custom"
        self.window_tokens: int = window_tokens if window_tokens is not None else info.context_window_tokens
        self.counter = counter if counter is not None else _counter(self.info, tokenizer)
        self.output_reserve_tokens = resolve_reserve(
            self.window_tokens, output_reserve_tokens,
            max_output_tokens=self.info.max_output_tokens if self.info else None)
        if self.info is not None and window_tokens is None:
            # the catalog knows whether output shares the window (Gemini's does not) and any input cap (gpt-5)
            self.prompt_limit_tokens = self.info.prompt_limit_tokens(reserve_output_tokens=self.output_reserve_tokens)
        else:
            self.prompt_limit_tokens = self.window_tokens - self.output_reserve_tokens
        self.estimate_notes: tuple[str, ...] = ()
        check_estimate_margin(estimate_margin)
        if not getattr(self.counter, "exact", True):
            self.prompt_limit_tokens, note = estimate_allowance(self.model, self.prompt_limit_tokens, estimate_margin)
            self.estimate_notes = (note,)
        self.allocation = allocation or ByPriority()
        self.markers = markers or Markdown()
        self.citation_style = citation_style or _default_style()
        self._catalog = catalog
        self._sections: list[Section] = []

    @property
    def sections(self) -> tuple[Section, ...]:
        """The sections added so far, in order."""
        return tuple(self._sections)

    # -- adding content -------------------------------------------------------------------------------------

    def add(self, section: Section) -> Context:
        """Add a section; its name must be unique in this context."""
        if not isinstance(section, Section):
            raise UsageError(f"add() takes a Section, got {type(section).__name__}")
        if any(s.name == section.name for s in self._sections):
            raise UsageError(f"a section named {section.name!r} was already added")
        self._sections.append(section)
        return self

    def system(self, text: str, **options: Any) -> Context:
        """The system prompt (pinned by default)."""
        if not isinstance(text, str):
            raise UsageError(f"system() takes the prompt as a str, got {type(text).__name__}")
        return self.add(_section(options, "system", (Item(text),), "system"))

    def tools(self, tools: Iterable[Tool | Mapping[str, Any]] | Tool | Mapping[str, Any], **options: Any) -> Context:
        """Tool definitions offered to the model: a pinned section of kind "tools", counted the way the provider
        bills them; calling it again replaces the tools."""
        if isinstance(tools, (Tool, Mapping)):
            tools = [tools]
        if not isinstance(tools, Iterable) or isinstance(tools, str):
            raise UsageError(f"tools() takes Tool objects or OpenAI tool dicts, got {type(tools).__name__}")
        parsed = []
        for t in tools:
            if not isinstance(t, (Tool, Mapping)):
                raise UsageError(f"a tool is a Tool or an OpenAI tool dict, got {type(t).__name__}")
            parsed.append(t if isinstance(t, Tool) else Tool.from_openai(t))
        name = options.get("name", "tools")
        self._sections = [s for s in self._sections if s.name != name]
        return self.add(_section(options, "tools", tuple(Item(t.name, 0.0, t.name, t) for t in parsed), "tools"))

    def memory(self, source: Any, *, query: str | None = None, k: int = 10, mode: Any = "hybrid",
               **options: Any) -> Context:
        """Recalled memories: a UnifiedMemory with a `query` (one section per tier, each with its priority), a
        Recalled result, MemoryItems, or strings (most relevant first; a lone string is one memory)."""
        from contextwise.memory.unified import UnifiedMemory

        if isinstance(source, UnifiedMemory):
            if not isinstance(query, str) or not query.strip():
                raise UsageError("memory(UnifiedMemory, query=...) needs the query to recall for")
            for section in source.sections(query, k=k, mode=mode, prefix=options.pop("name", ""), **options):
                self.add(section)
            return self
        if query is not None:
            raise UsageError("query= is for a UnifiedMemory; a Recalled or items were recalled already")
        options.setdefault("title", "Memory")
        return self.add(_section(options, "memory", memory_items(source), "memory"))

    def documents(self, docs: Any, **options: Any) -> Context:
        """Documents, best first: Ranked results from rank() (score = priority, chunk id = label), Chunks,
        strings or Items (a lone string is one document). Each gets a citation marker mapped back in
        `Built.citations`; markers already in the text ("[3]" footnotes) are neutralised. `order` takes an
        arrangement (`cw.arrange.Bookend()`) or a fusion layout (`cw.documents.Structured()`, `Interleaved()`,
        `Sequential(template=...)`), which also sets the order chunks claim the budget in."""
        options.setdefault("title", "Documents")
        items = document_items(docs, self.citation_style)
        if hasattr(options.get("order"), "as_layout"):  # a fusion strategy: Sequential, Interleaved, Structured
            options["order"] = options["order"].as_layout()
            items = tuple(options["order"].claim(items))
        return self.add(_section(options, "documents", items, "documents"))

    def history(self, source: Any, *, start_on_user: bool = True, **options: Any) -> Context:
        """Earlier turns, oldest first: a Conversation (its manager fits the section, its summaries stay), or
        Messages / OpenAI-format dicts. Whole turns are kept or dropped, newest first; a tool result never
        loses its call. With `start_on_user` (default) the kept history starts on a user message."""
        from contextwise.budget._history import ManagerFit, RecentTurns, conversation_items, turn_items
        from contextwise.history import Conversation

        if not isinstance(start_on_user, bool):
            raise UsageError(f"start_on_user is True or False, got {start_on_user!r}")
        if isinstance(source, Conversation):
            items = conversation_items(source, self.prompt_limit_tokens)
            options.setdefault("fit", ManagerFit(source, start_on_user))
        else:
            items = turn_items(to_messages(source))
            options.setdefault("fit", RecentTurns(start_on_user))
        return self.add(_section(options, "history", items, "history", placement="messages"))

    def user(self, content: str | Message | Mapping[str, Any] | tuple[TextPart | ImagePart, ...],
             **options: Any) -> Context:
        """The user's turn (pinned by default); its text is the query for query-aware compression."""
        if isinstance(content, (Message, Mapping)):
            (msg,) = to_messages(content)
        elif isinstance(content, str) or isinstance(content, tuple) and all(
                isinstance(p, (TextPart, ImagePart)) for p in content):
            msg = Message.user(content)
        else:
            raise UsageError(f"user() takes a str, a Message or content parts, got {type(content).__name__}")
        return self.add(_section(options, "user", (Item((msg,)),), "user", placement="messages"))

    # -- building -------------------------------------------------------------------------------------------

    def build(self) -> Built:
        """Allocate, fit, arrange and count; the result never exceeds the window less the output reserve.

        Raises:
            BudgetExceededError: pinned sections (with tools and framing) do not fit.
        """
        from contextwise.budget._engine import build

        built = build(self)
        built_count(built.messages, built.tools, built.report.prompt_tokens, self.counter)  # preflight reuses it
        return built


def _section(options: dict[str, Any], name: str, items: tuple[Item, ...], kind: str, **fixed: Any) -> Section:
    options = dict(options)
    name = options.pop("name", name)
    try:
        return Section(name, items, kind, **{**fixed, **options})  # type: ignore[arg-type]
    except TypeError as exc:
        raise UsageError(f"section {name!r}: {exc}; options are priority, min_tokens, budget_tokens, pinned, "
                         f"fit, order, stable, placement, title, cite") from exc


def _check_args(model: Any, window_tokens: Any, tokenizer: Any, allocation: Any, markers: Any,
                counter: Any) -> None:
    if model is not None and not isinstance(model, str):
        raise UsageError(f"model is a catalog model name (str) or None, got {type(model).__name__}")
    if window_tokens is not None and (isinstance(window_tokens, bool) or not isinstance(window_tokens, int)
                                      or window_tokens <= 0):
        raise UsageError(f"window_tokens is a positive int, got {window_tokens!r}")
    if tokenizer is not None and not isinstance(tokenizer, str) and not hasattr(tokenizer, "count"):
        raise UsageError(f"tokenizer is a Tokenizer or a tokenizer id, got {type(tokenizer).__name__}")
    if allocation is not None and not callable(getattr(allocation, "allocate", None)):
        raise UsageError(f"allocation needs an allocate(demands, available_tokens) method, got {allocation!r}")
    if markers is not None and not all(callable(getattr(markers, m, None)) for m in ("open", "close", "item")):
        raise UsageError(f"markers need open(), close() and item() methods, got {markers!r}")
    if counter is not None and not all(callable(getattr(counter, m, None)) for m in ("count", "message",
                                                                                        "messages", "tools")):
        raise UsageError(f"counter needs count(), message(), messages() and tools(), got {type(counter).__name__}")


def _counter(info: Any, tokenizer: Tokenizer | str | None) -> Any:
    from contextwise.tokens import TokenCounter, framing_for, get_tokenizer

    if tokenizer is None:
        return shared_counter(info.name)
    tok = get_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
    return TokenCounter(tok, framing_for(info.provider if info else "generic"))


def _default_style() -> Any:
    from contextwise.documents._cite import CitationStyle

    return CitationStyle()


def resolve_reserve(window_tokens: int, output_reserve_tokens: int | float | None, *,
                    max_output_tokens: int | None = None) -> int:
    """Output reserve in tokens: an int as is, a float in (0, 1) as a fraction of the window, None for the
    model's output cap bounded by 4,096 tokens and half the window.

    Raises:
        UsageError: not an int, a float or None, or out of range.
    """
    value = output_reserve_tokens
    if value is None:
        return min(max_output_tokens or _DEFAULT_RESERVE_TOKENS, _DEFAULT_RESERVE_TOKENS, window_tokens // 2)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UsageError(f"the output reserve is tokens (an int) or a fraction of the window (a float), "
                         f"got {value!r}")
    if isinstance(value, float):
        if not 0 < value < 1:
            raise UsageError(f"a fractional output reserve must be between 0 and 1, not {value}")
        return int(window_tokens * value)
    if not 0 <= value < window_tokens:
        raise UsageError(f"the output reserve must be in [0, {window_tokens}), not {value}")
    return value


def _model_info(model: str, catalog: Any) -> Any:
    from contextwise.models import get_model

    return get_model(model, catalog=catalog)
