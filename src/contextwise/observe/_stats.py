"""Aggregates per tenant and per user, over time, in SQLite (embedded) or PostgreSQL; spend limits that alert.

Every observed event becomes one row; summaries and time series are SQL over those rows, so any process that
writes to the same store adds to the same figures.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from contextwise.errors import MissingDependencyError, StoreError, UsageError
from contextwise.observe import _bus
from contextwise.observe._events import (
    CacheLookup, Compression, ContextBuilt, ContextOverflow, Event, ModelCall, PromptTruncated, SpendAlert,
)
from contextwise.observe._exporters import Exporter
from contextwise.observe._sqlite import connect

_COLUMNS = ("at_s", "kind", "tenant", "user_id", "model", "prompt_tokens", "available_tokens", "input_tokens",
            "cached_tokens", "output_tokens", "cost_usd", "keep_ratio", "hit")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS observe_events (
    at_s DOUBLE PRECISION NOT NULL, kind TEXT NOT NULL, tenant TEXT NOT NULL, user_id TEXT NOT NULL,
    model TEXT NOT NULL, prompt_tokens BIGINT, available_tokens BIGINT, input_tokens BIGINT, cached_tokens BIGINT,
    output_tokens BIGINT, cost_usd DOUBLE PRECISION, keep_ratio DOUBLE PRECISION, hit INTEGER
);
CREATE INDEX IF NOT EXISTS observe_events_tenant_at ON observe_events (tenant, at_s);
"""
# The `cache` of CachedCompressor's lookups, which the response-cache hit rate leaves out.
COMPRESSED_CACHE = "compressed"
_INSERT = f"INSERT INTO observe_events ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
# How many slices `series(progress=...)` reads a store in.
PROGRESS_STEPS = 20
_GROUPS = {"tenant": "tenant", "user": "user_id", "model": "model"}
_AGGREGATES = """
    SUM(CASE WHEN kind = 'call' THEN 1 ELSE 0 END),
    SUM(CASE WHEN kind = 'build' THEN 1 ELSE 0 END),
    AVG(CASE WHEN kind = 'build' THEN 1.0 * prompt_tokens / NULLIF(available_tokens, 0) END),
    COALESCE(SUM(CASE WHEN kind = 'call' THEN cost_usd END), 0),
    COALESCE(SUM(CASE WHEN kind = 'call' THEN input_tokens END), 0),
    COALESCE(SUM(CASE WHEN kind = 'call' THEN cached_tokens END), 0),
    COALESCE(SUM(CASE WHEN kind = 'call' THEN output_tokens END), 0),
    SUM(CASE WHEN kind = 'lookup' THEN hit ELSE 0 END),
    SUM(CASE WHEN kind = 'lookup' THEN 1 ELSE 0 END),
    SUM(CASE WHEN kind = 'overflow' THEN 1 ELSE 0 END),
    SUM(CASE WHEN kind = 'truncated' THEN 1 ELSE 0 END),
    AVG(CASE WHEN kind IN ('build', 'compression') THEN keep_ratio END)
"""


@dataclass(frozen=True)
class SpendLimit:
    """At most `usd` of spend per `window_s` seconds for `tenant` (None: every tenant, each on its own).

    >>> SpendLimit(25.0, window_s=86_400, tenant="acme").usd
    25.0
    """

    usd: float
    window_s: float = 86_400.0
    tenant: str | None = None

    def __post_init__(self) -> None:
        if not (self.usd > 0 and math.isfinite(self.usd)) or not self.window_s > 0:
            raise UsageError("SpendLimit needs usd > 0 (finite) and window_s > 0")


@dataclass(frozen=True)
class StatsRow:
    """The aggregates of one group (a tenant, user or model), or of one time bucket of it.

    `utilisation` is the mean prompt/available of the builds; `prompt_cache_ratio` the share of billed input read
    from the provider's cache; `cache_hit_rate` the response cache's hits per lookup (None without lookups);
    `keep_ratio` the mean content kept per build or compression.
    """

    key: str
    calls: int
    builds: int
    utilisation: float | None
    cost_usd: float
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    cache_hits: int
    cache_lookups: int
    overflows: int
    truncations: int
    keep_ratio: float | None
    bucket_start_s: float | None = None

    @property
    def prompt_cache_ratio(self) -> float:
        """cached / billed input tokens (0.0 without calls)."""
        return self.cached_tokens / self.input_tokens if self.input_tokens else 0.0

    @property
    def cache_hit_rate(self) -> float | None:
        """Response-cache hits per lookup, None without lookups."""
        return self.cache_hits / self.cache_lookups if self.cache_lookups else None


