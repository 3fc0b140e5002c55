"""The I/O-free part every store shares: validation of tenants, records and queries, exact top-k, search plans."""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, replace
from typing import Any
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from contextwise.errors import UsageError
from contextwise.stores._errors import (
    DimensionMismatchError, DuplicateIdError, EmbedderMismatchError, InvalidRecordError, InvalidTenantError,
    InvalidVectorError, TextTooLongError,
)
from contextwise.types import Hit, Record

# \Z, not $: "$" also matches before a final newline, which would let "alice\n" through as a tenant.
TENANT_PATTERN = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.:@\-]{0,127}\Z")
MAX_QUERY_CHARS = 20_000
MAX_METADATA_CHARS = 1_000_000
MAX_METADATA_DEPTH = 32
MAX_ID_CHARS = 512
DEFAULT_MAX_TEXT_CHARS = 200_000
MAX_K = 10_000
#: The key under which a store's info (SQLite `store_info`, PostgreSQL `<table>_info`) records its embedder.
EMBEDDER_KEY = "embedder"
MAX_EMBEDDER_CHARS = 256
log = logging.getLogger("contextwise.stores")


@dataclass(frozen=True)
class ExactSearch:
    """Exact cosine search over every vector of the tenant (the default; always exact)."""


@dataclass(frozen=True)
class HnswSearch:
    """An HNSW index for tenants of at least `min_vectors` vectors, used only for queries without a `where`.

    Filtered queries and smaller tenants are always searched exactly, so a filter never lowers recall.
    SQLiteStore builds a tenant's index in-process at its first unfiltered query; PostgresStore builds one only
    when asked (`build_index` / `build_indexes`), since a build there takes minutes to tens of minutes.
    The default `min_vectors` comes from benchmarks/bench_stores.py on a busy 2-core machine (384-d): exact
    search in numpy took ~24 ms p50 at 100k vectors and grows linearly (~50 ms at 200k), while building an
    HNSW index took ~170 s at 100k; below 200k exact search is fast enough and needs no build.
    `ef_search` trades speed for recall; measure recall on your data (the benchmark prints it). At 400,
    recall@10 was 1.000 at 100k vectors but 0.988-0.995 at 1M over two builds (SQLite, hnswlib, clustered
    384-d); on one 1M index, 800 gave 0.9995 and 1200 and 2000 gave 1.000 (200 queries), hence 800. pgvector
    caps it at 1000; its 1M index gave 0.991 at 400, 0.9965 at 800 and 0.997 at 1000. Episodic recall reads 60
    deep: on a 200k tier of real MiniLM vectors, 800 gave memory-level recall@10 0.994 (9.8 ms); vectors with many
    near-ties (HashEmbedder) needed 1200 for 0.991 (benchmarks/bench_memory.py --ef-search). One query can ask
    for another (`query(..., ef_search=)`): hybrid memory recall asks 1200 of the dense search it runs beside
    the (slower) lexical one (memory._base.HYBRID_EF_SEARCH).
    """

    min_vectors: int = 200_000
    m: int = 16
    ef_construction: int = 200
    ef_search: int = 800

    def __post_init__(self) -> None:
        if self.min_vectors < 1 or self.m < 2 or self.ef_construction < 1 or self.ef_search < 1:
            raise UsageError("HnswSearch needs min_vectors >= 1, m >= 2, ef_construction >= 1, ef_search >= 1")


Search = ExactSearch | HnswSearch


def check_vectors(vectors: Any) -> bool:
    """Return `vectors` (whether a search's hits carry their records' vectors) if it is a bool, else raise
    UsageError. Leaving them out (False) spares reading and decoding 1.5 kB a hit at 384-d: memory recall, which
    reads only texts and metadata, is ~2 ms faster at 200k memories (benchmarks/bench_memory.py)."""
    if not isinstance(vectors, bool):
        raise UsageError(f"vectors must be True or False, got {vectors!r}")
    return vectors


def check_ef_search(ef_search: Any) -> int | None:
    """Return `ef_search` (one query's HNSW ef_search) if it is None or an int in 1..100,000, else raise UsageError."""
    if ef_search is None:
        return None
    if not isinstance(ef_search, int) or isinstance(ef_search, bool) or not 0 < ef_search <= 100_000:
        raise UsageError(f"ef_search must be None or an int in 1..100000, got {ef_search!r}")
    return ef_search


