"""History stores: a restarted process continues the same conversation; writes are atomic."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from history.history_helpers import make_counter, text, tool_group
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.errors import StoreError
from contextwise.history import (
    Conversation,
    HistoryNotes,
    InMemoryHistoryStore,
    RollingSummary,
    SQLiteHistoryStore,
    Summary,
)
from contextwise.testing import ScriptedChatModel
from contextwise.types import ImagePart, Message, TextPart

MANAGER = RollingSummary(keep_recent_tokens=150, step_tokens=100, max_input_tokens=300)


def fill(chat: Conversation, turns: int) -> None:
    chat.add(Message.system("You plan trips."))
    for turn in range(turns):
        chat.add(Message.user(f"turn {turn} " + text(20, turn)))
        if turn % 5 == 0:
            chat.extend(tool_group(f"t{turn}", 2))
        chat.add(Message.assistant(text(25, turn)))


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_new_object_on_the_same_store_continues_the_conversation(tmp_path, kind):
    store = SQLiteHistoryStore(tmp_path / "chat.db") if kind == "sqlite" else InMemoryHistoryStore()
    chat = Conversation(MANAGER, counter=make_counter(), store=store, conversation_id="c1")
    fill(chat, 25)
    chat.run(ScriptedChatModel(["they are going to Porto"], repeat_last=True), max_requests=20)
    assert chat.notes.summaries
    again = Conversation(MANAGER, counter=make_counter(), store=store, conversation_id="c1")
    assert again.messages == chat.messages and again.notes == chat.notes
    assert again.context(700) == chat.context(700)
    assert Conversation(MANAGER, counter=make_counter(), store=store, conversation_id="other").messages == ()


def test_a_new_process_sees_the_same_context(tmp_path):
    path = tmp_path / "chat.db"
    chat = Conversation(MANAGER, counter=make_counter(), store=path)
    fill(chat, 25)
    chat.run(ScriptedChatModel(["they are going to Porto"], repeat_last=True), max_requests=20)
    script = (
        "import json, sys\n"
        "from contextwise.history import Conversation, RollingSummary\n"
        "from contextwise.testing import FakeTokenizer\n"
        "from contextwise.tokens import TokenCounter\n"
        "m = RollingSummary(keep_recent_tokens=150, step_tokens=100, max_input_tokens=300)\n"
        "chat = Conversation(m, counter=TokenCounter(FakeTokenizer()), store=sys.argv[1])\n"
        "print(json.dumps([x.to_openai() for x in chat.context(700)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [m.to_openai() for m in chat.context(700)]


def test_conversation_opened_from_a_path_closes_its_store(tmp_path):
    with Conversation(counter=make_counter(), store=tmp_path / "c.db") as chat:
        chat.add(Message.user("hi"))
    with pytest.raises(StoreError):
        chat.add(Message.user("after close"))
    assert [m.text for m in SQLiteHistoryStore(tmp_path / "c.db").load("default")[0]] == ["hi"]


def test_sqlite_store_uses_wal(tmp_path):
    SQLiteHistoryStore(tmp_path / "h.db").close()
    with sqlite3.connect(tmp_path / "h.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
def test_a_stale_writer_is_refused_and_nothing_changes(tmp_path, kind):
    store = SQLiteHistoryStore(tmp_path / "chat.db") if kind == "sqlite" else InMemoryHistoryStore()
    first = Conversation(counter=make_counter(), store=store)
    second = Conversation(counter=make_counter(), store=store)
    first.add(Message.user("from the first"))
    with pytest.raises(StoreError):
        second.extend([Message.user("from the second"), Message.assistant("lost")])
    assert len(second) == 0
    assert [m.text for m in store.load("default")[0]] == ["from the first"]


messages = st.builds(
    Message,
    role=st.sampled_from(["system", "user", "assistant"]),
    content=st.one_of(st.text(), st.tuples(
        st.builds(TextPart, st.text()),
        st.builds(ImagePart, st.text(min_size=1), st.sampled_from(["low", "high", "auto"]),
                  st.none() | st.integers(1, 4000), st.none() | st.integers(1, 4000)))),
    name=st.none() | st.text(min_size=1, max_size=10),
)


@settings(max_examples=60, deadline=None)
@given(batch=st.lists(messages, max_size=6), scores=st.dictionaries(st.integers(0, 99), st.floats(0, 1)))
def test_sqlite_store_round_trips_messages_and_notes(batch, scores):
    store = SQLiteHistoryStore(":memory:")
    notes = HistoryNotes((Summary("s", 0, 3, 0), Summary("t", 3, 5, 1)), scores)
    store.append("c", 0, batch)
    store.save_notes("c", notes)
    assert store.load("c") == (batch, notes)


def test_a_conversation_shared_by_threads_serialises_its_appends(tmp_path):
    import threading

    from contextwise.history import Conversation
    from contextwise.types import Message

    chat = Conversation(store=tmp_path / "h.db", conversation_id="c")
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(25):
                chat.add(Message.user(f"thread {n} message {i}"))
        except BaseException as exc:  # noqa: BLE001 - any failure is what this test looks for
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    reopened = Conversation(store=tmp_path / "h.db", conversation_id="c")
    assert len(reopened) == len(chat) == 200
    assert list(reopened.messages) == list(chat.messages)
    chat.close()
    reopened.close()
