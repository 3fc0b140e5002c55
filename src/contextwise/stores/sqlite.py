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
from typing import Any
from collections.abc import Iterator, Sequence

import numpy as np

from contextwise.errors import MissingDependencyError, StoreError, UsageError
from contextwise.protocols import Where
from contextwise.stores import _core
from contextwise.stores._filter import parse_where, to_sqlite
from contextwise.stores._hnsw import HnswIndex, hnswlib_available
from contextwise.stores._sqlite_schema import migrate
from contextwise.types import Hit, Record

_UPSERT = ("INSERT INTO records (tenant, id, text, vector, metadata, created_at, seq) VALUES (?, ?, ?, ?, ?, ?, ?) "
           "ON CONFLICT (tenant, id) DO UPDATE SET text = excluded.text, vector = excluded.vector, "
           "metadata = excluded.metadata, created_at = excluded.created_at, seq = excluded.seq")
_BUMP = ("INSERT INTO tenant_state (tenant, version) VALUES (?, 1) "
         "ON CONFLICT (tenant) DO UPDATE SET version = version + 1 RETURNING version")
# Past this share of changed rows, reloading the tenant is cheaper than patching the cached matrix.
_PATCH_MAX_SHARE = 0.25
_COLUMNS = "id, text, vector, metadata, created_at"
_CHUNK = 500


@dataclass
class _Matrix:
    """A tenant's vectors as of one write-counter value: row ids (ascending) and unit vectors."""

    version: int
    rowids: np.ndarray
    unit: np.ndarray
    index: HnswIndex | None = field(default=None)