class UsageStats(Exporter):
    """An exporter that keeps every event as a row in SQLite or PostgreSQL and aggregates them.

    >>> stats = UsageStats(":memory:", limits=[SpendLimit(1.0, tenant="acme")]).attach()
    >>> stats.summary()
    []
    >>> stats.detach()

    Args:
        target: a SQLite path (":memory:" for a process-local store) or a "postgresql://" DSN.
        limits: spend limits; passing one emits a SpendAlert (once per window and tenant).
    """

    def __init__(self, target: str | os.PathLike[str] = ":memory:", *, limits: Sequence[SpendLimit] = ()) -> None:
        self.target = str(target)
        self.limits = tuple(limits)
        self._lock = threading.Lock()
        self._alerted: dict[tuple[str, float], float] = {}
        self._pg = self.target.startswith(("postgresql://", "postgres://"))
        self._db: Any = _postgres(self.target) if self._pg else connect(self.target, _SCHEMA, backend="stats")

    # -- writing ---------------------------------------------------------------------------------------

    def export(self, event: Event) -> None:
        """Store `event` when it is one the aggregates use; check the spend limits after a priced call."""
        row = _row(event)
        if row is None:
            return
        self._execute(_INSERT, row)
        if isinstance(event, ModelCall) and event.cost_usd and self.limits:
            self._check_limits(event.tenant or "", event.at_s)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        if self._db is None:
            raise StoreError("the stats store is closed", backend="stats")
        with self._lock:
            try:
                cursor = self._db.execute(sql.replace("?", "%s") if self._pg else sql, tuple(params))
                return list(cursor.fetchall()) if cursor.description else []
            except Exception as exc:
                raise StoreError(f"stats query failed: {exc}", backend="stats") from exc

    def _check_limits(self, tenant: str, now_s: float) -> None:
        for limit in self.limits:
            if limit.tenant is not None and limit.tenant != tenant:
                continue
            window_start = now_s - limit.window_s
            last = self._alerted.get((tenant, limit.window_s))
            if last is not None and last > window_start:
                continue  # already alerted inside this window
            spent = self.spent_usd(tenant, window_s=limit.window_s, now_s=now_s)
            if spent > limit.usd:
                self._alerted[(tenant, limit.window_s)] = now_s
                _bus.emit(SpendAlert(spent_usd=spent, limit_usd=limit.usd, window_s=limit.window_s,
                                     scope=_bus.Scope(tenant=tenant or None)))

    # -- reading ---------------------------------------------------------------------------------------

    def spent_usd(self, tenant: str, *, window_s: float, now_s: float | None = None) -> float:
        """What `tenant` spent in the last `window_s` seconds."""
        now = time.time() if now_s is None else now_s
        rows = self._execute("SELECT COALESCE(SUM(cost_usd), 0) FROM observe_events WHERE kind = 'call' AND "
                             "tenant = ? AND at_s > ? AND at_s <= ?", (tenant, now - window_s, now))
        return float(rows[0][0])

    def over_limit(self, tenant: str) -> SpendLimit | None:
        """The first limit `tenant` is over right now (a gateway refuses on it), or None."""
        for limit in self.limits:
            if limit.tenant in (None, tenant) and self.spent_usd(tenant, window_s=limit.window_s) > limit.usd:
                return limit
        return None

    def summary(self, *, by: str = "tenant", since_s: float | None = None,
                until_s: float | None = None) -> list[StatsRow]:
        """One row per tenant, user or model (`by`), over [since_s, until_s], most expensive first."""
        column = self._group(by)
        where, params = _window(since_s, until_s)
        rows = self._execute(f"SELECT {column}, {_AGGREGATES} FROM observe_events {where} GROUP BY {column} "
                             f"ORDER BY 5 DESC, 1", params)
        return [_stats_row(r) for r in rows]

    def series(self, *, bucket_s: float = 3600.0, by: str = "tenant", since_s: float | None = None,
               until_s: float | None = None, progress: Callable[[int, int], object] | None = None) -> list[StatsRow]:
        """The same aggregates per time bucket of `bucket_s` seconds and group, oldest first.

        With `progress`, the store is read in about `PROGRESS_STEPS` slices of whole buckets, calling
        `progress(done, total)` after each (the `stats` CLI's bar on a large store).
        """
        if not bucket_s > 0:
            raise UsageError(f"bucket_s must be positive, got {bucket_s}")
        column = self._group(by)
        bounds = self._execute("SELECT MIN(at_s), MAX(at_s) FROM observe_events")[0]
        if bounds[0] is None:
            return []
        first = math.floor(max(bounds[0], since_s if since_s is not None else bounds[0]) / bucket_s)
        last = math.floor(min(bounds[1], until_s if until_s is not None else bounds[1]) / bucket_s)
        steps = 1 if progress is None else min(PROGRESS_STEPS, last - first + 1)
        per_step = math.ceil((last - first + 1) / max(steps, 1))
        out: list[StatsRow] = []
        for step in range(steps):
            lo, hi = (first + step * per_step) * bucket_s, (first + (step + 1) * per_step) * bucket_s
            out += self._series_slice(column, bucket_s, max(lo, since_s or lo), hi, until_s)
            if progress is not None:
                progress(step + 1, steps)
        return out

    def _series_slice(self, column: str, bucket_s: float, lo: float, hi: float,
                      until_s: float | None) -> list[StatsRow]:
        where = "WHERE at_s >= ? AND at_s < ?" + (" AND at_s <= ?" if until_s is not None else "")
        params = [lo, hi] + ([until_s] if until_s is not None else [])
        bucket = f"FLOOR(at_s / {float(bucket_s)!r}) * {float(bucket_s)!r}"
        rows = self._execute(f"SELECT {column}, {_AGGREGATES}, {bucket} AS bucket FROM observe_events {where} "
                             f"GROUP BY {column}, bucket ORDER BY bucket, 1", params)
        return [_stats_row(r[:-1], bucket_start_s=float(r[-1])) for r in rows]

    def count(self) -> int:
        """How many events are stored."""
        return int(self._execute("SELECT COUNT(*) FROM observe_events")[0][0])

    def iter_rows(self, *, batch: int = 10_000) -> Iterator[tuple[Any, ...]]:
        """Every stored row in time order, a batch at a time (the `stats` CLI reads a large store this way)."""
        offset = 0
        while True:
            rows = self._execute(f"SELECT {', '.join(_COLUMNS)} FROM observe_events ORDER BY at_s "
                                 f"LIMIT {int(batch)} OFFSET {offset}")
            yield from rows
            if len(rows) < batch:
                return
            offset += batch

    def _group(self, by: str) -> str:
        if by not in _GROUPS:
            raise UsageError(f"by must be one of {sorted(_GROUPS)}, got {by!r}")
        return _GROUPS[by]

    def close(self) -> None:
        """Detach and close the store."""
        self.detach()
        if self._db is not None:
            self._db.close()
            self._db = None


