"""Lexical search on a connection of its own: on an SQLite file and on PostgreSQL, `search_text` neither waits
for the store's lock nor blocks it (so a hybrid recall's two searches run at once); an in-memory SQLite database
has one connection and says so. Closing the store closes both."""

from __future__ import annotations

import threading

import pytest

from contextwise.errors import StoreError
from contextwise.stores import InMemoryStore, SQLiteStore
from contextwise.testing import HashEmbedder
from contextwise.types import Record

TEXTS = ["Caroline went to the LGBTQ support group on Tuesday.", "Melanie painted a sunrise over the lake.",
         "Caroline is researching adoption agencies.", "Melanie ran a charity race for mental health.",
         "Caroline gave a talk at the school about her journey.", "Melanie's kids love the beach in summer."]


def records() -> list[Record]:
    vectors = HashEmbedder(8).embed(TEXTS)
    return [Record(f"r{i}", t, tuple(float(x) for x in v)) for i, (t, v) in enumerate(zip(TEXTS, vectors))]


def _store(backend: str, request: pytest.FixtureRequest, tmp_path):
    if backend == "sqlite":
        return SQLiteStore(tmp_path / "m.db", 8)
    from contextwise.stores import PostgresStore

    return PostgresStore(request.getfixturevalue("pg_dsn"), 8, request.getfixturevalue("pg_table"))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_search_text_runs_while_another_thread_holds_the_store_lock(backend, request, tmp_path):
    store = _store(backend, request, tmp_path)
    store.upsert(records(), tenant="t")
    assert store.parallel_reads
    holding, release, found, failed = threading.Event(), threading.Event(), [], []

    def holder() -> None:  # another thread's call holds the store's lock until released
        with store._lock:
            holding.set()
            release.wait(10)

    def search() -> None:
        try:
            found.extend(store.search_text("Melanie beach", 3, tenant="t"))
        except Exception as exc:  # reported below, on the test's thread
            failed.append(exc)

    thread = threading.Thread(target=holder)
    thread.start()
    assert holding.wait(10)
    searcher = threading.Thread(target=search)
    searcher.start()
    searcher.join(10)
    finished_under_the_lock = not searcher.is_alive()
    release.set()
    thread.join(10)
    searcher.join(10)
    assert not failed
    assert finished_under_the_lock, "search_text waited for the store's lock"
    assert found[0].record.id == "r5"
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.search_text("Melanie", 3, tenant="t")


def test_search_text_on_sqlite_sees_a_write_committed_just_before_on_the_other_connection(tmp_path):
    with SQLiteStore(tmp_path / "m.db", 8) as store:
        store.upsert(records(), tenant="t")
        assert [h.record.id for h in store.search_text("sunrise", 3, tenant="t")] == ["r1"]
        store.upsert([Record("r1", "Melanie painted a storm.", records()[1].vector)], tenant="t")
        store.upsert([Record("r9", "A sunrise hike with Caroline.", records()[0].vector)], tenant="t")
        assert [h.record.id for h in store.search_text("sunrise", 3, tenant="t")] == ["r9"]
        store.delete(["r9"], tenant="t")
        assert store.search_text("sunrise", 3, tenant="t") == []


def test_in_memory_databases_search_text_on_their_one_connection():
    with SQLiteStore(":memory:", 8) as store:
        store.upsert(records(), tenant="t")
        assert not store.parallel_reads
        assert [h.record.id for h in store.search_text("Caroline adoption", 2, tenant="t")][0] == "r2"
    assert not getattr(InMemoryStore(8), "parallel_reads", False)