class SQLiteStore(_core.Closing):
    """A VectorStore in one SQLite file; safe to share between threads and processes.

    Args:
        path: the database file (created if missing; ":memory:" for a private in-memory database).
        dimensions: the vector size; a file remembers it and refuses another.
        search: ExactSearch(), or HnswSearch(min_vectors=...) (the default) to use an HNSW index for
            unfiltered queries on tenants at least that large (needs hnswlib, extra `embed`; without it search
            stays exact, with a warning). The index is built at the first such query, then kept up to date.
        max_text_chars: longer texts are refused with TextTooLongError.
        cache_max_vectors: how many vectors the per-tenant matrix cache may hold before evicting tenants.

    >>> from contextwise.types import Record
    >>> with SQLiteStore(":memory:", dimensions=2) as store:
    ...     store.upsert([Record("a", "apples", (1.0, 0.0))], tenant="t1")
    ...     store.count(tenant="t1")
    1
    """

    name = "sqlite"

    def __init__(self, path: str | Path, dimensions: int = 384, *, search: _core.Search | None = None,
                 max_text_chars: int = _core.DEFAULT_MAX_TEXT_CHARS, cache_max_vectors: int = 4_000_000,
                 timeout_s: float = 30.0) -> None:
        self.dimensions = _core.check_dimensions(dimensions)
        self.path = str(path)
        self.search = search if search is not None else _core.HnswSearch()
        self.max_text_chars = max_text_chars
        self._cache_max_vectors = cache_max_vectors
        self._cache: OrderedDict[str, _Matrix] = OrderedDict()
        self._lock = threading.RLock()
        self._warned_no_hnsw = False
        self._building: set[str] = set()  # tenants whose index build_index is making; queried exactly meanwhile
        self._conn: sqlite3.Connection | None = None
        try:
            self._conn = sqlite3.connect(self.path, timeout=timeout_s, isolation_level=None,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode = WAL")
            self._conn.execute("PRAGMA synchronous = FULL")
            self.migrated_from = migrate(self._conn, self.dimensions)
        except sqlite3.Error as exc:
            self.close()
            raise StoreError(f"cannot open {self.path}: {exc}", backend=self.name) from exc
        except BaseException:
            self.close()
            raise

    # --- writes ---------------------------------------------------------------------------------------------

    def upsert(self, records: Sequence[Record], *, tenant: str) -> None:
        """Insert or replace `records` (by id) in `tenant` in one transaction; a bad record raises before any
        is written, and a failure leaves the file as it was."""
        _core.check_tenant(tenant)
        batch = _core.validate_batch(records, dimensions=self.dimensions, max_text_chars=self.max_text_chars)
        if not batch.records:
            return
        with self._write() as conn:
            seq = conn.execute(_BUMP, (tenant,)).fetchone()[0]
            conn.executemany(_UPSERT, [
                (tenant, r.id, r.text, None if v is None else v.tobytes(), meta, float(r.created_at), seq)
                for r, v, meta in zip(batch.records, batch.vectors, batch.metadata_json)])

    def delete(self, ids: Sequence[str], *, tenant: str) -> int:
        """Delete these ids from `tenant`; returns how many existed."""
        _core.check_tenant(tenant)
        wanted = _core.check_ids(ids)
        with self._write() as conn:
            before = conn.total_changes
            conn.executemany("DELETE FROM records WHERE tenant = ? AND id = ?", [(tenant, i) for i in wanted])
            removed = conn.total_changes - before
            if removed:
                conn.execute(_BUMP, (tenant,)).fetchone()
        return removed

    def drop_tenant(self, tenant: str) -> int:
        """Delete every record of `tenant`; returns how many there were."""
        _core.check_tenant(tenant)
        with self._write() as conn:
            removed = conn.execute("DELETE FROM records WHERE tenant = ?", (tenant,)).rowcount
            conn.execute(_BUMP, (tenant,)).fetchone()
        folder = self._index_folder(tenant)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        return removed

    def build_index(self, *, tenant: str) -> _core.IndexBuild:
        """Make `tenant`'s HNSW index now, rather than in its first unfiltered query once it is large, and save it
        beside the file so a new process loads it.

        The graph is built outside the store's lock on a snapshot of the tenant's vectors: this store's other
        calls go on meanwhile (the tenant's queries are answered exactly), and writes made during the build
        are patched in at the end. `built` is False when an index was already in memory or on disk.

        Raises:
            UsageError: the store was opened with ExactSearch.
            MissingDependencyError: hnswlib is not installed (extra `embed`).
        """
        _core.check_tenant(tenant)
        if not isinstance(self.search, _core.HnswSearch):
            raise UsageError("this store searches exactly (ExactSearch); open it with HnswSearch to index")
        if not hnswlib_available():
            raise MissingDependencyError("the SQLite store's HNSW index", "embed")
        started = time.perf_counter()
        with self._read() as conn:
            snapshot = self._matrix(conn, tenant)
            if snapshot is not None and snapshot.index is None:
                snapshot.index = self._saved_index(conn, tenant, snapshot)
            if snapshot is None or snapshot.index is not None or tenant in self._building:
                size = 0 if snapshot is None else int(snapshot.rowids.size)
                return _core.IndexBuild(tenant, size, False, time.perf_counter() - started)
            self._building.add(tenant)
        try:
            index = HnswIndex.build(snapshot.unit, snapshot.rowids, self.search)  # type: ignore[arg-type]
            with self._read() as conn:
                matrix = self._matrix(conn, tenant)
                if matrix is not None and matrix.index is None:
                    matrix.index = self._caught_up(conn, tenant, matrix, index, snapshot.version, snapshot.rowids)
                    self._save_index(tenant, matrix)
        finally:
            self._building.discard(tenant)
        return _core.IndexBuild(tenant, int(snapshot.rowids.size), True, time.perf_counter() - started)

    def build_indexes(self) -> list[_core.IndexBuild]:
        """`build_index` for every tenant of at least `search.min_vectors` vectors; returns those it built."""
        if not isinstance(self.search, _core.HnswSearch):
            raise UsageError("this store searches exactly (ExactSearch); open it with HnswSearch to index")
        builds = (self.build_index(tenant=t) for t in self.tenants() if self.count(tenant=t) >= self.search.min_vectors)
        return [b for b in builds if b.built]

    # --- reads ----------------------------------------------------------------------------------------------

    def query(self, vector: Sequence[float], k: int = 10, *, tenant: str, where: Where | None = None) -> list[Hit]:
        """The `k` records of `tenant` most similar (cosine) to `vector` that match `where`, best first."""
        _core.check_tenant(tenant)
        q = _core.normalized(_core.check_vector(vector, self.dimensions))
        _core.check_k(k)
        conditions = parse_where(where)
        with self._read() as conn:
            matrix = self._matrix(conn, tenant)
            if matrix is None or not matrix.rowids.size:
                return []
            if conditions:
                positions = self._filtered(conn, tenant, matrix, conditions)
            elif tenant not in self._building and self._use_hnsw(matrix):
                positions = self._approximate(conn, tenant, matrix, q, k)
            else:
                positions = None
            rowids, scores = _rank(matrix, q, k, positions)
            records = self._fetch_rowids(conn, rowids)
        return _core.hits(records, scores)

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

    def count(self, *, tenant: str) -> int:
        """How many records `tenant` holds."""
        _core.check_tenant(tenant)
        with self._read() as conn:
            return int(conn.execute("SELECT count(*) FROM records WHERE tenant = ?", (tenant,)).fetchone()[0])

    def tenants(self) -> list[str]:
        """The tenants that hold at least one record, sorted."""
        with self._read() as conn:
            return [row[0] for row in conn.execute("SELECT DISTINCT tenant FROM records ORDER BY tenant")]

    def scan(self, *, tenant: str, where: Where | None = None, limit: int | None = None) -> list[Record]:
        """The records of `tenant` matching `where`, oldest `created_at` first (then by id), at most `limit`."""
        _core.check_tenant(tenant)
        clause, params = to_sqlite(parse_where(where))
        _core.check_limit(limit)
        sql = (f"SELECT {_COLUMNS} FROM records WHERE tenant = ? AND {clause} ORDER BY created_at, id "
               f"LIMIT {-1 if limit is None else int(limit)}")
        with self._read() as conn:
            return [_record(row) for row in conn.execute(sql, (tenant, *params))]

    def close(self) -> None:
        """Close the file; the store cannot be used afterwards."""
        with self._lock:
            for tenant, matrix in self._cache.items():
                self._save_index(tenant, matrix)
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            self._cache.clear()

    # --- search internals -----------------------------------------------------------------------------------

    def _matrix(self, conn: sqlite3.Connection, tenant: str) -> _Matrix | None:
        row = conn.execute("SELECT version FROM tenant_state WHERE tenant = ?", (tenant,)).fetchone()
        if row is None:
            return None
        cached = self._cache.get(tenant)
        if cached is None or cached.version != row[0]:
            cached = (self._patched(conn, tenant, cached, row[0]) if cached is not None else None) \
                or self._loaded(conn, tenant, row[0])
            self._remember(tenant, cached)
        self._cache.move_to_end(tenant)
        return cached

    def _loaded(self, conn: sqlite3.Connection, tenant: str, version: int) -> _Matrix:
        rows = conn.execute("SELECT rowid, vector FROM records WHERE tenant = ? AND vector IS NOT NULL "
                            "ORDER BY rowid", (tenant,)).fetchall()
        return _Matrix(version, *self._unpack(rows))

    def _unpack(self, rows: list[tuple[int, bytes]]) -> tuple[np.ndarray, np.ndarray]:
        rowids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), self.dimensions)
        return rowids, (_core.normalized(vectors) if len(rows) else vectors)

    def _patched(self, conn: sqlite3.Connection, tenant: str, old: _Matrix, version: int) -> _Matrix | None:
        """`old` brought to `version` from the rows written since (seq > old.version) and the row ids that
        remain; None when a reload is cheaper (many changes) or due (a worn HNSW index)."""
        changed = conn.execute("SELECT rowid, vector FROM records WHERE tenant = ? AND seq > ?",
                               (tenant, old.version)).fetchall()
        if len(changed) > _PATCH_MAX_SHARE * max(old.rowids.size, 1) or (old.index and old.index.worn):
            return None
        present = np.fromiter((r[0] for r in conn.execute("SELECT rowid FROM records WHERE tenant = ?", (tenant,))),
                              dtype=np.int64)
        new_rowids, new_unit = self._unpack([r for r in changed if r[1] is not None])
        lost_vector = np.fromiter((r[0] for r in changed if r[1] is None), dtype=np.int64)
        still_there = np.isin(old.rowids, present) & ~np.isin(old.rowids, lost_vector)
        keep = still_there & ~np.isin(old.rowids, new_rowids)
        if old.index is not None:
            old.index.remove(old.rowids[~still_there])
            old.index.add(new_unit, new_rowids, fresh=int((~np.isin(new_rowids, old.rowids)).sum()))
        rowids = np.concatenate([old.rowids[keep], new_rowids])
        order = np.argsort(rowids, kind="stable")
        return _Matrix(version, rowids[order], np.concatenate([old.unit[keep], new_unit])[order], old.index)

    def _remember(self, tenant: str, matrix: _Matrix) -> None:
        self._cache[tenant] = matrix
        self._cache.move_to_end(tenant)
        while len(self._cache) > 1 and sum(m.rowids.size for m in self._cache.values()) > self._cache_max_vectors:
            self._save_index(*self._cache.popitem(last=False))

    def _filtered(self, conn: sqlite3.Connection, tenant: str, matrix: _Matrix, conditions: Any) -> np.ndarray:
        clause, params = to_sqlite(conditions)
        sql = f"SELECT rowid FROM records WHERE tenant = ? AND vector IS NOT NULL AND {clause}"
        rowids = np.fromiter((r[0] for r in conn.execute(sql, (tenant, *params))), dtype=np.int64)
        return np.searchsorted(matrix.rowids, rowids)

    def _approximate(self, conn: sqlite3.Connection, tenant: str, matrix: _Matrix, q: np.ndarray, k: int
                     ) -> np.ndarray | None:
        """Candidate positions from the HNSW index; None (search exactly) if hnswlib fails."""
        try:
            return np.searchsorted(matrix.rowids, self._index_for(conn, tenant, matrix).search(q, k))
        except RuntimeError as exc:  # hnswlib reports every failure as RuntimeError
            matrix.index = None
            warnings.warn(f"HNSW search failed ({exc}); answered exactly", RuntimeWarning, stacklevel=3)
            return None

    def _index_for(self, conn: sqlite3.Connection, tenant: str, matrix: _Matrix) -> HnswIndex:
        if matrix.index is None:
            matrix.index = self._saved_index(conn, tenant, matrix)
        if matrix.index is None:
            matrix.index = HnswIndex.build(matrix.unit, matrix.rowids, self.search)  # type: ignore[arg-type]
            self._save_index(tenant, matrix)
        return matrix.index

    def _saved_index(self, conn: sqlite3.Connection, tenant: str, matrix: _Matrix) -> HnswIndex | None:
        """The index saved by an earlier process, brought up to date; None when there is none worth patching."""
        folder = self._index_folder(tenant)
        loaded = folder and HnswIndex.load(folder, self.search, self.dimensions)  # type: ignore[arg-type]
        if not loaded or loaded[1] > matrix.version:
            return None
        return self._caught_up(conn, tenant, matrix, *loaded)

    def _caught_up(self, conn: sqlite3.Connection, tenant: str, matrix: _Matrix, index: HnswIndex, version: int,
                   labels: np.ndarray) -> HnswIndex | None:
        """`index`, built at `version` over `labels`, patched to `matrix`; None when a rebuild is due."""
        changed = np.fromiter((r[0] for r in conn.execute(
            "SELECT rowid FROM records WHERE tenant = ? AND seq > ? AND vector IS NOT NULL", (tenant, version))),
            dtype=np.int64)
        if len(changed) > _PATCH_MAX_SHARE * max(matrix.rowids.size, 1):
            return None
        index.remove(labels[~np.isin(labels, matrix.rowids)])
        index.add(matrix.unit[np.searchsorted(matrix.rowids, changed)], changed,
                  fresh=int((~np.isin(changed, labels)).sum()))
        return None if index.worn else index

    def _index_folder(self, tenant: str) -> Path | None:
        if self.path in ("", ":memory:") or self.path.startswith("file:"):
            return None
        return Path(f"{self.path}.hnsw") / hashlib.sha1(tenant.encode()).hexdigest()[:16]

    def _save_index(self, tenant: str, matrix: _Matrix) -> None:
        folder = self._index_folder(tenant)
        if folder is None or matrix.index is None or not matrix.index.dirty:
            return
        try:
            matrix.index.save(folder, matrix.version, matrix.rowids)
        except (OSError, RuntimeError) as exc:  # a missing save costs a rebuild later, never a wrong answer
            warnings.warn(f"could not save the HNSW index of {tenant!r} to {folder}: {exc}", RuntimeWarning,
                          stacklevel=3)

    def _use_hnsw(self, matrix: _Matrix) -> bool:
        if not isinstance(self.search, _core.HnswSearch) or matrix.rowids.size < self.search.min_vectors:
            return False
        if hnswlib_available():
            return True
        if not self._warned_no_hnsw:
            self._warned_no_hnsw = True
            warnings.warn("hnswlib is not installed (pip install 'contextwise[embed]'); searching exactly",
                          RuntimeWarning, stacklevel=4)
        return False

    def _fetch_rowids(self, conn: sqlite3.Connection, rowids: np.ndarray) -> list[Record]:
        wanted = [int(r) for r in rowids]
        marks = ",".join("?" * len(wanted))
        rows = conn.execute(f"SELECT rowid, {_COLUMNS} FROM records WHERE rowid IN ({marks})", wanted)
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

    @contextlib.contextmanager
    def _transaction(self, begin: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise StoreError("the store is closed; open a new one", backend=self.name)
            conn = self._conn
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


def _rollback(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _record(row: Sequence[Any]) -> Record:
    record_id, text, blob, meta, created_at = row
    vector = None if blob is None else tuple(np.frombuffer(blob, dtype=np.float32).tolist())
    return Record(record_id, text, vector, json.loads(meta), float(created_at))
