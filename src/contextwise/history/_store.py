"""Where a conversation's messages and notes (summaries, scores) persist: in memory, or a SQLite file (WAL,
one transaction per write), so a restarted process continues the same conversation."""

from __future__ import annotations

import json
import sqlite3
import threading
from os import PathLike
from typing import Any, Protocol, runtime_checkable
from collections.abc import Sequence

from contextwise._sqlite import connect
from contextwise.errors import StoreError, UsageError
from contextwise.history._notes import HistoryNotes, Summary
from contextwise.types import ContentPart, ImagePart, Message, TextPart, ToolCall


@runtime_checkable
class HistoryStore(Protocol):
    """Append-only messages and replace-whole notes, per conversation id."""

    def load(self, conversation_id: str) -> tuple[list[Message], HistoryNotes]: ...

    def append(self, conversation_id: str, first_index: int, messages: Sequence[Message]) -> None: ...

    def save_notes(self, conversation_id: str, notes: HistoryNotes) -> None: ...


def _conflict(conversation_id: str, first_index: int, stored: int) -> StoreError:
    return StoreError(f"conversation {conversation_id!r} has {stored} stored messages, not {first_index}: another "
                      "writer appended meanwhile; reload the conversation", backend="history")


class InMemoryHistoryStore:
    """A HistoryStore in a dict: for tests and for conversations that need not outlive the process."""

    def __init__(self) -> None:
        self._messages: dict[str, list[Message]] = {}
        self._notes: dict[str, HistoryNotes] = {}
        self._lock = threading.Lock()

    def load(self, conversation_id: str) -> tuple[list[Message], HistoryNotes]:
        """The stored messages and notes (empty for an unknown id)."""
        with self._lock:
            return list(self._messages.get(conversation_id, ())), self._notes.get(conversation_id, HistoryNotes())

    def append(self, conversation_id: str, first_index: int, messages: Sequence[Message]) -> None:
        """Store `messages` as indices first_index...; raises StoreError if that is not the current end."""
        with self._lock:
            stored = self._messages.setdefault(conversation_id, [])
            if first_index != len(stored):
                raise _conflict(conversation_id, first_index, len(stored))
            stored.extend(messages)

    def save_notes(self, conversation_id: str, notes: HistoryNotes) -> None:
        """Replace the notes."""
        with self._lock:
            self._notes[conversation_id] = notes


_SCHEMA = """
CREATE TABLE IF NOT EXISTS history_messages (
    conversation TEXT NOT NULL, idx INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (conversation, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_notes (conversation TEXT PRIMARY KEY, body TEXT NOT NULL);
"""


class SQLiteHistoryStore:
    """A HistoryStore in a SQLite file (WAL); every write is one transaction, so a crash leaves it consistent.

    >>> store = SQLiteHistoryStore(":memory:")
    >>> store.load("c1")[0]
    []
    """

    name = "sqlite-history"

    def __init__(self, path: str | PathLike[str]) -> None:
        try:
            self._db = connect(path)
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {path!s}: {exc}", backend=self.name) from exc
        self._lock = threading.Lock()

    def load(self, conversation_id: str) -> tuple[list[Message], HistoryNotes]:
        """The stored messages (in order) and notes."""
        with self._lock, self._translate("load"):
            rows = self._db.execute("SELECT body FROM history_messages WHERE conversation = ? ORDER BY idx",
                                    (conversation_id,)).fetchall()
            note = self._db.execute("SELECT body FROM history_notes WHERE conversation = ?",
                                    (conversation_id,)).fetchone()
        messages = [message_from_json(json.loads(body)) for (body,) in rows]
        return messages, notes_from_json(json.loads(note[0])) if note else HistoryNotes()

    def append(self, conversation_id: str, first_index: int, messages: Sequence[Message]) -> None:
        """Store `messages` as indices first_index...; raises StoreError if that is not the current end."""
        rows = [(conversation_id, first_index + i, json.dumps(message_to_json(m))) for i, m in enumerate(messages)]
        with self._lock, self._translate("append"):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                (stored,) = self._db.execute("SELECT COUNT(*) FROM history_messages WHERE conversation = ?",
                                             (conversation_id,)).fetchone()
                if stored != first_index:
                    raise _conflict(conversation_id, first_index, stored)
                self._db.executemany("INSERT INTO history_messages VALUES (?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def save_notes(self, conversation_id: str, notes: HistoryNotes) -> None:
        """Replace the notes in one statement."""
        body = json.dumps(notes_to_json(notes))
        with self._lock, self._translate("save_notes"):
            self._db.execute("INSERT INTO history_notes VALUES (?, ?) ON CONFLICT(conversation) "
                             "DO UPDATE SET body = excluded.body", (conversation_id, body))

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> SQLiteHistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _translate(self, what: str) -> Any:
        return _SqliteErrors(what, self.name)


class _SqliteErrors:
    """Turns sqlite3 errors into StoreError at the boundary."""

    def __init__(self, what: str, backend: str) -> None:
        self.what, self.backend = what, backend

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, sqlite3.Error):
            raise StoreError(f"{self.what} failed: {exc}", backend=self.backend) from exc


def message_to_json(message: Message) -> dict[str, Any]:
    """A message as JSON-ready data, every field kept (image sizes included)."""
    content: Any = message.content if isinstance(message.content, str) else [_part(p) for p in message.content]
    out: dict[str, Any] = {"role": message.role, "content": content}
    if message.name is not None:
        out["name"] = message.name
    if message.tool_calls:
        out["tool_calls"] = [[c.id, c.name, c.arguments] for c in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def message_from_json(data: dict[str, Any]) -> Message:
    """The inverse of message_to_json."""
    raw = data["content"]
    content = raw if isinstance(raw, str) else tuple(_unpart(p) for p in raw)
    calls = tuple(ToolCall(*c) for c in data.get("tool_calls", ()))
    return Message(data["role"], content, data.get("name"), calls, data.get("tool_call_id"))


def _part(part: ContentPart) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    return {"url": part.url, "detail": part.detail, "width": part.width, "height": part.height}


def _unpart(data: dict[str, Any]) -> ContentPart:
    if "text" in data:
        return TextPart(data["text"])
    return ImagePart(data["url"], data["detail"], data["width"], data["height"])


def notes_to_json(notes: HistoryNotes) -> dict[str, Any]:
    """Notes as JSON-ready data."""
    return {"summaries": [[s.text, s.start, s.end, s.level] for s in notes.summaries],
            "scores": sorted([k, v] for k, v in notes.scores.items())}


def notes_from_json(data: dict[str, Any]) -> HistoryNotes:
    """The inverse of notes_to_json."""
    try:
        summaries = tuple(Summary(*s) for s in data["summaries"])
        return HistoryNotes(summaries, {int(k): float(v) for k, v in data["scores"]})
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"stored history notes are malformed ({exc}); was the file written by contextwise?") \
            from exc
