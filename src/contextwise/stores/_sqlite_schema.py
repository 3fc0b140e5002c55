"""The SQLite store's versioned schema and its migrations; opening an older file migrates it in one transaction.

History:
  v0  `records(tenant, id, text, vector, metadata)`, no version table (the first layout).
  v1  adds `schema_version` and `records.created_at`.
  v2  adds `store_info` (the vector dimensions, checked on open), `tenant_state` (a write counter per tenant)
      and `records.seq` (the counter value of the write that last touched the row, indexed by tenant): a
      process holding a cached matrix at counter c reads only the rows with seq > c to bring it up to date.
  v3  adds `records.part` (the partition inside a tenant, '' by default; memory tiers are partitions), an index
      on (tenant, part, seq), and `records_fts`, an FTS5 index of every record's text kept by triggers in the
      same transaction as the record. Its `scope` column holds two tokens per row, `t<hex(tenant)>` and
      `t<hex(tenant)>p<hex(part)>`, so a lexical search is scoped by an FTS5 AND, not by a scan.
  v4  adds `records.version` (1 on insert, +1 on every rewrite of the row): compare-and-set on a record's
      version sees a change of its metadata alone (a superseded fact), which a comparison of texts cannot.
      Existing rows start at 1.
  v5  adds `lexical_tables`: a partition that holds at least the store's `lexical_table_min_records` records gets
      an FTS5 table of its own (`lexical_<hash>`, text only, contentless), so bm25() there uses the partition's own
      statistics (row count, mean length, document frequencies), not the file's. Its rows leave `records_fts`, and
      triggers of its own, with the tenant and partition written into them, keep it in the record's transaction
      (so every writer keeps it, whatever process or tool). The triggers of `records_fts` skip the partitions
      listed here. Smaller partitions stay in `records_fts`: an FTS5 table costs ~17 KB, and every connection
      parses every table's schema, superlinearly in FTS5's case (1,000 tables: 61 ms to open the file; 4,000:
      1.0 s, where 16,000 plain tables take 68 ms; `benchmarks/bench_stores.py --fts-tables`), and again after
      each schema change by another connection. One per partition would make a file of 1,000 tenants (six tiers
      each) slow to open; only partitions large enough to need their own statistics get one.
  v6  rebuilds `records_fts` and every partition's own FTS5 table with `columnsize=0` (TEXT_INDEX), and their
      triggers: FTS5 keeps no per-row token counts, so bm25() reads no row's length (half of its cost per row)
      and ranks without length normalisation (see stores/_sqlite_text.py). Every row also gets LENGTH_PAD, a
      token repeated in a column of weight 0 (own tables gain a `pad` column; `records_fts` holds it in `scope`),
      which keeps bm25()'s tf saturation positive however short the texts are. Names stay as they were.

Keys of `store_info` are not versioned: a key a file lacks means "not recorded", so adding one needs no migration.
  dimensions  the vector size (since v2), checked on open.
  embedder    the name of the embedder that made the vectors, written by the first write of a store bound to one
              (`SQLiteStore.bind_embedder`); a file without it holds no vectors yet, or was written before names
              were recorded (it adopts the first name bound). The rule: `_core.EmbedderBinding`.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable

from contextwise.errors import StoreError
from contextwise.stores._errors import DimensionMismatchError

SCHEMA_VERSION = 6
#: How every FTS5 table of the store indexes text since v6: contentless (the text lives once, in `records`; the
#: triggers hand FTS5 the old values to delete), no per-row sizes (bm25() without length normalisation).
TEXT_INDEX = "content='', columnsize=0, tokenize='unicode61'"
#: What every row of an FTS5 table holds beside its text since v6, in a column searches never name: 8 tokens, so
#: the table's mean tokens per row, which sets bm25()'s tf saturation on such a table, is above 6 (see
#: stores/_sqlite_text.py).
LENGTH_PAD = " ".join(["cwpad"] * 8)


def _create_v0(conn: sqlite3.Connection, dimensions: int) -> None:
    conn.execute("CREATE TABLE records (tenant TEXT NOT NULL, id TEXT NOT NULL, text TEXT NOT NULL, vector BLOB, "
                 "metadata TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (tenant, id))")


def _v0_to_v1(conn: sqlite3.Connection, dimensions: int) -> None:
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.execute("ALTER TABLE records ADD COLUMN created_at REAL NOT NULL DEFAULT 0")


def _v1_to_v2(conn: sqlite3.Connection, dimensions: int) -> None:
    stored = conn.execute("SELECT length(vector) / 4 FROM records WHERE vector IS NOT NULL LIMIT 1").fetchone()
    conn.execute("CREATE TABLE store_info (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO store_info (key, value) VALUES ('dimensions', ?)",
                 (str(stored[0] if stored else dimensions),))
    conn.execute("CREATE TABLE tenant_state (tenant TEXT PRIMARY KEY, version INTEGER NOT NULL)")
    conn.execute("INSERT INTO tenant_state (tenant, version) SELECT DISTINCT tenant, 1 FROM records")
    conn.execute("ALTER TABLE records ADD COLUMN seq INTEGER NOT NULL DEFAULT 1")
    conn.execute("CREATE INDEX records_tenant_seq ON records (tenant, seq)")


def _scope(row: str) -> str:
    return f"'t' || hex({row}.tenant) || ' t' || hex({row}.tenant) || 'p' || hex({row}.part)"


def _v2_to_v3(conn: sqlite3.Connection, dimensions: int) -> None:
    conn.execute("ALTER TABLE records ADD COLUMN part TEXT NOT NULL DEFAULT ''")
    conn.execute("CREATE INDEX records_tenant_part_seq ON records (tenant, part, seq)")
    # Contentless: the text lives once, in `records`; the triggers hand FTS5 the old values to delete.
    conn.execute("CREATE VIRTUAL TABLE records_fts USING fts5(text, scope, content='', tokenize='unicode61')")
    insert = f"INSERT INTO records_fts (rowid, text, scope) VALUES (new.rowid, new.text, {_scope('new')});"
    remove = (f"INSERT INTO records_fts (records_fts, rowid, text, scope) "
              f"VALUES ('delete', old.rowid, old.text, {_scope('old')});")
    _triggers(conn, "records_fts", insert, remove)
    conn.execute(f"INSERT INTO records_fts (rowid, text, scope) SELECT rowid, text, {_scope('records')} "
                 "FROM records")


def _v3_to_v4(conn: sqlite3.Connection, dimensions: int) -> None:
    conn.execute("ALTER TABLE records ADD COLUMN version INTEGER NOT NULL DEFAULT 1")


def _v4_to_v5(conn: sqlite3.Connection, dimensions: int) -> None:
    conn.execute("CREATE TABLE lexical_tables (tenant TEXT NOT NULL, part TEXT NOT NULL, name TEXT NOT NULL UNIQUE, "
                 "PRIMARY KEY (tenant, part))")
    for trigger in ("insert", "delete", "update"):
        conn.execute(f"DROP TRIGGER records_fts_{trigger}")
    _shared_triggers(conn, _scope)


#: Whether a row of `records` is in `records_fts` (its partition has no table of its own), for row `{0}`.
_SHARED = "NOT EXISTS (SELECT 1 FROM lexical_tables l WHERE l.tenant = {0}.tenant AND l.part = {0}.part)"


def _shared_triggers(conn: sqlite3.Connection, scope: Callable[[str], str]) -> None:
    """The triggers of `records_fts` since v5: they skip the partitions with tables of their own."""
    insert = (f"INSERT INTO records_fts (rowid, text, scope) SELECT new.rowid, new.text, {scope('new')} "
              f"WHERE {_SHARED.format('new')};")
    remove = (f"INSERT INTO records_fts (records_fts, rowid, text, scope) "
              f"SELECT 'delete', old.rowid, old.text, {scope('old')} WHERE {_SHARED.format('old')};")
    _triggers(conn, "records_fts", insert, remove)


def lexical_table(conn: sqlite3.Connection, tenant: str, part: str) -> str | None:
    """The name of the partition's own FTS5 table, or None while it is in `records_fts`."""
    row = conn.execute("SELECT name FROM lexical_tables WHERE tenant = ? AND part = ?", (tenant, part)).fetchone()
    return None if row is None else str(row[0])


