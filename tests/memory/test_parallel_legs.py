"""Hybrid recall runs its two searches at once where the store allows it (`parallel_reads`: its text search has a
connection of its own, tests/stores/test_parallel_reads.py): the lexical leg runs on a worker thread while the
dense one runs on the caller's. Results are those of the two searches one after the other; an error of either
is raised to the caller."""

from __future__ import annotations

import threading

import pytest

from contextwise.errors import StoreError, UsageError
from contextwise.memory import EpisodicMemory, MemoryBackend
from contextwise.stores import SQLiteStore
from contextwise.testing import HashEmbedder

TEXTS = ["Caroline went to the LGBTQ support group on Tuesday.", "Melanie painted a sunrise over the lake.",
         "Caroline is researching adoption agencies.", "Melanie ran a charity race for mental health.",
         "Caroline gave a talk at the school about her journey.", "Melanie's kids love the beach in summer."]


class Sequential(SQLiteStore):
    """The same file searched one leg after the other (the reference for the parallel results)."""

    parallel_reads = False


def _memories(tmp_path):
    path = tmp_path / "m.db"
    first = EpisodicMemory(MemoryBackend(SQLiteStore(path, 384), HashEmbedder(384), tenant="t", clock=lambda: 1e9))
    first.record_many([f"{t} (session {i})" for i, t in enumerate(TEXTS * 5)], importance=0.5)
    second = EpisodicMemory(MemoryBackend(Sequential(path, 384), HashEmbedder(384), tenant="t", clock=lambda: 1e9))
    return first, second


def test_hybrid_recall_in_parallel_equals_the_searches_one_after_the_other(tmp_path):
    parallel, sequential = _memories(tmp_path)
    assert parallel.backend.parallel_reads and not sequential.backend.parallel_reads
    for question in ["What did Caroline research?", "Where do Melanie's kids like to go?", "charity race",
                     "When did Caroline give a talk?"]:
        for mode in ("hybrid", "dense", "lexical"):
            ours, reference = parallel.recall(question, 5, mode=mode), sequential.recall(question, 5, mode=mode)
            assert [(i.id, round(i.score, 9)) for i in ours.items] == \
                [(i.id, round(i.score, 9)) for i in reference.items]
        hits = parallel.backend.search("episodic", question, 5)
        assert [r.id for r, _ in hits] == [r.id for r, _ in sequential.backend.search("episodic", question, 5)]


class Rendezvous(SQLiteStore):
    """Each leg waits for the other to start: a recall finishes only if its two searches run at once."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.dense_started, self.text_started, self.threads = threading.Event(), threading.Event(), set()
        self.fail: str | None = None

    def query(self, *args, **kwargs):
        self.dense_started.set()
        self.threads.add(("dense", threading.get_ident()))
        if not self.text_started.wait(10):
            raise TimeoutError("the lexical search never started beside the dense one")
        if self.fail == "dense":
            raise StoreError("dense search failed", backend=self.name)
        return super().query(*args, **kwargs)

    def search_text(self, *args, **kwargs):
        self.text_started.set()
        self.threads.add(("text", threading.get_ident()))
        if not self.dense_started.wait(10):
            raise TimeoutError("the dense search never started beside the lexical one")
        if self.fail == "text":
            raise StoreError("lexical search failed", backend=self.name)
        return super().search_text(*args, **kwargs)


def test_hybrid_recall_runs_the_lexical_search_beside_the_dense_one(tmp_path):
    store = Rendezvous(tmp_path / "m.db", 384)
    memory = EpisodicMemory(MemoryBackend(store, HashEmbedder(384), tenant="t"))
    memory.record_many(TEXTS, importance=0.5)
    got = memory.recall("What did Caroline research?", 3)
    assert got.items[0].id and {leg for leg, _ in store.threads} == {"dense", "text"}
    assert len({ident for _, ident in store.threads}) == 2
    assert ("dense", threading.get_ident()) in store.threads  # the dense leg (and the embedding) stay here


@pytest.mark.parametrize("leg", ["dense", "text"])
def test_an_error_of_either_search_reaches_the_caller(tmp_path, leg):
    store = Rendezvous(tmp_path / "m.db", 384)
    memory = EpisodicMemory(MemoryBackend(store, HashEmbedder(384), tenant="t"))
    memory.record_many(TEXTS, importance=0.5)
    store.fail = leg
    with pytest.raises(StoreError, match="lexical search failed" if leg == "text" else "dense search failed"):
        memory.recall("Caroline", 3)
    store.fail = None
    assert memory.recall("Caroline", 3).items  # the pool is unharmed


class Threads(SQLiteStore):
    """Records the thread each search ran on."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.threads: set[tuple[str, int]] = set()

    def query(self, *args, **kwargs):
        self.threads.add(("dense", threading.get_ident()))
        return super().query(*args, **kwargs)

    def search_text(self, *args, **kwargs):
        self.threads.add(("text", threading.get_ident()))
        return super().search_text(*args, **kwargs)


