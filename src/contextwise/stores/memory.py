"""InMemoryStore: records in dicts, exact cosine search in numpy and a BM25 index per partition, all in process;
for tests, notebooks and short-lived agents."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any
from collections.abc import Mapping, Sequence

import numpy as np

from contextwise.embed import BM25Index
from contextwise.errors import StoreError
from contextwise.protocols import Where
from contextwise.stores import _core
from contextwise.stores._filter import matches, parse_where
from contextwise.types import Hit, Record


class _Tenant:
    """One tenant's records, the partition of each, lazily rebuilt matrices of unit vectors per partition, and
    a BM25 index per partition."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}
        self.part_of: dict[str, str] = {}
        self.lexical = BM25Index()
        self._matrices: dict[str, tuple[list[Record], np.ndarray]] = {}

    def put(self, records: Sequence[Record], partition: str) -> None:
        versions = {r.id: self.records[r.id].version + 1 if r.id in self.records else 1 for r in records}
        self.remove([r.id for r in records])
        for r in records:
            self.records[r.id], self.part_of[r.id] = replace(r, version=versions[r.id]), partition
        self.lexical.add([r.id for r in records], [r.text for r in records], tenant=_lexical_key(partition))
        self._matrices.clear()

    def remove(self, ids: Sequence[str]) -> int:
        present = [i for i in ids if i in self.records]
        for record_id in present:
            del self.records[record_id]
            partition = self.part_of.pop(record_id)
            self.lexical.remove([record_id], tenant=_lexical_key(partition))
        if present:
            self._matrices.clear()
        return len(present)

    def in_scope(self, partition: str | None) -> list[Record]:
        if partition is None:
            return list(self.records.values())
        return [r for r in self.records.values() if self.part_of[r.id] == partition]

    def matrix(self, partition: str) -> tuple[list[Record], np.ndarray]:
        if partition not in self._matrices:
            rows = [r for r in self.in_scope(partition) if r.vector is not None]
            vectors = (np.array([r.vector for r in rows], dtype=np.float32).reshape(len(rows), -1) if rows
                       else np.zeros((0, 0), dtype=np.float32))  # a tenant may hold only vector-less records
            self._matrices[partition] = (rows, _core.normalized(vectors) if rows else vectors)
        return self._matrices[partition]


