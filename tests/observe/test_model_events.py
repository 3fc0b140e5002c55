"""ModelCall events from every client: sync and async, complete and stream, and the local llama.cpp model."""

from __future__ import annotations

import pytest
from support import need

import contextwise as cw
from contextwise import observe
from contextwise.llm import AsyncOpenAIChat, OpenAIChat
from contextwise.types import Completion, Message

MESSAGES = [Message.system("Be brief."), Message.user("Hi there")]


def _calls(events):
    return [e for e in events if e.kind == "model_call"]


def test_model_call_event_carries_usage_latency_cost_and_scope(counting_server, events):
    counting_server.cached_tokens = 4
    with observe.scope(tenant="acme", user="u1", conversation="c1"):
        got = OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k").complete(MESSAGES)
    (call,) = _calls(events)
    assert call.usage == got.usage and call.usage.cached_input_tokens == 4
    assert (call.provider, call.model, call.response_model, call.finish_reason) == ("openai", "gpt-4o", "gpt-4o",
                                                                                      "stop")
    assert call.latency_s > 0 and not call.streamed and call.error is None
    assert call.cost_usd == pytest.approx(cw.cost(got.usage, "gpt-4o").total_usd)
    assert call.counted_input_tokens == got.usage.input_tokens  # preflight's count is the bill
    assert (call.tenant, call.scope.user, call.scope.conversation) == ("acme", "u1", "c1")
    assert call.context is None  # these messages were not built by an observed Context


def test_model_call_event_links_the_build_that_made_the_messages(counting_server, events):
    built = cw.Context("gpt-4o").system("Be brief.").user("Hi there").build()
    OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k").complete(built.messages)
    (call,) = _calls(events)
    assert call.context is not None and call.context.report is built.report


def test_model_call_event_for_a_stream(counting_server, events):
    items = list(OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k").stream(MESSAGES))
    (call,) = _calls(events)
    assert call.streamed and isinstance(items[-1], Completion) and call.usage == items[-1].usage
    assert call.usage.input_tokens > 0


@pytest.mark.anyio
async def test_model_call_event_from_the_async_twin(counting_server, events):
    async with AsyncOpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k") as model:
        await model.complete(MESSAGES)
        async for _ in model.stream(MESSAGES):
            pass
    assert [c.streamed for c in _calls(events)] == [False, True]



@pytest.mark.slow
def test_model_call_event_from_the_local_model(events):
    need("llama_cpp", "the local model needs llama-cpp-python")
    from contextwise.llm import local_model

    try:
        model = local_model()
    except cw.MissingDependencyError as exc:
        pytest.skip(str(exc))
    got = model.complete([Message.user("Say hi")], max_output_tokens=4)
    (call,) = _calls(events)
    assert (call.provider, call.model) == ("local", model.name)
    assert call.usage == got.usage and call.counted_input_tokens == got.usage.input_tokens > 0
    # The local model's own KV cache is its prompt cache: what it kept from the previous prompt is cached input.
    assert call.usage.uncached_input_tokens == got.usage.input_tokens - got.usage.cached_input_tokens > 0


def test_exporters_name_their_extra_when_the_library_is_missing(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "prometheus_client", None)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(cw.MissingDependencyError, match=r"contextwise\[prometheus\]"):
        observe.PrometheusExporter()
    with pytest.raises(cw.MissingDependencyError, match=r"contextwise\[otel\]"):
        observe.OtelExporter()


def test_model_call_event_for_a_failed_stream(events, closed_port_url):
    with pytest.raises(cw.UnavailableError):
        list(OpenAIChat("gpt-4o", base_url=closed_port_url, api_key="k").stream(MESSAGES))
    (call,) = _calls(events)
    assert call.streamed and call.error == "UnavailableError" and call.usage.input_tokens == 0