def _window(since_s: float | None, until_s: float | None) -> tuple[str, list[float]]:
    clauses, params = [], []
    if since_s is not None:
        clauses.append("at_s >= ?")
        params.append(since_s)
    if until_s is not None:
        clauses.append("at_s <= ?")
        params.append(until_s)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _stats_row(r: Sequence[Any], *, bucket_start_s: float | None = None) -> StatsRow:
    def n(v: Any) -> int:
        return int(v or 0)

    return StatsRow(str(r[0]), n(r[1]), n(r[2]), None if r[3] is None else float(r[3]), float(r[4] or 0),
                    n(r[5]), n(r[6]), n(r[7]), n(r[8]), n(r[9]), n(r[10]), n(r[11]),
                    None if r[12] is None else float(r[12]), bucket_start_s)


def _row(event: Event) -> tuple[Any, ...] | None:
    """The stored row of an event, or None for events the aggregates do not use."""
    if isinstance(event, ModelCall):
        u = event.usage
        return _values(event, "call", event.model, input_tokens=u.input_tokens, cached_tokens=u.cached_input_tokens,
                       output_tokens=u.output_tokens, cost_usd=event.cost_usd or 0.0)
    if isinstance(event, ContextBuilt):
        c = event.composition
        return _values(event, "build", c.model, prompt_tokens=c.prompt_tokens, available_tokens=c.available_tokens,
                       keep_ratio=c.keep_ratio)
    if isinstance(event, CacheLookup):
        if event.cache == COMPRESSED_CACHE:
            return None  # the hit rate is the response cache's: a served compression saves no model call
        return _values(event, "lookup", event.model, hit=int(event.hit))
    if isinstance(event, Compression):
        return _values(event, "compression", event.method, keep_ratio=event.keep_ratio)
    if isinstance(event, ContextOverflow):
        return _values(event, "overflow", event.model, prompt_tokens=event.counted_tokens)
    if isinstance(event, PromptTruncated):
        return _values(event, "truncated", event.model, prompt_tokens=event.counted_tokens)
    return None


def _values(event: Event, kind: str, model: str, **measures: Any) -> tuple[Any, ...]:
    base = {"at_s": event.at_s, "kind": kind, "tenant": event.scope.tenant or "", "user_id": event.scope.user or "",
            "model": model or ""}
    return tuple({**base, **measures}.get(column) for column in _COLUMNS)


def _postgres(dsn: str) -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise MissingDependencyError("UsageStats on PostgreSQL", "postgres") from exc
    try:
        conn = psycopg.connect(dsn, autocommit=True)
        for statement in filter(str.strip, _SCHEMA.split(";")):
            conn.execute(statement)
    except psycopg.Error as exc:
        raise StoreError(f"cannot open the stats store: {exc}", backend="stats") from exc
    return conn
