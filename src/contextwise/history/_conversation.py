"""Conversation: the messages, a manager and a store, with two short drivers that call the model."""

from __future__ import annotations

import threading
import warnings
from os import PathLike, fspath
from collections.abc import Iterable

from contextwise import _sansio
from contextwise._deprecated import UNSET, renamed_keyword
from contextwise.errors import UsageError
from contextwise.history._notes import HistoryManager, HistoryNotes, HistoryRequest
from contextwise.history._store import HistoryStore, SQLiteHistoryStore
from contextwise.history._transcript import MessageCounter, Transcript
from contextwise.history._windows import TokenBased
from contextwise.protocols import AsyncChatModel, ChatModel
from contextwise.types import Completion, Message, MessageLike, as_messages


class Conversation:
    """A conversation's messages, the manager that fits them into a budget, and where they persist.

    `context(budget_tokens)` is pure and fast (each message was counted once, when added). Summaries and ratings
    are made off the hot path: `plan()` says what model call would help, `apply()` folds the answer in;
    `run(model)` / `await arun(model)` drive that loop. A server that must not wait schedules `arun` itself (in
    its own task group) after replying; a request planned before another apply is
    refused as stale rather than applied twice.

    Args:
        manager: the strategy (TokenBased() when None).
        model: the model the messages are for: they are counted with its tokenizer and its provider's framing
            (any tokenizer spec works too, e.g. "o200k_base", the default).
        counter: framed message counts, instead of `model` (e.g. a TokenCounter shared with a Context).
        store: a HistoryStore, or a path to a SQLite file; None keeps everything in memory.
        conversation_id: the conversation's key in the store.

    >>> chat = Conversation(store=None)
    >>> chat.add(Message.user("hi"))
    >>> chat.context(8000) == [Message.user("hi")]
    True
    """

    def __init__(self, manager: HistoryManager | None = None, *, model: str | None = None,
                 counter: MessageCounter | None = None, store: HistoryStore | str | PathLike[str] | None = None,
                 conversation_id: str = "default") -> None:
        if model is not None and counter is not None:
            raise UsageError("give a model or a counter, not both (the counter already knows its model)")
        self.manager: HistoryManager = manager if manager is not None else TokenBased()
        self.counter = counter if counter is not None else _default_counter(model or "o200k_base")
        self._owns_store = isinstance(store, (str, PathLike))
        if isinstance(store, (str, PathLike)):
            store = SQLiteHistoryStore(fspath(store))
        self.store = store
        self.conversation_id = conversation_id
        messages, notes = store.load(conversation_id) if store is not None else ([], HistoryNotes())
        self.transcript = Transcript(self.counter, messages)
        self._notes = notes
        # One object shared by threads serialises its appends (the store's "another writer appended" check is
        # for other processes and other Conversation objects, not for this one's own threads).
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self.transcript)

    def close(self) -> None:
        """Close the store if this conversation opened it from a path."""
        if self._owns_store and isinstance(self.store, SQLiteHistoryStore):
            self.store.close()

    def __enter__(self) -> Conversation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def messages(self) -> tuple[Message, ...]:
        """Every message added, in order."""
        return tuple(self.transcript.messages)

    @property
    def notes(self) -> HistoryNotes:
        """The manager's summaries and scores so far."""
        return self._notes

    def add(self, message: MessageLike) -> None:
        """Append one message (a `Message`, an OpenAI dict or an SDK message object), persisted first when there
        is a store. An Anthropic user turn holding several tool results is appended as several tool messages."""
        self.extend(as_messages(message))

    def extend(self, messages: Iterable[MessageLike]) -> None:
        """Append messages in one store write; on a bad message or a store error nothing is added. Threads
        sharing one Conversation take turns."""
        batch = as_messages(messages)
        with self._lock:
            if self.store is not None and batch:
                self.store.append(self.conversation_id, len(self.transcript), batch)
            for message in batch:
                self.transcript.append(message)

    def context(self, budget_tokens: int = UNSET, *, max_tokens: int = UNSET) -> list[Message]:
        """The messages to send: at most `budget_tokens` framed the way the provider bills, reply priming included.

        `max_tokens=` is the old, deprecated name of `budget_tokens`.

        Raises:
            UsageError: the budget is not a positive int.
            BudgetExceededError: what the manager must keep (system messages, pinned turns) does not fit.
        """
        budget = renamed_keyword("Conversation.context", "max_tokens", "budget_tokens", max_tokens, budget_tokens,
                                 UNSET)
        if budget is UNSET:
            raise UsageError("Conversation.context() needs budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise UsageError(f"budget_tokens must be a positive int, got {budget!r}")
        with self._lock:
            return self.manager.context(self.transcript, self._notes, budget)

    def plan(self) -> HistoryRequest | None:
        """The model call the manager wants next (a SummaryRequest or ScoreRequest), or None."""
        with self._lock:
            return self.manager.plan(self.transcript, self._notes)

    def apply(self, request: HistoryRequest, completion: Completion) -> None:
        """Fold the model's answer to `request` in, and persist the new notes.

        Raises:
            UsageError: the request is stale (plan again) or the answer unusable; nothing changed.
        """
        with self._lock:
            notes = self.manager.apply(self._notes, request, completion)
            if self.store is not None:
                self.store.save_notes(self.conversation_id, notes)
            self._notes = notes

    def run(self, model: ChatModel, *, max_requests: int = 8) -> int:
        """Call `model` for each planned request until nothing is left (or `max_requests`); returns the count."""
        return _sansio.run(self, model, max_requests=max_requests)

    async def arun(self, model: AsyncChatModel, *, max_requests: int = 8) -> int:
        """The async twin of `run`: awaits `model.complete`; starts no task and no thread."""
        return await _sansio.arun(self, model, max_requests=max_requests)

    def summarize(self, model: ChatModel, *, max_requests: int = 8) -> int:
        """Deprecated: `run` (the drivers of every sans-I/O job are run / arun)."""
        warnings.warn("Conversation.summarize was renamed run", DeprecationWarning, stacklevel=2)
        return self.run(model, max_requests=max_requests)

    async def asummarize(self, model: AsyncChatModel, *, max_requests: int = 8) -> int:
        """Deprecated: `arun`."""
        warnings.warn("Conversation.asummarize was renamed arun", DeprecationWarning, stacklevel=2)
        return await self.arun(model, max_requests=max_requests)


def _default_counter(spec: str) -> MessageCounter:
    from contextwise.tokens import TokenCounter

    return TokenCounter(spec)
