"""Compaction recall: after a history manager has fitted a long conversation into a fixed budget, can the
questions whose answers lie in the compacted (early) part still be answered from what it kept?

The conversations are LoCoMo's (`contextwise.evals.locomo`): each turn becomes a message (the first speaker
as the user, the second as the assistant, "Name: text" with the session date), added session by session
(optionally only the first `sessions` of them, which keeps a run short); after each session, a manager that
summarizes gets its planned summaries from `summarizer`, asked greedily (`SUMMARY_OPTIONS`, so the answers
repeat and a response cache in front of the model serves a rerun). The probes are the questions whose
evidence turns all lie in the first `early_sessions` sessions, and only conversations long enough that those
sessions do not fit the budget whole are probed. A summarizer with a small window (the local model's
`n_ctx`) gets requests scaled to it (`summary_limits`).

Answerable, per probe:
- `present`: the normalised answer string appears in the managed context's text (cheap, deterministic, a
  lower bound for paraphrasing summaries);
- `model` (with `answerer`): a model given the managed context answers the question and its reply contains
  the normalised answer.

The baseline is plain truncation: the newest messages that fit the budget (`TokenBased`); the ceiling is the
share of probes whose answer string appears anywhere in the conversation as added (LoCoMo's answers are
often a paraphrase or an inference no manager can keep verbatim).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from contextwise.errors import UsageError
from contextwise.evals.locomo import LocomoConversation
from contextwise.evals.locomo import Question, session_of
from contextwise.compress.retention import normalize
from contextwise.protocols import ChatModel
from contextwise.types import ChatOptions, Completion, Message

BASELINE = "truncation"
Progress = Callable[[int, int], None]
#: How summaries are asked for: greedy and seeded, so the same history gives the same summary.
SUMMARY_OPTIONS = ChatOptions(temperature=0.0, seed=0)
#: The managers' summary request sizes (their own defaults) when the summarizer's window is not known.
SUMMARY_INPUT_TOKENS, SUMMARY_TOKENS = 6000, 600


def summary_limits(summarizer: ChatModel | None) -> tuple[int, int]:
    """(messages per summary request, summary length) in tokens, for `summarizer`'s window: 40% and 10% of
    its `n_ctx` when it has one (the local model; looked up through a wrapper's `.model`), leaving room for the
    previous summary, the instructions and a tokenizer that counts more than o200k; else the managers' defaults.
    """
    n_ctx = getattr(summarizer, "n_ctx", None) or getattr(getattr(summarizer, "model", None), "n_ctx", None)
    if not isinstance(n_ctx, int):
        return SUMMARY_INPUT_TOKENS, SUMMARY_TOKENS
    return min(SUMMARY_INPUT_TOKENS, int(n_ctx * 0.4)), min(SUMMARY_TOKENS, n_ctx // 10)


class CompressorSummarizer:
    """A ChatModel that answers a history manager's summary request with a contextwise Compressor instead of a
    model: the request's previous summary and new messages, less the prompt's scaffolding (headings, role
    labels, the closing instruction), compressed to the answer's token cap (o200k). With `Extractive()` (no
    query: the most central sentences) the "summary" keeps names, dates and numbers verbatim, and costs no
    model call; `Summarizer()` gives extract-then-abstract with the local model.

    >>> from contextwise.compress import Extractive
    >>> reply = CompressorSummarizer(Extractive()).complete(
    ...     [Message.user("New messages:\\nuser: Ana: My kitten is Pepper.\\n\\nWrite the updated summary.")], 20)
    >>> reply.text
    'Ana: My kitten is Pepper.'
    """

    def __init__(self, compressor: Any, *, tokenizer: str = "o200k_base") -> None:
        from contextwise.tokens import get_tokenizer

        self.compressor = compressor
        self.tokenizer = get_tokenizer(tokenizer)
        self.name = f"compressor:{getattr(compressor, 'name', type(compressor).__name__.lower())}"

    def complete(self, messages: Sequence[Message], max_tokens: int | None = None,
                 options: ChatOptions | None = None) -> Any:
        """The compressed request text as the Completion's text."""
        from contextwise.types import Usage

        if max_tokens is None or max_tokens < 1:
            raise UsageError("CompressorSummarizer needs the summary's max_tokens")
        text = _request_text(messages)
        if not text:
            return Completion("", Usage(), model=self.name, finish_reason="stop")
        out = self.compressor.compress(text, max_tokens, self.tokenizer, None)
        return Completion(out.text, Usage(input_tokens=out.original_tokens, output_tokens=out.tokens),
                          model=self.name, finish_reason="stop")


