"""Compaction recall: after a history manager has fitted a long conversation into a fixed budget, can the
questions whose answers lie in the compacted (early) part still be answered from what it kept?

The conversations are LoCoMo's (`contextwise.evals.locomo`): each turn becomes a message (the first speaker
as the user, the second as the assistant, "Name: text" with the session date), added session by session; a
manager that summarizes is given `summarizer` after each session (`Conversation.summarize`). The probes are
the questions whose evidence turns all lie in the first `early_sessions` sessions, and only conversations
long enough that those sessions do not fit the budget whole are probed.

Answerable, per probe:
- `present`: the normalised answer string appears in the managed context's text (cheap, deterministic, a
  lower bound for paraphrasing summaries);
- `model` (with `answerer`): a model given the managed context answers the question and its reply contains
  the normalised answer.

The baseline is plain truncation: the newest messages that fit the budget (`TokenBased`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from contextwise.errors import UsageError
from contextwise.evals.locomo import LocomoConversation
from contextwise.evals.locomo import Question, session_of
from contextwise.compress.retention import normalize
from contextwise.protocols import ChatModel
from contextwise.types import ChatOptions, Message

BASELINE = "truncation"
Progress = Callable[[int, int], None]


def default_managers(budget_tokens: int) -> dict[str, Any]:
    """Every history manager with settings scaled to the budget, plus the truncation baseline first."""
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
    return {BASELINE: TokenBased(), "turn-based": TurnBased(max_turns=40), "sliding-window": SlidingWindow(),
            "rolling-summary": RollingSummary(keep_recent_tokens=recent, step_tokens=recent),
            "summary-based": SummaryBased(trigger_tokens=budget_tokens),
            "hierarchical": HierarchicalContext(keep_recent_tokens=recent),
            "importance": ImportanceWeighted(HeuristicScorer()),
            "hybrid": KeyMoments(keep_recent_tokens=recent, step_tokens=recent)}


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
    """One manager's figures: probes, answerable by string and by model, and mean context tokens (o200k, the
    messages' text without framing)."""

    manager: str
    probes: int
    present: float
    model: float | None
    context_tokens: float


@dataclass(frozen=True)
class CompactionReport:
    """Compaction recall of every manager at one budget."""

    budget_tokens: int
    early_sessions: int
    conversations: tuple[str, ...]
    managers: tuple[ManagerRecall, ...]

    def of(self, name: str) -> ManagerRecall:
        """One manager's figures."""
        return next(m for m in self.managers if m.manager == name)


def compaction_recall(conversations: Sequence[LocomoConversation], *, budget_tokens: int = 4000,
                      managers: Mapping[str, Any] | None = None, early_sessions: int = 2,
                      summarizer: ChatModel | None = None, answerer: ChatModel | None = None,
                      progress: Progress | None = None) -> CompactionReport:
    """Measure how many early-session answers survive each manager's compaction (see the module docstring).

    Raises:
        UsageError: a budget below 200 tokens, early_sessions below 1, or no conversation to probe.
    """
    if budget_tokens < 200 or early_sessions < 1:
        raise UsageError("budget_tokens must be at least 200 and early_sessions at least 1")
    chosen = dict(managers) if managers is not None else default_managers(budget_tokens)
    probed = [c for c in conversations if early_probes(c, early_sessions) and _compacted(c, early_sessions,
                                                                                      budget_tokens)]
    if not probed:
        raise UsageError(f"no conversation has questions about sessions 1..{early_sessions} that a "
                         f"{budget_tokens}-token budget would compact: raise the sessions or lower the budget")
    from contextwise.tokens import get_tokenizer

    count = get_tokenizer("o200k_base").count
    total, done, rows = len(chosen) * len(probed), 0, []
    for name, manager in chosen.items():
        found, asked, answered, tokens = 0, 0, 0, []
        for conversation in probed:
            context = _managed(conversation, manager, budget_tokens, summarizer)
            text = normalize("\n".join(m.text for m in context))
            tokens.append(sum(count(m.text) for m in context))
            for question in early_probes(conversation, early_sessions):
                asked += 1
                found += normalize(question.answer) in text
                if answerer is not None:
                    answered += _answers(answerer, context, question)
            done += 1
            if progress:
                progress(done, total)
        rows.append(ManagerRecall(name, asked, found / asked, answered / asked if answerer else None,
                                  sum(tokens) / len(tokens)))
    return CompactionReport(budget_tokens, early_sessions, tuple(c.sample_id for c in probed), tuple(rows))


def _compacted(conversation: LocomoConversation, early_sessions: int, budget_tokens: int) -> bool:
    chars = sum(len(t.text) + len(t.speaker) + 4 for t in conversation.turns)
    return chars / 4 > budget_tokens * 1.5


def _managed(conversation: LocomoConversation, manager: Any, budget_tokens: int,
             summarizer: ChatModel | None) -> list[Message]:
    from contextwise.history import Conversation

    chat = Conversation(manager, store=None)
    for session in messages_of(conversation):
        chat.extend(session)
        if summarizer is not None:
            chat.run(summarizer, max_requests=32)
    return chat.context(budget_tokens)


def _answers(model: ChatModel, context: list[Message], question: Question) -> bool:
    ask = Message.user(f"Answer from the conversation above, in a few words: {question.text}")
    reply = model.complete([*context, ask], 32, ChatOptions(temperature=0.0, seed=0)).text
    return normalize(question.answer) in normalize(reply)
