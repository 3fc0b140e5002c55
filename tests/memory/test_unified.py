"""UnifiedMemory: recall that fills a token budget, retention, tenants, crash safety, the real embedder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contextwise.errors import UsageError
from contextwise.memory import Retention, UnifiedMemory
from contextwise.stores import InMemoryStore
from contextwise.testing import HashEmbedder
from contextwise.types import Message
from support import need

DAY = 86_400.0


def _memory(tenant="alice", store="memory:", **kw):
    return UnifiedMemory(store=store, embedder=HashEmbedder(384), tenant=tenant, **kw)


def test_build_context_fills_the_budget_by_tier_priority():
    mem = _memory()
    mem.working.set_task("plan the team offsite")
    for n in range(30):
        mem.semantic.learn(f"I have a colleague number {n} who likes climbing and board games.")
        mem.episodic.record(f"offsite number {n} was held at a lake hotel with long dinners", importance=0.6)
    for n in range(10):
        observed = mem.observe(Message.user(f"small talk {n}"), learn=False)
        assert observed.learned is None and [s.operation for s in observed.stats] == ["short_term.add"]
    recall = mem.build_context("who likes climbing for the offsite?", budget_tokens=150)
    report = recall.report
    assert report.prompt_tokens <= 150
    assert recall.text.startswith("## Current task")
    assert report.section("semantic").items_kept > 0
    assert report.section("short_term").items_kept < report.section("short_term").items_total
    assert all(i.text in recall.text for i in recall.items)
    assert len(recall.items) == sum(report.section(t).items_kept for t in ("semantic", "episodic", "short_term"))
    with pytest.raises(UsageError):
        mem.build_context("q", budget_tokens=0)
    with pytest.warns(DeprecationWarning):
        assert mem.build_context("who likes climbing?", max_tokens=150).report.prompt_tokens <= 150


def test_prune_removes_expired_and_unimportant_items_and_counts_them():
    now = [1_000_000.0]
    mem = _memory(clock=lambda: now[0], retention=Retention(ttl_s={"episodic": 7 * DAY, "semantic": None},
                                                           min_importance=0.4))
    mem.episodic.record("old trip to the coast", importance=0.9)
    now[0] += 10 * DAY
    mem.episodic.record("new trip to the mountains", importance=0.9)
    mem.episodic.record("bought a sandwich", importance=0.35)
    mem.semantic.learn("I live in Lyon.")  # rule facts carry importance 0.6: kept
    pruned = mem.prune()
    assert pruned.expired["episodic"] == 1 and pruned.unimportant["episodic"] == 1 and pruned.total == 2
    assert [r.text for r in mem.backend.scan("episodic")] == ["new trip to the mountains"]
    assert mem.counts()["semantic"] == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(secrets=st.lists(st.text("abcdefgh ", min_size=5, max_size=30).filter(lambda t: len(t.split()) >= 2),
                        min_size=1, max_size=5))
def test_tenants_never_see_each_others_memories(secrets):
    store = InMemoryStore(384)
    alice, bob = _memory("alice", store), _memory("bob", store)
    for s in secrets:
        alice.episodic.record(f"alice secret {s}", importance=0.9)
        alice.semantic.learn(f"I keep the secret {s}.")
    for s in secrets:
        recalled = bob.build_context(f"secret {s}", budget_tokens=500)
        assert "alice" not in recalled.text and s not in recalled.text
        assert bob.episodic.recall(s, k=10).items == ()
    assert bob.counts()["semantic"] == 0


WRITER = textwrap.dedent("""
    import sys
    from contextwise.memory import UnifiedMemory
    from contextwise.testing import HashEmbedder
    mem = UnifiedMemory(store="sqlite:" + sys.argv[1], embedder=HashEmbedder(384), tenant="crash")
    n = 0
    while True:
        mem.episodic.record(f"episode number {n} happened", importance=0.9)
        print(n, flush=True)
        n += 1
""")


def test_acknowledged_memories_survive_a_killed_process(tmp_path):
    db = tmp_path / "crash.db"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True)
    acknowledged = []
    for line in proc.stdout:
        acknowledged.append(int(line))
        if len(acknowledged) >= 40:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    stored = {r.text for r in _memory("crash", f"sqlite:{db}").backend.scan("episodic")}
    assert {f"episode number {n} happened" for n in acknowledged} <= stored


def test_unified_memory_with_the_real_embedder_on_sqlite(tmp_path):
    need("onnxruntime", "the real embedder needs the [embed] extra")
    mem = UnifiedMemory(store=f"sqlite:{tmp_path / 'm.db'}", tenant="real")
    mem.semantic.learn("I live in Lyon. I am allergic to peanuts. I work as a nurse at the city hospital.")
    mem.semantic.learn("I live in Berlin.")
    facts = [f.text for f in mem.semantic.facts()]
    assert "The user lives in Berlin." in facts and "The user lives in Lyon." not in facts
    top = mem.semantic.recall("what food must she avoid?", k=1, mode="dense").items[0]
    assert "peanuts" in top.text
    again = UnifiedMemory(store=f"sqlite:{tmp_path / 'm.db'}", tenant="real")
    assert sorted(f.text for f in again.semantic.facts()) == sorted(facts)


def test_observe_reports_the_short_term_write_and_what_was_learned():
    mem = _memory()
    observed = mem.observe(Message.user("My sister Ana lives in Porto."))
    assert observed.stored.item.text == "My sister Ana lives in Porto."
    assert observed.learned is not None and observed.learned.changes
    assert [s.operation for s in observed.stats] == ["short_term.add", "semantic.learn"]
    assert all(s.tokens > 0 for s in observed.stats)
