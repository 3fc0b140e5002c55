"""InMemoryStore: records in dicts, exact cosine search in numpy; for tests, notebooks and short-lived agents."""

from __future__ import annotations

import threading
from typing import Any
from collections.abc import Sequence

import numpy as np

from contextwise.errors import StoreError
from contextwise.protocols import Where
from contextwise.stores import _core
from contextwise.stores._filter import matches, parse_where
from contextwise.types import Hit, Record


class _Tenant:
    """One tenant's records plus a lazily rebuilt matrix of their unit vectors."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self._matrix: tuple[list[Record], np.ndarray] | None = None

    def changed(self) -> None:
        self._matrix = None

    def matrix(self) -> tuple[list[Record], np.ndarray]:
        if self._matrix is None:
            rows = [r for r in self.records.values() if r.vector is not None]
            vectors = (np.array([r.vector for r in rows], dtype=np.float32).reshape(len(rows), -1) if rows
                       else np.zeros((0, 0), dtype=np.float32))  # a tenant may hold only vector-less records
            self._matrix = (rows, _core.normalized(vectors) if rows else vectors)
        return self._matrix


class InMemoryStore(_core.Closing):
    """A VectorStore held in process memory; nothing survives the process.

    >>> from contextwise.types import Record
    >>> store = InMemoryStore(dimensions=2)
    >>> store.upsert([Record("a", "apples", (1.0, 0.0))], tenant="t1")
    >>> [h.record.id for h in store.query([1.0, 0.1], 1, tenant="t1")]
    ['a']
    """

    name = "memory"

    def __init__(self, dimensions: int = 384, *, max_text_chars: int = _core.DEFAULT_MAX_TEXT_CHARS) -> None:
        self.dimensions = _core.check_dimensions(dimensions)
        self.max_text_chars = max_text_chars
        self._tenants: dict[str, _Tenant] = {}
        self._lock = threading.RLock()
        self._closed = False

    def upsert(self, records: Sequence[Record], *, tenant: str) -> None:
        """Insert or replace `records` (by id) in `tenant`; a bad record raises before any is written."""
        _core.check_tenant(tenant)
        batch = _core.validate_batch(records, dimensions=self.dimensions, max_text_chars=self.max_text_chars)
        with self._open():
            if not batch.records:
                return
            data = self._tenants.setdefault(tenant, _Tenant())
            data.records.update((r.id, r) for r in batch.stored())
            data.changed()

    def query(self, vector: Sequence[float], k: int = 10, *, tenant: str, where: Where | None = None) -> list[Hit]:
        """The `k` records of `tenant` most similar (cosine) to `vector` that match `where`, best first."""
        _core.check_tenant(tenant)
        q = _core.normalized(_core.check_vector(vector, self.dimensions))
        _core.check_k(k)
        conditions = parse_where(where)
        with self._open():
            data = self._tenants.get(tenant)
            if data is None:
                return []
            rows, matrix = data.matrix()
            if conditions:
                keep = [i for i, r in enumerate(rows) if matches(conditions, r.metadata)]
                rows, matrix = [rows[i] for i in keep], matrix[keep]
            if not rows:
                return []
            scores = _core.similarities(matrix, q)
            best = _core.top_k(scores, k)
            return _core.hits([rows[i] for i in best], scores[best])

    def get(self, ids: Sequence[str], *, tenant: str) -> list[Record]:
        """The records of `tenant` with these ids, in the order asked; missing ids are left out."""
        _core.check_tenant(tenant)
        wanted = _core.check_ids(ids)
        with self._open():
            records = self._tenants.get(tenant, _Tenant()).records
            return [records[i] for i in wanted if i in records]

    def delete(self, ids: Sequence[str], *, tenant: str) -> int:
        """Delete these ids from `tenant`; returns how many existed."""
        _core.check_tenant(tenant)
        wanted = _core.check_ids(ids)
        with self._open():
            data = self._tenants.get(tenant)
            if data is None:
                return 0
            removed = sum(data.records.pop(i, None) is not None for i in wanted)
            data.changed()
            self._forget_if_empty(tenant)
            return removed

    def count(self, *, tenant: str) -> int:
        """How many records `tenant` holds."""
        _core.check_tenant(tenant)
        with self._open():
            data = self._tenants.get(tenant)
            return len(data.records) if data else 0

    def tenants(self) -> list[str]:
        """The tenants that hold at least one record, sorted."""
        with self._open():
            return sorted(self._tenants)

    def scan(self, *, tenant: str, where: Where | None = None, limit: int | None = None) -> list[Record]:
        """The records of `tenant` matching `where`, oldest `created_at` first (then by id), at most `limit`."""
        _core.check_tenant(tenant)
        conditions = parse_where(where)
        _core.check_limit(limit)
        with self._open():
            data = self._tenants.get(tenant)
            found = [r for r in (data.records.values() if data else ()) if matches(conditions, r.metadata)]
            return sorted(found, key=_core.scan_order)[:limit]

    def drop_tenant(self, tenant: str) -> int:
        """Delete every record of `tenant`; returns how many there were."""
        _core.check_tenant(tenant)
        with self._open():
            data = self._tenants.pop(tenant, None)
            return len(data.records) if data else 0

    def close(self) -> None:
        """Drop every record; the store cannot be used afterwards."""
        with self._lock:
            self._tenants.clear()
            self._closed = True

    def _forget_if_empty(self, tenant: str) -> None:
        if not self._tenants[tenant].records:
            del self._tenants[tenant]

    def _open(self) -> Any:
        if self._closed:
            raise StoreError("the store is closed; open a new one", backend=self.name)
        return self._lock
