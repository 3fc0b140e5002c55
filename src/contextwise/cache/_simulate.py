"""Replaying a recorded request trace against each provider's prompt-cache rules: what every call would have
read from and written to the cache, what it would have cost, and the markers and lifetimes that cost least.

The rules come from the model's catalog entry (minimum prefix, match step, lifetimes, marker limits, storage
price); nothing provider-specific is written here. What each provider does:

- explicit markers (Anthropic): a marker writes the prefix through its block; a later call reads the longest
  live entry found at a marker or up to `cache_lookback_blocks` blocks before one. Tokens between the read and a
  marker are written at that marker's lifetime price (5 minutes 1.25x, 1 hour 2x input); a read costs 0.1x
  and renews the entry. Markers on prefixes below `min_cacheable_tokens` cache nothing.
- automatic (OpenAI, Gemini implicit): every prompt of at least `min_cacheable_tokens` is cached; a later call
  with the same routing key reads its longest live shared prefix, rounded down to `cache_increment_tokens`.
  A routing key (the first ~256 tokens plus `prompt_cache_key`) busier than `cache_route_requests_per_min`
  spreads over more machines, each with its own cache, which is what a per-session key avoids.
- explicit contents (Gemini): the tools and system prefix is stored once per lifetime, billed as input when
  created plus storage per hour, and read at the cached price while it lives.

The model of spill-over (a call lands on one of the busy key's machines at random) and Gemini's implicit
lifetime (not published) are assumptions; calibrate against the `cache_read` / `cache_creation` usage that
real calls return.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from contextwise.cache._prompt import ANCHORS, Anchor, CacheMarker, MarkerPolicy, PromptLayout, _duration, \
    _system_end, mark_request, prompt_layout
from contextwise.errors import UsageError
from contextwise.models import Catalog, Cost, ModelInfo, cost, get_model
from contextwise.tokens.counter import shared_counter
from contextwise.types import Usage

KeyScope = Literal["none", "tenant", "session"]
_ROUTE_PREFIX_TOKENS = 256  # OpenAI routes on a hash of about the first 256 tokens
_ROUTE_WINDOW_S = 60.0
# Lifetimes the planner tries for Gemini explicit cached contents, whose TTL is free-form (a search grid, not a
# provider rule).
_EXPLICIT_TTL_GRID_S = (300, 900, 3600, 4 * 3600, 24 * 3600)
_TRACE_META = ("t", "ts", "session", "tenant", "output_tokens", "model")


@dataclass(frozen=True)
class TraceCall:
    """One recorded request: when it was sent (seconds), its body, its session and tenant, its output tokens."""

    t_s: float
    request: Mapping[str, Any]
    session: str | None = None
    tenant: str | None = None
    output_tokens: int = 0
    model: str | None = None


def read_trace(path: str | Path) -> list[TraceCall]:
    """Read a JSONL trace: one object per line with `t` (seconds, a number) or `ts` (ISO-8601), `request` (the
    body as sent, Anthropic or OpenAI shape), and optionally `session`, `tenant`, `output_tokens`, `model`.

    Raises:
        UsageError: the file cannot be read, or a line is not such an object (the message names the line).
    """
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"cannot read the trace {path}: {exc.strerror or exc}") from exc
    calls = []
    for number, line in enumerate(lines, 1):
        if line.strip():
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise UsageError(f"{path}:{number}: not JSON ({exc})") from exc
            calls.append(trace_call(record, where=f"{path}:{number}"))
    if not calls:
        raise UsageError(f"the trace {path} holds no calls")
    return calls


def write_trace(path: str | Path, calls: Iterable[TraceCall]) -> Path:
    """Write `calls` as the JSONL trace `read_trace` reads (one line per call, `t` in seconds).

    Raises:
        UsageError: the file cannot be written.
    """
    out = Path(path)
    lines = []
    for call in calls:
        record: dict[str, Any] = {"t": call.t_s, "request": call.request}
        for key in ("session", "tenant", "model"):
            if getattr(call, key) is not None:
                record[key] = getattr(call, key)
        if call.output_tokens:
            record["output_tokens"] = call.output_tokens
        lines.append(json.dumps(record, ensure_ascii=False) + "\n")
    try:
        out.write_text("".join(lines), encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write the trace {out}: {exc.strerror or exc}") from exc
    return out


def trace_call(record: Any, *, where: str = "trace") -> TraceCall:
    """One trace record (a parsed JSONL line) as a TraceCall.

    Raises:
        UsageError: no time, no request, or a field of the wrong type.
    """
    if not isinstance(record, Mapping):
        raise UsageError(f"{where}: a trace line must be an object")
    request = record.get("request")
    if not isinstance(request, Mapping) or not isinstance(request.get("messages"), list):
        raise UsageError(f"{where}: 'request' must be a request body with a 'messages' list")
    output = record.get("output_tokens", 0)
    if isinstance(output, bool) or not isinstance(output, int) or output < 0:
        raise UsageError(f"{where}: 'output_tokens' must be a whole number >= 0, got {output!r}")
    unknown = set(record) - {*_TRACE_META, "request"}
    if unknown:
        raise UsageError(f"{where}: unknown fields {sorted(unknown)}; a line has {', '.join(_TRACE_META)}, request")
    return TraceCall(_seconds(record, where), request, _label(record, "session", where),
                     _label(record, "tenant", where), output, _label(record, "model", where))


def _seconds(record: Mapping[str, Any], where: str) -> float:
    if "t" in record:
        value = record["t"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise UsageError(f"{where}: 't' must be a number of seconds, got {value!r}")
        return float(value)
    if isinstance(record.get("ts"), str):
        import datetime as dt

        try:
            stamp = dt.datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise UsageError(f"{where}: 'ts' is not an ISO-8601 time: {record['ts']!r}") from exc
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.timezone.utc)
        return stamp.timestamp()
    raise UsageError(f"{where}: every line needs 't' (seconds) or 'ts' (ISO-8601)")


def _label(record: Mapping[str, Any], key: str, where: str) -> str | None:
    value = record.get(key)
    if value is None or isinstance(value, str):
        return value
    raise UsageError(f"{where}: {key!r} must be a string, got {value!r}")


# -- strategies ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AutomaticCache:
    """AutomaticCache prefix caching (OpenAI, Gemini implicit) with a retention of `ttl_s` and a
    `prompt_cache_key` per tenant, per session, or none."""

    ttl_s: int
    key: KeyScope = "none"

    @property
    def name(self) -> str:
        return f"automatic {_duration(self.ttl_s)}" + ("" if self.key == "none" else f" key={self.key}")


@dataclass(frozen=True)
class CachedContents:
    """An explicit cached-contents object (Gemini) holding the tools and system prefix for `ttl_s`."""

    ttl_s: int

    @property
    def name(self) -> str:
        return f"cached contents {_duration(self.ttl_s)}"


Strategy = MarkerPolicy | AutomaticCache | CachedContents


# -- results ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SimulatedCall:
    """One call replayed under one strategy: its prompt tokens, what it read and wrote, and its price.

    `usd` is the call's list price plus any storage it started (explicit cached contents)."""

    t_s: float
    input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cache_write_1h_tokens: int
    cost: Cost
    storage_usd: float = 0.0
    markers: int = 0

    @property
    def usd(self) -> float:
        return self.cost.total_usd + self.storage_usd