def test_a_recall_finding_every_worker_busy_runs_its_searches_one_after_the_other(tmp_path):
    from contextwise.memory import _base

    store = Threads(tmp_path / "m.db", 384)
    memory = EpisodicMemory(MemoryBackend(store, HashEmbedder(384), tenant="t", clock=lambda: 1e9))
    memory.record_many(TEXTS, importance=0.5)
    expected = [i.id for i in memory.recall("Caroline adoption", 3).items]
    assert len({ident for _, ident in store.threads}) == 2
    taken = 0
    while _base._SPARE_WORKERS.acquire(blocking=False):
        taken += 1
    try:
        store.threads.clear()
        assert [i.id for i in memory.recall("Caroline adoption", 3).items] == expected
        assert store.threads == {("dense", threading.get_ident()), ("text", threading.get_ident())}
    finally:
        for _ in range(taken):
            _base._SPARE_WORKERS.release()


class Tuned(SQLiteStore):
    """Records the ef_search each dense search was given."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[int | None] = []

    def query(self, *args, ef_search=None, **kwargs):
        self.asked.append(ef_search)
        return super().query(*args, ef_search=ef_search, **kwargs)


def test_the_dense_search_beside_the_lexical_one_searches_wider(tmp_path):
    from contextwise.memory._base import HYBRID_EF_SEARCH

    store = Tuned(tmp_path / "m.db", 384)
    memory = EpisodicMemory(MemoryBackend(store, HashEmbedder(384), tenant="t"))
    memory.record_many(TEXTS, importance=0.5)
    memory.recall("Caroline adoption", 3)
    memory.recall("Caroline adoption", 3, mode="dense")
    assert store.asked == [HYBRID_EF_SEARCH, None]  # dense alone keeps the store's own
    narrow = EpisodicMemory(MemoryBackend(store, HashEmbedder(384), tenant="t", hybrid_ef_search=None))
    store.asked.clear()
    narrow.recall("Caroline adoption", 3)
    assert store.asked == [None]
    with pytest.raises(UsageError, match="ef_search"):
        MemoryBackend(store, HashEmbedder(384), tenant="t", hybrid_ef_search=0)


def test_a_store_whose_query_takes_no_ef_search_is_queried_without_one(tmp_path):
    class Plain(SQLiteStore):
        def query(self, vector, k=10, *, tenant, where=None, partition=""):
            return super().query(vector, k, tenant=tenant, where=where, partition=partition)

    memory = EpisodicMemory(MemoryBackend(Plain(tmp_path / "m.db", 384), HashEmbedder(384), tenant="t"))
    memory.record_many(TEXTS, importance=0.5)
    assert memory.recall("Melanie beach", 2).items[0].text.startswith("Melanie's kids")


def _recall_in_a_child(path: str) -> None:
    memory = EpisodicMemory(MemoryBackend(SQLiteStore(path, 384), HashEmbedder(384), tenant="t"))
    hits = memory.recall("Caroline adoption", 3).items
    raise SystemExit(0 if hits and "adoption" in hits[0].text else 3)


def test_a_forked_child_runs_its_hybrid_recalls_on_workers_of_its_own(tmp_path):
    import multiprocessing

    path = tmp_path / "m.db"
    memory = EpisodicMemory(MemoryBackend(SQLiteStore(path, 384), HashEmbedder(384), tenant="t"))
    memory.record_many(TEXTS, importance=0.5)
    assert memory.recall("Caroline adoption", 3).items  # this process's pool now has an idle worker
    child = multiprocessing.get_context("fork").Process(target=_recall_in_a_child, args=(str(path),))
    child.start()
    child.join(60)
    if child.is_alive():  # queued on a worker that only the parent has
        child.kill()
        child.join()
        pytest.fail("the child's hybrid recall never finished")
    assert child.exitcode == 0
