"""AnthropicChat / AsyncAnthropicChat against a real HTTP server on 127.0.0.1 speaking the messages API."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contextwise.arrange import plan_cache
from contextwise.errors import ContextLengthError, RateLimitError, UnavailableError, UsageError
from contextwise.llm import AnthropicChat, AsyncAnthropicChat, CacheBreakpoints, Retry, anthropic_usage
from contextwise.llm._anthropic import AnthropicStream
from contextwise._wire import ServerEvent
from contextwise.types import ChatOptions, Completion, ImagePart, Message, TextPart, Tool, ToolCall, Usage

WEATHER = Tool("get_weather", "Current weather", {"type": "object", "properties": {"city": {"type": "string"}}})
USAGE = {"input_tokens": 12, "output_tokens": 30, "cache_read_input_tokens": 2000,
         "cache_creation_input_tokens": 500,
         "cache_creation": {"ephemeral_5m_input_tokens": 300, "ephemeral_1h_input_tokens": 200}}


def message(*content: dict, stop: str = "end_turn", usage: dict | None = None) -> dict:
    """A messages-API answer as Anthropic sends it."""
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "content": list(content),
            "stop_reason": stop, "stop_sequence": None, "usage": usage or {"input_tokens": 10, "output_tokens": 2}}


def text(value: str) -> dict:
    return {"type": "text", "text": value}


def client(provider, **kw) -> AnthropicChat:
    return AnthropicChat("claude-test", base_url=provider.url, api_key="sk-ant-test", **kw)


CONVERSATION = [
    Message.system("You are terse."),
    Message.user("Weather in Paris and Oslo?"),
    Message.assistant("Checking.", tool_calls=(ToolCall("tu_1", "get_weather", '{"city": "Paris"}'),
                                               ToolCall("tu_2", "get_weather", '{"city": "Oslo"}'))),
    Message.tool("21 C", tool_call_id="tu_1"),
    Message.tool("4 C", tool_call_id="tu_2"),
]


def test_anthropic_sends_system_on_top_and_maps_tool_turns(provider):
    provider.json(message(text("Paris 21 C, Oslo 4 C.")))
    client(provider).complete(CONVERSATION, max_output_tokens=100, options=ChatOptions(
        temperature=0.5, stop=("\n\n",), tools=(WEATHER,), tool_choice="required"))
    sent = provider.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-test" and sent.headers["anthropic-version"] == "2023-06-01"
    body = sent.body
    assert body["system"] == [{"type": "text", "text": "You are terse."}]
    assert body["max_tokens"] == 100 and body["temperature"] == 0.5 and body["stop_sequences"] == ["\n\n"]
    assert body["tools"] == [{"name": "get_weather", "description": "Current weather",
                              "input_schema": dict(WEATHER.parameters)}]
    assert body["tool_choice"] == {"type": "any"}
    assert body["messages"] == [
        {"role": "user", "content": [text("Weather in Paris and Oslo?")]},
        {"role": "assistant", "content": [
            text("Checking."),
            {"type": "tool_use", "id": "tu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "tu_2", "name": "get_weather", "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "tu_1", "content": "21 C"},
            {"type": "tool_result", "tool_use_id": "tu_2", "content": "4 C"}]},
    ]


def test_anthropic_reads_text_tool_use_and_stop_reason(provider):
    provider.json(message(text("Let me check."),
                          {"type": "tool_use", "id": "tu_9", "name": "get_weather", "input": {"city": "Rome"}},
                          stop="tool_use"))
    got = client(provider).complete([Message.user("Rome?")], options=ChatOptions(tools=(WEATHER,)))
    assert got.text == "Let me check."
    assert got.tool_calls == (ToolCall("tu_9", "get_weather", '{"city": "Rome"}'),)
    assert (got.finish_reason, got.model) == ("tool_calls", "claude-test")
    assert provider.requests[0].body["max_tokens"] == 4096  # the API requires one


def test_anthropic_usage_counts_cache_reads_and_writes_inside_input(provider):
    provider.json(message(text("ok"), usage=USAGE))
    got = client(provider).complete([Message.user("hi")])
    assert got.usage == Usage(input_tokens=12 + 2000 + 500, output_tokens=30, cached_input_tokens=2000,
                              cache_write_tokens=300, cache_write_1h_tokens=200)
    assert got.usage.uncached_input_tokens == 12


def test_anthropic_usage_without_the_duration_split_is_all_five_minute():
    usage = anthropic_usage({"input_tokens": 5, "output_tokens": 1, "cache_creation_input_tokens": 40})
    assert usage == Usage(45, 1, cache_write_tokens=40)


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6),
       st.integers(0, 10**6), st.booleans())
def test_anthropic_usage_input_is_the_sum_of_its_parts(uncached, read, five, hour, output, with_total):
    raw = {"input_tokens": uncached, "cache_read_input_tokens": read, "output_tokens": output,
           "cache_creation": {"ephemeral_5m_input_tokens": five, "ephemeral_1h_input_tokens": hour}}
    if with_total:
        raw["cache_creation_input_tokens"] = five + hour
    usage = anthropic_usage(raw)
    assert usage.input_tokens == uncached + read + five + hour
    assert (usage.cached_input_tokens, usage.cache_write_tokens, usage.cache_write_1h_tokens) == (read, five, hour)
    assert usage.uncached_input_tokens == uncached


def test_anthropic_places_cache_breakpoints(provider):
    provider.json(message(text("ok")))
    model = client(provider, cache=CacheBreakpoints(messages=(1, -1), ttl="1h"))
    model.complete(CONVERSATION, options=ChatOptions(tools=(WEATHER,)))
    body = provider.requests[0].body
    marker = {"type": "ephemeral", "ttl": "1h"}
    assert body["tools"][-1]["cache_control"] == marker
    assert body["system"][-1]["cache_control"] == marker
    assert body["messages"][0]["content"][-1]["cache_control"] == marker    # CONVERSATION[1]
    assert body["messages"][-1]["content"][-1]["cache_control"] == marker   # CONVERSATION[-1], the 2nd tool result
    assert "cache_control" not in body["messages"][-1]["content"][0]
    marked = str(body).count("cache_control")
    assert marked == 4


def test_anthropic_follows_a_cache_plan(provider):
    plan = plan_cache("anthropic", 3000, [0, 1, 2, 3, 4])
    provider.json(message(text("ok")))
    client(provider, cache=CacheBreakpoints.from_plan(plan)).complete(CONVERSATION,
                                                                      options=ChatOptions(tools=(WEATHER,)))
    body = provider.requests[0].body
    assert str(body).count("cache_control") == len(plan.breakpoints) == 4
    assert "cache_control" not in body["tools"][-1] and "cache_control" not in body["system"][-1]
    assert body["messages"][0]["content"][-1]["cache_control"] == {"type": "ephemeral", "ttl": "5m"}


def test_anthropic_sends_no_cache_control_without_a_strategy(provider):
    provider.json(message(text("ok")))
    client(provider).complete(CONVERSATION, options=ChatOptions(tools=(WEATHER,)))
    assert "cache_control" not in str(provider.requests[0].body)


def test_anthropic_cache_breakpoints_are_at_most_four():
    with pytest.raises(UsageError):
        CacheBreakpoints(messages=(1, 2, 3))


def test_anthropic_sends_images_as_sources(provider):
    provider.json(message(text("a cat")))
    parts = (TextPart("What is it?"), ImagePart("data:image/png;base64,iVBORw0KGgo="),
             ImagePart("https://example.com/cat.jpg"))
    client(provider).complete([Message.user(parts)])
    content = provider.requests[0].body["messages"][0]["content"]
    assert content[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                      "data": "iVBORw0KGgo="}}
    assert content[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}


@pytest.mark.parametrize("messages, options", [
    ([Message.system("only a system prompt")], None),
    ([Message.user("hi"), Message.assistant("", tool_calls=(ToolCall("t", "f", "{not json"),))], None),
    ([Message.user("hi")], ChatOptions(json_schema={"type": "object"})),
], ids=["no-turns", "bad-arguments", "json-schema"])
def test_anthropic_rejects_what_it_cannot_send(provider, messages, options):
    with pytest.raises(UsageError):
        client(provider).complete(messages, options=options)
    assert provider.requests == []


def stream_events(*blocks: list[tuple[str, dict]], stop: str = "end_turn") -> list[tuple[str, dict]]:
    start = {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "content": [],
        "stop_reason": None, "usage": {"input_tokens": 12, "cache_read_input_tokens": 2000,
                                       "cache_creation_input_tokens": 0, "output_tokens": 1}}}
    events = [("message_start", start), ("ping", {"type": "ping"})]
    for block in blocks:
        events += block
    events += [("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                  "usage": {"output_tokens": 25}}),
               ("message_stop", {"type": "message_stop"})]
    return events


def text_block(index: int, *pieces: str) -> list[tuple[str, dict]]:
    out = [("content_block_start", {"type": "content_block_start", "index": index,
                                    "content_block": {"type": "text", "text": ""}})]
    out += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                     "delta": {"type": "text_delta", "text": p}}) for p in pieces]
    return out + [("content_block_stop", {"type": "content_block_stop", "index": index})]


def tool_block(index: int, call_id: str, *json_pieces: str) -> list[tuple[str, dict]]:
    out = [("content_block_start", {"type": "content_block_start", "index": index, "content_block": {
        "type": "tool_use", "id": call_id, "name": "get_weather", "input": {}}})]
    out += [("content_block_delta", {"type": "content_block_delta", "index": index,
                                     "delta": {"type": "input_json_delta", "partial_json": p}})
            for p in json_pieces]
    return out + [("content_block_stop", {"type": "content_block_stop", "index": index})]


def test_anthropic_stream_yields_text_then_completion_with_usage(provider):
    provider.sse(stream_events(text_block(0, "Hello", ", world")))
    items = list(client(provider).stream([Message.user("hi")]))
    assert items[:-1] == ["Hello", ", world"]
    final = items[-1]
    assert isinstance(final, Completion) and final.text == "Hello, world"
    assert final.usage == Usage(2012, 25, cached_input_tokens=2000)
    assert final.finish_reason == "stop"
    assert provider.requests[0].body["stream"] is True


def test_anthropic_stream_assembles_tool_use_input(provider):
    provider.sse(stream_events(text_block(0, "Checking."), tool_block(1, "tu_5", '{"ci', 'ty": "Lima"}'),
                               stop="tool_use"))
    final = list(client(provider).stream([Message.user("Lima?")], options=ChatOptions(tools=(WEATHER,))))[-1]
    assert final.tool_calls == (ToolCall("tu_5", "get_weather", '{"city": "Lima"}'),)
    assert (final.text, final.finish_reason) == ("Checking.", "tool_calls")


def test_anthropic_stream_raises_an_overload_sent_mid_stream(provider):
    events = stream_events(text_block(0, "Hel"))[:4]
    events.append(("error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}))
    provider.sse(events)
    with pytest.raises(UnavailableError, match="Overloaded"):
        list(client(provider).stream([Message.user("hi")]))


def test_anthropic_maps_http_errors(provider):
    provider.json({"type": "error", "error": {"type": "invalid_request_error",
                                              "message": "prompt is too long: 210000 tokens > 200000 maximum"}},
                  status=400)
    with pytest.raises(ContextLengthError):
        client(provider).complete([Message.user("long")])
    provider.json({"type": "error", "error": {"type": "rate_limit_error", "message": "slow"}}, status=429,
                  **{"retry-after": "12"})
    with pytest.raises(RateLimitError) as caught:
        client(provider).complete([Message.user("again")])
    assert caught.value.retry_after == 12.0


def test_anthropic_retries_an_overload(provider):
    provider.json({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, status=529)
    provider.json(message(text("ok")))
    got = client(provider, retry=Retry(attempts=1, base_delay_s=0)).complete([Message.user("hi")])
    assert got.text == "ok" and len(provider.requests) == 2


@pytest.mark.anyio
async def test_anthropic_sync_and_async_twins_agree(provider):
    reply = message(text("Fine."), {"type": "tool_use", "id": "tu", "name": "get_weather", "input": {}},
                    stop="tool_use", usage=USAGE)
    cache = CacheBreakpoints()
    provider.json(reply)
    sync = client(provider, cache=cache).complete(CONVERSATION, 64, ChatOptions(tools=(WEATHER,)))
    provider.json(reply)
    async with AsyncAnthropicChat("claude-test", base_url=provider.url, api_key="sk-ant-test",
                                  cache=cache) as model:
        async_ = await model.complete(CONVERSATION, 64, ChatOptions(tools=(WEATHER,)))
    assert sync == async_
    assert provider.requests[0].body == provider.requests[1].body


@pytest.mark.anyio
async def test_anthropic_async_stream_matches_sync_stream(provider):
    events = stream_events(text_block(0, "a", "b"), tool_block(1, "tu", "{}"), stop="tool_use")
    provider.sse(events)
    sync = list(client(provider).stream([Message.user("hi")]))
    provider.sse(events)
    model = AsyncAnthropicChat("claude-test", base_url=provider.url, api_key="k")
    async_ = [item async for item in model.stream([Message.user("hi")])]
    await model.aclose()
    assert sync == async_


@given(st.lists(st.text(max_size=8), max_size=10), st.lists(st.text(max_size=6), min_size=1, max_size=6))
def test_anthropic_stream_parser_reassembles_any_split(pieces, json_pieces):
    parser = AnthropicStream("m", "anthropic")
    events = stream_events(text_block(0, *pieces), tool_block(1, "tu", *json_pieces), stop="tool_use")
    deltas = [parser.feed(ServerEvent(name, json.dumps(data))) for name, data in events]
    result = parser.result()
    assert "".join(deltas) == result.text == "".join(pieces)
    assert result.tool_calls[0].arguments == ("".join(json_pieces) or "{}")
