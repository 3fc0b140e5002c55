"""Running a grid: validate everything first, then ask the model for each unfinished cell, scoring and
appending each result as it comes, so a rerun skips finished cells and an interrupted run resumes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contextwise.errors import ContextwiseError, UsageError
from contextwise.evals.niah._grid import Grid, cell_id
from contextwise.evals.niah._haystack import ORDERS, ContextBuilder, Haystack
from contextwise.evals.niah._needles import Needle, classic
from contextwise.evals.niah._results import CellResult, NiahResults, ResultsFile
from contextwise.evals.niah._score import Contains, Judge, Scorer
from contextwise.evals.niah.strategies import Raw, Strategy
from contextwise.protocols import ChatModel, Tokenizer
from contextwise.types import ChatOptions, Completion, Message

Progress = Callable[[int, int], None]
#: The instruction sent with every cell; part of the cell id (change it, and every cell is new).
SYSTEM_PROMPT = "You answer questions about a document. Answer with the exact words of the document, briefly."
PROMPT_VERSION = 1
#: Greedy, seeded, and stopped where a base model would start the next question.
ANSWER_OPTIONS = ChatOptions(temperature=0.0, seed=0, stop=("\nQuestion:",))
BASE_MODEL_OPTIONS = ChatOptions(temperature=0.0, seed=0, stop=("\n",))
# Tokens of chat framing per message the buffer must also hold (role markers); generous for every provider.
_FRAMING_TOKENS = 16


class WindowExceededError(UsageError):
    """A grid length (with the answer) does not fit the model's context window."""


@dataclass(frozen=True)
class Target:
    """The model under test with the facts the grid needs: its tokenizer (lengths are counted in it), its
    window, the catalog model each cell is also priced as (`price_model`, None: not priced; the same prompt
    and answer counted in that model's tokenizer, so a free local model shows what a hosted one would charge)
    and its own catalog entry (`catalog_name`, None for a local model, which costs nothing)."""

    model: ChatModel
    name: str
    tokenizer: Tokenizer
    tokenizer_name: str
    window_tokens: int
    local: bool
    price_model: str | None
    catalog_name: str | None = None


def describe(model: ChatModel, *, tokenizer: Tokenizer | None = None, window_tokens: int | None = None,
             price_model: str | None = None) -> Target:
    """The Target for `model`: a llama.cpp model brings its own tokenizer and n_ctx; a remote model is looked up
    in the catalog (its tokenizer, its window) unless both are given. `price_model` (a catalog name) prices
    every cell as that model would bill the same prompt; a remote model is priced as itself by default.

    Raises:
        UsageError: a remote model the catalog does not know, without `tokenizer` and `window_tokens`; a
            `price_model` the catalog does not know.
    """
    from contextwise.llm import LlamaCppModel

    if price_model is not None:
        priced = _catalog_entry(price_model)
        if priced is None:
            raise UsageError(f"price_model {price_model!r}: the catalog does not know it (`contextwise models` "
                             f"lists the names)")
        price_model = priced.name
    if isinstance(model, LlamaCppModel):
        return Target(model, model.name, tokenizer or model.tokenizer, f"llama.cpp:{model.path.name}",
                      min(window_tokens or model.n_ctx, model.n_ctx), True, price_model)
    info = _catalog_entry(model.name)
    if info is None and (tokenizer is None or window_tokens is None):
        raise UsageError(f"the catalog does not know {model.name!r}: give its tokenizer and window_tokens "
                         f"(--tokenizer, --window) to run a grid on it")
    if tokenizer is None:
        from contextwise.tokens import get_tokenizer

        tokenizer = get_tokenizer(info.tokenizer)
    window = window_tokens or info.max_input_tokens or info.context_window_tokens
    own = info.name if info is not None else None
    return Target(model, model.name, tokenizer, getattr(tokenizer, "name", "?"), window, False,
                  price_model or own, own)


def _catalog_entry(name: str) -> Any:
    from contextwise.models import get_model

    try:
        return get_model(name)
    except ContextwiseError:
        return None


@dataclass(frozen=True)
class PlannedCell:
    """One cell to run: where the needle goes, which strategy, and its id."""

    id: str
    length: int
    depth: float
    seed: int
    needle: Needle
    strategy: Strategy