@dataclass(frozen=True)
class CacheSimulation:
    """A whole trace replayed under one strategy."""

    strategy: str
    model: str
    calls: tuple[SimulatedCall, ...]
    warnings: tuple[str, ...] = ()

    @property
    def total_usd(self) -> float:
        return sum(c.usd for c in self.calls)

    @property
    def input_tokens(self) -> int:
        return sum(c.input_tokens for c in self.calls)

    @property
    def cache_read_tokens(self) -> int:
        return sum(c.cache_read_tokens for c in self.calls)

    @property
    def cache_write_tokens(self) -> int:
        """Tokens written, both lifetimes."""
        return sum(c.cache_write_tokens + c.cache_write_1h_tokens for c in self.calls)

    @property
    def hit_share(self) -> float:
        """The share of prompt tokens read from the cache."""
        return self.cache_read_tokens / self.input_tokens if self.input_tokens else 0.0


@dataclass(frozen=True)
class PromptCachePlan:
    """The strategy that cost least on a trace, beside every other one tried and the fixed heuristics.

    Attributes:
        strategy: the chosen strategy (a MarkerPolicy for explicit markers).
        best: its replay; `heuristic`: the cheapest fixed heuristic's replay (tools + system + last turn).
        simulations: every strategy tried, cheapest first.
    """

    model: str
    strategy: Strategy
    best: CacheSimulation
    heuristic: CacheSimulation
    simulations: tuple[CacheSimulation, ...]

    @property
    def ratio_to_heuristic(self) -> float:
        """The chosen strategy's cost over the best fixed heuristic's (<= 1)."""
        return self.best.total_usd / self.heuristic.total_usd if self.heuristic.total_usd else 1.0

    def request_fields(self, *, tenant: str | None = None, session: str | None = None,
                       catalog: Catalog | None = None) -> dict[str, Any]:
        """The request fields an automatic-cache plan asks for: `prompt_cache_key` (the tenant or session id,
        by the plan's scope) and `prompt_cache_retention` where the model offers more than one; {} otherwise.

        Raises:
            UsageError: the plan keys by tenant or session and that id was not given.
        """
        strategy = self.strategy
        if not isinstance(strategy, AutomaticCache):
            return {}
        info = get_model(self.model, catalog=catalog)
        fields: dict[str, Any] = {}
        if len(info.cache_ttls_s) > 1:
            shortest = strategy.ttl_s == info.cache_ttls_s[0]
            fields["prompt_cache_retention"] = "in_memory" if shortest else f"{strategy.ttl_s // 3600}h"
        if strategy.key != "none":
            value = {"tenant": tenant, "session": session}[strategy.key]
            if not value:
                raise UsageError(f"this plan keys the cache per {strategy.key}; pass {strategy.key}=...")
            fields["prompt_cache_key"] = value
        return fields

    def mark(self, request: Mapping[str, Any], *, previous: Mapping[str, Any] | None = None,
             catalog: Catalog | None = None) -> dict[str, Any]:
        """`request` with the chosen markers in place (`previous`: the session's last request, for the
        history anchor). A non-marker strategy returns the body without markers. A marker whose prefix is below
        the model's minimum is left out, with a UserWarning: it would cache nothing.

        Raises:
            UsageError: the body is not a request.
        """
        if not isinstance(self.strategy, MarkerPolicy):
            return mark_request(request, ())
        info = get_model(self.model, catalog=catalog)
        counter = shared_counter(info.name)
        prompt = prompt_layout(request, counter)
        history = None
        if previous is not None:
            shared = prompt.shared_blocks(prompt_layout(previous, counter))
            history = shared - 1 if shared else None
        markers = self.strategy.place(prompt, history_end=history, max_markers=info.cache_breakpoints_max or 4)
        kept = [m for m in markers if prompt.through[m.block] >= _minimum(info)]
        if len(kept) < len(markers):
            short = min(prompt.through[m.block] for m in markers if m not in kept)
            warnings.warn(f"{len(markers) - len(kept)} cache marker(s) left out: the prefix they close ({short:,} "
                          f"tokens) is below {info.name}'s {_minimum(info):,}-token minimum", UserWarning,
                          stacklevel=2)
        return mark_request(request, kept)