def give_lexical_table(conn: sqlite3.Connection, tenant: str, part: str) -> str:
    """Move the partition's rows from `records_fts` to an FTS5 table of its own, with the triggers that keep it
    (in the caller's write transaction); returns its name."""
    name = "lexical_" + hashlib.sha1(f"{tenant}\x00{part}".encode()).hexdigest()[:16]
    _own_table(conn, tenant, part, name)
    conn.execute(f"INSERT INTO records_fts (records_fts, rowid, text, scope) SELECT 'delete', rowid, text, "
                 f"{_shared_scope('records')} FROM records WHERE tenant = ? AND part = ?", (tenant, part))
    conn.execute("INSERT INTO lexical_tables (tenant, part, name) VALUES (?, ?, ?)", (tenant, part, name))
    return name


def _triggers(conn: sqlite3.Connection, name: str, insert: str, remove: str, *, new: str = "", old: str = "",
              either: str = "") -> None:
    """The three triggers that keep the FTS5 table `name` in the record's transaction (`new` / `old` / `either`:
    their WHEN clauses)."""
    conn.execute(f"CREATE TRIGGER {name}_insert AFTER INSERT ON records{new} BEGIN {insert} END")
    conn.execute(f"CREATE TRIGGER {name}_delete AFTER DELETE ON records{old} BEGIN {remove} END")
    conn.execute(f"CREATE TRIGGER {name}_update AFTER UPDATE OF text, tenant, part ON records{either} "
                 f"BEGIN {remove} {insert} END")


