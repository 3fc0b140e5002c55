"""SQLiteStore: the embedded default. One file in WAL mode, float32 vector blobs, exact search in numpy over a
per-tenant matrix cache, and an HNSW index (hnswlib) for whole-tenant queries on large tenants.

Why this plan: this Python cannot load SQLite extensions, so search happens in numpy. Each process caches a
tenant's unit-vector matrix tagged with the tenant's write counter (`tenant_state.version`, bumped in the same
transaction as every write). When the counter has moved, by this process or another, the cache is patched
from the rows written since (`records.seq`) and the row ids still present, so a query never answers from
stale vectors and a write never forces a full reload. The HNSW index is patched the same way, and saved
beside the file (`<path>.hnsw/`) so a new process loads it instead of rebuilding it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import sqlite3
import threading
import time
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

from contextwise.errors import StoreError, UsageError
from contextwise.protocols import Where
from contextwise.stores import _core
from contextwise.stores._filter import parse_where, to_sqlite
from contextwise.stores._hnsw import CHECKING, HnswIndex, hnswlib_problem
from contextwise.stores import _sqlite_text
from contextwise.stores._sqlite_schema import drop_lexical_tables, give_lexical_table, lexical_table, migrate
from contextwise._sqlite import connect
from contextwise.types import Hit, Record

_UPSERT = ("INSERT INTO records (tenant, id, text, vector, metadata, created_at, seq, part, version) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1) "
           "ON CONFLICT (tenant, id) DO UPDATE SET text = excluded.text, vector = excluded.vector, "
           "metadata = excluded.metadata, created_at = excluded.created_at, seq = excluded.seq, part = excluded.part, "
           "version = version + 1")
_BUMP = ("INSERT INTO tenant_state (tenant, version) VALUES (?, 1) "
         "ON CONFLICT (tenant) DO UPDATE SET version = version + 1 RETURNING version")
# Past this share of changed rows, reloading the tenant is cheaper than patching the cached matrix.
_PATCH_MAX_SHARE = 0.25
# A query patches an HNSW index with at most this many changed rows (milliseconds); past it the index is dropped
# and rebuilt off the lock, so no query ever builds an index while holding the store's lock.
_INDEX_PATCH_MAX_ROWS = 256
_COLUMNS = "id, text, vector, metadata, created_at, version"
_COLUMNS_NO_VECTOR = _COLUMNS.replace("vector", "NULL")
_CHUNK = 500
_BUILDER = "contextwise-hnsw-"


class Scope(NamedTuple):
    """Where a call looks: one tenant, and one partition of it (None, for listing and counting only: every
    partition)."""

    tenant: str
    partition: str | None

    def sql(self) -> tuple[str, tuple[str, ...]]:
        """A WHERE clause over `records` and its parameters."""
        if self.partition is None:
            return "tenant = ?", (self.tenant,)
        return "tenant = ? AND part = ?", (self.tenant, self.partition)

    def fts_token(self) -> str:
        """The token the `scope` column of records_fts holds for this scope (see _sqlite_schema v3)."""
        token = "t" + self.tenant.encode().hex()
        return token if self.partition is None else f"{token}p{self.partition.encode().hex()}"


@dataclass
class _Matrix:
    """A scope's vectors as of one write-counter value: row ids (ascending) and unit vectors."""

    version: int
    rowids: np.ndarray
    unit: np.ndarray
    index: HnswIndex | None = field(default=None)


