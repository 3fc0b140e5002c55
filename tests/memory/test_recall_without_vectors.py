"""Recall reads its hits' texts and metadata, never their vectors: a store whose searches take `vectors` is asked
for hits without them (on 200k memories that spares ~2 ms a hybrid recall, benchmarks/bench_memory.py), and a
store whose searches do not is asked as before; the recall is the same either way."""

from __future__ import annotations

from contextwise.memory import EpisodicMemory, MemoryBackend
from contextwise.stores import SQLiteStore
from contextwise.testing import HashEmbedder
from contextwise.types import Hit

TEXTS = ["Caroline went to the LGBTQ support group on Tuesday.", "Melanie painted a sunrise over the lake.",
         "Caroline is researching adoption agencies.", "Melanie ran a charity race for mental health.",
         "Caroline gave a talk at the school about her journey.", "Melanie's kids love the beach in summer."]
QUESTIONS = ["What did Caroline research?", "Where do Melanie's kids like to go?", "charity race", "a talk"]


class Asked(SQLiteStore):
    """Records the hits each search returned."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.returned: list[Hit] = []

    def query(self, vector, k=10, *, tenant, where=None, partition="", ef_search=None, vectors=True):
        hits = super().query(vector, k, tenant=tenant, where=where, partition=partition, ef_search=ef_search,
                             vectors=vectors)
        self.returned += hits
        return hits

    def search_text(self, query, k=10, *, tenant, where=None, partition="", vectors=True):
        hits = super().search_text(query, k, tenant=tenant, where=where, partition=partition, vectors=vectors)
        self.returned += hits
        return hits


class Plain(SQLiteStore):
    """Searches that take no `vectors` (a store of someone else's): its hits carry vectors."""

    def query(self, vector, k=10, *, tenant, where=None, partition=""):
        return super().query(vector, k, tenant=tenant, where=where, partition=partition)

    def search_text(self, query, k=10, *, tenant, where=None, partition=""):
        return super().search_text(query, k, tenant=tenant, where=where, partition=partition)


def test_recall_asks_for_hits_without_vectors_and_ranks_as_with_them(tmp_path):
    path = tmp_path / "m.db"
    bare_store, plain_store = Asked(path, 384), Plain(path, 384)
    bare = EpisodicMemory(MemoryBackend(bare_store, HashEmbedder(384), tenant="t", clock=lambda: 1e9))
    plain = EpisodicMemory(MemoryBackend(plain_store, HashEmbedder(384), tenant="t", clock=lambda: 1e9))
    bare.record_many([f"{t} (session {i})" for i, t in enumerate(TEXTS * 4)], importance=0.5)
    for question in QUESTIONS:
        for mode in ("hybrid", "dense", "lexical"):
            ours, reference = bare.recall(question, 5, mode=mode), plain.recall(question, 5, mode=mode)
            assert ours.items and [(i.id, i.text, i.score) for i in ours.items] == \
                [(i.id, i.text, i.score) for i in reference.items]
    assert bare_store.returned and all(h.record.vector is None for h in bare_store.returned)
    assert plain.backend.search("episodic", "Caroline", 3, mode="dense")[0][0].vector is not None

