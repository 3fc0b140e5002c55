"""ResponseCache over each back-end (memory, SQLite, a real Redis): hits and misses, tenants as hard partitions,
TTL, per-call controls, explicit invalidation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contextwise.cache import CacheControl, CacheRequest, Dependency, Entry, ResponseCache
from contextwise.errors import UsageError
from contextwise.stores import InvalidTenantError
from contextwise.types import Completion, Message, ToolCall, Usage

ANSWER = Completion("Paris.", Usage(12, 2, 4), (ToolCall("c1", "lookup", '{"q": "x"}'),), "gpt-4o-mini", "stop")


def request(text: str = "Capital of France?", **params: object) -> CacheRequest:
    messages = (Message.system("Be brief."), Message.user(text))
    body = {"model": "gpt-4o-mini", "messages": [m.to_openai() for m in messages], "temperature": 0, **params}
    return CacheRequest(body, "openai_chat", {"url": "http://127.0.0.1:1/v1"}, messages)


def test_cache_misses_then_hits_the_exact_answer(make_cache):
    cache = make_cache()
    first = cache.lookup(request(), tenant="acme")
    assert (first.hit, first.tier, first.reason) == (False, "none", "absent")
    key = cache.store(request(), ANSWER, tenant="acme")
    found = cache.lookup(request(), tenant="acme")
    assert (found.hit, found.tier, found.key) == (True, "exact", key == first.key and key)
    assert found.completion == ANSWER
    assert cache.lookup(request(top_p=0.5), tenant="acme").hit is False
    assert cache.stats.exact_hits == 1 and cache.stats.misses == 2 and cache.count(tenant="acme") == 1


def test_cache_tenant_is_a_hard_partition(make_cache):
    cache = make_cache()
    cache.store(request(), ANSWER, tenant="acme")
    assert cache.lookup(request(), tenant="globex").hit is False
    assert cache.count(tenant="globex") == 0
    assert cache.clear(tenant="globex") == 0 and cache.lookup(request(), tenant="acme").hit
    with pytest.raises(InvalidTenantError):
        cache.lookup(request(), tenant="")


def test_cache_entry_under_a_crafted_key_of_another_tenant_is_never_served(make_cache):
    cache = make_cache()
    key = request().key("acme")
    forged = Entry("acme", "", key, ANSWER, 0.0)
    cache.entries.put("globex", "", key, forged.to_bytes(), expires_at=None)  # planted in globex's space
    assert cache.read("globex", "", key) == (None, "mismatch")


def test_cache_ttl_expires_entries(make_cache):
    now = [1000.0]
    cache = make_cache(clock=lambda: now[0], ttl_s=60)
    cache.store(request(), ANSWER, tenant="acme")
    cache.store(request("Capital of Spain?"), ANSWER, tenant="acme", control=CacheControl(ttl_s=600))
    now[0] += 120
    assert cache.lookup(request(), tenant="acme").reason == "expired"
    assert cache.lookup(request("Capital of Spain?"), tenant="acme").hit


def test_cache_per_call_controls(make_cache):
    cache = make_cache()
    assert cache.store(request(), ANSWER, tenant="acme", control=CacheControl(no_store=True)) is None
    assert cache.count(tenant="acme") == 0
    cache.store(request(), ANSWER, tenant="acme", control=CacheControl(namespace="bot-v2"))
    assert cache.lookup(request(), tenant="acme").hit is False
    assert cache.lookup(request(), tenant="acme", control=CacheControl(namespace="bot-v2")).hit
    no_cache = cache.lookup(request(), tenant="acme", control=CacheControl(namespace="bot-v2", no_cache=True))
    assert (no_cache.hit, no_cache.reason) == (False, "no_cache")
    with pytest.raises(UsageError):
        CacheControl(ttl_s=0)


def test_cache_invalidate_drops_the_entries_that_recorded_a_dependency(make_cache):
    cache = make_cache()
    doc = Dependency("chunk", "handbook#3", "v1")
    cache.store(request(), ANSWER, tenant="acme", control=CacheControl(depends_on=(doc,)))
    cache.store(request("Other?"), ANSWER, tenant="acme")
    cache.store(request(), ANSWER, tenant="globex", control=CacheControl(depends_on=(doc,)))
    assert cache.invalidate(Dependency("chunk", "handbook#3", "v2"), tenant="acme") == 1
    assert cache.lookup(request(), tenant="acme").hit is False
    assert cache.lookup(request("Other?"), tenant="acme").hit
    assert cache.lookup(request(), tenant="globex").hit


def test_cache_source_versions_make_changed_dependencies_stale(make_cache):
    from contextwise.cache import Versions

    live = {"f1": "v1"}
    cache = make_cache(sources=[Versions("fact", lambda ids: {i: live[i] for i in ids if i in live})])
    cache.store(request(), ANSWER, tenant="acme", control=CacheControl(depends_on=(Dependency("fact", "f1", "v1"),)))
    assert cache.lookup(request(), tenant="acme").hit
    live["f1"] = "v2"
    assert cache.lookup(request(), tenant="acme").reason == "stale: fact f1"
    assert cache.count(tenant="acme") == 0


def test_cache_system_prompt_is_recorded_as_a_dependency(make_cache):
    cache = make_cache()
    cache.store(request(), ANSWER, tenant="acme")
    entry = cache.lookup(request(), tenant="acme").entry
    assert [d.kind for d in entry.dependencies] == ["system"]
    assert cache.invalidate(entry.dependencies[0], tenant="acme") == 1


@settings(max_examples=30, deadline=None)
@given(text=st.text(max_size=40), calls=st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=2),
       usage=st.tuples(*[st.integers(0, 50)] * 2))
def test_entry_round_trips_any_completion(text, calls, usage):
    completion = Completion(text, Usage(usage[0] + usage[1], usage[1], usage[0]),
                            tuple(ToolCall(f"c{i}", n, a) for i, (n, a) in enumerate(calls)), "m", "stop")
    entry = Entry("t", "ns", "k", completion, 1.0, 2.0, ("a", "b"), (Dependency("fact", "x", "1"),), "p", "f")
    assert Entry.from_bytes(entry.to_bytes()) == entry


def test_cache_spec_errors_name_the_forms():
    with pytest.raises(UsageError, match="sqlite:cache.db"):
        ResponseCache("mysql://x")
    with pytest.raises(UsageError):
        ResponseCache("memory:", ttl_s=-1)


def test_cache_sqlite_is_shared_between_two_opens(tmp_path):
    spec = f"sqlite:{tmp_path / 'c.db'}"
    with ResponseCache(spec) as writer:
        writer.store(request(), ANSWER, tenant="acme")
    with ResponseCache(spec) as reader:
        assert reader.lookup(request(), tenant="acme").completion == ANSWER
