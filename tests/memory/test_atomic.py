"""Every memory write is checked before anything changes, bad input gets a typed error, and the async drivers
run over the same steps as the sync ones (async model, embedder and store all the way)."""

from __future__ import annotations

import asyncio
import json

import pytest

from contextwise.errors import UsageError
from contextwise.memory import MemoryBackend, SemanticMemory, ShortTermMemory, UnifiedMemory
from contextwise.stores import SQLiteStore
from contextwise.testing import AsyncScriptedChatModel, HashEmbedder, ScriptedChatModel
from contextwise.types import Message


class AsyncHash:
    """An AsyncEmbedder over HashEmbedder: the same vectors, awaited."""

    def __init__(self) -> None:
        self.inner = HashEmbedder(384)
        self.name, self.dimensions = self.inner.name, 384

    async def embed(self, texts, kind="document"):
        return self.inner.embed(texts, kind)


def _deep(depth):
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def _memory(**kw):
    return UnifiedMemory(store=kw.pop("store", "memory:"), embedder=kw.pop("embedder", HashEmbedder(384)),
                         tenant="alice", **kw)


def _facts(*texts):
    return json.dumps({"facts": [{"text": t, "category": "personal", "confidence": 0.9} for t in texts]})


@pytest.mark.parametrize("text", ["I live in Lyon.\x00", "x" * 20_001, "I live in \ud800 Lyon."], ids=repr)
def test_a_bad_observed_message_changes_nothing(text):
    mem = _memory(short_term_tokens=100_000)
    mem.observe(Message.user("I live in Paris."))
    before = ([i.text for i in mem.short_term], mem.counts())
    with pytest.raises(UsageError):
        mem.observe(Message.user(text))
    assert ([i.text for i in mem.short_term], mem.counts()) == before


def test_a_message_larger_than_short_term_memory_is_refused_not_dropped():
    stm = ShortTermMemory(20, keep_last=1)
    stm.add("a small remark")
    with pytest.raises(UsageError, match="cannot fit"):
        stm.add("word " * 100)
    assert [i.text for i in stm] == ["a small remark"] and stm.evicted == 0


@pytest.mark.parametrize("call", [
    lambda m: m.episodic.recall("x", k=1.5),
    lambda m: m.episodic.recall("x", k=0),
    lambda m: m.semantic.recall("x", mode="nope"),
    lambda m: m.build_context("x", budget_tokens=None),
    lambda m: m.build_context("x", budget_tokens=1.5),
    lambda m: m.episodic.record("an episode", metadata={"created_at": "yesterday"}),
    lambda m: m.episodic.record("an episode", metadata={"created_at": 10**400}),
    lambda m: m.episodic.record("an episode", metadata={"deep": _deep(5000)}),
    lambda m: m.episodic.record("an episode", metadata={"big": "x" * 2_000_000}),
    lambda m: m.episodic.record_many(["fine", "bad\x00"]),
], ids=["k=1.5", "k=0", "mode", "max_tokens=None", "max_tokens=1.5", "created_at str", "created_at 10**400",
        "deep metadata", "huge metadata", "one bad of many"])
def test_bad_arguments_get_typed_errors_and_write_nothing(call):
    mem = _memory()
    with pytest.raises(UsageError):
        call(mem)
    assert mem.counts()["episodic"] == 0


def test_record_many_writes_all_in_one_go_and_recall_finds_each():
    mem = _memory()
    stored = mem.episodic.record_many([f"turn {i}: we talked about topic{i}" for i in range(50)],
                                      metadata=[{"turn": i} for i in range(50)])
    assert len(stored) == 50 and mem.counts()["episodic"] == 50
    hit = mem.episodic.recall("topic37", 1, mode="lexical").items[0]
    assert hit.metadata["turn"] == 37


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["NUL", "lone surrogate"])
def test_a_model_fact_that_cannot_be_stored_is_retried_not_fatal(bad):
    model = ScriptedChatModel([_facts(f"The user likes {bad}tea."), _facts("The user likes tea.")])
    mem = SemanticMemory(MemoryBackend("memory:", HashEmbedder(384), tenant="u"), model=model)
    learned = mem.learn("I like tea.")
    assert [f.text for f in mem.facts()] == ["The user likes tea."] and learned.stats.model_calls == 2


def test_deeply_nested_model_json_is_retried_not_a_recursion_error():
    deep = "[" * 100_000 + "]" * 100_000
    model = ScriptedChatModel([deep, _facts("The user likes tea.")])
    mem = SemanticMemory(MemoryBackend("memory:", HashEmbedder(384), tenant="u"), model=model)
    assert mem.learn("I like tea.").stats.model_calls == 2 and len(mem.facts()) == 1


def test_a_sync_model_in_an_async_driver_and_the_reverse_are_usage_errors():
    sync_mem = _memory(model=ScriptedChatModel([_facts("The user likes tea.")]))
    with pytest.raises(UsageError, match="sync model"):
        asyncio.run(sync_mem.aobserve(Message.user("I like tea.")))
    async_mem = _memory(model=AsyncScriptedChatModel([_facts("The user likes tea.")]))
    with pytest.raises(UsageError, match="async model"):
        async_mem.observe(Message.user("I like tea."))
    assert len(async_mem.short_term) == 0 and sync_mem.counts()["semantic"] == 0


def test_an_async_embedder_refuses_the_sync_methods():
    mem = _memory(embedder=AsyncHash())
    with pytest.raises(UsageError, match="async"):
        mem.episodic.recall("anything")


def test_async_drivers_match_the_sync_ones(tmp_path):
    texts = ["I live in Lyon.", "I work at Acme as a welder.", "My sister lives in Oslo."]
    sync_mem = _memory(store=SQLiteStore(tmp_path / "s.db", 384))
    for t in texts:
        sync_mem.observe(Message.user(t))
    expected = sync_mem.build_context("where does she live and work?", budget_tokens=200).text

    async def run():
        mem = _memory(store=SQLiteStore(tmp_path / "a.db", 384), embedder=AsyncHash())
        for t in texts:
            await mem.aobserve(Message.user(t))
        recalled = await mem.semantic.arecall("where does she live", 3)
        return (await mem.abuild_context("where does she live and work?", budget_tokens=200)).text, recalled

    text, recalled = asyncio.run(run())
    assert text == expected and "Lyon" in text
    assert any("Lyon" in i.text for i in recalled)


def test_async_all_the_way_on_postgres(pg_dsn, pg_table):
    from contextwise.stores import AsyncPostgresStore

    async def run():
        store = AsyncPostgresStore(pg_dsn, 384, pg_table)
        mem = _memory(store=store, embedder=AsyncHash(), model=AsyncScriptedChatModel(
            [_facts("The user lives in Lyon.")]))
        await mem.aobserve(Message.user("I live in Lyon."))
        built = await mem.abuild_context("where does the user live", budget_tokens=200)
        await store.close()
        return built.text

    assert "Lyon" in asyncio.run(run())


def test_the_default_store_is_in_the_data_directory_never_the_cwd(tmp_path, monkeypatch, caplog):
    import logging

    monkeypatch.setenv("CONTEXTWISE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.INFO, logger="contextwise.memory"):
        mem = UnifiedMemory(embedder=HashEmbedder(384), tenant="alice")
    assert mem.store_path == tmp_path / "data" / "memory.db" and mem.store_path.exists()
    assert str(mem.store_path) in caplog.text
    assert [p.name for p in tmp_path.iterdir()] == ["data"]
