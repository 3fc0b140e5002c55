"""ResponseCache: exact lookup by the canonical request's hash, then (opt-in) a semantic lookup guarded by the
prompt's anchors; TTLs, per-call controls, and invalidation by what an answer depended on."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any
from collections.abc import Callable, Sequence

from contextwise.cache._entry import Dependency, Entry, Tier, VersionSource, content_version
from contextwise.cache._keys import check_namespace
from contextwise.cache._request import CacheRequest
from contextwise.cache._stores import EntryStore, open_entries
from contextwise.errors import UsageError
from contextwise.observe import _bus, _emit
from contextwise.stores._core import check_tenant
from contextwise.types import Completion


@dataclass(frozen=True)
class CacheControl:
    """Per-call cache controls.

    Args:
        no_cache: do not read the cache (the answer is still stored unless `no_store`).
        no_store: do not store the answer.
        ttl_s: how long the stored answer may be served; None uses the cache's default, 0 is refused.
        namespace: a partition inside the tenant (an app, a prompt version); entries of one are never served
            to another.
        depends_on: what the answer is built from (memory facts, document chunks); the entry is not served
            once one of them changes.
        cache_sampled: cache even though the request samples (temperature > 0); None keeps the model's setting.

    >>> CacheControl(ttl_s=60, namespace="support-bot").namespace
    'support-bot'
    """

    no_cache: bool = False
    no_store: bool = False
    ttl_s: float | None = None
    namespace: str = ""
    depends_on: tuple[Dependency, ...] = ()
    cache_sampled: bool | None = None

    def __post_init__(self) -> None:
        if self.ttl_s is not None and not self.ttl_s > 0:
            raise UsageError(f"ttl_s must be positive (use no_store=True to skip storing), got {self.ttl_s}")
        check_namespace(self.namespace)
        object.__setattr__(self, "depends_on", tuple(self.depends_on))
        if not all(isinstance(d, Dependency) for d in self.depends_on):
            raise UsageError("depends_on takes Dependency objects (see fact_dependencies, chunk_dependencies)")


DEFAULT_CONTROL = CacheControl()
_DROP = ("expired", "stale")


@dataclass(frozen=True)
class Lookup:
    """What one lookup found.

    Attributes:
        key: the exact key of the request (also on a miss and on a semantic hit, whose entry has its own key).
        hit: whether an answer is served.
        tier: "exact", "semantic", or "none" on a miss.
        distance: for a semantic lookup, the cosine distance (1 - similarity) to the nearest entry, also on a
            miss; None when no semantic lookup ran or the partition is empty.
        reason: why it missed ("absent", "expired", "stale: fact f1", "no_cache", "guard: numbers differ", ...).
        entry: the entry served.
    """

    key: str
    hit: bool
    tier: Tier = "none"
    distance: float | None = None
    reason: str = ""
    entry: Entry | None = None

    @property
    def completion(self) -> Completion | None:
        """The cached answer, or None on a miss."""
        return self.entry.completion if self.entry is not None else None


@dataclass
class CacheStats:
    """Counts since the cache was opened (this process), for hit rates and dashboards."""

    exact_hits: int = 0
    semantic_hits: int = 0
    misses: int = 0
    stale: int = 0
    stores: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def hit_rate(self) -> float:
        """Hits over lookups (0.0 before the first lookup)."""
        lookups = self.exact_hits + self.semantic_hits + self.misses
        return (self.exact_hits + self.semantic_hits) / lookups if lookups else 0.0


class ResponseCache:
    """A cache of model answers keyed by the whole canonical request and a mandatory tenant.

    Args:
        spec: "memory:", "sqlite:PATH" (the embedded default; WAL) or "redis://HOST:PORT/DB", or an EntryStore.
        ttl_s: default lifetime of an entry; None keeps entries until invalidated or cleared.
        sources: VersionSources that tell the current version of dependencies (e.g. `fact_versions(memory)`);
            an entry is checked against them before it is served.
        semantic: the semantic tier's settings (`SemanticIndex`), used by lookups that ask for it.
        clock: seconds since the epoch (injectable for TTL tests).

    >>> cache = ResponseCache("memory:")
    >>> cache.lookup(CacheRequest({"model": "m", "messages": []}), tenant="acme").hit
    False
    """

    def __init__(self, spec: str | EntryStore, *, ttl_s: float | None = None,
                 sources: Sequence[VersionSource] = (), semantic: Any = None,
                 clock: Callable[[], float] = time.time) -> None:
        if ttl_s is not None and not ttl_s > 0:
            raise UsageError(f"ttl_s must be positive or None, got {ttl_s}")
        self.spec = spec if isinstance(spec, str) else getattr(spec, "name", "custom")
        # what events name the cache by: its kind, never a path or a password in a URL
        self.kind = self.spec.split(":", 1)[0] if isinstance(spec, str) else type(spec).__name__
        self.entries: EntryStore = open_entries(spec) if isinstance(spec, str) else spec
        self.ttl_s = ttl_s
        self.sources = {s.kind: s for s in sources}
        self.clock = clock
        self.stats = CacheStats()
        self._semantic = semantic
        self._lock = threading.Lock()

    # -- lookup -------------------------------------------------------------------------------------------------

    def lookup(self, request: CacheRequest, *, tenant: str, control: CacheControl = DEFAULT_CONTROL,
               semantic: bool = False) -> Lookup:
        """Look `request` up for `tenant`: exact first, then, if `semantic`, by meaning within the same frame."""
        started = time.perf_counter()
        key = request.key(tenant, control.namespace)
        if control.no_cache:
            return self._count(Lookup(key, False, reason="no_cache"), request, False, started)
        entry, reason = self.read(tenant, control.namespace, key)
        return self._finish(request, key, entry, reason, tenant, control, semantic, started)

    async def alookup(self, request: CacheRequest, *, tenant: str, control: CacheControl = DEFAULT_CONTROL,
                      semantic: bool = False) -> Lookup:
        """The async twin of `lookup`: awaits the store where it has an async client (Redis)."""
        started = time.perf_counter()
        key = request.key(tenant, control.namespace)
        if control.no_cache:
            return self._count(Lookup(key, False, reason="no_cache"), request, False, started)
        entry, reason = await self.aread(tenant, control.namespace, key)
        return self._finish(request, key, entry, reason, tenant, control, semantic, started)

    def _finish(self, request: CacheRequest, key: str, entry: Entry | None, reason: str, tenant: str,
                control: CacheControl, semantic: bool, started_s: float) -> Lookup:
        if entry is not None:
            return self._count(Lookup(key, True, "exact", entry=entry), request, False, started_s)
        if not semantic:
            return self._count(Lookup(key, False, reason=reason), request, False, started_s)
        near = self.semantic_index().lookup(self, request, tenant=tenant, namespace=control.namespace)
        return self._count(replace(near, key=key, reason=near.reason or reason), request, True, started_s)

    def read(self, tenant: str, namespace: str, key: str) -> tuple[Entry | None, str]:
        """The servable entry under `key`, or (None, why not): absent, expired or stale entries are not served
        (expired and stale ones are deleted)."""
        entry, reason = self._judge(self.entries.get(check_tenant(tenant), namespace, key), tenant, namespace, key)
        if reason.startswith(_DROP):
            self.entries.delete(tenant, namespace, key)
        return entry, reason

    async def aread(self, tenant: str, namespace: str, key: str) -> tuple[Entry | None, str]:
        """The async twin of `read`."""
        aget = getattr(self.entries, "aget", None)
        if aget is None:
            return self.read(tenant, namespace, key)
        entry, reason = self._judge(await aget(check_tenant(tenant), namespace, key), tenant, namespace, key)
        if reason.startswith(_DROP):
            await self.entries.adelete(tenant, namespace, key)  # type: ignore[attr-defined]
        return entry, reason

    def _judge(self, raw: bytes | None, tenant: str, namespace: str, key: str) -> tuple[Entry | None, str]:
        """Whether stored bytes may be served: (entry, "") or (None, why not)."""
        if raw is None:
            return None, "absent"
        entry = Entry.from_bytes(raw)
        if entry.tenant != tenant or entry.namespace != namespace or entry.key != key:
            return None, "mismatch"  # never serve an entry written under another partition
        if entry.expires_at is not None and entry.expires_at <= self.clock():
            return None, "expired"
        stale = self._stale(entry)
        if stale is not None:
            return None, f"stale: {stale.kind} {stale.id}"
        return entry, ""

    def _stale(self, entry: Entry) -> Dependency | None:
        by_kind: dict[str, list[Dependency]] = {}
        for dep in entry.dependencies:
            if dep.kind in self.sources:
                by_kind.setdefault(dep.kind, []).append(dep)
        for kind, deps in by_kind.items():
            current = self.sources[kind].versions([d.id for d in deps])
            for dep in deps:
                if current.get(dep.id) != dep.version:
                    return dep
        return None

    def _count(self, found: Lookup, request: CacheRequest, semantic: bool, started_s: float) -> Lookup:
        """Count the lookup into `stats` and, when something listens, emit its CacheLookup event."""
        if _bus.subscribers:
            _emit.response_lookup(found, cache=self.kind, model=str(request.body.get("model") or ""),
                                  semantic=semantic, started_s=started_s)
        with self._lock:
            s = self.stats
            if found.hit:
                s.exact_hits += found.tier == "exact"
                s.semantic_hits += found.tier == "semantic"
            else:
                s.misses += 1
                reason = found.reason.split(":")[0]
                s.stale += reason == "stale"
                s.reasons[reason] = s.reasons.get(reason, 0) + 1
        return found

    # -- store --------------------------------------------------------------------------------------------------

    def store(self, request: CacheRequest, completion: Completion, *, tenant: str,
              control: CacheControl = DEFAULT_CONTROL, deltas: Sequence[str] | None = None,
              semantic: bool = False) -> str | None:
        """Store `completion` as the answer to `request`; returns its key (None under `no_store`)."""
        if control.no_store:
            return None
        entry = self._entry(request, completion, tenant, control, deltas, semantic)
        self.entries.put(tenant, control.namespace, entry.key, entry.to_bytes(), expires_at=entry.expires_at,
                         ttl_s=_lifetime(entry), tokens=[d.token for d in entry.dependencies])
        return self._stored(entry, semantic)

    async def astore(self, request: CacheRequest, completion: Completion, *, tenant: str,
                     control: CacheControl = DEFAULT_CONTROL, deltas: Sequence[str] | None = None,
                     semantic: bool = False) -> str | None:
        """The async twin of `store`."""
        aput = getattr(self.entries, "aput", None)
        if aput is None:
            return self.store(request, completion, tenant=tenant, control=control, deltas=deltas, semantic=semantic)
        if control.no_store:
            return None
        entry = self._entry(request, completion, tenant, control, deltas, semantic)
        await aput(tenant, control.namespace, entry.key, entry.to_bytes(), expires_at=entry.expires_at,
                   ttl_s=_lifetime(entry), tokens=[d.token for d in entry.dependencies])
        return self._stored(entry, semantic)

    def _entry(self, request: CacheRequest, completion: Completion, tenant: str, control: CacheControl,
               deltas: Sequence[str] | None, semantic: bool) -> Entry:
        key = request.key(tenant, control.namespace)
        ttl = control.ttl_s if control.ttl_s is not None else self.ttl_s
        now = self.clock()
        deps = tuple(dict.fromkeys((*control.depends_on, *_system_dependency(request))))
        index = self.semantic_index() if semantic else None
        prompt = index.prompt_text(request) if index is not None else ""
        frame = request.frame_key(tenant, control.namespace) if index is not None else ""
        return Entry(tenant, control.namespace, key, completion, now, None if ttl is None else now + ttl,
                     None if deltas is None else tuple(deltas), deps, prompt, frame)

    def _stored(self, entry: Entry, semantic: bool) -> str:
        if semantic:
            self.semantic_index().add(entry)
        with self._lock:
            self.stats.stores += 1
        return entry.key

    # -- invalidation and housekeeping --------------------------------------------------------------------------

    def invalidate(self, dependency: Dependency, *, tenant: str) -> int:
        """Delete every entry of `tenant` that recorded `dependency` (any version); returns how many."""
        check_tenant(tenant)
        gone = 0
        for namespace, key in self.entries.dependents(tenant, dependency.token):
            gone += self.entries.delete(tenant, namespace, key)
        forget = getattr(self.entries, "forget_dependency", None)
        if forget is not None:
            forget(tenant, dependency.token)
        return gone

    def delete(self, key: str, *, tenant: str, namespace: str = "") -> bool:
        """Delete one entry by its key."""
        return self.entries.delete(check_tenant(tenant), check_namespace(namespace), key)

    def clear(self, *, tenant: str) -> int:
        """Delete every entry of `tenant`; returns how many."""
        if self._semantic is not None:
            self._semantic.clear(tenant)
        return self.entries.clear(check_tenant(tenant))

    def count(self, *, tenant: str) -> int:
        """How many entries `tenant` holds."""
        return self.entries.count(check_tenant(tenant))

    def semantic_index(self) -> Any:
        """The semantic tier (created on first use with the embedded embedder and a vector store beside the
        entries: SQLite for "sqlite:PATH", in-memory for "memory:"; Redis needs one passed in)."""
        with self._lock:
            if self._semantic is None:
                from contextwise.cache._semantic import SemanticIndex

                self._semantic = SemanticIndex.beside(self.entries)
            return self._semantic

    def close(self) -> None:
        """Close the stores."""
        self.entries.close()
        if self._semantic is not None:
            self._semantic.close()

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResponseCache({self.spec!r})"


def _lifetime(entry: Entry) -> float | None:
    return None if entry.expires_at is None else entry.expires_at - entry.created_at


def _system_dependency(request: CacheRequest) -> tuple[Dependency, ...]:
    system = [m.text for m in request.messages if m.role in ("system", "developer")]
    if not system:
        return ()
    version = content_version(*system)
    return (Dependency("system", version, version),)
