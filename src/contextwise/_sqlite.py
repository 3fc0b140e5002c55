"""The one way contextwise opens an SQLite file: WAL, a busy timeout, and one durability rule for all.

Stores of record (the vector store, conversation history) use `synchronous = FULL`: in WAL mode that makes a
committed transaction survive a power cut, not only a killed process. Caches, whose loss costs only a
recomputation, pass `durable=False` (`NORMAL`: a power cut may drop the last commits, never corrupt the file).
"""

from __future__ import annotations

import sqlite3
from os import PathLike


def connect(path: str | PathLike[str], *, timeout_s: float = 30.0, durable: bool = True,
            autocommit: bool = True) -> sqlite3.Connection:
    """A connection to `path` usable from any thread (the caller serialises its use).

    Args:
        path: the file, or ":memory:".
        timeout_s: how long a write waits for another writer's lock before failing.
        durable: FULL (True) or NORMAL (False) synchronous mode; see the module docstring.
        autocommit: True leaves transactions to the caller (explicit BEGIN/COMMIT); False keeps Python's
            implicit transactions (`with conn:` commits).

    Raises:
        sqlite3.Error: the file cannot be opened; callers translate it to StoreError with their own name.
    """
    conn = sqlite3.connect(str(path), timeout=timeout_s, check_same_thread=False,
                           isolation_level=None if autocommit else "DEFERRED")
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {'FULL' if durable else 'NORMAL'}")
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
    except BaseException:
        conn.close()
        raise
    return conn