def _lexical_key(partition: str) -> str:
    return "p" + partition  # BM25Index partitions need a non-empty name; '' is a valid partition here


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
        self._embedder = _core.EmbedderBinding("this in-memory store")
        self._recorded: str | None = None  # the embedder name, as the SQL stores record it in their info table

    @property
    def embedder_name(self) -> str | None:
        """The name of the embedder this store is bound to (`bind_embedder`), None while unbound."""
        return self._embedder.name

    def bind_embedder(self, name: str) -> None:
        """Bind this store to the embedder named `name` (see SQLiteStore.bind_embedder): its first vectors
        record it, and a store holding another's vectors raises EmbedderMismatchError."""
        name = self._embedder.wanted(name)
        with self._open():
            adopted = self._recorded is None and any(
                r.vector is not None for data in self._tenants.values() for r in data.records.values())
            if adopted:
                self._recorded = name
            self._embedder.bound(name, self._recorded, adopted=adopted)

    def upsert(self, records: Sequence[Record], *, tenant: str, partition: str = "") -> None:
        """Insert or replace `records` (by id) in `partition` of `tenant`; a bad record raises before any is
        written."""
        self.upsert_partitions({partition: records}, tenant=tenant)

    def upsert_partitions(self, batches: Mapping[str, Sequence[Record]], *, tenant: str,
                          expect: Mapping[str, str | int | None] | None = None) -> None:
        """`upsert` of several partitions' records at once; `expect` (record id -> the version it must have
        now, `Record.version` as read, or the text it must hold now; None: absent) is a compare-and-set:
        WriteConflictError and nothing written when it does not hold."""
        _core.check_tenant(tenant)
        parts = _core.validate_partitions(batches, dimensions=self.dimensions, max_text_chars=self.max_text_chars)
        expected = _core.check_expect(expect)
        with self._open():
            self._embedder.check(self._recorded)
            data = self._tenants.get(tenant)
            current = {} if data is None else {i: (data.records[i].text, data.records[i].version)
                                               for i in expected if i in data.records}
            _core.check_expected(current, expected, self.name)
            for partition, batch in parts:
                if batch.records:
                    self._tenants.setdefault(tenant, _Tenant()).put(batch.stored(), partition)
            if self._recorded is None and _core.has_vectors(parts):
                self._recorded = self._embedder.name
                self._embedder.confirmed = self._recorded is not None

    def query(self, vector: Sequence[float], k: int = 10, *, tenant: str, where: Where | None = None,
              partition: str = "", ef_search: int | None = None, vectors: bool = True) -> list[Hit]:
        """The `k` records of `partition` of `tenant` most similar (cosine) to `vector` that match `where`,
        best first. Always exact: `ef_search` (another store's HNSW knob) is checked and ignored.
        `vectors=False`: the hits' records come without their vectors (None), as the other stores give them."""
        _core.check_tenant(tenant)
        _core.check_partition(partition)
        q = _core.check_vector(vector, self.dimensions)
        _core.check_k(k)
        _core.check_ef_search(ef_search)
        _core.check_vectors(vectors)
        conditions = parse_where(where)
        with self._open():
            self._embedder.check(self._recorded)
            data = self._tenants.get(tenant)
            if data is None:
                return []
            rows, matrix = data.matrix(partition)
            if conditions:
                keep = [i for i, r in enumerate(rows) if matches(conditions, r.metadata)]
                rows, matrix = [rows[i] for i in keep], matrix[keep]
            if not rows:
                return []
            scores = _core.similarities(matrix, q)
            best = _core.top_k(scores, k)
            return _core.hits([rows[i] for i in best], scores[best], vectors=vectors)

    def search_text(self, query: str, k: int = 10, *, tenant: str, where: Where | None = None,
                    partition: str = "", vectors: bool = True) -> list[Hit]:
        """The `k` records of `partition` of `tenant` that best match the words of `query` by BM25, best first
        (score: the BM25 score); records sharing no word with the query are left out. `vectors=False`: records
        without vectors."""
        _core.check_tenant(tenant)
        _core.check_partition(partition)
        _core.check_k(k)
        _core.check_vectors(vectors)
        _core.lexical_terms(query)
        conditions = parse_where(where)
        with self._open():
            data = self._tenants.get(tenant)
            if data is None:
                return []
            key = _lexical_key(partition)
            pool = k if not conditions else data.lexical.count(tenant=key) or 1
            found = [(data.records[s.id], s.score) for s in data.lexical.search(query, pool, tenant=key)]
        kept = [(r, s) for r, s in found if matches(conditions, r.metadata)][:k]
        return _core.hits([r for r, _ in kept], [s for _, s in kept], vectors=vectors)

    def get(self, ids: Sequence[str], *, tenant: str) -> list[Record]:
        """The records of `tenant` with these ids, in the order asked; missing ids are left out."""
        _core.check_tenant(tenant)
        wanted = _core.check_ids(ids)
        with self._open():
            records = self._tenants.get(tenant, _Tenant()).records
            return [records[i] for i in wanted if i in records]

    def delete(self, ids: Sequence[str], *, tenant: str) -> int:
        """Delete these ids from `tenant` (whatever their partition); returns how many existed."""
        _core.check_tenant(tenant)
        wanted = _core.check_ids(ids)
        with self._open():
            data = self._tenants.get(tenant)
            if data is None:
                return 0
            removed = data.remove(wanted)
            if not data.records:
                del self._tenants[tenant]
            return removed

    def count(self, *, tenant: str, partition: str | None = None) -> int:
        """How many records `tenant` (or `partition` of it) holds."""
        _core.check_tenant(tenant)
        partition = _core.check_scope(partition)
        with self._open():
            data = self._tenants.get(tenant)
            return len(data.in_scope(partition)) if data else 0

    def tenants(self) -> list[str]:
        """The tenants that hold at least one record, sorted."""
        with self._open():
            return sorted(self._tenants)

    def scan(self, *, tenant: str, where: Where | None = None, limit: int | None = None,
             partition: str | None = None) -> list[Record]:
        """The records of `tenant` (of `partition` only, if given) matching `where`, oldest `created_at` first
        (then by id), at most `limit`."""
        _core.check_tenant(tenant)
        partition = _core.check_scope(partition)
        conditions = parse_where(where)
        _core.check_limit(limit)
        with self._open():
            data = self._tenants.get(tenant)
            found = [r for r in (data.in_scope(partition) if data else ()) if matches(conditions, r.metadata)]
            return sorted(found, key=_core.scan_order)[:limit]

    def drop_tenant(self, tenant: str) -> int:
        """Delete every record of `tenant`, in every partition; returns how many there were."""
        _core.check_tenant(tenant)
        with self._open():
            data = self._tenants.pop(tenant, None)
            return len(data.records) if data else 0

    def close(self) -> None:
        """Drop every record; the store cannot be used afterwards."""
        with self._lock:
            self._tenants.clear()
            self._closed = True

    def _open(self) -> Any:
        if self._closed:
            raise StoreError("the store is closed; open a new one", backend=self.name)
        return self._lock
