"""Which SQLite library a benchmark runs on: the interpreter's own `sqlite3` (the default), or with
`CW_BENCH_SQLITE=pysqlite3` the newer SQLite that PyPI's pysqlite3-binary bundles (extra `bench`).

The choice is made when this module is imported, before anything imports `sqlite3`: pysqlite3's module then stands
in for it in the whole process, so the process runs on one copy of SQLite. Two copies on one file in one process
release each other's POSIX locks (sqlite.org/howtocorrupt.html, "multiple copies of SQLite"), which is why the
library itself does not offer this: it is a measure of what a newer SQLite would give, for benchmarks only.
"""

from __future__ import annotations

import os
import sys


def _choose() -> str:
    wanted = os.environ.get("CW_BENCH_SQLITE", "")
    if wanted == "pysqlite3":
        if "sqlite3" in sys.modules:
            raise SystemExit("CW_BENCH_SQLITE=pysqlite3: sqlite3 was imported before the choice could be made")
        try:
            import pysqlite3.dbapi2 as newer  # type: ignore[import-not-found]
        except ImportError:
            raise SystemExit("CW_BENCH_SQLITE=pysqlite3 needs pysqlite3-binary: pip install -e '.[bench]'") from None
        sys.modules["sqlite3"] = newer
    elif wanted:
        raise SystemExit(f"CW_BENCH_SQLITE must be unset or 'pysqlite3', got {wanted!r}")
    import sqlite3

    return f"SQLite {sqlite3.sqlite_version}" + (" (pysqlite3-binary)" if wanted else "")


#: The SQLite the process runs on, as the benchmarks print it.
SQLITE = _choose()
