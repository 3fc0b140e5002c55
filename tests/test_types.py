"""Message validation and `as_messages`: the formats users already have, converted once, bad input refused."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contextwise.errors import UsageError
from contextwise.types import ImagePart, Message, TextPart, ToolCall, as_message, as_messages
from support import need

openai_chat = need("openai.types.chat", "the official openai SDK ([dev])")
anthropic_types = need("anthropic.types", "the official anthropic SDK ([dev])")

CALL = ToolCall("c1", "get_weather", '{"city":"Paris"}')


@pytest.mark.parametrize("args, match", [
    (("user", 5), "content must be a string"),
    (("user", None), "content must be a string"),
    (("user", ("hi",)), "TextPart or ImagePart"),
    ((["user"], "hi"), "unknown role"),
    (("robot", "hi"), "unknown role"),
], ids=["int-content", "none-content", "str-part", "list-role", "unknown-role"])
def test_message_rejects_wrong_types(args, match):
    with pytest.raises(UsageError, match=match):
        Message(*args)


def test_message_rejects_wrong_field_types():
    with pytest.raises(UsageError, match="name"):
        Message("user", "hi", name=3)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="tool_calls"):
        Message("assistant", "", tool_calls=({"id": "c1"},))  # type: ignore[arg-type]


def test_as_messages_accepts_messages_and_openai_dicts():
    got = as_messages([Message.system("Be brief."), {"role": "user", "content": "hi", "name": "ann"},
                       {"role": "assistant", "content": None, "tool_calls": [
                           {"id": "c1", "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
                       {"role": "tool", "tool_call_id": "c1", "content": "18C"}])
    assert got == [Message.system("Be brief."), Message.user("hi", name="ann"),
                   Message.assistant(tool_calls=(CALL,)), Message.tool("18C", tool_call_id="c1")]


def test_as_messages_reads_a_lone_message_as_one():
    assert as_messages({"role": "user", "content": "hi"}) == [Message.user("hi")]
    assert as_messages(Message.user("hi")) == [Message.user("hi")]
    assert as_messages(m for m in [Message.user("a"), Message.user("b")]) == [Message.user("a"), Message.user("b")]


def test_as_messages_reads_openai_sdk_objects():
    fn = openai_chat.chat_completion_message_function_tool_call
    sdk = openai_chat.ChatCompletionMessage(role="assistant", content=None, tool_calls=[
        fn.ChatCompletionMessageFunctionToolCall(id="c1", type="function",
                                                 function=fn.Function(name="get_weather",
                                                                      arguments='{"city":"Paris"}'))])
    assert as_message(sdk) == Message.assistant(tool_calls=(CALL,))
    refusal = openai_chat.ChatCompletionMessage(role="assistant", content=None, refusal="I can't help with that.")
    assert as_message(refusal).text == "I can't help with that."


def test_as_messages_reads_openai_sdk_param_dicts():
    # the SDK's request types are TypedDicts: plain dicts with typed parts
    user: openai_chat.ChatCompletionUserMessageParam = {"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}}]}
    (msg,) = as_messages([user])
    assert msg.content == (TextPart("What is this?"), ImagePart("https://example.com/a.png", "low"))


def test_as_messages_reads_anthropic_sdk_objects_and_dicts():
    blocks = anthropic_types
    reply = blocks.Message(id="m1", type="message", role="assistant", model="claude-x", stop_reason="tool_use",
                           content=[blocks.TextBlock(type="text", text="Let me check."),
                                    blocks.ToolUseBlock(type="tool_use", id="c1", name="get_weather",
                                                        input={"city": "Paris"})],
                           usage=blocks.Usage(input_tokens=10, output_tokens=5))
    turn: blocks.MessageParam = {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "c1", "content": "18C"},
        {"type": "text", "text": "And tomorrow?"}]}
    got = as_messages([reply, turn])
    assert [m.role for m in got] == ["assistant", "tool", "user"]
    assert got[0].text == "Let me check." and got[0].tool_calls == (CALL,)
    assert got[1] == Message.tool("18C", tool_call_id="c1") and got[2].text == "And tomorrow?"
    with pytest.raises(UsageError, match="as_messages"):
        as_message(turn)


@pytest.mark.parametrize("value, match", [
    ("hello world", "got a string"),
    (42, "got int"),
    ([{"content": "no role"}], "message 0: a message needs a role"),
    ([Message.user("ok"), "hi"], "message 1: .*Message.user"),
    ([{"role": "user", "content": 5}], "content must be a string or a list"),
    ([{"role": "user", "content": ["hi"]}], "content part must be a dict"),
    ([{"role": "user", "content": [{"type": "audio"}]}], "unsupported content part"),
    ([{"role": "assistant", "tool_calls": [{"id": "c1"}]}], "needs a function with a name"),
    ([{"role": "assistant", "tool_calls": {"id": "c1"}}], "tool_calls must be a list"),
    ([{"role": "assistant", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": {"a": 1}}}]}],
     "JSON text"),
    ([{"role": "tool", "content": "18C"}], "tool_call_id"),
], ids=["str", "int", "no-role", "str-element", "int-content", "str-part", "audio", "call-no-fn", "calls-dict",
        "args-dict", "tool-no-id"])
def test_as_messages_refuses_bad_input_with_a_usage_error(value, match):
    with pytest.raises(UsageError, match=match):
        as_messages(value)


@given(st.lists(st.builds(Message.user, st.text(max_size=20)) | st.builds(
    Message.assistant, st.text(max_size=20),
    tool_calls=st.lists(st.builds(ToolCall, st.text(min_size=1, max_size=5), st.text(min_size=1, max_size=5),
                                  st.dictionaries(st.text(max_size=3), st.integers()).map(json.dumps)),
                        max_size=2).map(tuple)), max_size=5))
def test_as_messages_round_trips_the_openai_wire_format(messages):
    assert as_messages([m.to_openai() for m in messages]) == messages


def test_types_every_scored_result_has_the_one_shape_and_fuses():
    from contextwise.documents import Hybrid, rank
    from contextwise.embed import Scored, fuse_rankings
    from contextwise.memory import MemoryItem
    from contextwise.types import Chunk, Hit, Record, ScoredResult

    hits = [Hit(Record("a", "alpha", None, {}), 0.9), Hit(Record("b", "beta", None, {}), 0.4)]
    ranked = rank([Chunk("b", "beta beta"), Chunk("c", "gamma")], "beta", relevance=Hybrid(lexical=1.0))
    items = [MemoryItem("c", "gamma", "semantic", score=0.7)]
    for result in (*hits, *ranked, *items, Scored("d", 0.1)):
        assert isinstance(result, ScoredResult)
    assert [h.id for h in hits] == ["a", "b"] and ranked[0].id == "b"
    fused = fuse_rankings(hits, ranked, items)
    assert {s.id for s in fused} == {"a", "b", "c"}
    # b and c each appear in two rankings (ranks 2+1), a in one: reciprocal rank puts a last, ties first-seen
    assert [s.id for s in fused] == ["b", "c", "a"]