@dataclass(frozen=True)
class IndexBuild:
    """What `build_index` did for one tenant: `built` is False when a valid index was already there."""

    tenant: str
    vectors: int
    built: bool
    elapsed_s: float


def check_tenant(tenant: Any) -> str:
    """Return `tenant` if it is a valid tenant name, else raise InvalidTenantError."""
    if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
        raise InvalidTenantError(
            f"bad tenant {tenant!r}: use 1-128 letters, digits or _ - . : @, starting with a letter or digit")
    return tenant


def check_partition(partition: Any) -> str:
    """Return `partition` if it is "" (the default partition) or a valid name (the tenant rule)."""
    if partition == "":
        return ""
    if not isinstance(partition, str) or not TENANT_PATTERN.match(partition):
        raise InvalidTenantError(
            f"bad partition {partition!r}: use '' or 1-128 letters, digits or _ - . : @, starting with a letter "
            "or digit")
    return partition


def check_scope(partition: Any) -> str | None:
    """`check_partition`, where None (every partition of the tenant) is allowed too: listing and counting."""
    return None if partition is None else check_partition(partition)


def check_dimensions(dimensions: Any) -> int:
    """Return `dimensions` if it is a positive int, else raise UsageError."""
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or not 0 < dimensions <= 16_000:
        raise UsageError(f"dimensions must be an int in 1..16000, got {dimensions!r}")
    return dimensions


def check_k(k: Any) -> int:
    """Return `k` if it is an int in 1..MAX_K, else raise UsageError."""
    if not isinstance(k, int) or isinstance(k, bool) or not 0 < k <= MAX_K:
        raise UsageError(f"k must be an int in 1..{MAX_K}, got {k!r}")
    return k


def check_vector(vector: Any, dimensions: int, *, what: str = "query vector") -> np.ndarray:
    """The vector scaled to unit length, as float32 (dimensions,), or DimensionMismatchError /
    InvalidVectorError.

    The direction is computed in float64 after scaling by the largest component, so vectors of tiny (1e-30) or
    huge (1e30) norms normalise exactly; cosine search needs only the direction, so stores keep the unit vector.
    """
    try:
        arr = np.asarray(vector, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidVectorError(f"{what} is not a sequence of numbers") from exc
    if arr.ndim != 1 or arr.shape[0] != dimensions:
        raise DimensionMismatchError(f"{what} has shape {arr.shape}, the store holds {dimensions}-d vectors")
    if not np.isfinite(arr).all():
        raise InvalidVectorError(f"{what} holds NaN or infinity")
    unit = _unit64(arr)
    if unit is None:
        raise InvalidVectorError(f"{what} is all zeros; cosine similarity is undefined for it")
    return unit.astype(np.float32)


def _unit64(arr: np.ndarray) -> np.ndarray | None:
    peak = float(np.max(np.abs(arr))) if arr.size else 0.0
    if peak == 0.0:
        return None
    scaled: np.ndarray = arr / peak
    return np.asarray(scaled / np.linalg.norm(scaled))


def normalized(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32); rows whose float32 norm under- or overflows are done in float64."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
        out = (matrix / norms).astype(np.float32, copy=False)
    if matrix.ndim == 2:
        bad = ~np.isfinite(out).all(axis=1) | (norms[:, 0] < 1e-18) | (norms[:, 0] > 1e18)
        for row in np.flatnonzero(bad):
            unit = _unit64(matrix[row].astype(np.float64))
            out[row] = 0.0 if unit is None else unit
    return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True)
class Batch:
    """A validated upsert batch: the records, their vectors as float32 arrays and their metadata as JSON."""

    records: tuple[Record, ...]
    vectors: tuple[np.ndarray | None, ...]
    metadata_json: tuple[str, ...]

    def stored(self) -> list[Record]:
        """The records as a store reads them back: float32-rounded vectors, JSON-normalised metadata."""
        return [Record(r.id, r.text, None if v is None else tuple(v.tolist()), json.loads(meta), float(r.created_at))
                for r, v, meta in zip(self.records, self.vectors, self.metadata_json)]


