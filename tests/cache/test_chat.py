"""CachedChatModel and its async twin: a ChatModel in front of the cache; streams replay; sampled requests are not
cached unless asked; the key of contextwise's HTTP clients is their exact wire body."""

from __future__ import annotations

import asyncio

import pytest

from contextwise.cache import AsyncCachedChatModel, CacheControl, CachedChatModel, ResponseCache, from_call
from contextwise.llm import AnthropicChat, OpenAIChat
from contextwise.protocols import AsyncChatModel, ChatModel
from contextwise.testing import AsyncScriptedChatModel, ScriptedChatModel
from contextwise.types import ChatOptions, Completion, Message

ASK = [Message.system("Be brief."), Message.user("Capital of France?")]
ZERO = ChatOptions(temperature=0)


class StreamingModel(ScriptedChatModel):
    """A scripted model that also streams its answer word by word."""

    def stream(self, messages, max_tokens=None, options=None):
        completion = self.complete(messages, max_tokens, options)
        for word in completion.text.split(" "):
            yield word + " "
        yield completion


def test_cached_chat_model_is_a_chat_model_and_answers_twice_with_one_call():
    inner = ScriptedChatModel(["Paris."])
    model = CachedChatModel(inner, "memory:", tenant="acme")
    assert isinstance(model, ChatModel) and model.name == "scripted"
    first = model.complete_cached(ASK, options=ZERO)
    second = model.complete_cached(ASK, options=ZERO)
    assert (first.cached, second.cached, second.lookup.tier) == (False, True, "exact")
    assert second.completion == first.completion and len(inner.calls) == 1


def test_cached_chat_model_needs_a_tenant():
    with pytest.raises(TypeError):
        CachedChatModel(ScriptedChatModel(["x"]), "memory:")  # type: ignore[call-arg]


def test_cached_chat_model_does_not_cache_sampled_requests_unless_asked():
    inner = ScriptedChatModel(["a", "b", "c", "d"])
    model = CachedChatModel(inner, "memory:", tenant="acme")
    assert model.complete(ASK).text == "a" and model.complete(ASK).text == "b"  # temperature unknown
    warm = ChatOptions(temperature=0.7)
    assert model.lookup(ASK, options=warm).reason == "sampled: temperature 0.7"
    sampled = model.with_control(cache_sampled=True)
    assert sampled.complete(ASK, options=warm).text == "c" and sampled.complete(ASK, options=warm).text == "c"
    assert len(inner.calls) == 3


def test_cached_chat_model_stream_replays_the_same_deltas():
    inner = StreamingModel(["The capital is Paris."])
    model = CachedChatModel(inner, "memory:", tenant="acme")
    live = list(model.stream(ASK, options=ZERO))
    again = list(model.stream(ASK, options=ZERO))
    assert again == live and len(inner.calls) == 1
    assert [x for x in again if isinstance(x, str)] == ["The ", "capital ", "is ", "Paris. "]
    assert isinstance(again[-1], Completion)


def test_cached_chat_model_stores_no_half_read_stream():
    inner = StreamingModel(["one two three"], repeat_last=True)
    model = CachedChatModel(inner, "memory:", tenant="acme")
    stream = model.stream(ASK, options=ZERO)
    next(stream)
    stream.close()
    assert model.lookup(ASK, options=ZERO, stream=True).hit is False


def test_cached_chat_model_controls_namespace_and_no_store():
    inner = ScriptedChatModel(["x"], repeat_last=True)
    model = CachedChatModel(inner, ResponseCache("memory:"), tenant="acme")
    model.with_control(no_store=True).complete(ASK, options=ZERO)
    model.with_control(namespace="v2").complete(ASK, options=ZERO)
    assert model.lookup(ASK, options=ZERO).hit is False
    assert model.with_control(CacheControl(namespace="v2")).lookup(ASK, options=ZERO).hit


