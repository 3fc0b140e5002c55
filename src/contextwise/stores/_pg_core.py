"""The I/O-free core of the PostgreSQL stores: it validates, builds SQL and parses rows; the sync and async
twins in `postgres.py` only execute what it yields.

Each operation is a generator that yields `Step`s and receives each step's result (rows, or the row count);
its return value is the operation's result. The connection is in autocommit mode, so a single-statement read
costs one round trip; operations that need a transaction yield BEGIN and COMMIT themselves.

Search plan, chosen by measurement: pgvector 0.6's HNSW with `WHERE tenant = …` returned 0.4 of 10 rows on
average, so a tenant-scoped query is an exact scan of that tenant's rows, found through the (tenant, id)
primary-key btree, sorted on an expression no HNSW index serves, so the planner cannot swap in an HNSW scan. With
HnswSearch, `build_index` gives a tenant its own partial HNSW index (`WHERE tenant = '<name>'`): every row that
index holds belongs to the tenant, so an unfiltered query on it is a plain HNSW query.

Index builds, chosen by measurement: an HNSW build of 1M 384-d vectors takes tens of minutes on 2 cores, so it is
never a side effect of a write (it used to run inside the upsert that crossed `min_vectors`, stalling that call
and, as a plain CREATE INDEX, every other writer of the table). `build_index` runs CREATE INDEX CONCURRENTLY:
reads and writes of every tenant go on during the build, and queries keep the exact plan until the index is valid
and registered. A failed concurrent build leaves an invalid index, which the next `build_index` drops and redoes;
a session advisory lock keeps two builders of one tenant from racing.

The info table (`<table>_info`, key/value) holds `dimensions` (checked on open) and, once a store bound to an
embedder has written vectors, `embedder` (its name; `_core.EmbedderBinding` is the rule). Keys need no schema
version: a missing key means "not recorded".
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass
from typing import Any, TypeVar
from collections.abc import Generator, Sequence

import numpy as np
from psycopg import sql

from contextwise.errors import StoreError, UsageError
from contextwise.protocols import Where
from contextwise.stores import _core
from contextwise.stores._errors import DimensionMismatchError
from contextwise.stores._filter import Condition, parse_where, to_postgres
from contextwise.types import Hit, Record

SCHEMA_VERSION = 4
_TABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


@dataclass(frozen=True)
class Step:
    """One statement to execute with its parameters."""

    query: sql.Composable
    params: Sequence[Any] | None = None
    copy_types: tuple[str, ...] = ()  # when set: a COPY FROM STDIN (binary) of `params` rows of these types


BEGIN = Step(sql.SQL("BEGIN"))
COMMIT = Step(sql.SQL("COMMIT"))
INDEX_CHECK_TTL_S = 60.0
#: How long upkeep waits for its lock before leaving the work to later (see _waiting_at_most).
LOCK_WAIT_MS = 500
#: A write of at least this many rows that doubles the table is followed by ANALYZE (see _analyze_after).
ANALYZE_MIN_ROWS = 1_000
Steps = Generator[Step, Any, Any]
_T = TypeVar("_T")
#: Steps whose driver ends with a `_T` (what the store method returns).
Plan = Generator[Step, Any, _T]


class PgCore:
    """Builds every statement of a PostgreSQL store over table `table` and parses what comes back."""

    def __init__(self, table: str, dimensions: int, search: _core.Search, max_text_chars: int) -> None:
        # <= 40 chars: the longest derived name (the per-tenant index) must fit PostgreSQL's 63.
        if not isinstance(table, str) or not _TABLE.match(table):
            raise UsageError(f"table must be a plain identifier of at most 40 letters, digits or _, got {table!r}")
        self.dimensions = _core.check_dimensions(dimensions)
        self.search = search
        self.max_text_chars = max_text_chars
        self.table = table
        self.t = sql.Identifier(table)
        self.versions = sql.Identifier(f"{table}_schema_version")
        self.info = sql.Identifier(f"{table}_info")
        self.indexed = sql.Identifier(f"{table}_hnsw")
        # tenant -> (has an HNSW index, when to look again). A stale answer only costs speed, never
        # correctness: the HNSW query names the tenant, so without its index PostgreSQL scans exactly.
        self._index_known: dict[tuple[str, str], tuple[bool, float]] = {}
        self.embedder = _core.EmbedderBinding(f"table {table}")

    # --- schema ---------------------------------------------------------------------------------------------

    def migrate(self) -> Steps:
        """Create or migrate the schema to SCHEMA_VERSION under an advisory lock; returns the version found."""
        yield BEGIN
        yield Step(sql.SQL("SELECT pg_advisory_xact_lock(hashtext({}))").format(sql.Literal(self.table)))
        yield Step(sql.SQL("CREATE EXTENSION IF NOT EXISTS vector"))
        found = yield from self._found_version()
        if found > SCHEMA_VERSION:
            raise StoreError(f"table {self.table} has schema v{found}, newer than this contextwise "
                             f"(v{SCHEMA_VERSION}); upgrade contextwise", backend="postgres")
        for version in range(found + 1, SCHEMA_VERSION + 1):
            yield from getattr(self, f"_to_v{version}")()
        if found < SCHEMA_VERSION:
            yield Step(sql.SQL("UPDATE {} SET version = %s").format(self.versions), (SCHEMA_VERSION,))
        yield from self._rows_in_line()
        rows = yield Step(sql.SQL("SELECT value FROM {} WHERE key = 'dimensions'").format(self.info))
        if int(rows[0][0]) != self.dimensions:
            raise DimensionMismatchError(f"table {self.table} holds {rows[0][0]}-d vectors; "
                                         f"open it with dimensions={rows[0][0]}")
        yield COMMIT
        if isinstance(self.search, _core.HnswSearch):
            yield Step(sql.SQL("SET hnsw.ef_search = {}").format(sql.Literal(_ef(self.search, 1))))
        return found

    def _rows_in_line(self) -> Steps:
        """Keep a memory's row whole in the heap, once per table: its vector (storage MAIN) and its tsvector
        (`toast_tuple_target` at the page's maximum). pgvector's type defaults to EXTERNAL, and a memory's row (a
        384-d vector is 1,540 bytes, plus text, tsvector and metadata: ~2.6 kB) passes PostgreSQL's 2 kB TOAST
        threshold: with both defaults every vector went out of line, and an exact query read ~6 TOAST pages a
        row (77 ms at 20k memories, 21 ms in line); with the vector in line the tsvector went out instead, and
        full-text search read ~4 TOAST pages a row (benchmarks/bench_memory.py --postgres). A value still goes
        out of line when the row cannot fit a page. A table's own `toast_tuple_target` is kept. Rows written
        before keep their place until they are rewritten (an update, or VACUUM FULL); no schema version is
        needed, so older contextwise still opens the table."""
        state = Step(sql.SQL(
            "SELECT a.attstorage = 'm', NOT EXISTS (SELECT 1 FROM unnest(c.reloptions) o "
            "WHERE o LIKE 'toast_tuple_target=%%'), pg_has_role(current_user, c.relowner, 'USAGE'), "
            "current_setting('block_size')::int - 32 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE a.attrelid = to_regclass(%s) AND a.attname = 'vector'"), (f'"{self.table}"',))
        rows = yield state
        if not rows or (rows[0][0] and not rows[0][1]):
            return
        main, untargeted, owner, target = rows[0]
        changes = ["ALTER COLUMN vector SET STORAGE MAIN"] if not main else []
        if untargeted:
            changes.append(f"SET (toast_tuple_target = {int(target)})")
        alter = sql.SQL("ALTER TABLE {} {}").format(self.t, sql.SQL(", ".join(changes)))
        if owner:
            # ALTER takes an ACCESS EXCLUSIVE lock: waiting for it behind a long query (or a concurrent index
            # build) would stall every other call on the table, so it gives up after LOCK_WAIT_MS and the next
            # open tries again.
            yield _waiting_at_most(alter)
            rows = yield state
            if not rows[0][0] or rows[0][1]:
                _core.log.warning("%s: busy, so its rows stay stored partly out of line (slower exact and full-text "
                                  "search) until a later open can change the table's storage", self.table)
        else:  # only the table's owner may change it: a role with only reads and writes works on as before
            _core.log.warning("%s: vectors or tsvectors are stored out of line, which slows exact and full-text "
                              "search several times; ask the table's owner to run ALTER TABLE %s %s", self.table,
                              self.table, ", ".join(changes))

    def _found_version(self) -> Steps:
        rows = yield Step(sql.SQL("SELECT to_regclass(%s), to_regclass(%s)"),
                          (f'"{self.table}"', f'"{self.table}_schema_version"'))
        has_table, has_versions = rows[0]
        if has_versions:
            rows = yield Step(sql.SQL("SELECT max(version) FROM {}").format(self.versions))
            return int(rows[0][0])
        return 0 if has_table else -1

    def _to_v0(self) -> Steps:
        yield Step(sql.SQL("CREATE TABLE {} (tenant text NOT NULL, id text NOT NULL, text text NOT NULL, "
                           "vector vector({}), metadata jsonb NOT NULL DEFAULT '{{}}', PRIMARY KEY (tenant, id))"
                           ).format(self.t, sql.Literal(self.dimensions)))

    def _to_v1(self) -> Steps:
        yield Step(sql.SQL("CREATE TABLE {} (version integer NOT NULL)").format(self.versions))
        yield Step(sql.SQL("INSERT INTO {} (version) VALUES (1)").format(self.versions))
        yield Step(sql.SQL("ALTER TABLE {} ADD COLUMN created_at double precision NOT NULL DEFAULT 0"
                           ).format(self.t))

    def _to_v2(self) -> Steps:
        rows = yield Step(sql.SQL("SELECT vector_dims(vector) FROM {} WHERE vector IS NOT NULL LIMIT 1"
                                  ).format(self.t))
        yield Step(sql.SQL("CREATE TABLE {} (key text PRIMARY KEY, value text NOT NULL)").format(self.info))
        yield Step(sql.SQL("INSERT INTO {} (key, value) VALUES ('dimensions', %s)").format(self.info),
                   (str(rows[0][0] if rows else self.dimensions),))
        yield Step(sql.SQL("CREATE TABLE {} (tenant text PRIMARY KEY, index_name text NOT NULL)"
                           ).format(self.indexed))

    def _to_v3(self) -> Steps:
        # Partitions inside a tenant, and lexical search in the table: a tsvector kept by PostgreSQL itself in
        # every write's transaction, under a GIN index.
        yield Step(sql.SQL("ALTER TABLE {} ADD COLUMN part text NOT NULL DEFAULT ''").format(self.t))
        yield Step(sql.SQL("ALTER TABLE {} ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
                           "(to_tsvector('simple', text)) STORED").format(self.t))
        yield Step(sql.SQL("CREATE INDEX {} ON {} USING gin (tsv)").format(
            sql.Identifier(f"{self.table}_tsv"), self.t))
        yield Step(sql.SQL("CREATE INDEX {} ON {} (tenant, part)").format(
            sql.Identifier(f"{self.table}_part"), self.t))
        yield Step(sql.SQL("ALTER TABLE {} ADD COLUMN part text NOT NULL DEFAULT ''").format(self.indexed))
        yield Step(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}, ADD PRIMARY KEY (tenant, part)").format(
            self.indexed, sql.Identifier(f"{self.table}_hnsw_pkey")))

    def _to_v4(self) -> Steps:
        # A write count per record (1 on insert, +1 on each rewrite), for compare-and-set on versions.
        yield Step(sql.SQL("ALTER TABLE {} ADD COLUMN version bigint NOT NULL DEFAULT 1").format(self.t))

    # --- the embedder ---------------------------------------------------------------------------------------

    def bind_embedder(self, name: str) -> Steps:
        """Validate now; the steps bind the store to the embedder `name` (see `_core.EmbedderBinding`): a table
        with vectors but no recorded name adopts it, one recording another raises EmbedderMismatchError."""
        return self._bind(self.embedder.wanted(name))

    def _bind(self, name: str) -> Steps:
        if self.embedder.confirmed:
            return
        recorded = yield from self._recorded()
        adopted = False
        if recorded is None:  # one statement, so its own transaction (autocommit)
            count = yield Step(sql.SQL("INSERT INTO {} (key, value) SELECT %s, %s WHERE EXISTS (SELECT 1 FROM {} "
                                       "WHERE vector IS NOT NULL) ON CONFLICT (key) DO NOTHING").format(
                self.info, self.t), (_core.EMBEDDER_KEY, name))
            adopted = count == 1
            recorded = yield from self._recorded()
        self.embedder.bound(name, recorded, adopted=adopted)

    def _recorded(self) -> Steps:
        rows = yield Step(sql.SQL("SELECT value FROM {} WHERE key = %s").format(self.info), (_core.EMBEDDER_KEY,))
        return str(rows[0][0]) if rows else None

    def _settle_embedder(self, *, adds_vectors: bool) -> Steps:
        """In a write transaction: record the bound name if this write adds the table's first vectors (the insert
        goes first, so of two writers racing on an empty table the second waits, then sees the first's name);
        True when the recorded name is ours (final once the write commits)."""
        if self.embedder.settled:
            return False
        if adds_vectors:
            yield Step(sql.SQL("INSERT INTO {} (key, value) VALUES (%s, %s) ON CONFLICT (key) DO NOTHING").format(
                self.info), (_core.EMBEDDER_KEY, self.embedder.name))
        recorded = yield from self._recorded()
        return self.embedder.check(recorded)

    # --- writes ---------------------------------------------------------------------------------------------

    def upsert(self, records: Sequence[Record], *, tenant: str, partition: str = "") -> Steps:
        """Validate now; the steps insert or replace the batch in `partition` of `tenant` in one transaction."""
        return self.upsert_partitions({partition: records}, tenant=tenant, expect=None)

    def upsert_partitions(self, batches: Any, *, tenant: str, expect: Any) -> Steps:
        """Validate now; the steps write every partition's batch in one transaction, after checking `expect`
        (record id -> the version it must have, or the text it must hold; None: absent) under row locks."""
        _core.check_tenant(tenant)
        parts = _core.validate_partitions(batches, dimensions=self.dimensions, max_text_chars=self.max_text_chars)
        return self._upsert(parts, tenant, _core.check_expect(expect))

    def _upsert(self, parts: list[tuple[str, _core.Batch]], tenant: str, expect: dict[str, str | int | None]) -> Steps:
        rows = [(tenant, r.id, r.text, v, meta, float(r.created_at), partition)
                for partition, batch in parts for r, v, meta in zip(batch.records, batch.vectors, batch.metadata_json)]
        if not rows and not expect:
            return
        # COPY into a session-private staging table, then one INSERT … ON CONFLICT: ~1.7x the rows per second
        # of executemany (measured at 384-d), and still one transaction.
        stage = sql.Identifier(f"{self.table}_stage3")
        yield BEGIN
        ours = yield from self._settle_embedder(adds_vectors=_core.has_vectors(parts))
        if expect:
            found = yield Step(sql.SQL("SELECT id, text, version FROM {} WHERE tenant = %s AND id = ANY(%s) "
                                       "FOR UPDATE").format(self.t), (tenant, list(expect)))
            _core.check_expected({i: (text, int(v)) for i, text, v in found}, expect, "postgres")
        if not rows:
            yield COMMIT
            self.embedder.confirmed |= ours
            return
        yield Step(sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {} (tenant text, id text, text text, vector vector({}), "
                           "metadata text, created_at float8, part text) ON COMMIT DELETE ROWS"
                           ).format(stage, sql.Literal(self.dimensions)))
        yield Step(sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(stage), rows,
                   copy_types=("text", "text", "text", "vector", "text", "float8", "text"))
        yield Step(sql.SQL("INSERT INTO {t} (tenant, id, text, vector, metadata, created_at, part, version) "
                           "SELECT tenant, id, text, vector, metadata::jsonb, created_at, part, 1 FROM {s} "
                           "ON CONFLICT (tenant, id) DO UPDATE SET text = excluded.text, vector = excluded.vector, "
                           "metadata = excluded.metadata, created_at = excluded.created_at, part = excluded.part, "
                           "version = {t}.version + 1").format(t=self.t, s=stage))
        yield COMMIT
        self.embedder.confirmed |= ours
        yield from self._analyze_after(len(rows))

    def _analyze_after(self, written: int) -> Steps:
        """ANALYZE after a write of at least ANALYZE_MIN_ROWS rows into a table that had never been analyzed or at
        most as many rows: autovacuum analyzes a changed table only at its next round (up to a minute later), and
        until then the planner plans for the table as it was: a just-loaded tier's full-text search took 52 ms a
        question at 20k memories, 35 ms analyzed (ANALYZE itself: 0.25 s). A table analyzed each time it doubles
        is analyzed O(log n) times while it is loaded in batches. Run after the commit, so the write is kept
        whatever happens to it; it leaves the work to autovacuum if its lock is held (an index build, autovacuum
        itself)."""
        if written < ANALYZE_MIN_ROWS:
            return
        rows = yield Step(sql.SQL("SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)"), (f'"{self.table}"',))
        if rows and rows[0][0] > written:  # reltuples is -1 before the first ANALYZE
            return
        yield _waiting_at_most(sql.SQL("ANALYZE {}").format(self.t))

    # --- HNSW indexes (steps for a connection of their own: a build takes minutes) ------------------------------

    def build_index(self, *, tenant: str, partition: str,
                    maintenance_work_mem_mb: int | None) -> Plan[_core.IndexBuild]:
        """Validate now; the steps build the partial HNSW index of `partition` of `tenant` concurrently and
        register it."""
        _core.check_tenant(tenant)
        _core.check_partition(partition)
        return self._build_index(tenant, partition, self._hnsw(), _check_memory(maintenance_work_mem_mb))

    def build_indexes(self, *, maintenance_work_mem_mb: int | None) -> Plan[list[_core.IndexBuild]]:
        """Validate now; the steps index every partition of at least `min_vectors` vectors that has no index."""
        search, memory_mb = self._hnsw(), _check_memory(maintenance_work_mem_mb)
        return self._build_indexes(search, memory_mb)

    def _hnsw(self) -> _core.HnswSearch:
        if not isinstance(self.search, _core.HnswSearch):
            raise UsageError("this store searches exactly; open it with search=HnswSearch(...) to build and use "
                             "HNSW indexes")
        return self.search

    def _build_indexes(self, search: _core.HnswSearch, memory_mb: int | None) -> Steps:
        rows = yield Step(sql.SQL("SELECT tenant, part FROM {} WHERE vector IS NOT NULL GROUP BY tenant, part "
                                  "HAVING count(*) >= %s EXCEPT SELECT tenant, part FROM {} ORDER BY 1, 2").format(
            self.t, self.indexed), (search.min_vectors,))
        builds = []
        for tenant, part in rows:
            builds.append((yield from self._build_index(tenant, part, search, memory_mb)))
        return builds

    def _build_index(self, tenant: str, part: str, search: _core.HnswSearch, memory_mb: int | None
                     ) -> Steps:
        started, name = time.monotonic(), self.index_name(tenant, part)
        scope, params = _scope(tenant, part)
        yield Step(sql.SQL("SELECT pg_advisory_lock(hashtext(%s))"), (name,))  # freed when the connection closes
        rows = yield Step(sql.SQL("SELECT count(*) FROM {} WHERE {} AND vector IS NOT NULL").format(self.t, scope),
                          params)
        vectors = int(rows[0][0])
        rows = yield Step(sql.SQL("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%s)"), (f'"{name}"',))
        built = not (rows and rows[0][0])
        if built:
            if rows:  # an earlier build failed half-way; no one else builds it (we hold the lock)
                yield Step(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name)))
            yield from self._create_index(name, tenant, part, search,
                                          memory_mb or _graph_mb(vectors, self.dimensions))
        yield Step(sql.SQL("INSERT INTO {} (tenant, part, index_name) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
                           ).format(self.indexed), (tenant, part, name))
        yield Step(sql.SQL("SELECT pg_advisory_unlock(hashtext(%s))"), (name,))
        self._index_known[(tenant, part)] = (True, time.monotonic() + INDEX_CHECK_TTL_S)
        return _core.IndexBuild(tenant, vectors, built, time.monotonic() - started)

    def _create_index(self, name: str, tenant: str, part: str, search: _core.HnswSearch,
                      memory_mb: int) -> Steps:
        # pgvector builds ~10x faster while the graph fits in maintenance_work_mem.
        yield Step(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(f"{memory_mb}MB")))
        yield Step(sql.SQL("CREATE INDEX CONCURRENTLY IF NOT EXISTS {} ON {} USING hnsw (vector vector_cosine_ops) "
                           "WITH (m = {}, ef_construction = {}) WHERE {}").format(
            sql.Identifier(name), self.t, sql.Literal(search.m), sql.Literal(search.ef_construction),
            _literal_scope(tenant, part)))
        yield Step(sql.SQL("RESET maintenance_work_mem"))
        yield Step(sql.SQL("ANALYZE {}").format(self.t))  # so the planner knows the tenant is large

    def index_name(self, tenant: str, partition: str = "") -> str:
        """The name of the partial HNSW index of `partition` of `tenant`; a hash, since tenant names are not
        identifiers ('' keeps the name it had before partitions)."""
        key = tenant if not partition else f"{tenant}\x00{partition}"
        return f"{self.table}_hnsw_{hashlib.sha1(key.encode()).hexdigest()[:16]}"

    def delete(self, ids: Sequence[str], *, tenant: str) -> Plan[int]:
        """Delete these ids from `tenant` (whatever their partition); returns how many existed."""
        _core.check_tenant(tenant)
        return self._delete(_core.check_ids(ids), tenant)

    def _delete(self, ids: list[str], tenant: str) -> Steps:
        if not ids:
            return 0
        rows = yield Step(sql.SQL("DELETE FROM {} WHERE tenant = %s AND id = ANY(%s) RETURNING 1").format(self.t),
                          (tenant, ids))
        return len(rows)

    def drop_tenant(self, tenant: str) -> Plan[int]:
        """Delete every record of `tenant`, in every partition, and its HNSW indexes; returns how many records
        there were."""
        _core.check_tenant(tenant)
        return self._drop_tenant(tenant)

    def _drop_tenant(self, tenant: str) -> Steps:
        yield BEGIN
        parts = yield Step(sql.SQL("SELECT DISTINCT part FROM {} WHERE tenant = %s").format(self.t), (tenant,))
        count = yield Step(sql.SQL("DELETE FROM {} WHERE tenant = %s").format(self.t), (tenant,))
        yield Step(sql.SQL("DELETE FROM {} WHERE tenant = %s").format(self.indexed), (tenant,))
        # By name, not by the registry: a build that failed half-way leaves an unregistered, invalid index.
        for part in [row[0] for row in parts]:
            yield Step(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(self.index_name(tenant, part))))
        yield COMMIT
        for key in [k for k in self._index_known if k[0] == tenant]:
            self._index_known.pop(key, None)
        return count

    # --- reads ----------------------------------------------------------------------------------------------

    def query(self, vector: Sequence[float], k: int, *, tenant: str, where: Where | None,
              partition: str = "", ef_search: int | None = None, vectors: bool = True) -> Plan[list[Hit]]:
        """Validate now; the steps return the top-k hits of `partition` of `tenant`: exact, or HNSW on a
        partition with an index (with `ef_search` if given); `vectors=False`: records without vectors."""
        _core.check_tenant(tenant)
        part = _core.check_partition(partition)
        q = _core.check_vector(vector, self.dimensions)
        _core.check_k(k)
        ef_search = _core.check_ef_search(ef_search)
        return self._query(q, k, tenant, part, parse_where(where), ef_search, _core.check_vectors(vectors))

    def _query(self, q: np.ndarray, k: int, tenant: str, part: str,
               conditions: tuple[Condition, ...], ef_search: int | None = None, vectors: bool = True) -> Steps:
        if not self.embedder.settled:
            self.embedder.seen((yield from self._recorded()))
        use_index = False
        if not conditions and isinstance(self.search, _core.HnswSearch):
            use_index = yield from self._has_index(tenant, part)
        if use_index and isinstance(self.search, _core.HnswSearch):
            rows = yield from self._hnsw_query(q, k, tenant, part, self.search, ef_search, vectors)
        else:
            rows = yield self._exact_query(q, k, tenant, part, conditions, vectors)
        return [Hit(_record(row[:6]), float(row[6])) for row in rows]

    def _exact_query(self, q: np.ndarray, k: int, tenant: str, part: str,
                     conditions: tuple[Condition, ...], vectors: bool = True) -> Step:
        clause, params = to_postgres(conditions)
        scope, scope_params = _scope(tenant, part)
        # "+ 0" makes the sort key an expression no HNSW index serves, so this is always an exact scan of the
        # scope's rows (found through a btree) feeding a top-k heap sort.
        query = sql.SQL(
            "WITH best AS (SELECT id, distance FROM (SELECT id, vector <=> %b AS distance FROM {t} "
            "WHERE {scope} AND vector IS NOT NULL AND {clause}) scored "
            "ORDER BY distance + 0, id COLLATE \"C\" LIMIT %s) "
            "SELECT r.id, r.text, {vector}, r.metadata, r.created_at, r.version, 1 - best.distance FROM best "
            "JOIN {t} r ON r.tenant = %s AND r.id = best.id ORDER BY best.distance, best.id COLLATE \"C\""
        ).format(t=self.t, scope=scope, clause=sql.SQL(clause), vector=_vector_column("r.vector", vectors))
        return Step(query, (q, *scope_params, *params, k, tenant))

    def search_text(self, query: str, k: int, *, tenant: str, where: Where | None,
                    partition: str = "", vectors: bool = True) -> Plan[list[Hit]]:
        """Validate now; the steps return the `k` records of `partition` of `tenant` that best match the words
        of `query` by PostgreSQL full-text search (ts_rank over the GIN-indexed tsvector)."""
        _core.check_tenant(tenant)
        part = _core.check_partition(partition)
        _core.check_k(k)
        terms = _core.lexical_terms(query)
        return self._search_text(terms, k, tenant, part, parse_where(where), _core.check_vectors(vectors))

    def _search_text(self, terms: list[str], k: int, tenant: str, part: str,
                     conditions: tuple[Condition, ...], vectors: bool = True) -> Steps:
        if not terms:
            return []
        clause, params = to_postgres(conditions)
        scope, scope_params = _scope(tenant, part)
        tsquery = " | ".join("'" + t.replace("'", "''") + "'" for t in terms)
        # Ranked by id and score alone, then the k rows read: the sort carries no vectors (the statement alone at 20k
        # memories: 28 ms against 32 ms).
        rows = yield Step(sql.SQL(
            "WITH best AS (SELECT id, ts_rank(tsv, q) AS score FROM {t}, to_tsquery('simple', %s) q "
            "WHERE {scope} AND tsv @@ q AND {clause} ORDER BY score DESC, id COLLATE \"C\" LIMIT %s) "
            "SELECT r.id, r.text, {vector}, r.metadata, r.created_at, r.version, best.score FROM best "
            "JOIN {t} r ON r.tenant = %s AND r.id = best.id ORDER BY best.score DESC, best.id COLLATE \"C\""
        ).format(t=self.t, scope=scope, clause=sql.SQL(clause), vector=_vector_column("r.vector", vectors)),
            (tsquery, *scope_params, *params, k, tenant))
        return [Hit(_record(row[:6]), float(row[6])) for row in rows]

    def _has_index(self, tenant: str, part: str) -> Steps:
        known = self._index_known.get((tenant, part))
        if known is not None and known[1] > time.monotonic():
            return known[0]
        rows = yield Step(sql.SQL("SELECT 1 FROM {} WHERE tenant = %s AND part = %s").format(self.indexed),
                          (tenant, part))
        self._index_known[(tenant, part)] = (bool(rows), time.monotonic() + INDEX_CHECK_TTL_S)
        return bool(rows)

    def _hnsw_query(self, q: np.ndarray, k: int, tenant: str, part: str, search: _core.HnswSearch,
                    ef_search: int | None, vectors: bool = True) -> Steps:
        """HNSW's top k with `ef_search` (None: `search`'s): SET LOCAL in a transaction unless the session's (set
        at connect from `search`) will do."""
        # The scope is literal so that the planner can prove the partial index's predicate.
        query = Step(sql.SQL(
            "SELECT id, text, {}, metadata, created_at, version, 1 - (vector <=> %b) FROM {} "
            "WHERE {} AND vector IS NOT NULL ORDER BY vector <=> %b LIMIT %s"
        ).format(_vector_column("vector", vectors), self.t, _literal_scope(tenant, part)), (q, q, k))
        if _ef(search, k, ef_search) == _ef(search, 1):
            return (yield query)
        yield BEGIN
        yield Step(sql.SQL("SET LOCAL hnsw.ef_search = {}").format(sql.Literal(_ef(search, k, ef_search))))
        rows = yield query
        yield COMMIT
        return rows

    def get(self, ids: Sequence[str], *, tenant: str) -> Plan[list[Record]]:
        """The records of `tenant` with these ids, in the order asked."""
        _core.check_tenant(tenant)
        return self._get(_core.check_ids(ids), tenant)

    def _get(self, ids: list[str], tenant: str) -> Steps:
        rows = yield Step(sql.SQL("SELECT id, text, vector, metadata, created_at, version FROM {} "
                                  "WHERE tenant = %s AND id = ANY(%s)").format(self.t), (tenant, ids))
        found = {r.id: r for r in map(_record, rows)}
        return [found[i] for i in ids if i in found]

    def count(self, *, tenant: str, partition: str | None = None) -> Plan[int]:
        """How many records `tenant` (or `partition` of it) holds."""
        _core.check_tenant(tenant)
        scope, params = _scope(tenant, _core.check_scope(partition))
        return self._scalar(sql.SQL("SELECT count(*) FROM {} WHERE {}").format(self.t, scope), params)

    def _scalar(self, query: sql.Composable, params: Sequence[Any]) -> Steps:
        rows = yield Step(query, params)
        return int(rows[0][0])

    def tenants(self) -> Plan[list[str]]:
        """The tenants that hold at least one record, sorted."""
        rows = yield Step(sql.SQL("SELECT tenant COLLATE \"C\" AS t FROM {} GROUP BY 1 ORDER BY 1").format(self.t))
        return [row[0] for row in rows]

    def scan(self, *, tenant: str, where: Where | None, limit: int | None,
             partition: str | None = None) -> Plan[list[Record]]:
        """The records of `tenant` (or `partition` of it) matching `where`, oldest first (then by id), at most
        `limit`."""
        _core.check_tenant(tenant)
        part = _core.check_scope(partition)
        clause, params = to_postgres(parse_where(where))
        _core.check_limit(limit)
        return self._scan(tenant, part, clause, params, limit)

    def _scan(self, tenant: str, part: str | None, clause: str, params: list[Any], limit: int | None) -> Steps:
        scope, scope_params = _scope(tenant, part)
        rows = yield Step(sql.SQL("SELECT id, text, vector, metadata, created_at, version FROM {} WHERE {} AND {} "
                                  "ORDER BY created_at, id COLLATE \"C\" LIMIT %s").format(
            self.t, scope, sql.SQL(clause)), (*scope_params, *params, limit))
        return [_record(row) for row in rows]


def _scope(tenant: str, part: str | None) -> tuple[sql.Composable, tuple[str, ...]]:
    """The WHERE clause of a scope (a tenant, or one partition of it) and its parameters."""
    if part is None:
        return sql.SQL("tenant = %s"), (tenant,)
    return sql.SQL("tenant = %s AND part = %s"), (tenant, part)


def _waiting_at_most(statement: sql.Composable) -> Step:
    """`statement` run only if its lock comes within LOCK_WAIT_MS (else nothing happens): upkeep (a table's
    storage, ANALYZE) must not queue every call on the table behind a long query or a concurrent index build."""
    return Step(sql.SQL(
        "DO $$ DECLARE before text := current_setting('lock_timeout'); BEGIN "
        "PERFORM set_config('lock_timeout', {wait}, true); {statement}; "
        "PERFORM set_config('lock_timeout', before, true); "
        "EXCEPTION WHEN lock_not_available THEN NULL; END $$").format(
            statement=statement, wait=sql.Literal(str(LOCK_WAIT_MS))))


def _literal_scope(tenant: str, part: str) -> sql.Composable:
    """The scope with literal values, as a partial index's predicate and the queries it serves must be."""
    return sql.SQL("tenant = {} AND part = {}").format(sql.Literal(tenant), sql.Literal(part))


