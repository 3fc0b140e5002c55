"""Writes records forever, printing each id once its upsert has returned (the acknowledgement).

Run by test_durability.py, which kills this process with SIGKILL mid-stream: `crash_writer.py sqlite <path>` or
`crash_writer.py postgres <dsn> <table>`.
"""

from __future__ import annotations

import itertools
import sys

from contextwise.stores import ExactSearch, PostgresStore, SQLiteStore
from contextwise.types import Record


def main() -> None:
    backend, target = sys.argv[1], sys.argv[2]
    if backend == "sqlite":
        store = SQLiteStore(target, 4, search=ExactSearch())
    else:
        store = PostgresStore(target, 4, sys.argv[3], search=ExactSearch())
    for n in itertools.count():
        batch = [Record(f"w{n}-{j}", "x" * (n % 50), (1.0, float(n), float(j), 0.5)) for j in range(3)]
        store.upsert(batch, tenant="crash")
        print(" ".join(r.id for r in batch), flush=True)


if __name__ == "__main__":
    main()
