"""Memory fixtures: the PostgreSQL server of the store tests, for memory over every back-end."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from stores.conftest import drop_pg_tables, pg_dsn, pg_table  # noqa: F401  (fixtures re-exported)

from contextwise.stores import InMemoryStore, SQLiteStore

SRC = str(Path(__file__).resolve().parents[2] / "src")


def open_store(backend: str, target: str) -> object:
    if backend == "sqlite":
        return SQLiteStore(target, 384)
    from contextwise.stores import PostgresStore

    dsn, table = target.split("|")
    return PostgresStore(dsn, 384, table)


def other_process(backend: str, target: str, script: str) -> None:
    """Run `script` in a new Python process with `store` (the same data) and `mem` (alice's memory) open."""
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {SRC!r})
        from contextwise.memory import UnifiedMemory
        from contextwise.testing import HashEmbedder
        from contextwise.stores import SQLiteStore
        backend, target = {backend!r}, {target!r}
        if backend == "sqlite":
            store = SQLiteStore(target, 384)
        else:
            from contextwise.stores import PostgresStore
            dsn, table = target.split("|")
            store = PostgresStore(dsn, 384, table)
        mem = UnifiedMemory(store=store, embedder=HashEmbedder(384), tenant="alice")
    """) + textwrap.dedent(script)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def shared(request, tmp_path):
    """(backend, target, store): a store, and how another process opens the same data (None for memory)."""
    if request.param == "memory":
        yield "memory", None, InMemoryStore(384)
        return
    if request.param == "sqlite":
        target = str(tmp_path / "mem.db")
    else:
        target = f"{request.getfixturevalue('pg_dsn')}|{request.getfixturevalue('pg_table')}"
    store = open_store(request.param, target)
    yield request.param, target, store
    store.close()