def _v5_to_v6(conn: sqlite3.Connection, dimensions: int) -> None:
    """Every FTS5 table and its triggers made anew as v6 has them, under the same names, from `records`."""
    owned = conn.execute("SELECT tenant, part, name FROM lexical_tables").fetchall()
    for name in ["records_fts", *(n for _, _, n in owned)]:
        for trigger in ("insert", "delete", "update"):
            conn.execute(f"DROP TRIGGER {name}_{trigger}")
        conn.execute(f"DROP TABLE {name}")
    conn.execute(f"CREATE VIRTUAL TABLE records_fts USING fts5(text, scope, {TEXT_INDEX})")
    _shared_triggers(conn, _shared_scope)
    conn.execute(f"INSERT INTO records_fts (rowid, text, scope) SELECT rowid, text, {_shared_scope('records')} "
                 f"FROM records WHERE {_SHARED.format('records')}")
    for tenant, part, name in owned:
        _own_table(conn, tenant, part, name)


def _shared_scope(row: str) -> str:
    """The `scope` of a row of `records_fts` since v6: its two scope tokens, then LENGTH_PAD."""
    return f"{_scope(row)} || ' {LENGTH_PAD}'"


def _own_table(conn: sqlite3.Connection, tenant: str, part: str, name: str) -> None:
    """The partition's own FTS5 table `name`, filled from `records`, and the triggers that keep it."""
    conn.execute(f"CREATE VIRTUAL TABLE {name} USING fts5(text, pad, {TEXT_INDEX})")
    conn.execute(f"INSERT INTO {name} (rowid, text, pad) SELECT rowid, text, '{LENGTH_PAD}' FROM records "
                 "WHERE tenant = ? AND part = ?", (tenant, part))
    mine = "{0}.tenant = " + _literal(tenant) + " AND {0}.part = " + _literal(part)
    insert = (f"INSERT INTO {name} (rowid, text, pad) SELECT new.rowid, new.text, '{LENGTH_PAD}' "
              f"WHERE {mine.format('new')};")
    remove = (f"INSERT INTO {name} ({name}, rowid, text, pad) SELECT 'delete', old.rowid, old.text, '{LENGTH_PAD}' "
              f"WHERE {mine.format('old')};")
    _triggers(conn, name, insert, remove, new=f" WHEN {mine.format('new')}", old=f" WHEN {mine.format('old')}",
              either=f" WHEN ({mine.format('old')}) OR ({mine.format('new')})")


def drop_lexical_tables(conn: sqlite3.Connection, tenant: str, delete_records: Callable[[], int]) -> int:
    """Delete the tenant's records (by `delete_records`, which returns how many) and its own FTS5 tables, in the
    caller's write transaction; their triggers go first, so no row is removed from them one by one."""
    names = [row[0] for row in conn.execute("SELECT name FROM lexical_tables WHERE tenant = ?", (tenant,))]
    for name in names:
        for trigger in ("insert", "delete", "update"):
            conn.execute(f"DROP TRIGGER {name}_{trigger}")
    removed = delete_records()  # the rows of listed partitions are skipped by records_fts's triggers
    for name in names:
        conn.execute(f"DROP TABLE {name}")
    conn.execute("DELETE FROM lexical_tables WHERE tenant = ?", (tenant,))
    return removed


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# MIGRATIONS[v] takes a database at version v - 1 (-1: empty) to version v.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection, int], None]] = {
    0: _create_v0, 1: _v0_to_v1, 2: _v1_to_v2, 3: _v2_to_v3, 4: _v3_to_v4, 5: _v4_to_v5, 6: _v5_to_v6}


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version of the open database: -1 when empty, 0 for the unversioned first layout."""
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "schema_version" in tables:
        return int(conn.execute("SELECT max(version) FROM schema_version").fetchone()[0])
    return 0 if "records" in tables else -1


def migrate(conn: sqlite3.Connection, dimensions: int) -> int:
    """Bring the database to SCHEMA_VERSION in one write transaction and check its dimensions; returns the
    version it was found at."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = current_version(conn)
        if found > SCHEMA_VERSION:
            raise StoreError(f"this file has schema v{found}, newer than this contextwise (v{SCHEMA_VERSION}); "
                             "upgrade contextwise", backend="sqlite")
        for version in range(found + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[version](conn, dimensions)
        if found < SCHEMA_VERSION:
            conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))
        _check_dimensions(conn, dimensions)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found


def _check_dimensions(conn: sqlite3.Connection, dimensions: int) -> None:
    stored = int(conn.execute("SELECT value FROM store_info WHERE key = 'dimensions'").fetchone()[0])
    if stored != dimensions:
        raise DimensionMismatchError(f"this file holds {stored}-d vectors; open it with dimensions={stored}")
