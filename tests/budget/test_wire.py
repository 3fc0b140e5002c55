"""Built.to_openai() / to_anthropic() sent by the official SDKs to a real 127.0.0.1 server in each wire format."""

from __future__ import annotations

import json
import warnings

import pytest

from budget.conftest import anthropic_errors, openai_errors
from contextwise.budget import Context, canonical_json
from contextwise.errors import TruncationWarning
from contextwise.types import Chunk, Message, Tool, ToolCall

TOOL = Tool("station_status", "Free docks and bikes at a station",
            {"type": "object", "required": ["station"], "properties": {"station": {"type": "string"}}})


def _built(model):
    call = ToolCall("call_1", "station_status", '{"station": "Pier 7"}')
    history = [Message.assistant("Hi! Ask me about bikes."), Message.user("Free docks at Pier 7?"),
               Message.assistant(tool_calls=(call,)), Message.tool('{"free_docks": 4}', tool_call_id="call_1"),
               Message.assistant("Pier 7 has 4 free docks.")]
    ctx = Context(model, output_reserve_tokens=500).system("Answer from the documents; cite them as [n]. " * 30)
    ctx.tools([TOOL]).history(history).documents([Chunk("prices#0", "A ride costs 0.08 euro per minute.",
                                                        source="prices.md")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncationWarning)
        return ctx.user("What does a 20-minute ride cost?").build()


def test_to_openai_through_the_openai_sdk_to_a_real_server(provider_server):
    openai = pytest.importorskip("openai")
    url, received = provider_server
    built = _built("gpt-4o-mini")
    body = built.to_openai()
    assert openai_errors(body) == []
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="test", max_retries=0)
    reply = client.chat.completions.create(model="gpt-4o-mini", **body)
    assert reply.choices[0].message.content.endswith("[1].")
    path, sent = received[-1]
    assert path == "/v1/chat/completions" and sent["messages"] == body["messages"] and sent["tools"] == body["tools"]
    assert built.check(reply.choices[0].message.content).citations[0].chunk_id == "prices#0"


def test_to_anthropic_through_the_anthropic_sdk_to_a_real_server(provider_server):
    anthropic = pytest.importorskip("anthropic")
    url, received = provider_server
    built = _built("claude-sonnet-4-5")
    body = built.to_anthropic()
    assert anthropic_errors(body) == []
    client = anthropic.Anthropic(base_url=url, api_key="test", max_retries=0)
    reply = client.messages.create(model="claude-sonnet-4-5", max_tokens=100, **body)
    assert reply.content[0].text.endswith("[1].")
    _, sent = received[-1]
    assert sent["system"] == body["system"] and sent["messages"] == body["messages"]
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user", "assistant", "user"]
    assert sent["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "call_1",
                                                 "content": '{"free_docks": 4}'}
    assert sent["tools"][0]["input_schema"]["required"] == ["station"]
    # breakpoints where the cache plan puts them: after the system prompt and the last history message
    assert built.report.cache_plan.breakpoints
    assert "cache_control" in sent["system"][-1]
    assert "cache_control" in sent["messages"][-2]["content"][-1]


def test_a_bad_request_is_refused_by_the_server(provider_server):
    openai = pytest.importorskip("openai")
    url, _ = provider_server
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="test", max_retries=0)
    with pytest.raises(openai.BadRequestError):  # the server's checks are real: an orphan tool result fails
        client.chat.completions.create(model="m", messages=[{"role": "tool", "tool_call_id": "x", "content": "1"}])


def test_serialisation_is_canonical_and_deterministic():
    a = Tool("t", "d", {"type": "object", "properties": {"b": {"type": "string"}, "a": {"type": "number"}}})
    b = Tool("t", "d", {"properties": {"b": {"type": "string"}, "a": {"type": "number"}}, "type": "object"})
    one = Context("gpt-4o-mini").system("s").tools([a]).user("q").build()
    two = Context("gpt-4o-mini").system("s").tools([b]).user("q").build()
    assert canonical_json(one.to_openai()) == canonical_json(two.to_openai())
    assert json.dumps(one.to_openai()) == json.dumps(two.to_openai())  # key order itself is stable
    assert canonical_json(one.to_anthropic()) == canonical_json(two.to_anthropic())
    # The order of a schema's properties is what the model writes in: it is kept, and it tells requests apart.
    swapped = Tool("t", "d", {"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "string"}}})
    three = Context("gpt-4o-mini").system("s").tools([swapped]).user("q").build()
    assert list(one.to_openai()["tools"][0]["function"]["parameters"]["properties"]) == ["b", "a"]
    assert canonical_json(one.to_openai()) != canonical_json(three.to_openai())
