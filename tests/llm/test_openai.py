"""OpenAIChat / AsyncOpenAIChat against a real HTTP server on 127.0.0.1 speaking the chat-completions format."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contextwise.errors import (
    AuthError, ContextLengthError, ProviderError, RateLimitError, UnavailableError, UsageError,
)
from contextwise.llm import AsyncOpenAIChat, OpenAIChat, Retry, openai_usage
from contextwise.llm._openai import OpenAIStream
from contextwise._wire import ServerEvent
from contextwise.types import ChatOptions, Completion, Message, Tool, ToolCall, Usage

MESSAGES = [Message.system("Be brief."), Message.user("Weather in Paris?")]
WEATHER = Tool("get_weather", "Current weather", {"type": "object", "properties": {"city": {"type": "string"}}})


def completion(text: str | None = "", *, usage: dict | None = None, tool_calls: list | None = None,
               finish: str = "stop", logprobs: dict | None = None, model: str = "gpt-test") -> dict:
    """A chat.completion object as OpenAI sends it."""
    message: dict = {"role": "assistant", "content": text}
    if tool_calls is not None:
        message["tool_calls"] = tool_calls
    body = {"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": logprobs}]}
    if usage is not None:
        body["usage"] = usage
    return body


def chunk(delta: dict | None = None, *, finish: str | None = None, usage: dict | None = None) -> dict:
    """A chat.completion.chunk; with `usage` and no delta it is the final usage-only chunk."""
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test",
            "choices": choices, "usage": usage}


USAGE = {"prompt_tokens": 1200, "completion_tokens": 9, "total_tokens": 1209,
         "prompt_tokens_details": {"cached_tokens": 1024}, "completion_tokens_details": {"reasoning_tokens": 0}}


def client(provider, **kw) -> OpenAIChat:
    return OpenAIChat("gpt-test", base_url=provider.url + "/v1", api_key="sk-test", **kw)


def test_openai_complete_sends_a_chat_completions_request(provider):
    provider.json(completion("Sunny."))
    options = ChatOptions(temperature=0.3, stop=("END",), seed=7, tools=(WEATHER,), tool_choice="get_weather",
                          json_schema={"title": "Weather report", "type": "object"}, extra={"user": "u1"})
    client(provider).complete(MESSAGES, max_output_tokens=50, options=options)
    sent = provider.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test"
    body = sent.body
    assert body["model"] == "gpt-test" and body["max_tokens"] == 50
    assert body["messages"] == [{"role": "system", "content": "Be brief."},
                                {"role": "user", "content": "Weather in Paris?"}]
    assert (body["temperature"], body["stop"], body["seed"], body["user"]) == (0.3, ["END"], 7, "u1")
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["response_format"]["json_schema"]["schema"] == {"title": "Weather report", "type": "object"}
    assert body["response_format"]["json_schema"]["name"] == "Weather_report"
    assert "stream" not in body


def test_openai_complete_reads_text_usage_and_cached_tokens(provider):
    provider.json(completion("Sunny, 21 C.", usage=USAGE))
    got = client(provider).complete(MESSAGES)
    assert got.text == "Sunny, 21 C."
    assert got.usage == Usage(1200, 9, cached_input_tokens=1024)
    assert (got.model, got.finish_reason, got.logprobs) == ("gpt-test", "stop", None)


def test_openai_complete_reads_tool_calls_and_replays_them(provider):
    call = {"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    provider.json(completion(None, tool_calls=[call], finish="tool_calls"))
    got = client(provider).complete(MESSAGES, options=ChatOptions(tools=(WEATHER,)))
    assert got.tool_calls == (ToolCall("call_abc", "get_weather", '{"city":"Paris"}'),)
    assert (got.text, got.finish_reason) == ("", "tool_calls")

    provider.json(completion("21 C in Paris."))
    history = [*MESSAGES, got.to_message(), Message.tool('{"temp": 21}', tool_call_id="call_abc")]
    client(provider).complete(history)
    sent = provider.requests[1].body["messages"]
    assert sent[2]["tool_calls"][0]["id"] == "call_abc" and sent[2]["content"] is None
    assert sent[3] == {"role": "tool", "content": '{"temp": 21}', "tool_call_id": "call_abc"}


@pytest.mark.parametrize("body, expected", [
    # llama.cpp server: no prompt_tokens_details.
    ({"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}, "model": "local"},
     Completion("hi", Usage(5, 1), model="local", finish_reason="stop")),
    # vLLM: prompt_tokens_details present but null.
    ({"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "length"}],
      "usage": {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": None}},
     Completion("hi", Usage(5, 1), model="gpt-test", finish_reason="length")),
    # a minimal server: no usage, no id, no model, no finish_reason.
    ({"choices": [{"message": {"content": "hi"}}]}, Completion("hi", Usage(), model="gpt-test")),
    # Ollama-style tool call without an id and with arguments as an object.
    ({"choices": [{"message": {"role": "assistant", "content": "",
                               "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}]}}]},
     Completion("", Usage(), (ToolCall("call_0", "f", '{"x": 1}'),), model="gpt-test")),
], ids=["llamacpp", "vllm-null-details", "minimal", "ollama-tool"])
def test_openai_complete_tolerates_fields_servers_omit(provider, body, expected):
    provider.json(body)
    assert client(provider).complete(MESSAGES) == expected


def test_openai_complete_reads_logprobs(provider):
    logprobs = {"content": [{"token": "Hi", "logprob": -0.1, "bytes": [72, 105], "top_logprobs": []},
                            {"token": "!", "logprob": -2.5, "bytes": [33], "top_logprobs": []}]}
    provider.json(completion("Hi!", logprobs=logprobs))
    got = client(provider).complete(MESSAGES, options=ChatOptions(logprobs=True))
    assert provider.requests[0].body["logprobs"] is True
    assert [(t.token, t.logprob) for t in got.logprobs] == [("Hi", -0.1), ("!", -2.5)]


def test_openai_stream_yields_deltas_then_the_completion_with_usage(provider):
    provider.sse([(None, chunk({"role": "assistant", "content": ""})), (None, chunk({"content": "Sun"})),
                  (None, chunk({"content": "ny."})), (None, chunk({}, finish="stop")),
                  (None, chunk(usage=USAGE)), (None, "[DONE]")])
    items = list(client(provider).stream(MESSAGES, max_output_tokens=20))
    assert items[:-1] == ["Sun", "ny."]
    final = items[-1]
    assert isinstance(final, Completion)
    assert (final.text, final.finish_reason) == ("Sunny.", "stop")
    assert final.usage == Usage(1200, 9, cached_input_tokens=1024)
    body = provider.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_openai_stream_assembles_tool_call_fragments(provider):
    first = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ""}}
    provider.sse([(None, chunk({"role": "assistant", "tool_calls": [first]})),
                  (None, chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]})),
                  (None, chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty":"Oslo"}'}}]})),
                  (None, chunk({}, finish="tool_calls")), (None, "[DONE]")])
    items = list(client(provider).stream(MESSAGES))
    assert len(items) == 1
    assert items[0].tool_calls == (ToolCall("call_1", "get_weather", '{"city":"Oslo"}'),)
    assert items[0].finish_reason == "tool_calls"


def test_openai_stream_raises_an_error_sent_inside_the_stream(provider):
    provider.sse([(None, chunk({"content": "par"})),
                  (None, {"error": {"message": "The server had an error", "type": "server_error"}})])
    with pytest.raises(ProviderError, match="server had an error"):
        list(client(provider).stream(MESSAGES))


@pytest.mark.parametrize("status, body, headers, kind", [
    (429, {"error": {"message": "Rate limit", "code": "rate_limit_exceeded"}}, {"Retry-After": "2"},
     RateLimitError),
    (400, {"error": {"message": "maximum context length is 8192 tokens", "code": "context_length_exceeded"}}, {},
     ContextLengthError),
    (401, {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}}, {}, AuthError),
    (503, {"error": {"message": "overloaded"}}, {}, UnavailableError),
    (418, {"error": {"message": "teapot"}}, {}, ProviderError),
], ids=["429", "context", "401", "503", "other"])
def test_openai_maps_http_errors(provider, status, body, headers, kind):
    provider.json(body, status=status, **headers)
    with pytest.raises(kind) as caught:
        client(provider).complete(MESSAGES)
    assert type(caught.value) is kind
    assert caught.value.status_code == status
    assert caught.value.retry_after == (2.0 if status == 429 else None)


def test_openai_maps_an_error_status_on_a_stream(provider):
    provider.json({"error": {"message": "Rate limit"}}, status=429, **{"Retry-After": "1"})
    with pytest.raises(RateLimitError) as caught:
        list(client(provider).stream(MESSAGES))
    assert caught.value.retry_after == 1.0


def test_openai_maps_a_refused_connection_to_unavailable(closed_port_url):
    with pytest.raises(UnavailableError, match="could not reach"):
        OpenAIChat("m", base_url=closed_port_url).complete(MESSAGES)


def test_openai_maps_a_timeout_to_unavailable(provider):
    provider.slow(completion("late"), delay_s=0.5)
    with pytest.raises(UnavailableError, match="no answer within"):
        client(provider, timeout_s=0.1).complete(MESSAGES)


def test_openai_maps_a_dropped_connection_to_unavailable(provider):
    provider.drop()
    with pytest.raises(UnavailableError):
        client(provider).complete(MESSAGES)


def test_openai_retries_a_rate_limit_then_succeeds(provider):
    provider.json({"error": {"message": "slow down"}}, status=429, **{"Retry-After": "0"})
    provider.json(completion("ok"))
    got = client(provider, retry=Retry(attempts=2, base_delay_s=0.0)).complete(MESSAGES)
    assert got.text == "ok" and len(provider.requests) == 2


def test_openai_gives_up_after_the_retry_budget(provider):
    for _ in range(3):
        provider.json({"error": {"message": "down"}}, status=503)
    with pytest.raises(UnavailableError):
        client(provider, retry=Retry(attempts=2, base_delay_s=0.0)).complete(MESSAGES)
    assert len(provider.requests) == 3


def test_openai_does_not_retry_by_default(provider):
    provider.json({"error": {"message": "down"}}, status=503)
    with pytest.raises(UnavailableError):
        client(provider).complete(MESSAGES)
    assert len(provider.requests) == 1


def test_openai_reads_base_url_and_key_from_the_environment(provider, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", provider.url + "/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    provider.json(completion("ok"))
    OpenAIChat("gpt-test").complete(MESSAGES)
    assert provider.requests[0].headers["authorization"] == "Bearer sk-env"


def test_openai_local_servers_need_no_key(provider, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    provider.json(completion("ok"))
    OpenAIChat("llama3.2", base_url=provider.url + "/v1").complete(MESSAGES)
    assert "authorization" not in provider.requests[0].headers


@pytest.mark.parametrize("messages, max_tokens", [([], None), (MESSAGES, 0)], ids=["no-messages", "zero-tokens"])
def test_openai_rejects_bad_calls_before_sending(provider, messages, max_tokens):
    with pytest.raises(UsageError):
        client(provider).complete(messages, max_output_tokens=max_tokens)
    assert provider.requests == []


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 2 * 10**6))
def test_openai_usage_keeps_cached_within_input(prompt, output, cached):
    usage = openai_usage({"prompt_tokens": prompt, "completion_tokens": output,
                          "prompt_tokens_details": {"cached_tokens": cached}})
    assert usage.input_tokens == prompt and usage.cached_input_tokens == min(cached, prompt)


@pytest.mark.anyio
async def test_openai_sync_and_async_twins_agree(provider):
    reply = completion("Sunny.", usage=USAGE, tool_calls=[
        {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}])
    options = ChatOptions(temperature=0, tools=(WEATHER,))
    provider.json(reply)
    sync = client(provider).complete(MESSAGES, 30, options)
    provider.json(reply)
    async with AsyncOpenAIChat("gpt-test", base_url=provider.url + "/v1", api_key="sk-test") as model:
        async_ = await model.complete(MESSAGES, 30, options)
    assert sync == async_
    assert provider.requests[0].body == provider.requests[1].body


@pytest.mark.anyio
async def test_openai_async_stream_and_retry(provider):
    provider.json({"error": {"message": "down"}}, status=503)
    provider.sse([(None, chunk({"content": "a"})), (None, chunk({"content": "b"}, finish="stop")),
                  (None, chunk(usage={"prompt_tokens": 3, "completion_tokens": 2})), (None, "[DONE]")])
    model = AsyncOpenAIChat("gpt-test", base_url=provider.url + "/v1", retry=Retry(attempts=1, base_delay_s=0))
    items = [item async for item in model.stream(MESSAGES)]
    await model.aclose()
    assert items[:-1] == ["a", "b"] and items[-1].usage == Usage(3, 2) and len(provider.requests) == 2


@given(st.lists(st.text(max_size=8), max_size=12), st.lists(st.text(max_size=6), max_size=6))
def test_openai_stream_parser_reassembles_any_split(pieces, arg_pieces):
    parser = OpenAIStream("m", "openai")
    deltas = [parser.feed(ServerEvent("", json.dumps(chunk({"content": p})))) for p in pieces]
    for i, a in enumerate(arg_pieces):
        call = {"index": 0, "function": {"arguments": a}, **({"id": "c", "type": "function"} if i == 0 else {})}
        parser.feed(ServerEvent("", json.dumps(chunk({"tool_calls": [call]}))))
    parser.feed(ServerEvent("", "[DONE]"))
    result = parser.result()
    assert "".join(deltas) == result.text == "".join(pieces)
    assert [c.arguments for c in result.tool_calls] == ([("".join(arg_pieces) or "{}")] if arg_pieces else [])


def test_openai_stream_left_early_frees_the_connection(provider):
    model = client(provider)
    for _ in range(3):
        provider.sse([(None, chunk({"content": "a"})), (None, chunk({"content": "b"})), (None, "[DONE]")])
        stream = model.stream(MESSAGES)
        assert next(stream) == "a"
        stream.close()
    provider.json(completion("still works"))
    assert model.complete(MESSAGES).text == "still works"