# -- replay ---------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Call:
    t_s: float
    prompt: PromptLayout
    history_end: int | None
    session: str
    tenant: str
    output_tokens: int


def prepare(calls: Sequence[TraceCall], model: str | ModelInfo, *, catalog: Catalog | None = None,
            progress: Callable[[int], None] | None = None) -> tuple[ModelInfo, list[_Call]]:
    """Count every call's blocks once (in time order) and find each call's history anchor."""
    if not calls:
        raise UsageError("the trace holds no calls")
    info = model if isinstance(model, ModelInfo) else get_model(model, catalog=catalog)
    counter = shared_counter(info.name)
    last: dict[str, PromptLayout] = {}
    out = []
    for call in sorted(calls, key=lambda c: c.t_s):
        prompt = prompt_layout(call.request, counter)
        session = call.session or call.tenant or ""
        before = last.get(session)
        shared = prompt.shared_blocks(before) if before is not None else 0
        last[session] = prompt
        out.append(_Call(call.t_s, prompt, shared - 1 if shared else None, session, call.tenant or "",
                         call.output_tokens))
        if progress is not None:
            progress(1)
    return info, out


def simulate_prompt_cache(calls: Sequence[TraceCall], model: str | ModelInfo, strategy: Strategy, *,
             catalog: Catalog | None = None) -> CacheSimulation:
    """Replay `calls` under `strategy` with `model`'s cache rules and prices.

    >>> call = TraceCall(0.0, {"messages": [{"role": "user", "content": "hi"}]})
    >>> simulate_prompt_cache([call], "claude-sonnet-4-5", MarkerPolicy((("last", 300),))).cache_write_tokens
    0

    Raises:
        UsageError: the strategy does not fit the model's cache (markers on an automatic cache, or the reverse).
    """
    info, prepared = prepare(calls, model, catalog=catalog)
    return _replay(info, prepared, strategy, catalog)


