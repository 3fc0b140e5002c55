"""Opening observe's SQLite files: WAL, NORMAL sync, one connection shared by threads under the caller's lock."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from contextwise._paths import data_dir

from contextwise.errors import StoreError


def connect(path: str | os.PathLike[str], schema: str, *, backend: str) -> sqlite3.Connection:
    """A connection to `path` (":memory:" allowed) with `schema` applied; StoreError when it cannot open."""
    try:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(schema)
    except (sqlite3.Error, OSError) as exc:
        raise StoreError(f"cannot open {path!s}: {exc}", backend=backend) from exc
    return db


def user_data_dir() -> Path:
    """Where contextwise keeps per-user data (`contextwise._paths.data_dir`)."""
    return data_dir()