class SQLiteStore(_core.Closing):
    """A VectorStore in one SQLite file; safe to share between threads and processes.

    Every record sits in a tenant (a hard partition) and, inside it, in a partition ('' unless given; memory
    tiers are partitions). A search (`query`, `search_text`) looks in one partition, '' by default, and an HNSW
    index serves one partition; `scan` and `count` span the tenant unless given a partition, and `get`,
    `delete` and `drop_tenant` act on the whole tenant (an id is unique in its tenant).

    Args:
        path: the database file (created if missing; ":memory:" for a private in-memory database).
        dimensions: the vector size; a file remembers it and refuses another.
        search: ExactSearch(), or HnswSearch(min_vectors=...) (the default) to use an HNSW index for
            unfiltered queries on partitions (or tenants) at least that large (needs hnswlib, extra `embed`;
            without it search stays exact, with a warning).
        build_in_background: with HnswSearch, the first unfiltered query of a large partition starts building
            its index on a background thread and is answered exactly, as are the queries until the index is
            ready; False builds only when asked (`build_index` / `build_indexes`). No query builds under the
            store's lock either way.
        max_text_chars: longer texts are refused with TextTooLongError.
        cache_max_vectors: how many vectors the matrix cache may hold before evicting partitions (least
            recently used first; the one in use always stays). This bounds the store's memory: at 384-d a cached
            vector costs 1.5 KB in the matrix and ~1.7 KB more in an HNSW index (hnswlib keeps its own copy plus
            links), so the default 1,000,000 bounds the cache at about 3.3 GB; a 200k-memory tier takes about
            0.65 GB. Lexical search keeps nothing here (FTS5 runs in SQLite's own page cache).

        lexical_table_min_records: a partition holding at least this many records gets an FTS5 table of its
            own (in the write that brings it there), so its bm25() statistics are its own; smaller partitions
            share one (see stores/_sqlite_schema.py v5 for why not one per partition).

    A file also remembers the embedder its vectors come from, once a store bound to it (`bind_embedder`, which
    MemoryBackend calls) writes vectors, and refuses one bound to another (EmbedderMismatchError).

    Lexical search (`search_text`) runs in SQLite's FTS5 with bm25() (without length normalisation: see
    stores/_sqlite_text.py), kept by triggers in the same transaction as the records, so it costs no memory in this
    process and reflects every write of every process. On a file it reads on a second connection of its own
    (`parallel_reads`), so a lexical search runs beside a `query` or a write of another thread; hybrid memory recall
    runs its two searches at once that way.

    >>> from contextwise.types import Record
    >>> with SQLiteStore(":memory:", dimensions=2) as store:
    ...     store.upsert([Record("a", "apples", (1.0, 0.0))], tenant="t1")
    ...     store.count(tenant="t1")
    1
    """

    name = "sqlite"

    def __init__(self, path: str | Path, dimensions: int = 384, *, search: _core.Search | None = None,
                 max_text_chars: int = _core.DEFAULT_MAX_TEXT_CHARS, cache_max_vectors: int = 1_000_000,
                 timeout_s: float = 30.0, build_in_background: bool = True,
                 lexical_table_min_records: int = 20_000) -> None:
        if not isinstance(lexical_table_min_records, int) or isinstance(lexical_table_min_records, bool) \
                or lexical_table_min_records < 1:
            raise UsageError(f"lexical_table_min_records must be an int >= 1, got {lexical_table_min_records!r}")
        self.dimensions = _core.check_dimensions(dimensions)
        self.path = str(path)
        self.search = search if search is not None else _core.HnswSearch()
        self.max_text_chars = max_text_chars
        self.build_in_background = build_in_background
        self._cache_max_vectors = cache_max_vectors
        self._cache: OrderedDict[Scope, _Matrix] = OrderedDict()
        self._lock = threading.RLock()
        self._warned_no_hnsw = False
        self._building: dict[Scope, threading.Thread] = {}  # the thread building each scope's index
        self._conn: sqlite3.Connection | None = None
        self._timeout_s = timeout_s
        self._text_conn: sqlite3.Connection | None = None  # lexical search's own connection (see parallel_reads)
        self._beside: _sqlite_text.Beside | None = None  # its second one, and the thread reading there
        self._text_lock = threading.Lock()  # never held while waiting for _lock: close() takes _lock first
        self.lexical_table_min_records = lexical_table_min_records
        self._terms = _sqlite_text.TermCache()  # document frequencies per own FTS5 table, while it is unchanged
        self._embedder = _core.EmbedderBinding(f"the store {self.path}")
        try:
            self._conn = connect(self.path, timeout_s=timeout_s)
            self.migrated_from = migrate(self._conn, self.dimensions)
            if self.migrated_from < 5:
                self._give_lexical_tables(None)
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"cannot open {self.path}: {exc}", backend=self.name) from exc
        except BaseException:
            self.close()
            raise

    @property
    def parallel_reads(self) -> bool:
        """Whether `search_text` reads on a connection of its own (a file: WAL lets readers run beside each other
        and beside a writer), so a lexical search and a `query` of two threads run at once instead of one after
        the other. An in-memory database has one connection: there both read under the store's lock."""
        return self.path not in (":memory:", "")

    # --- the embedder -------------------------------------------------------------------------------------------

    @property
    def embedder_name(self) -> str | None:
        """The name of the embedder this store object is bound to (`bind_embedder`), None while unbound."""
        return self._embedder.name

    def bind_embedder(self, name: str) -> None:
        """Bind this store to the embedder named `name` (its `.name`, which names the model and compute).

        The file records the name (`store_info`) in the transaction of the first write that adds vectors; once
        recorded, a store bound to another name refuses writes and queries. A file that holds vectors but no
        name (written before names were recorded) adopts `name` now and logs a warning. See
        `_core.EmbedderBinding`.

        Raises:
            EmbedderMismatchError: the file's vectors come from another embedder (nothing was changed).
        """
        name = self._embedder.wanted(name)
        if self._embedder.confirmed:
            return
        with self._read() as conn:
            recorded = _recorded(conn)
        adopted = False
        if recorded is None:
            with self._write() as conn:
                adopted = conn.execute(
                    "INSERT OR IGNORE INTO store_info (key, value) SELECT ?, ? "
                    "WHERE EXISTS (SELECT 1 FROM records WHERE vector IS NOT NULL)",
                    (_core.EMBEDDER_KEY, name)).rowcount == 1
                recorded = _recorded(conn)
        self._embedder.bound(name, recorded, adopted=adopted)

    def _settle_embedder(self, conn: sqlite3.Connection, *, adds_vectors: bool) -> bool:
        """In a write transaction: record the bound name if this write adds the file's first vectors; True when
        the recorded name is ours (final once the write commits)."""
        if self._embedder.settled:
            return False
        if adds_vectors:
            conn.execute("INSERT OR IGNORE INTO store_info (key, value) VALUES (?, ?)",
                         (_core.EMBEDDER_KEY, self._embedder.name))
        return self._embedder.check(_recorded(conn))

    # --- writes ---------------------------------------------------------------------------------------------

    def upsert(self, records: Sequence[Record], *, tenant: str, partition: str = "") -> None:
        """Insert or replace `records` (by id; an id is unique in its tenant) in `partition` of `tenant`, in one
        transaction; a bad record raises before any is written, and a failure leaves the file as it was."""
        self.upsert_partitions({partition: records}, tenant=tenant)

    def upsert_partitions(self, batches: Mapping[str, Sequence[Record]], *, tenant: str,
                          expect: Mapping[str, str | int | None] | None = None) -> None:
        """`upsert` of several partitions' records in one transaction.

        Args:
            batches: partition -> its records.
            expect: compare-and-set: record id -> the version it must have when the transaction runs (its
                `Record.version` as read: any write since, of text or metadata, fails it), or the text it must
                hold (a str), or None (it must not exist); if one does not hold, WriteConflictError is raised
                and nothing is written.
        """
        _core.check_tenant(tenant)
        parts = _core.validate_partitions(batches, dimensions=self.dimensions, max_text_chars=self.max_text_chars)
        expected = _core.check_expect(expect)
        rows = [(tenant, r.id, r.text, None if v is None else v.tobytes(), meta, float(r.created_at), partition)
                for partition, batch in parts for r, v, meta in zip(batch.records, batch.vectors, batch.metadata_json)]
        if not rows and not expected:
            return
        with self._write() as conn:
            ours = self._settle_embedder(conn, adds_vectors=_core.has_vectors(parts))
            if expected:
                _core.check_expected(self._held(conn, tenant, list(expected)), expected, self.name)
            if rows:
                seq = conn.execute(_BUMP, (tenant,)).fetchone()[0]
                conn.executemany(_UPSERT, [(*row[:6], seq, row[6]) for row in rows])
                self._give_lexical_tables(conn, tenant, {partition for partition, _ in parts})
        self._embedder.confirmed |= ours

    def _give_lexical_tables(self, conn: sqlite3.Connection | None, tenant: str = "",
                             partitions: set[str] | None = None) -> None:
        """Give each of these partitions (every partition, when `conn` is None: a file just migrated) that has
        reached `lexical_table_min_records` records an FTS5 table of its own, in the write transaction."""
        if conn is None:
            with self._write() as conn:
                big = conn.execute("SELECT tenant, part FROM records GROUP BY tenant, part HAVING count(*) >= ?",
                                   (self.lexical_table_min_records,)).fetchall()
                for t, p in big:
                    if lexical_table(conn, t, p) is None:
                        give_lexical_table(conn, t, p)
            return
        for partition in sorted(partitions or ()):
            if lexical_table(conn, tenant, partition) is not None:
                continue
            held = conn.execute("SELECT count(*) FROM (SELECT 1 FROM records WHERE tenant = ? AND part = ? LIMIT ?)",
                                (tenant, partition, self.lexical_table_min_records)).fetchone()[0]
            if held >= self.lexical_table_min_records:
                give_lexical_table(conn, tenant, partition)

    def _held(self, conn: sqlite3.Connection, tenant: str, ids: list[str]) -> dict[str, tuple[str, int]]:
        """id -> (text, version) of these ids now."""
        marks = ",".join("?" * len(ids))
        sql = f"SELECT id, text, version FROM records WHERE tenant = ? AND id IN ({marks})"
        return {i: (text, int(version)) for i, text, version in conn.execute(sql, (tenant, *ids))}

    def delete(self, ids: Sequence[str], *, tenant: str) -> int:
        """Delete these ids from `tenant` (whatever their partition); returns how many existed."""
        _core.check_tenant(tenant)
        wanted = _core.check_ids(ids)
        with self._write() as conn:
            # rowcount, not total_changes: the FTS triggers' changes must not count.
            removed = max(0, conn.executemany("DELETE FROM records WHERE tenant = ? AND id = ?",
                                              [(tenant, i) for i in wanted]).rowcount)
            if removed:
                conn.execute(_BUMP, (tenant,)).fetchone()
        return removed

    def drop_tenant(self, tenant: str) -> int:
        """Delete every record of `tenant`, in every partition, and its saved indexes; returns how many
        records there were."""
        _core.check_tenant(tenant)
        with self._write() as conn:
            parts = [row[0] for row in conn.execute("SELECT DISTINCT part FROM records WHERE tenant = ?", (tenant,))]
            removed = drop_lexical_tables(
                conn, tenant, lambda: int(conn.execute("DELETE FROM records WHERE tenant = ?", (tenant,)).rowcount))
            conn.execute(_BUMP, (tenant,)).fetchone()
            for scope in [s for s in self._cache if s.tenant == tenant]:
                del self._cache[scope]
        for scope in [Scope(tenant, p) for p in parts]:
            folder = self._index_folder(scope)
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        return removed

    # --- HNSW indexes ---------------------------------------------------------------------------------------

    def build_index(self, *, tenant: str, partition: str = "") -> _core.IndexBuild:
        """Make the HNSW index of `partition` of `tenant` now, and save it beside the file so a new process
        loads it.

        The graph is built outside the store's lock on a snapshot of the vectors: this store's other calls go
        on meanwhile (the scope's queries are answered exactly), and writes made during the build are patched
        in at the end. `built` is False when an index was already in memory or on disk.

        Raises:
            UsageError: the store was opened with ExactSearch.
            MissingDependencyError: hnswlib is not installed (extra `embed`).
            BackendError: the installed hnswlib build does not run on this CPU (the message names the fix).
        """
        _core.check_tenant(tenant)
        scope = Scope(tenant, _core.check_partition(partition))
        self._hnsw()
        started = time.perf_counter()
        self._preload(scope)
        with self._read() as conn:
            snapshot = self._matrix(conn, scope)
            if snapshot is not None and snapshot.index is None:
                snapshot.index = self._saved_index(conn, scope, snapshot)
            other = scope in self._building and self._building[scope] is not threading.current_thread()
            if snapshot is None or snapshot.index is not None or other:
                size = 0 if snapshot is None else int(snapshot.rowids.size)
                return _core.IndexBuild(tenant, size, False, time.perf_counter() - started)
            self._building[scope] = threading.current_thread()
        try:
            index = HnswIndex.build(snapshot.unit, snapshot.rowids, self._hnsw())
            with self._read() as conn:
                matrix = self._matrix(conn, scope)
                if matrix is not None and matrix.index is None:
                    matrix.index = self._caught_up(conn, scope, matrix, index, snapshot.version, snapshot.rowids)
                    self._save_index(scope, matrix)
        finally:
            with self._lock:
                self._building.pop(scope, None)
        return _core.IndexBuild(tenant, int(snapshot.rowids.size), True, time.perf_counter() - started)

    def _preload(self, scope: Scope) -> None:
        """Read a scope's vectors on a connection of its own, outside the store's lock, and cache them (unless
        something as new is cached by then): a build's snapshot of a large tier stalls no other call."""
        if self._index_folder(scope) is None or scope in self._cache:
            return  # a private database cannot be opened twice; a cached scope is patched cheaply
        conn = connect(self.path)
        try:
            conn.execute("BEGIN")
            row = conn.execute("SELECT version FROM tenant_state WHERE tenant = ?", (scope.tenant,)).fetchone()
            loaded = None if row is None else self._loaded(conn, scope, row[0])
            conn.execute("COMMIT")
        except sqlite3.Error:
            return  # the locked path below reads it instead
        finally:
            conn.close()
        with self._lock:
            if loaded is not None and self._conn is not None and scope not in self._cache:
                self._remember(scope, loaded)

    def build_indexes(self) -> list[_core.IndexBuild]:
        """`build_index` for every partition of at least `search.min_vectors` vectors; returns those it built."""
        search = self._hnsw()
        with self._read() as conn:
            scopes = conn.execute("SELECT tenant, part FROM records WHERE vector IS NOT NULL GROUP BY tenant, part "
                                  "HAVING count(*) >= ? ORDER BY tenant, part", (search.min_vectors,)).fetchall()
        builds = (self.build_index(tenant=t, partition=p) for t, p in scopes)
        return [b for b in builds if b.built]

    def wait_for_builds(self, timeout_s: float | None = None) -> bool:
        """Wait until the background index builds running now are done; False if `timeout_s` passed first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        for thread in [t for t in list(self._building.values()) if t.name.startswith(_BUILDER)]:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False
        return True

    def _hnsw(self) -> _core.HnswSearch:
        if not isinstance(self.search, _core.HnswSearch):
            raise UsageError("this store searches exactly (ExactSearch); open it with HnswSearch to index")
        problem = hnswlib_problem()
        if problem is not None:
            raise problem
        return self.search

    def _build_in_background(self, scope: Scope) -> None:
        """Start building `scope`'s index on a thread of its own (the caller holds the lock)."""
        if scope in self._building:
            return
        thread = threading.Thread(target=self._build_quietly, args=(scope,), daemon=True,
                                  name=f"{_BUILDER}{scope.tenant}")
        self._building[scope] = thread
        thread.start()

    def _build_quietly(self, scope: Scope) -> None:
        try:
            self.build_index(tenant=scope.tenant, partition=scope.partition or "")
        except (StoreError, OSError, RuntimeError, UsageError) as exc:
            if self._conn is None:
                return  # the store was closed meanwhile: the build is simply abandoned
            warnings.warn(f"building the HNSW index of {scope} failed ({exc}); its queries stay exact",
                          RuntimeWarning, stacklevel=1)

    # --- reads ----------------------------------------------------------------------------------------------

    def query(self, vector: Sequence[float], k: int = 10, *, tenant: str, where: Where | None = None,
              partition: str = "", ef_search: int | None = None, vectors: bool = True) -> list[Hit]:
        """The `k` records of `partition` of `tenant` most similar (cosine) to `vector` that match `where`,
        best first. `ef_search`: this query's HNSW ef_search (None: `search.ef_search`); an exact query ignores
        it. `vectors=False`: the hits' records come without their vectors (None), which are then not read."""
        _core.check_tenant(tenant)
        scope = Scope(tenant, _core.check_partition(partition))
        q = _core.check_vector(vector, self.dimensions)
        _core.check_k(k)
        ef_search = _core.check_ef_search(ef_search)
        _core.check_vectors(vectors)
        conditions = parse_where(where)
        with self._read() as conn:
            if not self._embedder.settled:
                self._embedder.seen(_recorded(conn))
            matrix = self._matrix(conn, scope)
            if matrix is None or not matrix.rowids.size:
                return []
            positions = None
            if conditions:
                positions = self._filtered(conn, scope, matrix, conditions)
            elif scope not in self._building and self._use_hnsw(matrix):
                positions = self._approximate(conn, scope, matrix, q, k, ef_search)
            rowids, scores = _rank(matrix, q, k, positions)
            records = self._fetch_rowids(conn, rowids, vectors=vectors)
        return _core.hits(records, scores)

    def search_text(self, query: str, k: int = 10, *, tenant: str, where: Where | None = None,
                    partition: str = "", vectors: bool = True) -> list[Hit]:
        """The `k` records of `partition` of `tenant` that best match the words of `query`, by FTS5's bm25(), best
        first; a hit's score is the BM25 score (higher is better). Records sharing no word with the query are left
        out. A partition of at least `lexical_table_min_records` records is ranked with its own statistics, and
        past a row budget only its rows holding the rarer query words are scored (see stores/_sqlite_text.py);
        smaller partitions share the statistics of one FTS5 table. `vectors=False`: records without vectors."""
        _core.check_tenant(tenant)
        scope = Scope(tenant, _core.check_partition(partition))
        _core.check_k(k)
        _core.check_vectors(vectors)
        terms = _core.lexical_terms(query)
        clause, params = to_sqlite(parse_where(where))
        if not terms:
            return []
        with self._transaction("BEGIN", text=self.parallel_reads) as conn:
            table = lexical_table(conn, tenant, scope.partition or "")
            if table is None:
                found = _sqlite_text.shared_search(conn, scope.fts_token(), terms, k, clause, params)
            else:
                found = _sqlite_text.search(conn, table, terms, k, clause, params, self._terms, tenant=tenant,
                                            beside=self._beside_connection() if self.parallel_reads else None)
            rowids = np.array([r for r, _ in found], dtype=np.int64)
            records = self._fetch_rowids(conn, rowids, vectors=vectors) if found else []
        return [Hit(record, score) for record, (_, score) in zip(records, found)]

    def get(self, ids: Sequence[str], *, tenant: str) -> list[Record]:
        """The records of `tenant` with these ids, in the order asked; missing ids are left out."""
        _core.check_tenant(tenant)
        wanted = _core.check_ids(ids)
        found: dict[str, Record] = {}
        with self._read() as conn:
            for start in range(0, len(wanted), _CHUNK):
                part = wanted[start:start + _CHUNK]
                marks = ",".join("?" * len(part))
                sql = f"SELECT {_COLUMNS} FROM records WHERE tenant = ? AND id IN ({marks})"
                found.update((r.id, r) for r in map(_record, conn.execute(sql, (tenant, *part))))
        return [found[i] for i in wanted if i in found]

    def count(self, *, tenant: str, partition: str | None = None) -> int:
        """How many records `tenant` (or `partition` of it) holds."""
        _core.check_tenant(tenant)
        clause, params = Scope(tenant, _core.check_scope(partition)).sql()
        with self._read() as conn:
            return int(conn.execute(f"SELECT count(*) FROM records WHERE {clause}", params).fetchone()[0])

    def tenants(self) -> list[str]:
        """The tenants that hold at least one record, sorted."""
        with self._read() as conn:
            return [row[0] for row in conn.execute("SELECT DISTINCT tenant FROM records ORDER BY tenant")]

    def scan(self, *, tenant: str, where: Where | None = None, limit: int | None = None,
             partition: str | None = None) -> list[Record]:
        """The records of `tenant` (of `partition` only, if given) matching `where`, oldest `created_at` first
        (then by id), at most `limit`."""
        _core.check_tenant(tenant)
        scope_sql, scope_params = Scope(tenant, _core.check_scope(partition)).sql()
        clause, params = to_sqlite(parse_where(where))
        _core.check_limit(limit)
        sql = (f"SELECT {_COLUMNS} FROM records WHERE {scope_sql} AND {clause} ORDER BY created_at, id "
               f"LIMIT {-1 if limit is None else int(limit)}")
        with self._read() as conn:
            return [_record(row) for row in conn.execute(sql, (*scope_params, *params))]

    def close(self) -> None:
        """Close the file; the store cannot be used afterwards. A background index build still running ends
        without saving."""
        with self._lock:
            for scope, matrix in self._cache.items():
                self._save_index(scope, matrix)
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            with self._text_lock:
                if self._text_conn is not None:
                    self._text_conn.close()
                    self._text_conn = None
                if self._beside is not None:
                    self._beside.close()
                    self._beside = None
            self._cache.clear()

    # --- search internals -----------------------------------------------------------------------------------

    def _matrix(self, conn: sqlite3.Connection, scope: Scope) -> _Matrix | None:
        row = conn.execute("SELECT version FROM tenant_state WHERE tenant = ?", (scope.tenant,)).fetchone()
        if row is None:
            return None
        cached = self._cache.get(scope)
        if cached is None or cached.version != row[0]:
            cached = (self._patched(conn, scope, cached, row[0]) if cached is not None else None) \
                or self._loaded(conn, scope, row[0])
            self._remember(scope, cached)
        self._cache.move_to_end(scope)
        return cached

    def _loaded(self, conn: sqlite3.Connection, scope: Scope, version: int) -> _Matrix:
        clause, params = scope.sql()
        rows = conn.execute(f"SELECT rowid, vector FROM records WHERE {clause} AND vector IS NOT NULL "
                            "ORDER BY rowid", params).fetchall()
        return _Matrix(version, *self._unpack(rows))

    def _unpack(self, rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
        rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), self.dimensions)
        return rowids, (_core.normalized(vectors) if len(rows) else vectors)

    def _patched(self, conn: sqlite3.Connection, scope: Scope, old: _Matrix, version: int) -> _Matrix | None:
        """`old` brought to `version` from the rows written since (seq > old.version) and the row ids that
        remain; None when a reload is cheaper (many changes) or due (a worn HNSW index)."""
        clause, params = scope.sql()
        changed = conn.execute(f"SELECT rowid, vector FROM records WHERE {clause} AND seq > ?",
                               (*params, old.version)).fetchall()
        if len(changed) > _PATCH_MAX_SHARE * max(old.rowids.size, 1) or (old.index and old.index.worn):
            return None
        present = np.fromiter((r[0] for r in conn.execute(f"SELECT rowid FROM records WHERE {clause}", params)),
                              dtype=np.int64)
        new_rowids, new_unit = self._unpack([r for r in changed if r[1] is not None])
        lost_vector = np.fromiter((r[0] for r in changed if r[1] is None), dtype=np.int64)
        still_there = np.isin(old.rowids, present) & ~np.isin(old.rowids, lost_vector)
        keep = still_there & ~np.isin(old.rowids, new_rowids)
        index = old.index if len(changed) <= _INDEX_PATCH_MAX_ROWS else None
        if index is not None:
            index.remove(old.rowids[~still_there])
            index.add(new_unit, new_rowids, fresh=int((~np.isin(new_rowids, old.rowids)).sum()))
        rowids = np.concatenate([old.rowids[keep], new_rowids])
        order = np.argsort(rowids, kind="stable")
        return _Matrix(version, rowids[order], np.concatenate([old.unit[keep], new_unit])[order], index)

    def _remember(self, scope: Scope, matrix: _Matrix) -> None:
        self._cache[scope] = matrix
        self._cache.move_to_end(scope)
        while len(self._cache) > 1 and sum(m.rowids.size for m in self._cache.values()) > self._cache_max_vectors:
            self._save_index(*self._cache.popitem(last=False))

    def _filtered(self, conn: sqlite3.Connection, scope: Scope, matrix: _Matrix, conditions: Any) -> np.ndarray:
        scope_sql, scope_params = scope.sql()
        clause, params = to_sqlite(conditions)
        sql = f"SELECT rowid FROM records WHERE {scope_sql} AND vector IS NOT NULL AND {clause}"
        rowids = np.fromiter((r[0] for r in conn.execute(sql, (*scope_params, *params))), dtype=np.int64)
        return np.searchsorted(matrix.rowids, rowids)

    def _approximate(self, conn: sqlite3.Connection, scope: Scope, matrix: _Matrix, q: np.ndarray, k: int,
                     ef_search: int | None = None) -> np.ndarray | None:
        """Candidate positions from the HNSW index; None (search exactly) while there is none, or if hnswlib
        fails."""
        if matrix.index is None:
            matrix.index = self._saved_index(conn, scope, matrix, max_changes=_INDEX_PATCH_MAX_ROWS)
        if matrix.index is None:
            if self.build_in_background:
                self._build_in_background(scope)
            return None
        try:
            return np.searchsorted(matrix.rowids, matrix.index.search(q, k, ef_search))
        except RuntimeError as exc:  # hnswlib reports every failure as RuntimeError
            matrix.index = None
            warnings.warn(f"HNSW search failed ({exc}); answered exactly", RuntimeWarning, stacklevel=3)
            return None

    def _saved_index(self, conn: sqlite3.Connection, scope: Scope, matrix: _Matrix, *,
                     max_changes: int | None = None) -> HnswIndex | None:
        """The index saved by an earlier process, brought up to date; None when there is none worth patching."""
        folder = self._index_folder(scope)
        loaded = folder and HnswIndex.load(folder, self.search, self.dimensions)  # type: ignore[arg-type]
        if not loaded or loaded[1] > matrix.version:
            return None
        return self._caught_up(conn, scope, matrix, *loaded, max_changes=max_changes)

    def _caught_up(self, conn: sqlite3.Connection, scope: Scope, matrix: _Matrix, index: HnswIndex, version: int,
                   labels: np.ndarray, *, max_changes: int | None = None) -> HnswIndex | None:
        """`index`, built at `version` over `labels`, patched to `matrix`; None when a rebuild is due."""
        clause, params = scope.sql()
        changed = np.fromiter((r[0] for r in conn.execute(
            f"SELECT rowid FROM records WHERE {clause} AND seq > ? AND vector IS NOT NULL", (*params, version))),
            dtype=np.int64)
        limit = _PATCH_MAX_SHARE * max(matrix.rowids.size, 1)
        if len(changed) > (limit if max_changes is None else min(limit, max_changes)):
            return None
        index.remove(labels[~np.isin(labels, matrix.rowids)])
        index.add(matrix.unit[np.searchsorted(matrix.rowids, changed)], changed,
                  fresh=int((~np.isin(changed, labels)).sum()))
        return None if index.worn else index

    def _index_folder(self, scope: Scope) -> Path | None:
        if self.path in ("", ":memory:") or self.path.startswith("file:"):
            return None
        key = scope.tenant if not scope.partition else f"{scope.tenant}\x00{scope.partition}"  # '' as before v3
        return Path(f"{self.path}.hnsw") / hashlib.sha1(key.encode()).hexdigest()[:16]

    def _save_index(self, scope: Scope, matrix: _Matrix) -> None:
        folder = self._index_folder(scope)
        if folder is None or matrix.index is None or not matrix.index.dirty:
            return
        try:
            matrix.index.save(folder, matrix.version, matrix.rowids)
        except (OSError, RuntimeError) as exc:  # a missing save costs a rebuild later, never a wrong answer
            warnings.warn(f"could not save the HNSW index of {scope} to {folder}: {exc}", RuntimeWarning,
                          stacklevel=3)

    def _use_hnsw(self, matrix: _Matrix) -> bool:
        if not isinstance(self.search, _core.HnswSearch) or matrix.rowids.size < self.search.min_vectors:
            return False
        problem = hnswlib_problem(wait=False)  # under the store's lock: the machine's first check runs aside
        if problem is None:
            return True
        if problem is not CHECKING and not self._warned_no_hnsw:
            self._warned_no_hnsw = True
            warnings.warn(f"{problem}; searching exactly", RuntimeWarning, stacklevel=4)
        return False

    def _fetch_rowids(self, conn: sqlite3.Connection, rowids: np.ndarray, *, vectors: bool = True) -> list[Record]:
        wanted = [int(r) for r in rowids]
        marks = ",".join("?" * len(wanted))
        columns = _COLUMNS if vectors else _COLUMNS_NO_VECTOR
        rows = conn.execute(f"SELECT rowid, {columns} FROM records WHERE rowid IN ({marks})", wanted)
        by_rowid = {row[0]: _record(row[1:]) for row in rows}
        return [by_rowid[r] for r in wanted]

    # --- transactions ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._transaction("BEGIN IMMEDIATE") as conn:
            yield conn

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._transaction("BEGIN") as conn:
            yield conn

    def _text_connection(self) -> sqlite3.Connection:
        """Lexical search's connection (under _text_lock), opened at its first use."""
        if self._text_conn is None:
            self._text_conn = self._reader()
        return self._text_conn

    def _beside_connection(self) -> _sqlite_text.Beside:
        """Lexical search's second connection and its thread (under _text_lock), opened at their first use."""
        if self._beside is None:
            self._beside = _sqlite_text.Beside(self._reader())
        return self._beside

    def _reader(self) -> sqlite3.Connection:
        try:
            return connect(self.path, timeout_s=self._timeout_s)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path} for reading: {exc}", backend=self.name) from exc

    @contextlib.contextmanager
    def _transaction(self, begin: str, *, text: bool = False) -> Iterator[sqlite3.Connection]:
        """A transaction on the store's connection under its lock, or (`text`, reads only) on lexical search's
        own connection under its own lock, opened at its first use."""
        with self._text_lock if text else self._lock:
            if self._conn is None:
                raise StoreError("the store is closed; open a new one", backend=self.name)
            conn = self._text_connection() if text else self._conn
            try:
                conn.execute(begin)
                yield conn
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                _rollback(conn)
                raise StoreError(str(exc), backend=self.name) from exc
            except BaseException:
                _rollback(conn)
                raise


def _rank(matrix: _Matrix, q: np.ndarray, k: int, positions: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Row ids and exact scores of the best `k` among `positions` (all rows when None), best first."""
    unit = matrix.unit if positions is None else matrix.unit[positions]
    rowids = matrix.rowids if positions is None else matrix.rowids[positions]
    scores = _core.similarities(unit, q)
    best = _core.top_k(scores, k)
    return rowids[best], scores[best]


def _recorded(conn: sqlite3.Connection) -> str | None:
    """The embedder name the file records, None when it records none."""
    row = conn.execute("SELECT value FROM store_info WHERE key = ?", (_core.EMBEDDER_KEY,)).fetchone()
    return None if row is None else str(row[0])


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _record(row: Sequence[Any]) -> Record:
    record_id, text, blob, meta, created_at, version = row
    vector = None if blob is None else tuple(np.frombuffer(blob, dtype=np.float32).tolist())
    return Record(record_id, text, vector, json.loads(meta), float(created_at), int(version))