_SCAFFOLDING = ("Summary so far:", "New messages:", "Write the updated summary.")
_ROLE_LABEL = re.compile(r"^(?:user|assistant|system|tool(?: result \([^)]*\))?): (?:Part \d+: )?")


def _request_text(messages: Sequence[Message]) -> str:
    paragraphs = []
    for message in messages:
        if message.role == "system":
            continue
        for paragraph in message.text.split("\n\n"):
            for heading in _SCAFFOLDING:
                paragraph = paragraph.removeprefix(heading).strip()
            if paragraph:
                paragraphs.append(_ROLE_LABEL.sub("", paragraph))
    return "\n".join(paragraphs)


def summary_sizes(summarizer: ChatModel | None, budget_tokens: int, input_tokens: int | None = None,
                  summary_tokens: int | None = None) -> tuple[int, int]:
    """The (messages per request, summary length) the default managers get: as given, else `summary_limits`
    with the summary capped at a fifth of the budget.

    Raises:
        UsageError: a size below 1.
    """
    read, write = summary_limits(summarizer)
    read, write = input_tokens or read, summary_tokens or min(write, budget_tokens // 5)
    if read < 1 or write < 1:
        raise UsageError(f"summary sizes must be at least 1 token, got {read} and {write}")
    return read, write


def default_managers(budget_tokens: int, *, summary_input_tokens: int = SUMMARY_INPUT_TOKENS,
                     summary_tokens: int = SUMMARY_TOKENS) -> dict[str, Any]:
    """Every history manager with settings scaled to the budget, plus the truncation baseline first; the
    summarizing ones read at most `summary_input_tokens` of messages per request and write `summary_tokens`."""
    from contextwise.history import (
        HeuristicScorer,
        HierarchicalContext,
        ImportanceWeighted,
        KeyMoments,
        RollingSummary,
        SlidingWindow,
        SummaryBased,
        TokenBased,
        TurnBased,
    )

    recent = budget_tokens // 2
    read, write = summary_input_tokens, summary_tokens
    return {BASELINE: TokenBased(), "turn-based": TurnBased(max_turns=40), "sliding-window": SlidingWindow(),
            "rolling-summary": RollingSummary(keep_recent_tokens=recent, step_tokens=recent, max_input_tokens=read,
                                              summary_max_tokens=write),
            "summary-based": SummaryBased(trigger_tokens=budget_tokens, max_input_tokens=read,
                                          summary_max_tokens=write),
            "hierarchical": HierarchicalContext(keep_recent_tokens=recent, max_input_tokens=read,
                                                 summary_max_tokens=write),
            "importance": ImportanceWeighted(HeuristicScorer()),
            "key-moments": KeyMoments(keep_recent_tokens=recent, step_tokens=recent, max_input_tokens=read,
                                      summary_max_tokens=write)}


def first_sessions(conversation: LocomoConversation, sessions: int | None) -> LocomoConversation:
    """The conversation cut after its first `sessions` sessions (None: whole); questions kept as they are."""
    if sessions is None:
        return conversation
    if sessions < 1:
        raise UsageError(f"sessions must be at least 1, got {sessions}")
    return replace(conversation, turns=tuple(t for t in conversation.turns if t.session <= sessions))


def messages_of(conversation: LocomoConversation) -> list[list[Message]]:
    """The conversation as chat messages, one list per session."""
    first = conversation.speakers[0]
    sessions: dict[int, list[Message]] = {}
    for turn in conversation.turns:
        text = f"[{turn.date}] {turn.speaker}: {turn.text}" if turn.date else f"{turn.speaker}: {turn.text}"
        message = Message.user(text) if turn.speaker == first else Message.assistant(text)
        sessions.setdefault(turn.session, []).append(message)
    return [sessions[k] for k in sorted(sessions)]


def early_probes(conversation: LocomoConversation, early_sessions: int) -> list[Question]:
    """Questions with an answer whose evidence all lies in sessions 1..early_sessions (adversarial excluded)."""
    return [q for q in conversation.questions
            if q.evidence and q.answer and q.category != 5 and max(map(session_of, q.evidence)) <= early_sessions]


@dataclass(frozen=True)
class ManagerRecall:
    """One manager's figures: probes, answerable by string and by model, mean context tokens (o200k, the
    messages' text without framing), and the summaries it had written (calls, answers refused as unusable,
    seconds spent on them, cache hits included)."""

    manager: str
    probes: int
    present: float
    model: float | None
    context_tokens: float
    summaries: int = 0
    refused: int = 0
    summary_s: float = 0.0


@dataclass(frozen=True)
class ProbeResult:
    """One probe under one manager (a line of results.jsonl)."""

    manager: str
    conversation: str
    question: str
    answer: str
    present: bool
    answered: bool | None


@dataclass(frozen=True)
class CompactionReport:
    """Compaction recall of every manager at one budget."""

    budget_tokens: int
    early_sessions: int
    conversations: tuple[str, ...]
    managers: tuple[ManagerRecall, ...]
    ceiling: float = 1.0
    probes: tuple[ProbeResult, ...] = ()

    def of(self, name: str) -> ManagerRecall:
        """One manager's figures."""
        return next(m for m in self.managers if m.manager == name)


def compaction_recall(conversations: Sequence[LocomoConversation], *, budget_tokens: int = 4000,
                      managers: Mapping[str, Any] | None = None, early_sessions: int = 2,
                      sessions: int | None = None, summarizer: ChatModel | None = None,
                      summary_input_tokens: int | None = None, summary_tokens: int | None = None,
                      answerer: ChatModel | None = None, progress: Progress | None = None) -> CompactionReport:
    """Measure how many early-session answers survive each manager's compaction (see the module docstring).

    Args:
        sessions: add only each conversation's first `sessions` sessions (None: all of them).
        summarizer: writes the summaries of the summarizing managers (None: they write none and keep what
            their windows keep): a ChatModel, or a CompressorSummarizer.
        summary_input_tokens, summary_tokens: the default managers' request sizes (messages read per request,
            summary length); None: sized to the summarizer's window (`summary_limits`), the summary at most a
            fifth of the budget (a longer one would not fit beside the recent messages).

    Raises:
        UsageError: a budget below 200 tokens, early_sessions below 1, sessions below early_sessions, or no
            conversation to probe.
    """
    if budget_tokens < 200 or early_sessions < 1:
        raise UsageError("budget_tokens must be at least 200 and early_sessions at least 1")
    if sessions is not None and sessions < early_sessions:
        raise UsageError(f"sessions={sessions} would drop the early sessions 1..{early_sessions} that are probed")
    if managers is not None:
        chosen = dict(managers)
    else:
        read, write = summary_sizes(summarizer, budget_tokens, summary_input_tokens, summary_tokens)
        chosen = default_managers(budget_tokens, summary_input_tokens=read, summary_tokens=write)
    cut = [first_sessions(c, sessions) for c in conversations]
    probed = [c for c in cut if early_probes(c, early_sessions) and _compacted(c, early_sessions, budget_tokens)]
    if not probed:
        raise UsageError(f"no conversation has questions about sessions 1..{early_sessions} that a "
                         f"{budget_tokens}-token budget would compact: raise the sessions or lower the budget")
    from contextwise.tokens import get_tokenizer

    count = get_tokenizer("o200k_base").count
    whole = {c.sample_id: normalize("\n".join(m.text for s in messages_of(c) for m in s)) for c in probed}
    total, done, rows, probes = len(chosen) * len(probed), 0, [], []
    for name, manager in chosen.items():
        found, asked, answered, tokens, calls, refused, seconds = 0, 0, 0, [], 0, 0, 0.0
        for conversation in probed:
            context, made = _managed(conversation, manager, budget_tokens, summarizer)
            calls, refused, seconds = calls + made[0], refused + made[1], seconds + made[2]
            text = normalize("\n".join(m.text for m in context))
            tokens.append(sum(count(m.text) for m in context))
            for question in early_probes(conversation, early_sessions):
                asked += 1
                present = normalize(question.answer) in text
                found += present
                ok = _answers(answerer, context, question) if answerer is not None else None
                answered += bool(ok)
                probes.append(ProbeResult(name, conversation.sample_id, question.text, question.answer, present, ok))
            done += 1
            if progress:
                progress(done, total)
        rows.append(ManagerRecall(name, asked, found / asked, answered / asked if answerer else None,
                                  sum(tokens) / len(tokens), calls, refused, seconds))
    questions = [(c.sample_id, q) for c in probed for q in early_probes(c, early_sessions)]
    ceiling = sum(normalize(q.answer) in whole[cid] for cid, q in questions) / len(questions)
    return CompactionReport(budget_tokens, early_sessions, tuple(c.sample_id for c in probed), tuple(rows),
                            ceiling, tuple(probes))


def _compacted(conversation: LocomoConversation, early_sessions: int, budget_tokens: int) -> bool:
    chars = sum(len(t.text) + len(t.speaker) + 4 for t in conversation.turns)
    return chars / 4 > budget_tokens * 1.5


def _managed(conversation: LocomoConversation, manager: Any, budget_tokens: int,
             summarizer: ChatModel | None) -> tuple[list[Message], tuple[int, int, float]]:
    """The managed context after every session, and (summary calls, refused answers, seconds)."""
    from contextwise._sansio import run
    from contextwise.history import Conversation

    chat = Conversation(manager, store=None)
    timed = _TimedSummarizer(summarizer) if summarizer is not None else None
    refused = 0
    for session in messages_of(conversation):
        chat.extend(session)
        if timed is None:
            continue
        try:
            run(chat, timed, max_requests=MAX_SUMMARIES_PER_SESSION)
        except UsageError:  # an empty or unusable answer: this session's history stays as it is
            refused += 1
    return chat.context(budget_tokens), (timed.calls, refused, timed.seconds) if timed else (0, 0, 0.0)


class _TimedSummarizer:
    """The summarizer as the driver calls it: asked greedily (`SUMMARY_OPTIONS`), its calls counted and timed."""

    def __init__(self, model: ChatModel) -> None:
        self.model = model
        self.name = model.name
        self.calls = 0
        self.seconds = 0.0

    def complete(self, messages: Sequence[Message], max_tokens: int | None = None,
                 options: ChatOptions | None = None) -> Completion:
        self.calls += 1
        started = time.perf_counter()
        try:
            return self.model.complete(messages, max_tokens, SUMMARY_OPTIONS)
        finally:
            self.seconds += time.perf_counter() - started


#: A bound on the summary requests after one session (a manager that keeps planning is cut off there).
MAX_SUMMARIES_PER_SESSION = 32


def _answers(model: ChatModel, context: list[Message], question: Question) -> bool:
    ask = Message.user(f"Answer from the conversation above, in a few words: {question.text}")
    reply = model.complete([*context, ask], 32, ChatOptions(temperature=0.0, seed=0)).text
    return normalize(question.answer) in normalize(reply)