def _check_memory(memory_mb: int | None) -> int | None:
    if memory_mb is not None and (not isinstance(memory_mb, int) or isinstance(memory_mb, bool) or memory_mb < 1):
        raise UsageError(f"maintenance_work_mem_mb must be a positive int or None, got {memory_mb!r}")
    return memory_mb


def _graph_mb(vectors: int, dimensions: int) -> int:
    """maintenance_work_mem (MB) to hold pgvector's HNSW graph: the vector plus ~700 bytes of neighbour lists and
    element header (m = 16) per row, a quarter more for slack; between 64 MB and 4 GB."""
    return min(4096, max(64, math.ceil(vectors * (4 * dimensions + 700) * 1.25 / 2**20)))


def _ef(search: _core.HnswSearch, k: int, ef_search: int | None = None) -> int:
    """hnsw.ef_search for a top-k query (`ef_search`, None: `search`'s): at least k, at most pgvector's 1000."""
    return min(1000, max(k, ef_search or search.ef_search))


def _vector_column(column: str, vectors: bool) -> sql.Composable:
    """The vector column of a search's SELECT, or NULL when its hits come without vectors."""
    return sql.SQL(column if vectors else "NULL::vector")


def _record(row: Sequence[Any]) -> Record:
    record_id, text, vector, metadata, created_at, version = row
    values = None if vector is None else tuple(vector.to_numpy().astype(float).tolist())
    return Record(record_id, text, values, metadata, float(created_at), int(version))
