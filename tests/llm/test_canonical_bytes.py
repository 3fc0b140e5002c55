"""Every client posts its body as `budget.canonical_json`: the bytes the response cache keys on and the prompt-cache
planner digests, with key order canonical everywhere but inside a JSON Schema's `properties`, whose order the model
follows when it writes the object."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math

import pytest

from contextwise.budget import Context, canonical_json
from contextwise.errors import ContextwiseError, UsageError
from contextwise.llm import AnthropicChat, AsyncOpenAIChat, GeminiChat, OpenAIChat
from contextwise.types import ChatOptions, Message, Tool

MESSAGES = [Message.system("Be brief."), Message.user("Weather in Paris?")]
# Properties deliberately not in sorted order: "city" must stay before "unit" and "at".
SCHEMA = {"type": "object", "required": ["city"],
          "properties": {"city": {"type": "string", "description": "a city"}, "unit": {"enum": ["C", "F"]},
                         "at": {"type": "object", "properties": {"z": {"type": "string"}, "a": {"type": "string"}}}}}
WEATHER = Tool("get_weather", "Current weather", SCHEMA)
COMPLETION = {"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-test",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sunny."},
                           "finish_reason": "stop"}]}


def _property_order(schema: dict) -> list[str]:
    return list(schema["properties"])


def test_canonical_json_sorts_keys_but_keeps_each_properties_order():
    text = canonical_json({"b": 1, "a": {"parameters": SCHEMA}})
    parsed = json.loads(text)
    assert list(parsed) == ["a", "b"]
    schema = parsed["a"]["parameters"]
    assert list(schema) == ["properties", "required", "type"]
    assert _property_order(schema) == ["city", "unit", "at"]
    assert _property_order(schema["properties"]["at"]) == ["z", "a"]  # nested schemas too
    assert list(schema["properties"]["city"]) == ["description", "type"]  # a member's own schema is ordered
    assert " " not in text.replace("a city", "")


def test_a_property_named_properties_is_a_name_not_a_keyword():
    schema = {"type": "object", "properties": {"properties": {"type": "object", "properties": {"y": {}, "x": {}}},
                                               "b": {}}}
    parsed = json.loads(canonical_json(schema))
    assert _property_order(parsed) == ["properties", "b"]
    assert _property_order(parsed["properties"]["properties"]) == ["y", "x"]


def test_equal_requests_give_equal_bytes_and_a_new_property_order_does_not():
    reordered = {"required": ["city"], "properties": SCHEMA["properties"], "type": "object"}
    assert canonical_json({"tools": [SCHEMA]}) == canonical_json({"tools": [reordered]})
    swapped = dict(SCHEMA, properties=dict(reversed(list(SCHEMA["properties"].items()))))
    assert canonical_json({"tools": [SCHEMA]}) != canonical_json({"tools": [swapped]})


def test_the_built_request_keeps_the_tool_schemas_property_order():
    built = Context("gpt-4o-mini").system("s").tools([WEATHER]).user("q").build()
    assert _property_order(built.to_openai()["tools"][0]["function"]["parameters"]) == ["city", "unit", "at"]
    assert _property_order(built.to_anthropic()["tools"][0]["input_schema"]) == ["city", "unit", "at"]


def test_openai_posts_exactly_the_canonical_bytes(provider):
    provider.json(COMPLETION)
    OpenAIChat("gpt-test", base_url=provider.url + "/v1", api_key="sk").complete(
        MESSAGES, options=ChatOptions(tools=(WEATHER,), json_schema={"title": "W", **SCHEMA}))
    got = provider.requests[0]
    assert got.raw == canonical_json(got.body).encode()
    assert got.headers["content-type"] == "application/json"
    assert _property_order(got.body["tools"][0]["function"]["parameters"]) == ["city", "unit", "at"]
    assert _property_order(got.body["response_format"]["json_schema"]["schema"]) == ["city", "unit", "at"]


def test_async_and_streaming_posts_are_canonical_too(provider):
    provider.json(COMPLETION)
    chat = AsyncOpenAIChat("gpt-test", base_url=provider.url + "/v1", api_key="sk")
    asyncio.run(chat.complete(MESSAGES, options=ChatOptions(tools=(WEATHER,))))
    provider.sse([(None, {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test",
                          "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}),
                  (None, "[DONE]")])
    list(OpenAIChat("gpt-test", base_url=provider.url + "/v1", api_key="sk").stream(MESSAGES))
    assert len(provider.requests) == 2
    for got in provider.requests:
        assert got.raw == canonical_json(got.body).encode()


@pytest.mark.parametrize("make", [
    lambda url: AnthropicChat("claude-test", base_url=url, api_key="k"),
    lambda url: GeminiChat("gemini-test", base_url=url, api_key="k"),
])
def test_other_providers_post_the_canonical_bytes(provider, make):
    provider.json({})  # only what was sent is under test: an empty answer may be read or refused
    with contextlib.suppress(ContextwiseError):
        make(provider.url).complete(MESSAGES, max_output_tokens=10, options=ChatOptions(tools=(WEATHER,)))
    got = provider.requests[0]
    assert got.raw == canonical_json(got.body).encode()
    assert '"city"' in got.raw.decode() and got.raw.decode().index('"city"') < got.raw.decode().index('"unit"')


def test_a_body_that_is_not_json_is_refused_before_anything_is_sent(provider):
    chat = OpenAIChat("gpt-test", base_url=provider.url + "/v1", api_key="sk")
    with pytest.raises(UsageError, match="cannot be sent as JSON"):
        chat.complete(MESSAGES, options=ChatOptions(extra={"logit_bias": {"1": math.nan}}))
    with pytest.raises(UsageError, match="cannot be sent as JSON"):
        chat.complete([Message.user("broken \ud800 text")])
    assert provider.requests == []