def test_async_cached_chat_model_matches_the_sync_twin():
    inner = AsyncScriptedChatModel(["Paris."])
    cache = ResponseCache("memory:")
    model = AsyncCachedChatModel(inner, cache, tenant="acme")
    assert isinstance(model, AsyncChatModel)

    async def run():
        return await model.complete_cached(ASK, options=ZERO), await model.complete_cached(ASK, options=ZERO)

    first, second = asyncio.run(run())
    assert (first.cached, second.cached) == (False, True) and len(inner.calls) == 1
    sync = CachedChatModel(ScriptedChatModel(["other"]), cache, tenant="acme")
    assert sync.complete(ASK, options=ZERO).text == "Paris."  # the twins share keys


def test_async_cached_stream_replays():
    class AsyncStreaming(AsyncScriptedChatModel):
        async def stream(self, messages, max_tokens=None, options=None):
            completion = await self.complete(messages, max_tokens, options)
            for word in completion.text.split(" "):
                yield word + " "
            yield completion

    inner = AsyncStreaming(["a b"])
    model = AsyncCachedChatModel(inner, "memory:", tenant="acme")

    async def collect():
        return [x async for x in model.stream(ASK, options=ZERO)], [x async for x in model.stream(ASK, options=ZERO)]

    live, again = asyncio.run(collect())
    assert live == again and len(inner.calls) == 1


def test_from_call_keys_an_openai_client_on_its_wire_body_with_openai_defaults():
    client = OpenAIChat("gpt-4o-mini", base_url="http://127.0.0.1:9/v1", api_key="sk-secret")
    omitted = from_call(client, ASK, None, None, stream=False)
    assert omitted.temperature() == 1.0  # OpenAI's default, so not cached by default
    explicit = from_call(client, ASK, None, ChatOptions(temperature=1.0), stream=False)
    assert omitted.key("acme") == explicit.key("acme")
    assert "sk-secret" not in str(omitted.scope)
    elsewhere = from_call(OpenAIChat("gpt-4o-mini", base_url="http://127.0.0.1:10/v1"), ASK, None, None,
                          stream=False)
    assert elsewhere.key("acme") != omitted.key("acme")


def test_from_call_assumes_no_defaults_for_an_openai_compatible_server_model():
    client = OpenAIChat("llama3.2", base_url="http://127.0.0.1:11434/v1")
    request = from_call(client, ASK, None, None, stream=False)
    assert request.temperature() is None and request.spec.name == "openai_compatible"


def test_from_call_keys_anthropic_with_the_clients_default_max_tokens():
    short = AnthropicChat("claude-sonnet-4-5", api_key="k", default_max_tokens=100)
    long = AnthropicChat("claude-sonnet-4-5", api_key="k", default_max_tokens=4000)
    assert from_call(short, ASK, None, ZERO, stream=False).key("t") != \
        from_call(long, ASK, None, ZERO, stream=False).key("t")
    assert from_call(short, ASK, 100, ZERO, stream=False).key("t") == from_call(long, ASK, 100, ZERO,
                                                                               stream=False).key("t")


def test_async_twin_over_every_backend_shares_entries_with_the_sync_twin(make_cache):
    cache = make_cache(ttl_s=60)
    inner = AsyncScriptedChatModel(["Paris."])
    model = AsyncCachedChatModel(inner, cache, tenant="acme")

    async def run():
        miss = await model.complete_cached(ASK, options=ZERO)
        hit = await model.complete_cached(ASK, options=ZERO)
        peek = await model.lookup(ASK, options=ZERO)
        return miss, hit, peek

    miss, hit, peek = asyncio.run(run())
    assert (miss.cached, hit.cached, peek.tier) == (False, True, "exact") and len(inner.calls) == 1
    sync = CachedChatModel(ScriptedChatModel(["other"]), cache, tenant="acme")
    assert sync.complete(ASK, options=ZERO).text == "Paris."
    assert asyncio.run(AsyncCachedChatModel(inner, cache, tenant="globex").lookup(ASK, options=ZERO)).hit is False