class NiahRun:
    """A needle-in-a-haystack grid for one model: plan (validated, no model call), then run.

    Args:
        model: any ChatModel (the local llama.cpp model, OpenAIChat, AnthropicChat, a fake for tests).
        haystack: the text the needles hide in.
        grid: lengths (the whole prompt, in the model's tokenizer), depths and seeds.
        needles: what to hide and ask (default gkamradt's classic needle).
        strategies: what the pipeline does to each context before sending (default Raw only).
        order: "coherent" (documents in order from the seed's) or "shuffled" (sentences shuffled by the seed).
        buffer_tokens: of each length, the tokens kept for the system prompt, the question, framing and the
            answer; the haystack with its needles fills the rest.
        max_output_tokens: the cap on each answer.
        scorer: the deterministic scorer (default Contains: the share of expected values present).
        judge: an optional model judge, scored in its own column.
        concurrency: cells in flight at once for remote models (the local model runs one at a time).
        answer_prefix: end each prompt with the needle's answer prefix (RULER's, for base models); None: on for
            a local model with a PlainText prompt (a base model), off otherwise.
        out: a results.jsonl to append to and resume from (None: keep results in memory only).
    """

    def __init__(self, model: ChatModel | Target, haystack: Haystack, grid: Grid,
                 needles: Sequence[Needle] | None = None, *, strategies: Sequence[Strategy] | None = None,
                 order: str = "coherent", buffer_tokens: int = 200, max_output_tokens: int = 32,
                 scorer: Scorer | None = None, judge: ChatModel | None = None, concurrency: int = 1,
                 answer_prefix: bool | None = None, out: str | Path | None = None) -> None:
        self.target = model if isinstance(model, Target) else describe(model)
        self.haystack, self.grid = haystack, grid
        self.needles = list(needles) if needles is not None else [classic()]
        self.strategies = list(strategies) if strategies is not None else [Raw()]
        self.order, self.buffer_tokens, self.max_output_tokens = order, buffer_tokens, max_output_tokens
        self.scorer = scorer or Contains()
        self.judge = Judge(judge) if judge is not None else None
        self.concurrency = concurrency
        base = _is_base_model(self.target)
        self.answer_prefix = base if answer_prefix is None else answer_prefix
        # A base model goes on writing after its answer; its first line is the answer.
        self.options = BASE_MODEL_OPTIONS if base else ANSWER_OPTIONS
        self.file = ResultsFile(out) if out is not None else None
        self._builders: dict[int, ContextBuilder] = {}
        self._done: dict[str, CellResult] = {}
        self._price_counter: Any = None

    # -- planning (pure but for reading the haystack) ----------------------------------------------------------

    def plan(self) -> list[PlannedCell]:
        """Every cell of the grid in run order, after checking that all of it can run.

        The order puts cells whose prompts share the longest prefix next to each other (per strategy and seed:
        lengths up, depths down, needles innermost), so a model that keeps its cache evaluates a shared
        prefix once.

        Raises:
            UsageError: an empty grid or needle list, a bad order, concurrency below 1, a buffer too small.
            WindowExceededError: a length (with the answer) over the model's window.
            HaystackTooShortError: the haystack is shorter than the longest length.
        """
        self._check()
        cells = []
        for strategy in self.strategies:
            for seed in self.grid.seeds:
                for length in self.grid.lengths:
                    for depth in sorted(self.grid.depths, reverse=True):
                        cells += [self._cell(length, depth, seed, needle, strategy) for needle in self.needles]
        return cells

    def _check(self) -> None:
        if not self.needles or not self.strategies:
            raise UsageError("give at least one needle and one strategy")
        if self.order not in ORDERS:
            raise UsageError(f"order {self.order!r}: use coherent or shuffled")
        if self.concurrency < 1 or self.max_output_tokens < 1:
            raise UsageError("concurrency and max_output_tokens must be at least 1")
        longest = self.grid.lengths[-1]
        if longest > self.target.window_tokens:
            raise WindowExceededError(f"length {longest:,} is over {self.target.name}'s window of "
                                      f"{self.target.window_tokens:,} tokens: drop it from the grid or use a "
                                      f"model with a longer window")
        overhead = self._overhead()
        if self.buffer_tokens < overhead + self.max_output_tokens:
            raise UsageError(f"buffer_tokens={self.buffer_tokens} cannot hold the prompt around the context "
                             f"({overhead} tokens) and the answer ({self.max_output_tokens}): raise it to "
                             f"{overhead + self.max_output_tokens} or more")
        if self.grid.lengths[0] <= self.buffer_tokens:
            raise UsageError(f"length {self.grid.lengths[0]} leaves no room for the haystack after the "
                             f"{self.buffer_tokens}-token buffer")
        for seed in self.grid.seeds:
            self._builder(seed).filler(longest - self.buffer_tokens)

    def _overhead(self) -> int:
        count = self.target.tokenizer.count
        question = max(count(_question_block(n.question, n.answer_prefix)) for n in self.needles)
        return count(SYSTEM_PROMPT) + question + count(_CONTEXT_OPEN + _CONTEXT_CLOSE) + 2 * _FRAMING_TOKENS

    def _builder(self, seed: int) -> ContextBuilder:
        if seed not in self._builders:
            self._builders[seed] = ContextBuilder(self.haystack, self.target.tokenizer, order=self.order, seed=seed)
        return self._builders[seed]

    def _cell(self, length: int, depth: float, seed: int, needle: Needle, strategy: Strategy) -> PlannedCell:
        key = cell_id(model=self.target.name, tokenizer=self.target.tokenizer_name, length=length, depth=depth,
                      needle=needle.digest, seed=seed, haystack=self.haystack.digest, order=self.order,
                      strategy=strategy.spec, buffer=self.buffer_tokens, max_output=self.max_output_tokens,
                      prompt=PROMPT_VERSION, **({"answer_prefix": needle.answer_prefix} if self.answer_prefix else {}))
        return PlannedCell(key, length, depth, seed, needle, strategy)

    # -- running ---------------------------------------------------------------------------------------------

    def run(self, progress: Progress | None = None) -> NiahResults:
        """Run every unfinished cell; returns the results of the whole grid (finished ones read back).

        A failing model call raises after the cells finished before it were written."""
        cells = self.plan()
        self._done = self.file.load() if self.file is not None else self._done
        todo = [c for c in cells if c.id not in self._done or self._needs_judge(self._done[c.id])
                or self._needs_price(self._done[c.id])]
        finished = len(cells) - len(todo)
        if progress:
            progress(finished, len(cells))
        for result in self._results(todo):
            self._done[result.cell_id] = result
            if self.file is not None:
                self.file.append(result)
            finished += 1
            if progress:
                progress(finished, len(cells))
        return NiahResults([self._done[c.id] for c in cells])

    def _needs_judge(self, result: CellResult) -> bool:
        return self.judge is not None and result.judge_score is None

    def _needs_price(self, result: CellResult) -> bool:
        """A cell finished earlier without this run's `price_model` (priced as another model, or not at all)."""
        return self.target.price_model is not None and result.price_model != self.target.price_model

    def _results(self, todo: list[PlannedCell]) -> Iterator[CellResult]:
        if self.concurrency == 1 or self.target.local:
            yield from map(self._run_cell, todo)
            return
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            futures = [pool.submit(self._run_cell, cell) for cell in todo]
            for future in as_completed(futures):
                yield future.result()

    def _run_cell(self, cell: PlannedCell) -> CellResult:
        previous = self._done.get(cell.id)
        if previous is not None:  # only the judge or the price is missing
            if self._needs_price(previous):
                previous = self._repriced(previous, self._messages(cell)[0])
            return self._with_judge(previous, cell.needle) if self._needs_judge(previous) else previous
        messages, placed, strategy_s = self._messages(cell)
        started = time.perf_counter()
        completion = self.target.model.complete(messages, self.max_output_tokens, self.options)
        latency = time.perf_counter() - started
        result = self._result(cell, placed.tokens, completion, latency, strategy_s)
        result = self._repriced(result, messages, completion)
        return self._with_judge(result, cell.needle) if self.judge is not None else result

    def _messages(self, cell: PlannedCell) -> tuple[list[Message], Any, float]:
        """The cell's prompt (built, then fitted by its strategy), the placed context, the strategy's seconds."""
        placed = self._builder(cell.seed).build(cell.length - self.buffer_tokens, cell.depth, cell.needle.inserts)
        started = time.perf_counter()
        sent = cell.strategy.fit(placed.text, cell.needle.question, self.target.tokenizer)
        strategy_s = time.perf_counter() - started
        prefix = cell.needle.answer_prefix if self.answer_prefix else ""
        return prompt_messages(sent, cell.needle.question, prefix), placed, strategy_s

    def _result(self, cell: PlannedCell, context_tokens: int, completion: Completion, latency: float,
                strategy_s: float) -> CellResult:
        usage = completion.usage
        return CellResult(cell.id, self.target.name, self.target.tokenizer_name, cell.strategy.name, cell.length,
                          cell.depth, cell.seed, cell.needle.name, cell.needle.kind, cell.needle.digest,
                          self.haystack.digest, self.order, context_tokens, usage.input_tokens, usage.output_tokens,
                          usage.cached_input_tokens, completion.text, self.scorer.score(completion.text, cell.needle),
                          self.scorer.name, latency, strategy_s, self._cost(completion))

    def _repriced(self, result: CellResult, messages: Sequence[Message],
                  completion: Completion | None = None) -> CellResult:
        """`result` with its own cost (0 for a local model) and its price as `price_model`: the remote model's
        own usage when it is priced as itself, else `messages` and the answer counted in price_model's tokenizer
        (framed as its provider frames them)."""
        from dataclasses import replace

        from contextwise.models import cost
        from contextwise.types import Usage

        own = 0.0 if self.target.local else result.cost_usd
        name = self.target.price_model
        if name is None:
            return replace(result, cost_usd=own)
        if name == self.target.catalog_name and own is not None:
            return replace(result, cost_usd=own, price_model=name, priced_usd=own)
        if self._price_counter is None:
            from contextwise.tokens import TokenCounter

            self._price_counter = TokenCounter.for_model(name)
        usage = Usage(input_tokens=self._price_counter.messages(messages),
                      output_tokens=self._price_counter.count(result.response))
        return replace(result, cost_usd=own, price_model=name, priced_usd=cost(usage, name).total_usd)

    def _with_judge(self, result: CellResult, needle: Needle) -> CellResult:
        from dataclasses import replace

        assert self.judge is not None
        return replace(result, judge_score=self.judge.score(result.response, needle))

    def _cost(self, completion: Completion) -> float | None:
        """The call's own cost: nothing for a local model, the catalog's list price of its usage for a remote
        one (None when the catalog does not price it)."""
        if self.target.local:
            return 0.0
        if self.target.catalog_name is None:
            return None
        from contextwise.models import cost

        try:
            return cost(completion.usage, self.target.catalog_name).total_usd
        except ContextwiseError:
            return None


_CONTEXT_OPEN, _CONTEXT_CLOSE = "<document>\n", "\n</document>\n\n"


def _question_block(question: str, answer_prefix: str = "") -> str:
    return f"Question: {question}\nAnswer:" + (f" {answer_prefix}" if answer_prefix else "")


def _is_base_model(target: Target) -> bool:
    from contextwise.llm import PlainText

    return target.local and isinstance(getattr(target.model, "template", None), PlainText)


def prompt_messages(context: str, question: str, answer_prefix: str = "") -> list[Message]:
    """The messages of one cell: the instruction, then the document and the question after it (so cells that
    share the document's start share the prompt's start), and the answer's first words when given."""
    return [Message.system(SYSTEM_PROMPT),
            Message.user(f"{_CONTEXT_OPEN}{context}{_CONTEXT_CLOSE}{_question_block(question, answer_prefix)}")]


def run_niah(model: ChatModel | Target, haystack: Haystack, grid: Grid, needles: Sequence[Needle] | None = None,
             *, progress: Progress | None = None, **options: Any) -> NiahResults:
    """Run a grid (see NiahRun for the options) and return its results (the package docstring has an example)."""
    return NiahRun(model, haystack, grid, needles, **options).run(progress)
