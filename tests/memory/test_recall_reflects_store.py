"""Recall reads the store on every call: another process's deletes, additions and tenant erasures are seen at
the next recall, on every back-end, by every path (dense, lexical, hybrid, build_context)."""

from __future__ import annotations

import textwrap

from memory.conftest import other_process as _other_process

from contextwise.memory import UnifiedMemory
from contextwise.testing import HashEmbedder

SECRET = "The user's password is hunter2."
MODES = ("dense", "lexical", "hybrid")


def _texts(mem, query, mode):
    return {i.text for i in mem.episodic.recall(query, 10, mode=mode)} | \
        {i.text for i in mem.semantic.recall(query, 10, mode=mode)}


def test_drop_tenant_leaves_nothing_of_the_tenant_to_any_recall_path(shared):
    backend, target, store = shared
    mem = UnifiedMemory(store=store, embedder=HashEmbedder(384), tenant="alice")
    mem.episodic.record(SECRET, importance=0.9)
    mem.semantic.learn("I live in Lyon.")
    for mode in MODES:  # every path has read (and, before, cached) the tier
        assert SECRET in _texts(mem, "what is the password hunter2", mode)
    assert "hunter2" in mem.build_context("password hunter2", budget_tokens=300).text
    if target is None:
        store.drop_tenant("alice")
    else:
        _other_process(backend, target, 'assert store.drop_tenant("alice") > 0')
    for mode in MODES:
        assert _texts(mem, "what is the password hunter2", mode) == set()
        assert _texts(mem, "where does the user live Lyon", mode) == set()
    assert "hunter2" not in mem.build_context("password hunter2", budget_tokens=300).text
    assert mem.counts()["episodic"] == 0


def test_another_process_deletes_and_adds_and_the_next_recall_sees_both(shared):
    backend, target, store = shared
    mem = UnifiedMemory(store=store, embedder=HashEmbedder(384), tenant="alice")
    old = mem.episodic.record("we adopted a cat named Miso", importance=0.9).item
    for mode in MODES:
        assert "we adopted a cat named Miso" in _texts(mem, "cat named Miso", mode)
    script = f"""
        assert store.delete([{old.id!r}], tenant="alice") == 1
        mem.episodic.record("we adopted a dog named Tofu", importance=0.9)
    """
    if target is None:
        exec(textwrap.dedent(script), {"store": store, "mem": UnifiedMemory(
            store=store, embedder=HashEmbedder(384), tenant="alice")})
    else:
        _other_process(backend, target, script)
    for mode in MODES:
        assert "we adopted a cat named Miso" not in _texts(mem, "cat named Miso", mode)
        assert "we adopted a dog named Tofu" in _texts(mem, "dog named Tofu", mode)


def test_memory_holds_no_records_in_process(shared):
    _, _, store = shared
    mem = UnifiedMemory(store=store, embedder=HashEmbedder(384), tenant="alice")
    mem.episodic.record("a day at the lake", importance=0.9)
    mem.episodic.recall("lake", 5, mode="lexical")
    held = [v for v in vars(mem.backend).values() if isinstance(v, dict) and v]
    assert held == []  # no per-tier record maps or indexes: every recall asks the store
