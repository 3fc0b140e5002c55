"""The KV state store on a real directory and SQLite index: the file format's checks, eviction by real bytes
(LRU and LFU), the tenant partition. States here are opaque bytes; tests/cache/test_kv_model.py restores real
llama.cpp states."""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contextwise.cache import KVStateCache, Scenario
from contextwise.errors import UsageError
from contextwise.stores import InvalidTenantError

FP = "a" * 64
TOKENS = list(range(100, 140))


def _tokens(n: int, seed: int = 0) -> list[int]:
    return [(seed * 7919 + i) % 49152 for i in range(n)]


@pytest.fixture
def states(tmp_path):
    cache = KVStateCache(tmp_path / "kv", budget_bytes=10**6)
    yield cache
    cache.close()


def test_kv_store_round_trip_gives_back_the_tokens_and_bytes(states):
    data = os.urandom(5000)
    entry = states.save("acme", FP, TOKENS, data)
    assert entry is not None and entry.bytes == entry.path.stat().st_size > len(data) + 4 * len(TOKENS)
    found = states.find("acme", FP, TOKENS + [1, 2, 3])
    assert found is not None and found.common_tokens == len(TOKENS) and found.entry.key == entry.key
    state = states.load(found.entry)
    assert state is not None and state.tokens == tuple(TOKENS) and bytes(state.data) == data
    assert states.entries("acme")[0].uses == 1


def test_kv_store_finds_the_longest_shared_prefix(states):
    states.save("acme", FP, TOKENS[:20], b"short")
    states.save("acme", FP, TOKENS[:30] + [9, 9, 9], b"longer, diverging")
    found = states.find("acme", FP, TOKENS)
    assert found is not None and found.common_tokens == 30 and found.entry.n_tokens == 33
    assert states.find("acme", FP, [5] * 40) is None  # nothing shares the first 16 tokens
    assert states.find("acme", "b" * 64, TOKENS) is None  # another fingerprint is another cache