def _replay(info: ModelInfo, calls: list[_Call], strategy: Strategy, catalog: Catalog | None) -> CacheSimulation:
    if isinstance(strategy, MarkerPolicy):
        if strategy.marks and info.cache_kind != "explicit":
            raise UsageError(f"{info.name} caches {info.cache_kind or 'nothing'}; explicit markers do not apply")
        return _explicit(info, calls, strategy, catalog)
    if info.cache_kind is None:
        raise UsageError(f"{info.name} has no prompt cache; only MarkerPolicy(()) (no caching) applies")
    if isinstance(strategy, CachedContents):
        if info.cache_storage_usd_per_mtok_hour is None:
            raise UsageError(f"{info.name} lists no storage price for explicit cached contents")
        return _contents(info, calls, strategy, catalog)
    if info.cache_kind != "automatic":
        raise UsageError(f"{info.name} caches only where markers say; use a MarkerPolicy")
    return _automatic(info, calls, strategy, catalog)


def _minimum(info: ModelInfo) -> int:
    return info.min_cacheable_tokens or 1


def _price(info: ModelInfo, call: _Call, read: int, write: int, write_1h: int, catalog: Catalog | None) -> Cost:
    usage = Usage(call.prompt.tokens, call.output_tokens, cached_input_tokens=read, cache_write_tokens=write,
                  cache_write_1h_tokens=write_1h)
    return cost(usage, info, catalog=catalog)


def _explicit(info: ModelInfo, calls: list[_Call], policy: MarkerPolicy, catalog: Catalog | None) -> CacheSimulation:
    minimum, lookback = _minimum(info), info.cache_lookback_blocks or 0
    short_ttl = info.cache_ttls_s[0] if info.cache_ttls_s else 300
    entries: dict[bytes, tuple[float, int]] = {}  # prefix digest -> (expires at, lifetime)
    results, below = [], 0
    for call in calls:
        prompt, now = call.prompt, call.t_s
        placed = policy.place(prompt, history_end=call.history_end, max_markers=info.cache_breakpoints_max or 4)
        markers = [m for m in placed if prompt.through[m.block] >= minimum]
        below += len(placed) - len(markers)
        hit = _longest_hit(prompt, markers, entries, now, lookback)
        read = prompt.through[hit] if hit >= 0 else 0
        if hit >= 0:
            entries[prompt.prefix[hit]] = (now + entries[prompt.prefix[hit]][1], entries[prompt.prefix[hit]][1])
        write = write_1h = 0
        done = hit
        for marker in markers:
            if marker.block <= hit:
                continue
            segment = prompt.through[marker.block] - (prompt.through[done] if done >= 0 else 0)
            if marker.ttl_s <= short_ttl:
                write += segment
            else:
                write_1h += segment
            entries[prompt.prefix[marker.block]] = (now + marker.ttl_s, marker.ttl_s)
            done = marker.block
        results.append(SimulatedCall(now, prompt.tokens, read, write, write_1h,
                                  _price(info, call, read, write, write_1h, catalog), markers=len(placed)))
    warnings = (f"{below} marker(s) sat on a prefix below {info.name}'s {minimum:,}-token minimum and cached "
                "nothing",) if below else ()
    return CacheSimulation(policy.name, info.name, tuple(results), warnings)


def _longest_hit(prompt: PromptLayout, markers: Sequence[CacheMarker], entries: Mapping[bytes, tuple[float, int]],
                 now: float, lookback: int) -> int:
    """The last block of the longest live entry a marker finds at itself or up to `lookback` blocks before."""
    best = -1
    for marker in markers:
        for block in range(marker.block, max(marker.block - lookback, 0) - 1, -1):
            if block <= best:
                break
            entry = entries.get(prompt.prefix[block])
            if entry is not None and entry[0] >= now:
                best = block
                break
    return best


