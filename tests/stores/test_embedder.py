"""A store remembers which embedder made its vectors (`bind_embedder`) and refuses another, before it writes or
queries; old stores adopt the first name bound. Every back-end, real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from contextwise.errors import UsageError
from contextwise.stores import EmbedderMismatchError, SQLiteStore
from contextwise.types import Record

SRC = str(Path(__file__).resolve().parents[2] / "src")
INT8, FLOAT32 = "onnx:all-minilm-l6-v2-int8", "onnx:all-minilm-l6-v2-float32"


def _records(vectors, count=3, prefix="r", *, with_vectors=True):
    found = vectors.unit(count, seed=ord(prefix[0]))
    return [Record(f"{prefix}{i}", f"text {i}", tuple(found[i]) if with_vectors else None) for i in range(count)]


def _rows(store):
    return [(r.id, r.text, r.vector, r.version) for r in store.scan(tenant="t")]


def _sql_only(make_store):
    if make_store.backend == "memory":
        pytest.skip("an in-memory store cannot be reopened")


def test_a_store_reopened_with_the_same_embedder_works(make_store, vectors):
    store = make_store()
    store.bind_embedder(INT8)
    store.upsert(_records(vectors), tenant="t")
    again = make_store()
    again.bind_embedder(INT8)
    again.upsert(_records(vectors, prefix="s"), tenant="t")
    assert again.embedder_name == INT8
    assert again.count(tenant="t") == 6
    assert again.query(vectors.unit(3, seed=ord("r"))[0], 1, tenant="t")[0].record.id == "r0"


def test_another_embedder_is_refused_before_anything_changes(make_store, vectors):
    store = make_store()
    store.bind_embedder(INT8)
    store.upsert(_records(vectors), tenant="t")
    before = _rows(store)
    other = make_store()
    with pytest.raises(EmbedderMismatchError) as refused:
        other.bind_embedder(FLOAT32)
    message = str(refused.value)
    assert INT8 in message and FLOAT32 in message and "re-embed" in message
    assert (refused.value.recorded, refused.value.wanted) == (INT8, FLOAT32)
    assert isinstance(refused.value, UsageError)
    assert _rows(store) == before
    if make_store.backend != "memory":  # a refused bind leaves the store object unbound
        assert other.embedder_name is None


def test_a_writer_bound_before_another_one_wrote_fails_at_its_write(make_store, vectors):
    _sql_only(make_store)
    first, second = make_store(), make_store()
    first.bind_embedder(INT8)
    second.bind_embedder("hash-8")  # the store is empty: nothing is recorded, so both binds succeed
    first.upsert(_records(vectors), tenant="t")
    before = _rows(first)
    with pytest.raises(EmbedderMismatchError, match="hash-8"):
        second.upsert(_records(vectors, prefix="s"), tenant="t")
    with pytest.raises(EmbedderMismatchError):
        second.upsert(_records(vectors, prefix="s", with_vectors=False), tenant="t")
    with pytest.raises(EmbedderMismatchError):
        second.query(vectors.unit(1)[0], 3, tenant="t")
    assert _rows(first) == before
    first.upsert(_records(vectors, prefix="u"), tenant="t")  # the recorded writer goes on
    assert first.count(tenant="t") == 6


def test_a_store_without_vectors_records_nothing_until_written(make_store, vectors):
    _sql_only(make_store)
    store = make_store()
    store.bind_embedder(INT8)
    store.upsert(_records(vectors, with_vectors=False), tenant="t")
    other = make_store()
    other.bind_embedder(FLOAT32)  # text-only records carry no vectors to disagree with
    other.upsert(_records(vectors, prefix="s"), tenant="t")
    with pytest.raises(EmbedderMismatchError, match=FLOAT32):
        store.upsert(_records(vectors, prefix="u"), tenant="t")


def test_an_old_store_with_vectors_adopts_the_first_name_and_warns_once(make_store, vectors, caplog):
    old = make_store()
    old.upsert(_records(vectors), tenant="t")  # an unbound writer: what every store written before looks like
    with caplog.at_level(logging.WARNING, logger="contextwise.stores"):
        store = make_store()
        store.bind_embedder(FLOAT32)
        if make_store.backend != "memory":
            make_store().bind_embedder(FLOAT32)  # recorded now: no second warning
    adopted = [r for r in caplog.records if FLOAT32 in r.getMessage()]
    assert len(adopted) == 1 and adopted[0].levelno == logging.WARNING
    assert "re-embed" in adopted[0].getMessage()
    if make_store.backend != "memory":
        with pytest.raises(EmbedderMismatchError, match=FLOAT32):
            make_store().bind_embedder(INT8)


def test_a_bad_name_is_a_usage_error(make_store):
    store = make_store()
    for bad in ("", "  ", 3, None, "x" * 300, "a\x00b"):
        with pytest.raises(UsageError):
            store.bind_embedder(bad)
    store.bind_embedder(INT8)
    with pytest.raises(EmbedderMismatchError, match="bound"):  # one store object serves one embedder
        store.bind_embedder(FLOAT32)
    store.bind_embedder(INT8)


def test_a_first_write_that_fails_half_way_records_no_name(make_store, vectors):
    from contextwise.stores import WriteConflictError

    _sql_only(make_store)
    store = make_store()
    store.bind_embedder(INT8)
    with pytest.raises(WriteConflictError):  # fails inside the transaction, after the name was inserted
        store.upsert_partitions({"": _records(vectors)}, tenant="t", expect={"absent": 1})
    assert store.count(tenant="t") == 0
    other = make_store()
    other.bind_embedder(FLOAT32)
    other.upsert(_records(vectors), tenant="t")
    with pytest.raises(EmbedderMismatchError):  # the failed write did not settle the first store either
        store.upsert(_records(vectors, prefix="s"), tenant="t")


def test_the_sqlite_name_sits_in_store_info_beside_the_dimensions(tmp_path, vectors):
    path = tmp_path / "s.db"
    with SQLiteStore(path, 8) as store:
        store.bind_embedder(INT8)
        store.upsert(_records(vectors), tenant="t")
    conn = sqlite3.connect(path)
    info = dict(conn.execute("SELECT key, value FROM store_info"))
    conn.close()
    assert info == {"dimensions": "8", "embedder": INT8}


def test_a_v0_file_adopts_the_name_on_its_first_bind(tmp_path, caplog):
    path = tmp_path / "v0.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE records (tenant TEXT NOT NULL, id TEXT NOT NULL, text TEXT NOT NULL, vector BLOB, "
                 "metadata TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (tenant, id))")
    conn.execute("INSERT INTO records (tenant, id, text, vector) VALUES ('t', 'a', 'x', ?)",
                 (np.ones(4, dtype=np.float32).tobytes(),))
    conn.commit()
    conn.close()
    with caplog.at_level(logging.WARNING, logger="contextwise.stores"), SQLiteStore(path, 4) as store:
        store.bind_embedder(FLOAT32)
        assert store.query((1.0, 1.0, 1.0, 1.0), 1, tenant="t")[0].record.id == "a"
    assert FLOAT32 in caplog.text and str(path) in caplog.text
    with SQLiteStore(path, 4) as again, pytest.raises(EmbedderMismatchError):
        again.bind_embedder(INT8)


def _other_process(script: str) -> None:
    subprocess.run([sys.executable, "-c", f"import sys\nsys.path.insert(0, {SRC!r})\n" + script],
                   check=True, timeout=120)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_name_bound_in_another_process_makes_this_writer_fail(backend, tmp_path, request, vectors):
    if backend == "sqlite":
        path = str(tmp_path / "s.db")
        store = SQLiteStore(path, 8)
        opener = f"from contextwise.stores import SQLiteStore\nstore = SQLiteStore({path!r}, 8)"
    else:
        from contextwise.stores import PostgresStore

        dsn, table = request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_table")
        store = PostgresStore(dsn, 8, table)
        opener = f"from contextwise.stores import PostgresStore\nstore = PostgresStore({dsn!r}, 8, {table!r})"
    store.bind_embedder(INT8)
    _other_process(opener + textwrap.dedent("""
        from contextwise.types import Record
        store.bind_embedder("openai:text-embedding-3-small")
        store.upsert([Record("theirs", "their vector", (1.0,) * 8)], tenant="t")
    """))
    with pytest.raises(EmbedderMismatchError, match="text-embedding-3-small"):
        store.upsert(_records(vectors), tenant="t")
    assert [r.id for r in store.scan(tenant="t")] == ["theirs"]
    store.close()


def test_the_async_postgres_store_checks_as_the_sync_one(pg_dsn, pg_table, vectors):
    from contextwise.stores import AsyncPostgresStore, PostgresStore

    with PostgresStore(pg_dsn, 8, pg_table) as sync:
        sync.bind_embedder(INT8)
        sync.upsert(_records(vectors), tenant="t")

    async def run():
        async with AsyncPostgresStore(pg_dsn, 8, pg_table) as same:
            await same.bind_embedder(INT8)
            found = await same.query(vectors.unit(3, seed=ord("r"))[0], 1, tenant="t")
        other = AsyncPostgresStore(pg_dsn, 8, pg_table)
        try:
            with pytest.raises(EmbedderMismatchError, match=FLOAT32):
                await other.bind_embedder(FLOAT32)
            return found, await other.count(tenant="t")
        finally:
            await other.close()

    found, count = asyncio.run(run())
    assert found[0].record.id == "r0" and count == 3
