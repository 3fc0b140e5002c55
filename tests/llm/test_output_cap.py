"""`max_output_tokens` (the glossary's name for the answer's cap) is what every ChatModel takes, mapped to each
provider's field; `max_tokens=` still works, with a DeprecationWarning pointed at the caller."""

from __future__ import annotations

import asyncio
import warnings

import pytest

from contextwise.cache import CachedChatModel
from contextwise.errors import UsageError
from contextwise.llm import AnthropicChat, AsyncOpenAIChat, OpenAIChat
from contextwise.testing import AsyncScriptedChatModel, ScriptedChatModel
from contextwise.types import ChatOptions, Message

ASK = [Message.system("Be brief."), Message.user("Weather in Paris?")]
OPENAI = {"id": "c", "object": "chat.completion", "created": 1, "model": "gpt-test",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "Sunny."}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 20, "completion_tokens": 2, "total_tokens": 22}}
ANTHROPIC = {"id": "m", "type": "message", "role": "assistant", "model": "claude-test", "stop_reason": "end_turn",
             "content": [{"type": "text", "text": "Sunny."}], "usage": {"input_tokens": 20, "output_tokens": 2}}


def _openai(provider, **kw):
    return OpenAIChat("gpt-test", base_url=provider.url + "/v1", api_key="k", **kw)


def test_openai_maps_the_cap_to_its_configured_field(provider):
    provider.json(OPENAI)
    provider.json(OPENAI)
    _openai(provider).complete(ASK, 40)
    _openai(provider, max_tokens_field="max_completion_tokens").complete(ASK, max_output_tokens=41)
    first, second = (r.body for r in provider.requests)
    assert first["max_tokens"] == 40 and "max_completion_tokens" not in first
    assert second["max_completion_tokens"] == 41 and "max_tokens" not in second


def test_openai_own_api_gets_max_completion_tokens_by_default(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert OpenAIChat("o3", api_key="k")._dialect.request(ASK, 64, None, stream=False).body[
        "max_completion_tokens"] == 64
    other = OpenAIChat("llama3.2", base_url="http://127.0.0.1:11434/v1")._dialect.request(ASK, 64, None, stream=False)
    assert other.body["max_tokens"] == 64 and "max_completion_tokens" not in other.body
    with pytest.raises(UsageError, match="max_tokens_field"):
        OpenAIChat("o3", api_key="k", max_tokens_field="")


def test_anthropic_maps_the_cap_to_max_tokens(provider):
    provider.json(ANTHROPIC)
    AnthropicChat("claude-test", base_url=provider.url, api_key="k").complete(ASK, max_output_tokens=77)
    assert provider.requests[0].body["max_tokens"] == 77


def test_old_spelling_still_works_with_a_warning_at_the_call_site(provider):
    provider.json(OPENAI)
    with pytest.warns(DeprecationWarning, match="max_tokens= was renamed max_output_tokens=") as caught:
        _openai(provider).complete(ASK, max_tokens=12)
    assert provider.requests[0].body["max_tokens"] == 12
    assert caught[0].filename == __file__  # pointed at this call, not at contextwise's internals
    scripted = ScriptedChatModel(["ok"])
    with pytest.warns(DeprecationWarning) as caught:
        scripted.complete(ASK, max_tokens=5)
    assert scripted.calls[0][1] == 5 and caught[0].filename == __file__


def test_async_and_streaming_twins_take_both_spellings(provider):
    provider.json(OPENAI)
    provider.sse([(None, {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "gpt-test",
                          "choices": [{"index": 0, "delta": {"content": "Hi"}, "finish_reason": "stop"}]}),
                  (None, "[DONE]")])

    async def run() -> None:
        model = AsyncOpenAIChat("gpt-test", base_url=provider.url + "/v1", api_key="k")
        await model.complete(ASK, max_output_tokens=9)
        with pytest.warns(DeprecationWarning):
            async for _ in model.stream(ASK, max_tokens=8):
                pass
        await model.aclose()

    asyncio.run(run())
    assert [r.body.get("max_tokens") for r in provider.requests] == [9, 8]


@pytest.mark.parametrize("kwargs", [{"max_output_tokens": 0}, {"max_output_tokens": 2.5},
                                    {"max_output_tokens": True}, {"max_tokens": -1},
                                    {"max_tokens": 5, "max_output_tokens": 5}])
def test_bad_caps_are_refused_before_sending(provider, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(UsageError, match="max_output_tokens"):
            _openai(provider).complete(ASK, **kwargs)
        with pytest.raises(UsageError, match="max_output_tokens"):
            ScriptedChatModel(["ok"]).complete(ASK, **kwargs)
    assert provider.requests == []


def test_cached_model_passes_the_cap_to_the_model_and_keys_on_it():
    inner = ScriptedChatModel(["a", "b"])
    model = CachedChatModel(inner, "memory:", tenant="acme")
    zero = ChatOptions(temperature=0)
    model.complete(ASK, max_output_tokens=10, options=zero)
    with pytest.warns(DeprecationWarning):
        model.complete(ASK, max_tokens=20, options=zero)  # another cap is another request
    assert [c[1] for c in inner.calls] == [10, 20]
    assert model.complete(ASK, 10, zero).text == "a" and len(inner.calls) == 2

    async def run() -> list[int | None]:
        inner = AsyncScriptedChatModel(["a"])
        await inner.complete(ASK, max_output_tokens=3)
        return [c[1] for c in inner.calls]

    assert asyncio.run(run()) == [3]
