"""The event bus: subscribe / unsubscribe, scopes, failing observers, and the events each instrumented path emits."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

import contextwise as cw
from contextwise import observe
from contextwise.compress import compress
from contextwise.errors import UsageError
from contextwise.testing import FakeTokenizer


def _build():
    return cw.Context("gpt-4o-mini").system("Be brief.").documents(["Paris is the capital of France."]) \
        .user("Capital?").build()


def test_bus_subscription_receives_until_closed():
    seen = []
    sub = observe.subscribe(seen.append)
    assert sub.active and observe.listening()
    _build()
    sub.close()
    sub.close()  # twice is harmless
    _build()
    assert [e.kind for e in seen] == ["context_built"]
    assert not sub.active


def test_bus_kinds_filter_what_a_subscriber_gets(events):
    only = []
    with observe.subscribe(only.append, kinds=observe.Compression):
        _build()
        compress("Cats purr. Dogs bark. Cows moo.", budget_tokens=3, tokenizer=FakeTokenizer())
    assert [e.kind for e in only] == ["compression"]
    assert [e.kind for e in events] == ["context_built", "compression"]


def test_bus_an_observer_that_raises_never_breaks_the_call(events, caplog):
    def broken(event):
        raise RuntimeError("observer bug")

    with observe.subscribe(broken), caplog.at_level(logging.ERROR, logger="contextwise.observe"):
        built = _build()
    assert built.report.prompt_tokens > 0
    assert len(events) == 1  # the later subscriber still got it
    assert "observer bug" in caplog.text


def test_bus_scope_tags_events_and_nests(events):
    with observe.scope(tenant="acme", user="u1"):
        with observe.scope(conversation="c9"):
            _build()
        _build()
    _build()
    assert [(e.scope.tenant, e.scope.user, e.scope.conversation) for e in events] == [
        ("acme", "u1", "c9"), ("acme", "u1", None), (None, None, None)]


def test_bus_scope_is_per_thread_and_per_task(events):
    def in_thread():
        _build()

    with observe.scope(tenant="main"):
        worker = threading.Thread(target=in_thread)
        worker.start()
        worker.join()

        async def task(name):
            with observe.scope(tenant=name):
                await asyncio.sleep(0)
                _build()

        async def both():
            await asyncio.gather(task("a"), task("b"))

        asyncio.run(both())
    assert sorted(str(e.tenant) for e in events) == ["None", "a", "b"]


def test_bus_subscribe_refuses_what_is_not_callable():
    with pytest.raises(UsageError):
        observe.subscribe("print")


def test_bus_compress_emits_its_counts(events):
    out = compress("Cats purr. Dogs bark. Cows moo.", budget_tokens=2, tokenizer=FakeTokenizer(), query="dogs")
    (event,) = events
    assert (event.original_tokens, event.tokens, event.target_tokens) == (out.original_tokens, out.tokens, 2)
    assert event.method == out.method and event.keep_ratio == out.keep_ratio < 1


def test_bus_memory_operations_emit_their_opstats(events):
    from contextwise.memory import ShortTermMemory

    memory = ShortTermMemory(max_tokens=1000)
    memory.add("the user likes tea")
    ops = [e for e in events if e.kind == "memory_op"]
    assert ops and ops[0].stats.operation == "short_term.add"
    assert ops[0].operation == "create_memory"


def test_bus_cache_lookup_event_for_caches(events):
    observe.emit_cache_lookup(cache="sqlite", hit=False, tier="semantic", distance=0.29, key="k1",
                              reason="semantic: empty")
    (event,) = events
    assert (event.cache, event.hit, event.tier, event.distance, event.key) == ("sqlite", False, "semantic", 0.29, "k1")
    assert event.to_dict()["reason"] == "semantic: empty"


def test_bus_nothing_is_built_when_nobody_listens(monkeypatch):
    from contextwise.observe import _events

    made = []
    original = _events.ContextBuilt.__init__

    def counting(self, **kw):
        made.append(1)
        original(self, **kw)

    monkeypatch.setattr(_events.ContextBuilt, "__init__", counting)
    _build()
    assert made == []
    with observe.subscribe(lambda e: None):
        _build()
    assert made == [1]