def validate_batch(records: Sequence[Record], *, dimensions: int, max_text_chars: int) -> Batch:
    """Check every record before anything is written; raise an InvalidRecordError subclass on the first bad one."""
    if isinstance(records, Record) or not isinstance(records, Sequence):
        raise InvalidRecordError("upsert takes a sequence of Record")
    seen: set[str] = set()
    checked = [_check_record(record, seen, dimensions, max_text_chars) for record in records]
    return Batch(tuple(records), tuple(c[0] for c in checked), tuple(c[1] for c in checked))


def _check_record(record: Any, seen: set[str], dimensions: int, max_text_chars: int) -> tuple[Any, str]:
    if not isinstance(record, Record):
        raise InvalidRecordError(f"upsert takes Record objects, got {type(record).__name__}")
    check_id(record.id)
    if record.id in seen:
        raise DuplicateIdError(f"id {record.id!r} appears twice in one batch; send each id once")
    seen.add(record.id)
    if not isinstance(record.text, str):
        raise InvalidRecordError(f"record {record.id!r}: text must be a str")
    check_storable(record.id, record.text, "text")
    if len(record.text) > max_text_chars:
        raise TextTooLongError(
            f"record {record.id!r} has {len(record.text)} chars, over max_text_chars={max_text_chars}; split it")
    check_created_at(record.id, record.created_at)
    vector = None if record.vector is None else check_vector(record.vector, dimensions,
                                                                  what=f"vector of record {record.id!r}")
    return vector, metadata_json(record.id, record.metadata)


def check_created_at(record_id: str, created: Any) -> float:
    """`created` as a float if it is a finite number a float can hold, else InvalidRecordError."""
    try:
        ok = isinstance(created, (int, float)) and not isinstance(created, bool) and math.isfinite(float(created))
    except OverflowError:
        ok = False
    if not ok:
        raise InvalidRecordError(f"record {record_id!r}: created_at must be a finite number of seconds, "
                                 f"got {created!r:.60}")
    return float(created)


def check_id(record_id: Any) -> str:
    """Return `record_id` if it is a non-empty str of at most MAX_ID_CHARS, else raise InvalidRecordError."""
    if not isinstance(record_id, str) or not 0 < len(record_id) <= MAX_ID_CHARS:
        raise InvalidRecordError(f"a record id must be a non-empty str of at most {MAX_ID_CHARS} chars, "
                                 f"got {record_id!r}")
    return check_storable(record_id, record_id, "id")


def check_ids(ids: Sequence[str]) -> list[str]:
    """Validated ids, duplicates dropped, order kept."""
    if isinstance(ids, str) or not isinstance(ids, Sequence):
        raise UsageError("ids must be a sequence of str (not a single str)")
    return list(dict.fromkeys(check_id(i) for i in ids))