def _automatic(info: ModelInfo, calls: list[_Call], strategy: AutomaticCache,
               catalog: Catalog | None) -> CacheSimulation:
    minimum, step = _minimum(info), info.cache_increment_tokens or 1
    rpm = info.cache_route_requests_per_min
    bills_writes = info.prices.cache_write_usd_per_mtok is not None
    caches: dict[tuple[bytes, str, int], dict[bytes, float]] = {}
    recent: dict[tuple[bytes, str], deque[float]] = {}
    results = []
    for index, call in enumerate(calls):
        prompt, now = call.prompt, call.t_s
        key = {"none": "", "tenant": call.tenant, "session": call.session}[strategy.key]
        route = (_route_digest(prompt), key)
        machine = _machine(recent.setdefault(route, deque()), now, rpm, index)
        cache = caches.setdefault((*route, machine), {})
        first = next((i for i, t in enumerate(prompt.through) if t >= minimum), None)
        hit = _longest_live(prompt, cache, now, first)
        read = minimum + (prompt.through[hit] - minimum) // step * step if hit >= 0 else 0
        if first is not None:
            for block in range(first, len(prompt.blocks)):
                cache[prompt.prefix[block]] = now + strategy.ttl_s
        write = prompt.tokens - read if bills_writes and first is not None else 0
        results.append(SimulatedCall(now, prompt.tokens, read, write, 0, _price(info, call, read, write, 0, catalog)))
    return CacheSimulation(strategy.name, info.name, tuple(results))


def _route_digest(prompt: PromptLayout) -> bytes:
    for block, through in enumerate(prompt.through):
        if through >= _ROUTE_PREFIX_TOKENS:
            return prompt.prefix[block]
    return prompt.prefix[-1] if prompt.prefix else b""


def _machine(times: deque[float], now: float, rpm: int | None, index: int) -> int:
    """Which of a routing key's machines serves this call: more of them the busier the key is."""
    times.append(now)
    while times and times[0] < now - _ROUTE_WINDOW_S:
        times.popleft()
    if rpm is None:
        return 0
    machines = max(1, math.ceil(len(times) * 60.0 / _ROUTE_WINDOW_S / rpm))
    draw = hashlib.blake2b(index.to_bytes(8, "little"), digest_size=8).digest()
    return int.from_bytes(draw, "little") % machines


def _longest_live(prompt: PromptLayout, cache: Mapping[bytes, float], now: float, first: int | None) -> int:
    """The last block of the longest live cached prefix (storing a prefix stores all its shorter ones, so
    liveness only shrinks with length: binary search)."""
    if first is None:
        return -1
    lo, hi = first - 1, len(prompt.blocks) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if cache.get(prompt.prefix[mid], -1.0) >= now:
            lo = mid
        else:
            hi = mid - 1
    return lo if lo >= first else -1


def _contents(info: ModelInfo, calls: list[_Call], strategy: CachedContents,
              catalog: Catalog | None) -> CacheSimulation:
    minimum = _minimum(info)
    storage = info.cache_storage_usd_per_mtok_hour or 0.0
    alive: dict[bytes, float] = {}
    results = []
    for call in calls:
        prompt, now = call.prompt, call.t_s
        end = _system_end(prompt)
        if end is None or prompt.through[end] < minimum:
            results.append(SimulatedCall(now, prompt.tokens, 0, 0, 0, _price(info, call, 0, 0, 0, catalog)))
            continue
        held = prompt.through[end]
        created = alive.get(prompt.prefix[end], -1.0) < now
        price = _price(info, call, held, 0, 0, catalog)
        stored = 0.0
        if created:
            alive[prompt.prefix[end]] = now + strategy.ttl_s
            price = price + cost(Usage(held, 0, cache_write_tokens=held), info, catalog=catalog)
            stored = held / 1_000_000 * storage * strategy.ttl_s / 3600.0
        results.append(SimulatedCall(now, prompt.tokens, held, held if created else 0, 0, price, stored))
    return CacheSimulation(strategy.name, info.name, tuple(results))