@pytest.mark.parametrize("damage", ["truncated", "flipped", "empty", "foreign-fingerprint", "foreign-tenant"])
def test_kv_store_refuses_a_damaged_or_foreign_file_and_removes_it(states, tmp_path, damage):
    entry = states.save("acme", FP, TOKENS, os.urandom(4000))
    assert entry is not None
    raw = entry.path.read_bytes()
    if damage == "truncated":
        entry.path.write_bytes(raw[: len(raw) // 2])
    elif damage == "flipped":
        entry.path.write_bytes(raw[:-10] + bytes([raw[-10] ^ 1]) + raw[-9:])
    elif damage == "empty":
        entry.path.write_bytes(b"")
    else:  # a well-formed file made for another model/build or tenant, put where this one lives
        other = KVStateCache(tmp_path / "other")
        made = other.save("rival" if damage == "foreign-tenant" else "acme",
                          "c" * 64 if damage == "foreign-fingerprint" else FP, TOKENS, os.urandom(4000))
        assert made is not None
        shutil.copyfile(made.path, entry.path)
        other.close()
    found = states.find("acme", FP, TOKENS)
    assert found is not None
    assert states.load(found.entry) is None
    assert not entry.path.exists() and states.entries() == [] and states.stats().refused == 1
    assert states.find("acme", FP, TOKENS) is None


def test_kv_store_a_missing_file_is_a_miss_and_its_row_goes(states):
    entry = states.save("acme", FP, TOKENS, b"x" * 100)
    assert entry is not None
    entry.path.unlink()
    found = states.find("acme", FP, TOKENS)
    assert found is not None and states.load(found.entry) is None and states.entries() == []


def _fill(states, sizes):
    return [states.save("acme", FP, _tokens(20, seed), b"s" * size) for seed, size in enumerate(sizes)]


def test_kv_store_lru_evicts_the_least_recently_used_by_bytes(tmp_path):
    states = KVStateCache(tmp_path, budget_bytes=3 * 1400, policy="lru")
    a, b, c = _fill(states, [1000, 1000, 1000])
    assert states.load(a) is not None  # a is now the most recently used
    d = states.save("acme", FP, _tokens(20, 9), b"d" * 1000)
    kept = {e.key for e in states.entries()}
    assert kept == {a.key, c.key, d.key} and not b.path.exists()
    assert states.stats().bytes <= states.budget_bytes and states.stats().evictions == 1


def test_kv_store_lfu_evicts_the_least_used_even_if_recent(tmp_path):
    states = KVStateCache(tmp_path, budget_bytes=3 * 1400, policy="lfu")
    a, b, c = _fill(states, [1000, 1000, 1000])
    for entry in (a, a, c, b, b):  # a 2 uses, b 2, c 1 (c used after a)
        assert states.load(entry) is not None
    states.save("acme", FP, _tokens(20, 9), b"d" * 1000)
    assert c.key not in {e.key for e in states.entries()}


def test_kv_store_evicts_by_real_size_not_count(tmp_path):
    states = KVStateCache(tmp_path, budget_bytes=5000)
    small = _fill(states, [600, 600, 600, 600])
    big = states.save("acme", FP, _tokens(20, 8), b"B" * 3000)
    assert big is not None
    left = states.entries()
    assert sum(e.bytes for e in left) <= 5000 and big.key in {e.key for e in left}
    assert sum(1 for e in small if not e.path.exists()) >= 1
    assert states.save("acme", FP, _tokens(20, 7), b"H" * 6000) is None  # larger than the whole budget
    assert len(states.entries()) == len(left)


def test_kv_store_tenants_are_partitions(states):
    entry = states.save("acme", FP, TOKENS, b"secret")
    assert entry is not None
    assert states.find("rival", FP, TOKENS) is None
    assert states.entries("rival") == []
    assert states.clear("rival") == 0 and entry.path.exists()
    assert states.clear("acme") == 1 and not entry.path.exists()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(saves=st.lists(st.tuples(st.sampled_from(["t1", "t2", "t3"]), st.integers(0, 3)), min_size=1, max_size=8),
       asker=st.sampled_from(["t1", "t2", "t3"]), seed=st.integers(0, 3))
def test_kv_store_a_tenant_never_finds_another_tenants_state(tmp_path_factory, saves, asker, seed):
    states = KVStateCache(tmp_path_factory.mktemp("kv"))
    for tenant, s in saves:
        states.save(tenant, FP, _tokens(24, s), tenant.encode() * 10)
    found = states.find(asker, FP, _tokens(24, seed))
    if found is not None:
        assert found.entry.tenant == asker
        state = states.load(found.entry)
        assert state is not None and bytes(state.data) == asker.encode() * 10
    assert (found is not None) == ((asker, seed) in saves)
    states.close()


def test_kv_store_scenarios_are_per_tenant_and_persist(tmp_path):
    states = KVStateCache(tmp_path)
    states.put_scenario("acme", Scenario("faq", "Be brief.", "Opening hours: 9-5."))
    states.close()
    again = KVStateCache(tmp_path)
    assert again.scenario("acme", "faq") == Scenario("faq", "Be brief.", "Opening hours: 9-5.")
    assert again.scenario("rival", "faq") is None
    assert again.scenario("acme", "faq").system_text == "Be brief.\n\nOpening hours: 9-5."


def test_kv_store_sweeps_what_a_crashed_writer_left(tmp_path):
    states = KVStateCache(tmp_path)
    entry = states.save("acme", FP, TOKENS, b"x" * 50)
    assert entry is not None
    leftover = entry.path.with_name("abc.tmp")
    orphan = entry.path.with_name("0" * 32 + ".kv")
    for path in (leftover, orphan):
        path.write_bytes(b"partial")
        os.utime(path, (1, 1))
    states.close()
    KVStateCache(tmp_path).close()
    assert not leftover.exists() and not orphan.exists() and entry.path.exists()


@pytest.mark.parametrize("kwargs", [{"budget_bytes": 0}, {"budget_bytes": True}, {"policy": "fifo"}],
                         ids=["zero-budget", "bool-budget", "unknown-policy"])
def test_kv_store_rejects_bad_settings(tmp_path, kwargs):
    with pytest.raises(UsageError):
        KVStateCache(tmp_path, **kwargs)
    assert not (tmp_path / "index.sqlite").exists()


def test_kv_store_rejects_bad_tenants_and_short_states(states):
    with pytest.raises(InvalidTenantError):
        states.save("", FP, TOKENS, b"x")
    with pytest.raises(UsageError):
        states.save("acme", FP, TOKENS[:3], b"x")
    assert states.entries() == []