def metadata_json(record_id: str, metadata: Mapping[str, Any]) -> str:
    """Metadata as canonical JSON, or InvalidRecordError if it is not a JSON object of finite values."""
    if not isinstance(metadata, Mapping) or not all(isinstance(key, str) for key in metadata):
        raise InvalidRecordError(f"record {record_id!r}: metadata must be a mapping with str keys")
    _check_depth(record_id, metadata)
    try:
        text = json.dumps(dict(metadata), sort_keys=True, allow_nan=False, separators=(",", ":"),
                          ensure_ascii=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise InvalidRecordError(f"record {record_id!r}: metadata must be JSON (finite numbers): {exc}") from exc
    if len(text) > MAX_METADATA_CHARS:
        raise InvalidRecordError(f"record {record_id!r}: metadata is {len(text):,} chars as JSON, over "
                                 f"{MAX_METADATA_CHARS:,}; store large values elsewhere and keep a reference")
    if "\\u0000" in text:
        raise InvalidRecordError(f"record {record_id!r}: metadata strings cannot hold NUL characters")
    return check_storable(record_id, text, "metadata")


def _check_depth(record_id: str, value: Any) -> None:
    """Refuse containers nested deeper than MAX_METADATA_DEPTH (iteratively: deep input must not recurse)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_METADATA_DEPTH:
            raise InvalidRecordError(f"record {record_id!r}: metadata is nested deeper than {MAX_METADATA_DEPTH} "
                                     "levels; flatten it")
        if isinstance(item, Mapping):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1) for v in item)


def check_storable(record_id: str, text: str, what: str) -> str:
    """Return `text` if every back-end can store it (valid UTF-8, no NUL), else raise InvalidRecordError."""
    if "\x00" in text:
        raise InvalidRecordError(f"record {record_id!r}: {what} holds a NUL character, which PostgreSQL refuses")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRecordError(f"record {record_id!r}: {what} is not valid Unicode ({exc.reason})") from exc
    return text


def similarities(unit_matrix: np.ndarray, unit_query: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row to the query (both unit length).

    einsum rather than `@`: OpenBLAS's threaded matrix-vector product stalls for ~20 ms per call on a busy
    2-core machine, and single-threaded SIMD is as fast as memory allows anyway (benchmarks/bench_stores.py).
    """
    scores: np.ndarray = np.einsum("ij,j->i", unit_matrix, unit_query)
    return scores


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the `k` highest scores, best first."""
    if k >= scores.shape[0]:
        return np.argsort(-scores, kind="stable")
    part = np.argpartition(-scores, k - 1)[:k]
    return part[np.argsort(-scores[part], kind="stable")]


def hits(records: Sequence[Record], scores: Iterable[float], *, vectors: bool = True) -> list[Hit]:
    """Hits from records and their scores, in the given order (`vectors=False`: the records without vectors)."""
    return [Hit(r if vectors else without_vector(r), float(s)) for r, s in zip(records, scores)]


def without_vector(record: Record) -> Record:
    """`record` with no vector (what a search asked for `vectors=False` gives)."""
    return record if record.vector is None else replace(record, vector=None)


def check_limit(limit: Any) -> int | None:
    """Return `limit` if it is None or a positive int, else raise UsageError."""
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise UsageError(f"limit must be None or a positive int, got {limit!r}")
    return limit


def scan_order(record: Record) -> tuple[float, str]:
    """The order `scan` returns records in: oldest first, then by id."""
    return (record.created_at, record.id)


class Closing:
    """Context-manager support for stores: `with Store(...) as s:` closes on exit."""

    def close(self) -> None:  # pragma: no cover - overridden
        """Release the store's resources; the store cannot be used afterwards."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def lexical_terms(query: Any) -> list[str]:
    """The distinct terms a lexical search looks for in `query`: the BM25 index's own tokenizer (lower-cased
    words, English stop words left out), so every back-end matches the same words.

    Raises:
        UsageError: the query is not a str or is longer than MAX_QUERY_CHARS.
    """
    if not isinstance(query, str):
        raise UsageError(f"a lexical query must be a str, got {type(query).__name__}")
    if len(query) > MAX_QUERY_CHARS:
        raise UsageError(f"a lexical query of {len(query):,} chars is over {MAX_QUERY_CHARS:,}; shorten it")
    from contextwise.embed import BM25Index

    return list(dict.fromkeys(BM25Index().tokenize(query)))


def validate_partitions(batches: Any, *, dimensions: int, max_text_chars: int) -> list[tuple[str, Batch]]:
    """Check every record of every partition's batch (an id may appear once in all of them) before anything is
    written; the batches validated, in the given order."""
    if not isinstance(batches, Mapping):
        raise InvalidRecordError("upsert_partitions takes a mapping of partition to a sequence of Record")
    parts = [(check_partition(p), rs) for p, rs in batches.items()]
    for _, rs in parts:
        if isinstance(rs, Record) or not isinstance(rs, Sequence):
            raise InvalidRecordError("each partition's batch must be a sequence of Record")
    whole = validate_batch([r for _, rs in parts for r in rs], dimensions=dimensions,
                           max_text_chars=max_text_chars)
    out, start = [], 0
    for partition, rs in parts:
        end = start + len(rs)
        out.append((partition, Batch(whole.records[start:end], whole.vectors[start:end],
                                     whole.metadata_json[start:end])))
        start = end
    return out


Expected = str | int | None


def check_expect(expect: Any) -> dict[str, Expected]:
    """A compare-and-set condition: record id -> the version it must have now (an int >= 1, `Record.version`
    as read), or the text it must hold now (a str), or None: it must not exist."""
    if expect is None:
        return {}
    if not isinstance(expect, Mapping) or not all(
            v is None or isinstance(v, str) or (type(v) is int and 0 < v < 2**63) for v in expect.values()):
        raise UsageError("expect must map record ids to the version they have now (Record.version), the text "
                         "they hold now, or None (absent)")
    return {check_id(i): v for i, v in expect.items()}


def check_expected(current: Mapping[str, tuple[str, int]], expect: Mapping[str, Expected], backend: str) -> None:
    """Raise WriteConflictError unless every expected id has its expected version or text (`current`: id ->
    (text, version) now)."""
    from contextwise.stores._errors import WriteConflictError

    for record_id, wanted in expect.items():
        now = current.get(record_id)
        held = None if now is None else now[1] if isinstance(wanted, int) else now[0]
        if held != wanted:
            raise WriteConflictError(f"record {record_id!r} changed since it was read; read it again and retry",
                                     backend=backend, record_id=record_id)


class EmbedderBinding:
    """Which embedder a store's vectors come from: the one rule every store applies (each runs only its SQL).

    `bind_embedder(name)` binds a store object to an embedder's name (MemoryBackend binds its embedder's). The
    first write that adds vectors records the name in the store's info (`EMBEDDER_KEY`), in that write's
    transaction, and a recorded name never changes: a store bound to another name refuses to write or query
    with EmbedderMismatchError, before it does either. A store holding vectors but no name (written before names
    were recorded, or only by unbound writers) adopts the first name bound, with a warning. A store without
    vectors records nothing until written. Once the recorded name is seen to be ours, nothing is checked again.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self.name: str | None = None
        self.confirmed = False

    def wanted(self, name: Any) -> str:
        """`name`, if it can be bound: a non-empty str every store can hold, and the name this store object is
        bound to already, if it is bound."""
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_EMBEDDER_CHARS:
            raise UsageError(f"an embedder name must be a non-empty str of at most {MAX_EMBEDDER_CHARS} chars, "
                             f"got {name!r:.80}")
        check_storable("(embedder)", name, "the embedder name")
        if self.name is not None and name != self.name:
            if self.confirmed:  # the store holds our vectors: the full message, with the way out
                self.check(self.name, name)
            raise EmbedderMismatchError(
                f"this store object is bound to the embedder {self.name!r}, so it cannot serve {name!r} too: "
                "open a store of its own (another file or table) for the other embedder",
                recorded=self.name, wanted=name)
        return name

    @property
    def settled(self) -> bool:
        """True when no call needs to read the recorded name: unbound, or bound and seen recorded."""
        return self.name is None or self.confirmed

    def bound(self, name: str, recorded: str | None, *, adopted: bool) -> None:
        """Bind `name`, given the name the store has recorded (committed; None: none yet, and no vectors)."""
        self.check(recorded, name)
        self.name, self.confirmed = name, recorded is not None
        if adopted:
            log.warning("%s held vectors but no embedder name (written before stores recorded one); it now "
                        "records %r: if another embedder made them, re-embed them into a new store", self.where,
                        name)

    def check(self, recorded: str | None, name: str | None = None) -> bool:
        """True if `recorded` (the name the store holds now; None: none) is `name` (default: the bound one),
        False if there is none; EmbedderMismatchError if it names another embedder."""
        name = self.name if name is None else name
        if recorded is None or name is None:
            return False
        if recorded != name:
            raise EmbedderMismatchError(
                f"{self.where} holds vectors made by the embedder {recorded!r}, not by {name!r}; vectors of two "
                f"embedders cannot be compared, so nothing was written or queried. Open it with {recorded!r} "
                f"(the same model and compute), or re-embed into a new store: for each tenant of "
                f"store.tenants(), scan() its records, embed their texts with {name!r} and upsert them into a "
                "new file or table", recorded=recorded, wanted=name)
        return True

    def seen(self, recorded: str | None) -> None:
        """`check` a committed recorded name, for a read; a match is final."""
        if self.check(recorded):
            self.confirmed = True


def has_vectors(batches: Sequence[tuple[str, Batch]]) -> bool:
    """Whether any record of these validated batches carries a vector."""
    return any(v is not None for _, batch in batches for v in batch.vectors)
