"""A trace-chosen prompt-cache plan, sent by the official SDKs to a real 127.0.0.1 server: the markers and
lifetimes it places (Anthropic) and the request fields it names (OpenAI) arrive as the APIs take them."""

from __future__ import annotations

import dataclasses
import json

import pytest

from budget.conftest import anthropic_errors, openai_errors
from cache.promptcache_helpers import agent, chat
from contextwise.budget import Context
from contextwise.cache import AutomaticCache, MarkerPolicy, plan_prompt_cache
from contextwise.types import Message


def test_a_plans_markers_reach_the_server_through_the_anthropic_sdk(provider_server):
    anthropic = pytest.importorskip("anthropic")
    url, received = provider_server
    calls = agent(3, 15)
    plan = plan_prompt_cache(calls, "claude-sonnet-4-5")
    plan = dataclasses.replace(plan, strategy=MarkerPolicy((("system", 3600), ("history", 300), ("last", 300))))
    system = calls[0].request["system"]
    first = Context("claude-sonnet-4-5").system(system).user("Find order 7.").build().to_anthropic()
    built = Context("claude-sonnet-4-5").system(system).history(
        [Message.user("Find order 7."), Message.assistant("Order 7 shipped.")]).user("And order 8?").build()
    body = built.to_anthropic(prompt_cache=plan, previous=first)
    assert anthropic_errors(body) == []
    client = anthropic.Anthropic(base_url=url, api_key="test", max_retries=0)
    client.messages.create(model="claude-sonnet-4-5", max_tokens=50, **body)
    _, sent = received[-1]
    ttls = [b["cache_control"]["ttl"] for b in sent["system"] if "cache_control" in b]
    ttls += [b["cache_control"]["ttl"] for m in sent["messages"] for b in m["content"] if "cache_control" in b]
    # the 1-hour system marker, then 5-minute ones where the previous call ended and on the last turn
    assert ttls == ["1h", "5m", "5m"]
    assert json.dumps(sent).count('"cache_control"') <= 4


def test_a_plans_request_fields_reach_the_server_through_the_openai_sdk(provider_server):
    openai = pytest.importorskip("openai")
    url, received = provider_server
    plan = dataclasses.replace(plan_prompt_cache(chat(2), "gpt-5"), strategy=AutomaticCache(86400, "session"))
    body = Context("gpt-5").system("Be brief.").user("hi").build().to_openai()
    assert openai_errors(body) == []
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="test", max_retries=0)
    client.chat.completions.create(model="gpt-5", **body, **plan.request_fields(session="conv-7"))
    _, sent = received[-1]
    assert sent["prompt_cache_key"] == "conv-7" and sent["prompt_cache_retention"] == "24h"
