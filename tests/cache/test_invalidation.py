"""State-aware invalidation against a real SemanticMemory on SQLite: an answer built with a fact is not served
after the fact is deleted, updated or its ADD undone."""

from __future__ import annotations

from contextwise.cache import CachedChatModel, ResponseCache, fact_dependencies, fact_versions
from contextwise.memory import MemoryBackend, SemanticMemory
from contextwise.testing import HashEmbedder, ScriptedChatModel
from contextwise.types import ChatOptions, Message

ZERO = ChatOptions(temperature=0)


def _memory(tmp_path):
    return SemanticMemory(MemoryBackend(f"sqlite:{tmp_path / 'memory.db'}", HashEmbedder(384), tenant="u1"))


def _ask(memory, cached):
    facts = memory.recall("What do I eat?", k=3).items
    messages = [Message.system("Known facts:\n" + "\n".join(f.text for f in facts)), Message.user("What do I eat?")]
    return cached.with_control(depends_on=fact_dependencies(facts)).complete_cached(messages, options=ZERO)


def _cached(tmp_path, memory):
    cache = ResponseCache(f"sqlite:{tmp_path / 'cache.db'}", sources=[fact_versions(memory)])
    return CachedChatModel(ScriptedChatModel(["You eat meat."], repeat_last=True), cache, tenant="u1")


def test_deleting_a_fact_invalidates_the_answer_built_with_it(tmp_path):
    memory = _memory(tmp_path)
    memory.learn("I eat meat every day.")
    cached = _cached(tmp_path, memory)
    assert _ask(memory, cached).cached is False
    assert _ask(memory, cached).cached is True
    messages = [Message.system("Known facts:\n" + "\n".join(f.text for f in memory.facts())),
                Message.user("What do I eat?")]
    deps = fact_dependencies(memory.facts())
    memory.learn("I no longer eat meat every day.")  # the rules decide DELETE
    assert memory.facts() == []
    again = cached.with_control(depends_on=deps).complete_cached(messages, options=ZERO)
    assert again.cached is False and again.lookup.reason.startswith("stale: fact ")


def test_updating_a_fact_invalidates_and_undo_of_the_add_too(tmp_path):
    memory = _memory(tmp_path)
    added = memory.learn("I work at Acme.").changes[0]
    cached = _cached(tmp_path, memory)
    messages = [Message.system("The user works at Acme."), Message.user("Where do I work?")]
    deps = fact_dependencies(memory.facts())
    cached.with_control(depends_on=deps).complete(messages, options=ZERO)
    assert cached.lookup(messages, options=ZERO).hit
    switched = memory.learn("I work at Globex.").changes[0]  # supersedes the Acme fact (a new fact, Acme ended)
    assert cached.lookup(messages, options=ZERO).reason.startswith("stale: fact")
    cached.with_control(depends_on=fact_dependencies(memory.facts())).complete(messages, options=ZERO)
    assert cached.lookup(messages, options=ZERO).hit
    memory.undo(switched.id)  # Globex is gone again and Acme is current: the entry built on Globex is stale
    assert cached.lookup(messages, options=ZERO).hit is False
    assert [f.text for f in memory.facts()] == [added.after]


def test_fact_versions_reads_only_the_facts_an_entry_depends_on(tmp_path):
    from contextwise.cache._entry import content_version

    memory = _memory(tmp_path)
    memory.learn("I live in Lyon.")
    memory.learn("I work at Acme.")
    memory.learn("I like green tea.")
    lyon = next(f for f in memory.facts() if "Lyon" in f.text)
    tea = next(f for f in memory.facts() if "tea" in f.text)
    memory.learn("I moved to Oslo.")  # supersedes Lyon: the old fact stays stored, no longer current
    calls = []
    scan, get = memory.backend.scan, memory.backend.get
    memory.backend.scan = lambda *a, **k: calls.append("scan") or scan(*a, **k)
    memory.backend.get = lambda ids: calls.append(tuple(ids)) or get(ids)
    source = fact_versions(memory)
    assert source.versions([tea.id, lyon.id, "semantic:gone"]) == {tea.id: content_version(tea.text)}
    assert calls == [(tea.id, lyon.id, "semantic:gone")]  # one read of those ids, no scan of every fact