# -- planning -------------------------------------------------------------------------------------------------------

def fixed_heuristics(model: str | ModelInfo, *, catalog: Catalog | None = None) -> tuple[Strategy, ...]:
    """The fixed strategies a plan is measured against: for explicit markers tools + system + the last turn at
    each lifetime, 1-hour tools and system with a short last turn, and the last turn alone; for an automatic
    cache the provider's default (shortest retention, no key)."""
    info = model if isinstance(model, ModelInfo) else get_model(model, catalog=catalog)
    ttls = info.cache_ttls_s or (300,)
    if info.cache_kind == "explicit":
        short, long = ttls[0], ttls[-1]
        out: list[Strategy] = [MarkerPolicy((("tools", t), ("system", t), ("last", t))) for t in ttls]
        if long != short:
            out.append(MarkerPolicy((("tools", long), ("system", long), ("last", short))))
        out.append(MarkerPolicy((("last", short),)))
        return tuple(out)
    if info.cache_kind == "automatic":
        return (AutomaticCache(ttls[0]),)
    return (MarkerPolicy(()),)


def candidate_strategies(model: str | ModelInfo, *, catalog: Catalog | None = None) -> tuple[Strategy, ...]:
    """Every strategy the planner weighs for `model`: for explicit markers each lawful choice of anchors (at
    most `cache_breakpoints_max`) and lifetimes (never growing along the prompt), no markers included; for an
    automatic cache each retention with each `prompt_cache_key` scope, and explicit cached contents at each
    lifetime where the model prices their storage."""
    info = model if isinstance(model, ModelInfo) else get_model(model, catalog=catalog)
    ttls = info.cache_ttls_s or (300,)
    if info.cache_kind == "explicit":
        return tuple(_marker_policies(ttls, info.cache_breakpoints_max or 4))
    if info.cache_kind != "automatic":
        return (MarkerPolicy(()),)
    scopes: tuple[KeyScope, ...] = ("none", "tenant", "session") if info.cache_route_requests_per_min else ("none",)
    out: list[Strategy] = [AutomaticCache(t, k) for t in ttls for k in scopes]
    if info.cache_storage_usd_per_mtok_hour is not None:
        out += [CachedContents(t) for t in _EXPLICIT_TTL_GRID_S]
    return tuple(out)


def _marker_policies(ttls: Sequence[int], most: int) -> Iterable[MarkerPolicy]:
    for choice in itertools.product((0, *ttls), repeat=len(ANCHORS)):
        marks: tuple[tuple[Anchor, int], ...] = tuple((a, t) for a, t in zip(ANCHORS, choice) if t)
        lifetimes = [t for _, t in marks]
        if len(marks) <= most and lifetimes == sorted(lifetimes, reverse=True):
            yield MarkerPolicy(marks)


def plan_prompt_cache(calls: Sequence[TraceCall], model: str | ModelInfo, *, catalog: Catalog | None = None,
                      strategies: Sequence[Strategy] | None = None,
                      progress: Callable[[int], None] | None = None) -> PromptCachePlan:
    """Replay `calls` under every candidate strategy (and the fixed heuristics) and choose the cheapest: the
    markers and lifetimes that minimise the trace's cost for its arrival pattern.

    `progress` is called with a count of work done: once per call counted, then once per call per strategy.
    Because the fixed heuristics are among the candidates, the plan never costs more than the best of them.

    Raises:
        UsageError: an empty trace, or a strategy that does not fit the model.
    """
    info, prepared = prepare(calls, model, catalog=catalog, progress=progress)
    fixed = fixed_heuristics(info)
    tried = list(dict.fromkeys([*(strategies or candidate_strategies(info)), *fixed]))
    runs: dict[Strategy, CacheSimulation] = {}
    for strategy in tried:
        runs[strategy] = _replay(info, prepared, strategy, catalog)
        if progress is not None:
            progress(len(prepared))
    order = sorted(tried, key=lambda s: (runs[s].total_usd, _size(s)))
    best = order[0]
    heuristic = min(fixed, key=lambda s: runs[s].total_usd)
    return PromptCachePlan(info.name, best, runs[best], runs[heuristic], tuple(runs[s] for s in order))


def _size(strategy: Strategy) -> int:
    return len(strategy.marks) if isinstance(strategy, MarkerPolicy) else 0
