"""Nothing acknowledged is lost: a writer killed with SIGKILL mid-stream loses no record whose upsert returned."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from contextwise.stores import SQLiteStore

WRITER = Path(__file__).with_name("crash_writer.py")


def _kill_mid_stream(args: list[str], *, after_lines: int = 60) -> list[str]:
    """Start the writer, SIGKILL it after `after_lines` acknowledgements; return every acknowledged id."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, str(WRITER), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    acked: list[str] = []
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            acked.extend(line.split())
            if len(acked) >= 3 * after_lines:
                proc.send_signal(signal.SIGKILL)
                break
        acked.extend(i for line in proc.stdout for i in line.split())  # type: ignore[union-attr]
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()  # type: ignore[union-attr]
    return acked


@pytest.mark.slow
def test_sqlite_keeps_every_acknowledged_record_after_sigkill(tmp_path):
    path = tmp_path / "crash.db"
    acked = _kill_mid_stream(["sqlite", str(path)])
    with SQLiteStore(path, 4) as store:
        found = {r.id for r in store.get(acked, tenant="crash")}
        assert set(acked) <= found
        assert store.count(tenant="crash") >= len(acked)
        assert store.count(tenant="crash") % 3 == 0  # batches are atomic: never a partial batch


@pytest.mark.slow
def test_postgres_keeps_every_acknowledged_record_after_sigkill(pg_dsn, pg_table):
    from contextwise.stores import PostgresStore

    PostgresStore(pg_dsn, 4, pg_table).close()  # create the table before the race
    acked = _kill_mid_stream(["postgres", pg_dsn, pg_table])
    with PostgresStore(pg_dsn, 4, pg_table) as store:
        found = {r.id for r in store.get(acked, tenant="crash")}
        assert set(acked) <= found
        assert store.count(tenant="crash") % 3 == 0
