"""Memory binds its store to its embedder: another embedder on an existing store raises EmbedderMismatchError
before anything is written or recalled, in this process or after another process recorded its own."""

from __future__ import annotations

import asyncio

import pytest
from support import need

from contextwise.memory import Entry, UnifiedMemory
from contextwise.stores import EmbedderMismatchError, SQLiteStore
from contextwise.testing import HashEmbedder
from contextwise.types import Record

from memory.conftest import other_process


class Renamed:
    """HashEmbedder's vectors under another name: what two models of the same dimensions look like to a store."""

    def __init__(self, name: str) -> None:
        self.inner, self.name, self.dimensions = HashEmbedder(384), name, 384

    def embed(self, texts, kind="document"):
        return self.inner.embed(texts, kind)


def _memory(store, embedder):
    return UnifiedMemory(store=store, embedder=embedder, tenant="alice")


def test_unified_memory_with_another_embedder_on_an_existing_file_raises(tmp_path):
    path = tmp_path / "m.db"
    mem = _memory(f"sqlite:{path}", HashEmbedder(384))
    mem.episodic.record("Ana moved to Porto in May.")
    assert mem.backend.store.embedder_name == "hash-384"
    mem.backend.store.close()
    with pytest.raises(EmbedderMismatchError, match="hash-384") as refused:
        _memory(f"sqlite:{path}", Renamed("onnx:all-minilm-l6-v2-int8"))
    assert "onnx:all-minilm-l6-v2-int8" in str(refused.value)
    again = _memory(f"sqlite:{path}", HashEmbedder(384))
    assert [i.text for i in again.episodic.recall("where did Ana move?", k=1)] == ["Ana moved to Porto in May."]


def test_the_real_minilm_is_refused_on_a_store_hash_vectors_filled(tmp_path):
    need("onnxruntime", "the real embedder needs the [embed] extra")
    from contextwise.embed import OnnxMiniLM

    path = tmp_path / "m.db"
    _memory(f"sqlite:{path}", HashEmbedder(384)).episodic.record("Ana moved to Porto in May.")
    with pytest.raises(EmbedderMismatchError, match="onnx:all-minilm-l6-v2-int8"):
        _memory(f"sqlite:{path}", OnnxMiniLM())


def test_another_process_that_recorded_its_embedder_makes_this_memory_fail(shared):
    backend, target, store = shared
    if target is None:
        pytest.skip("an in-memory store lives in one process")
    mem = _memory(store, Renamed("openai:text-embedding-3-small"))  # the store is empty: nothing recorded yet
    other_process(backend, target, 'mem.episodic.record("theirs: Ana moved to Porto.")')  # records hash-384
    before = [(r.id, r.text, r.version) for r in store.scan(tenant="alice")]
    assert "theirs: Ana moved to Porto." in [text for _, text, _ in before]
    with pytest.raises(EmbedderMismatchError, match="hash-384"):
        mem.episodic.record("mine: Ana moved to Lisbon.")
    with pytest.raises(EmbedderMismatchError):
        mem.episodic.recall("where did Ana move?", k=3, mode="dense")
    assert [(r.id, r.text, r.version) for r in store.scan(tenant="alice")] == before


def test_memories_sharing_one_store_object_must_share_the_embedder():
    from contextwise.stores import InMemoryStore

    store = InMemoryStore(384)
    _memory(store, HashEmbedder(384)).episodic.record("Ana moved to Porto.")
    _memory(store, HashEmbedder(384))
    with pytest.raises(EmbedderMismatchError, match="re-embed"):
        _memory(store, Renamed("other-384"))


def test_an_old_memory_file_adopts_the_embedder_it_is_opened_with(tmp_path, caplog):
    import logging

    path = tmp_path / "m.db"
    text = "Ana moved to Porto."
    with SQLiteStore(path, 384) as old:  # an unbound writer, as every memory file written before
        vector = tuple(float(x) for x in HashEmbedder(384).embed([text])[0])
        old.upsert([Record("e1", text, vector, {"tier": "episodic"})], tenant="alice", partition="episodic")
    with caplog.at_level(logging.WARNING, logger="contextwise.stores"):
        mem = _memory(f"sqlite:{path}", HashEmbedder(384))
    assert "hash-384" in caplog.text
    assert len(mem.episodic.recall("Porto", k=1)) == 1
    with pytest.raises(EmbedderMismatchError):
        _memory(f"sqlite:{path}", Renamed("other-384"))


def test_the_async_path_binds_at_its_first_write(pg_dsn, pg_table):
    from contextwise.stores import AsyncPostgresStore

    async def run():
        first = AsyncPostgresStore(pg_dsn, 384, pg_table)
        mem = _memory(first, HashEmbedder(384))
        await mem.backend.awrite([Entry("episodic", "e1", "Ana moved to Porto.")])
        await first.close()
        second = AsyncPostgresStore(pg_dsn, 384, pg_table)
        other = _memory(second, Renamed("other-384"))
        try:
            with pytest.raises(EmbedderMismatchError, match="hash-384"):
                await other.backend.awrite([Entry("episodic", "e2", "Ana moved to Lisbon.")])
            with pytest.raises(EmbedderMismatchError):
                await other.episodic.arecall("where did Ana move?", k=3)
            return await second.count(tenant="alice", partition="episodic")
        finally:
            await second.close()

    assert asyncio.run(run()) == 1
