"""The messages users already hold — answers the official `openai` / `anthropic` SDKs parsed from a real
127.0.0.1 server — go straight back into contextwise: counted, kept in a Conversation, sent again."""

from __future__ import annotations

import pytest

from contextwise.history import Conversation
from contextwise.llm import AsyncOpenAIChat, OpenAIChat
from contextwise.tokens import TokenCounter
from contextwise.types import Message, ToolCall
from support import need

openai = need("openai", "the official openai SDK ([dev])")
anthropic = need("anthropic", "the official anthropic SDK ([dev])")

TOOL_CALL = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}


def chat_completion(message: dict) -> dict:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-test",
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}


def sdk_reply(provider, message: dict):
    """The SDK's own ChatCompletionMessage for `message`, parsed by the SDK from a real HTTP answer."""
    provider.json(chat_completion(message))
    sdk = openai.OpenAI(base_url=provider.url + "/v1", api_key="sk-test", max_retries=0)
    reply = sdk.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "Weather?"}])
    provider.reset()
    return reply.choices[0].message


def test_formats_openai_sdk_reply_is_sent_back_by_openai_chat(provider):
    reply = sdk_reply(provider, {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]})
    provider.json(chat_completion({"role": "assistant", "content": "Sunny, 18C."}))
    history = [{"role": "user", "content": "Weather?"}, reply,
               {"role": "tool", "tool_call_id": "c1", "content": "18C, sunny"}]
    answer = OpenAIChat("gpt-test", base_url=provider.url + "/v1", api_key="sk-test").complete(history)
    assert answer.text == "Sunny, 18C."
    sent = provider.requests[0].body["messages"]
    assert sent[1] == {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]}
    assert sent[2] == {"role": "tool", "content": "18C, sunny", "tool_call_id": "c1"}


@pytest.mark.anyio
async def test_formats_async_openai_chat_takes_dicts(provider):
    provider.json(chat_completion({"role": "assistant", "content": "Hi."}))
    chat = AsyncOpenAIChat("gpt-test", base_url=provider.url + "/v1", api_key="sk-test")
    assert (await chat.complete([{"role": "user", "content": "Hello"}])).text == "Hi."
    assert provider.requests[0].body["messages"] == [{"role": "user", "content": "Hello"}]


def test_formats_counter_and_conversation_take_sdk_objects(provider):
    reply = sdk_reply(provider, {"role": "assistant", "content": "Sunny.", "refusal": None})
    counter = TokenCounter("o200k_base")
    native = [Message.user("Weather?"), Message.assistant("Sunny.")]
    assert counter.messages([{"role": "user", "content": "Weather?"}, reply]) == counter.messages(native)
    chat = Conversation(store=None)
    chat.add({"role": "user", "content": "Weather?"})
    chat.add(reply)
    assert list(chat.messages) == native


def test_formats_anthropic_sdk_reply_enters_a_conversation(provider):
    provider.json({"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test",
                   "stop_reason": "tool_use", "stop_sequence": None,
                   "content": [{"type": "text", "text": "Checking."},
                               {"type": "tool_use", "id": "c1", "name": "get_weather", "input": {"city": "Paris"}}],
                   "usage": {"input_tokens": 10, "output_tokens": 5}})
    sdk = anthropic.Anthropic(base_url=provider.url, api_key="sk-ant-test", max_retries=0)
    reply = sdk.messages.create(model="claude-test", max_tokens=50, messages=[{"role": "user", "content": "Weather?"}])
    chat = Conversation(store=None)
    chat.extend([{"role": "user", "content": "Weather?"}, reply,
                 {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "c1", "content": "18C"}]}])
    assert [m.role for m in chat.messages] == ["user", "assistant", "tool"]
    assert chat.messages[1].tool_calls == (ToolCall("c1", "get_weather", '{"city":"Paris"}'),)
