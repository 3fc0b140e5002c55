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


class Recording(SQLiteStore):
    """Records each search (its leg, thread and ef_search). With `meet`, each leg waits for the other to start, so a
    recall finishes only if its two searches run at once; the leg named by `fail` raises."""

    def __init__(self, *args, meet: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.meet, self.fail = meet, None
        self.calls: list[tuple[str, int, int | None]] = []
        self.started = {"dense": threading.Event(), "text": threading.Event()}

    @property
    def threads(self) -> set[tuple[str, int]]:
        return {(leg, ident) for leg, ident, _ in self.calls}

    def _enter(self, leg: str, ef_search: int | None = None) -> None:
        self.calls.append((leg, threading.get_ident(), ef_search))
        self.started[leg].set()
        other = "text" if leg == "dense" else "dense"
        if self.meet and not self.started[other].wait(10):
            raise TimeoutError(f"the {other} search never started beside the {leg} one")
        if self.fail == leg:
            raise StoreError(f"{leg} search failed", backend=self.name)

    def query(self, *args, ef_search=None, **kwargs):
        self._enter("dense", ef_search)
        return super().query(*args, ef_search=ef_search, **kwargs)

    def search_text(self, *args, **kwargs):
        self._enter("text")
        return super().search_text(*args, **kwargs)


def _recording(tmp_path, **options) -> tuple[Recording, EpisodicMemory]:
    store = Recording(tmp_path / "m.db", 384, **options)
    memory = EpisodicMemory(MemoryBackend(store, HashEmbedder(384), tenant="t", clock=lambda: 1e9))
    memory.record_many(TEXTS, importance=0.5)
    return store, memory


def test_hybrid_recall_runs_the_lexical_search_beside_the_dense_one(tmp_path):
    store, memory = _recording(tmp_path, meet=True)
    got = memory.recall("What did Caroline research?", 3)
    assert got.items[0].id and {leg for leg, _ in store.threads} == {"dense", "text"}
    assert len({ident for _, ident in store.threads}) == 2
    assert ("dense", threading.get_ident()) in store.threads  # the dense leg (and the embedding) stay here


@pytest.mark.parametrize("leg", ["dense", "text"])
def test_an_error_of_either_search_reaches_the_caller(tmp_path, leg):
    store, memory = _recording(tmp_path, meet=True)
    store.fail = leg
    with pytest.raises(StoreError, match=f"{leg} search failed"):
        memory.recall("Caroline", 3)
    store.fail = None
    assert memory.recall("Caroline", 3).items  # the pool is unharmed


def test_a_recall_finding_every_worker_busy_runs_its_searches_one_after_the_other(tmp_path):
    from contextwise.memory import _base

    store, memory = _recording(tmp_path)
    expected = [i.id for i in memory.recall("Caroline adoption", 3).items]
    assert len({ident for _, ident in store.threads}) == 2
    taken = 0
    while _base._SPARE_WORKERS.acquire(blocking=False):
        taken += 1
    try:
        store.calls.clear()
        assert [i.id for i in memory.recall("Caroline adoption", 3).items] == expected
        assert store.threads == {("dense", threading.get_ident()), ("text", threading.get_ident())}
    finally:
        for _ in range(taken):
            _base._SPARE_WORKERS.release()


def test_the_dense_search_beside_the_lexical_one_searches_wider(tmp_path):
    from contextwise.memory._base import HYBRID_EF_SEARCH

    store, memory = _recording(tmp_path)
    memory.recall("Caroline adoption", 3)
    memory.recall("Caroline adoption", 3, mode="dense")
    asked = [ef for leg, _, ef in store.calls if leg == "dense"]
    assert asked == [HYBRID_EF_SEARCH, None]  # dense alone keeps the store's own
    narrow = EpisodicMemory(MemoryBackend(store, HashEmbedder(384), tenant="t", hybrid_ef_search=None))
    store.calls.clear()
    narrow.recall("Caroline adoption", 3)
    assert [ef for leg, _, ef in store.calls if leg == "dense"] == [None]
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
