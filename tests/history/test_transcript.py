"""Transcript: units, turns, pinned messages, counted once."""

from __future__ import annotations

from history.history_helpers import CountingCounter, make_counter, text, tool_group

from contextwise.history import Conversation, TokenBased, Transcript
from contextwise.types import Message


def test_transcript_groups_tool_calls_with_their_results():
    msgs = [Message.user("q"), *tool_group("a", 2), Message.assistant("done"), Message.tool("x", tool_call_id="zz")]
    transcript = Transcript(make_counter(), msgs)
    assert transcript.unit_starts == [0, 1, 4, 5]
    assert [len(transcript.unit_messages(u)) for u in range(transcript.unit_count)] == [1, 3, 1, 1]


def test_transcript_turns_start_at_user_messages():
    msgs = [Message.assistant("hello"), Message.user("a"), Message.assistant("b"), Message.user("c")]
    transcript = Transcript(make_counter(), msgs)
    assert transcript.turn_units == [0, 1, 3]
    assert transcript.last_turns_unit(2) == 1


def test_transcript_keeps_system_messages_out_of_units():
    counter = make_counter()
    msgs = [Message.system("rules here"), Message.user("a b c"), Message.system("more"), Message.assistant("d")]
    transcript = Transcript(counter, msgs)
    assert transcript.system_tokens == counter.message(msgs[0]) + counter.message(msgs[2])
    assert transcript.units_tokens == counter.message(msgs[1]) + counter.message(msgs[3])
    assert transcript.systems_before(3) == [msgs[0], msgs[2]]


def test_transcript_totals_match_the_counter():
    counter = make_counter()
    msgs = [Message.user(text(n, n)) for n in range(1, 30)]
    transcript = Transcript(counter, msgs)
    for unit in range(transcript.unit_count + 1):
        assert transcript.tail_tokens(unit) == counter.messages(msgs[unit:]) - counter.messages([])


def test_conversation_counts_each_message_once_however_often_context_is_built():
    counter = CountingCounter(make_counter())
    chat = Conversation(TokenBased(), counter=counter)
    for turn in range(200):
        chat.add(Message.user(text(20, turn)))
        chat.add(Message.assistant(text(30, turn)))
        chat.context(300)
    assert counter.counted == 400
