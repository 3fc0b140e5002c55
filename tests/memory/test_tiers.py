"""Short-term, episodic and working memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.errors import UsageError
from contextwise.memory import EpisodicMemory, MemoryBackend, ShortTermMemory, WorkingMemory
from contextwise.testing import HashEmbedder
from contextwise.tokens import TokenCounter
from contextwise.types import Message


class CountingCounter:
    """A TokenCounter that records how often each text was counted."""

    def __init__(self):
        self.inner = TokenCounter.for_model("gpt-4o-mini")
        self.calls = 0

    def count(self, text):
        self.calls += 1
        return self.inner.count(text)


def _backend(tenant="t1", store="memory:", clock=None):
    kwargs = {"clock": clock} if clock else {}
    return MemoryBackend(store, HashEmbedder(384), tenant=tenant, **kwargs)


def test_short_term_evicts_least_important_outside_the_protected_tail():
    stm = ShortTermMemory(20, keep_last=2)
    stm.add("the door code is 4711", importance=0.9)
    stm.add("nice weather today", importance=0.1)
    stm.add("lunch was fine", importance=0.2)
    stored = stm.add("we should meet on friday at the harbour cafe", importance=0.5)
    assert "nice weather today" in [e.text for e in stored.evicted]
    assert "the door code is 4711" in [i.text for i in stm]
    assert stm.tokens <= 20 and stm.evicted == len(stored.evicted)
    assert stored.item.text.endswith("harbour cafe")
    assert stored.stats.operation == "short_term.add"
    assert stored.stats.tokens == stm.counter.count(stored.item.text) and stored.stats.latency_s >= 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text("abc d", min_size=1, max_size=40).filter(str.strip), st.floats(0, 1)),
                max_size=30), st.integers(5, 60), st.integers(0, 4))
def test_short_term_stays_within_budget_and_keeps_the_newest(adds, limit, keep_last):
    stm = ShortTermMemory(limit, keep_last=keep_last)
    for text, importance in adds:
        before = stm.items()
        if stm.counter.count(text) > limit:  # larger than the whole buffer: refused, never silently dropped
            with pytest.raises(UsageError):
                stm.add(text, importance=importance)
            assert stm.items() == before
            continue
        stored = stm.add(text, importance=importance)
        held = stm.items()
        assert stm.tokens <= limit
        assert stm.tokens == sum(stm.counter.count(i.text) for i in held)
        assert {i.id for i in before} | {stored.item.id} == {i.id for i in held} | {e.id for e in stored.evicted}
    if adds and keep_last and stm.counter.count(adds[-1][0]) <= limit:
        assert stm.items()[-1].text == adds[-1][0]  # the protected newest item stays while it fits alone


def test_short_term_counts_each_item_once():
    counter = CountingCounter()
    stm = ShortTermMemory(30, keep_last=1, counter=counter)
    for n in range(50):
        stm.add(f"message number {n} with a few words", importance=(n % 5) / 5)
    assert counter.calls == 50


def test_short_term_takes_messages_and_rejects_bad_input():
    stm = ShortTermMemory(100)
    stm.add(Message.user("hello"))
    assert stm.items()[0].metadata["role"] == "user"
    with pytest.raises(UsageError):
        stm.add("x", importance=1.5)
    with pytest.raises(UsageError):
        ShortTermMemory(0)


def test_episodic_keeps_only_important_episodes_and_recalls_similar_ones():
    episodes = EpisodicMemory(_backend(), threshold=0.4)
    skipped = episodes.record("chatted about the weather", importance=0.1)
    assert skipped.item is None and skipped.stats.tokens == 0
    kept = episodes.record("deploy of the billing service failed because of a missing secret",
                           outcome="rolled back", importance=0.9)
    assert kept.item.metadata["outcome"] == "rolled back"
    assert kept.stats.operation == "episodic.record"
    assert kept.stats.tokens == episodes.backend.counter.count(kept.item.text)
    episodes.record("the user booked a table for four at the harbour cafe", outcome="confirmed", importance=0.6)
    found = episodes.recall("why did the billing deploy fail", k=1)
    assert found.items[0].metadata["outcome"] == "rolled back"
    assert episodes.skipped == 1 and found.stats.latency_s >= 0 and found.stats.tokens > 0


def test_episodic_recall_prefers_recent_among_equally_relevant():
    now = [1_000_000.0]
    backend = _backend(clock=lambda: now[0])
    episodes = EpisodicMemory(backend)
    episodes.record("the printer on floor two jammed", importance=0.5)
    now[0] += 200 * 86_400
    episodes.record("the printer on floor two jammed again", importance=0.5)
    top = episodes.recall("printer floor two jammed", k=2).items
    assert top[0].text.endswith("again")


def test_episodic_tenants_are_hard_partitions():
    from contextwise.stores import InMemoryStore

    store = InMemoryStore(384)
    a, b = EpisodicMemory(_backend("alice", store)), EpisodicMemory(_backend("bob", store))
    a.record("alice's secret project is called bluebird", importance=0.9)
    assert b.recall("secret project bluebird", k=5, mode="dense").items == ()
    assert b.recall("secret project bluebird", k=5, mode="lexical").items == ()


def test_working_memory_persists_across_processes(tmp_path):
    path = f"sqlite:{tmp_path / 'mem.db'}"
    wm = WorkingMemory(_backend(store=path))
    started = wm.set_task("book a table for four", state={"people": 4, "city": "Lyon"})
    assert started.stats.operation == "working.set_task" and started.stats.tokens > 0
    updated = wm.update(city=None, time="19:30")
    assert updated.item.metadata["state"] == {"people": 4, "time": "19:30"}
    again = WorkingMemory(_backend(store=path))
    assert again.task == "book a table for four"
    assert again.state == {"people": 4, "time": "19:30"}
    assert "book a table" in again.render()
    with pytest.raises(UsageError):
        again.update(bad=object())
    assert WorkingMemory(_backend(store=path)).state == {"people": 4, "time": "19:30"}  # nothing written
