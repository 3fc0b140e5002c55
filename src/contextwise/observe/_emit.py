"""The hooks instrumented code calls. Each returns at once when nothing listens (one tuple check)."""

from __future__ import annotations

import contextvars
import dataclasses
import time
import weakref
from collections.abc import Sequence
from typing import Any, TypeVar

from contextwise.observe import _bus
from contextwise.observe._calibration import calibration
from contextwise.observe._events import CacheLookup, Compression, ContextBuilt, MemoryOp, ModelCall

# The last build observed in this thread or task, so the model call that sends its messages can carry it.
_last_built: contextvars.ContextVar[ContextBuilt | None] = contextvars.ContextVar("contextwise_last_built",
                                                                                  default=None)


# The last build's count in this thread or task: (messages, tools, prompt tokens, a weak reference to the counter
# that counted them, which this keeps no more alive than its Context does), so preflight in the client that
# sends those messages need not count them again.
_last_count: contextvars.ContextVar[tuple[tuple[Any, ...], tuple[Any, ...], int, Any] | None] = \
    contextvars.ContextVar("contextwise_last_count", default=None)

_Stats = TypeVar("_Stats")


def built_count(messages: Sequence[Any], tools: Sequence[Any], tokens: int, counter: Any) -> None:
    """Called by `Context.build()`: remember what it counted, for `counted_before`."""
    try:
        ref = weakref.ref(counter)
    except TypeError:  # a counter of the user's that takes no weak reference: nothing is reused
        return
    _last_count.set((tuple(messages), tuple(tools), tokens, ref))


def counted_before(messages: Sequence[Any], tools: Sequence[Any], counter: Any) -> int | None:
    """The prompt tokens the last build here counted, when `counter` is the one it counted with and `messages`
    and `tools` are what it built (the same objects, or equal ones); None otherwise."""
    last = _last_count.get()
    if last is None:
        return None
    built, built_tools, tokens, built_counter = last
    if built_counter() is not counter or len(built) != len(messages) or tuple(tools) != built_tools:
        return None
    # tuple equality tries identity before __eq__, element by element in C: the build's own objects cost ~ns each
    return tokens if tuple(messages) == built else None


def context_built(report: Any, messages: Sequence[Any] = ()) -> Any:
    """Called at the end of `Context.build()`: emits ContextBuilt, and returns the Report, noting in its
    warnings how an estimated count is calibrated when calibration knows the model."""
    if not getattr(report, "exact", True):
        report = _note_calibration(report)
    if _bus.subscribers:
        event = ContextBuilt(report=report, messages=tuple(messages))
        _last_built.set(event)
        _bus.emit(event)
    return report


def _note_calibration(report: Any) -> Any:
    correction = calibration().correction(report.model)
    if correction is None or not dataclasses.is_dataclass(report) or isinstance(report, type):
        return report
    notes: tuple[str, ...] = tuple(getattr(report, "warnings", ())) + (correction.describe(),)
    return dataclasses.replace(report, warnings=notes)


def built_for(messages: Sequence[Any]) -> ContextBuilt | None:
    """The last observed build here, if `messages` are what it built."""
    last = _last_built.get()
    if last is None or not last.messages:
        return None
    sent = tuple(messages)
    return last if sent is last.messages or sent == last.messages else None


def model_call(*, provider: str, model: str, messages: Sequence[Any], completion: Any, started_s: float,
               counted_tokens: int | None = None, streamed: bool = False, error: BaseException | None = None,
               info: Any = None) -> None:
    """Emit the ModelCall of a finished (or failed, `completion` None) call that started at `started_s`
    (time.perf_counter()); `info` is the model's catalog entry when known, to price the usage."""
    if not _bus.subscribers:
        return
    latency = time.perf_counter() - started_s
    fields: dict[str, Any] = {}
    if completion is not None:
        fields = {"usage": completion.usage, "response_model": completion.model,
                  "finish_reason": completion.finish_reason, "output_text": completion.text,
                  "cost_usd": _usd(completion.usage, info)}
    _bus.emit(ModelCall(provider=provider, model=model, latency_s=latency, streamed=streamed,
                        error=type(error).__name__ if error is not None else None,
                        counted_input_tokens=counted_tokens, context=built_for(messages), messages=messages,
                        **fields))


def _usd(usage: Any, info: Any) -> float | None:
    if info is None:
        return None
    from contextwise.models import cost

    return cost(usage, info).total_usd


def memory_op(stats: _Stats) -> _Stats:
    """Called where a memory operation's OpStats is made: emits MemoryOp and returns the stats unchanged."""
    if _bus.subscribers:
        _bus.emit(MemoryOp(stats=stats))
    return stats


def compressed(result: Any, *, method: str, target_tokens: int, started_s: float) -> Any:
    """Called after a compression: emits Compression and returns the Compressed result unchanged."""
    if _bus.subscribers:
        _bus.emit(Compression(method=getattr(result, "method", "") or method, original_tokens=result.original_tokens,
                              tokens=result.tokens, target_tokens=target_tokens,
                              latency_s=time.perf_counter() - started_s))
    return result


def emit_cache_lookup(*, cache: str, hit: bool, tier: str = "exact", key: str = "", latency_s: float = 0.0,
                      distance: float | None = None, reason: str = "", saved_tokens: int = 0,
                      saved_usd: float = 0.0, model: str = "") -> None:
    """For caches of your own: report one lookup (nothing is built when nothing listens).

    >>> emit_cache_lookup(cache="sqlite", hit=True, saved_tokens=1200)
    """
    if _bus.subscribers:
        _bus.emit(CacheLookup(cache=cache, hit=hit, tier=tier, key=key, latency_s=latency_s, distance=distance,
                              reason=reason, saved_tokens=saved_tokens, saved_usd=saved_usd, model=model))


def response_lookup(found: Any, *, cache: str, model: str, semantic: bool, started_s: float) -> None:
    """Called by the response cache after each lookup: emits its CacheLookup (the tier read last, the distance
    to the nearest semantic entry, what a hit saved at list prices when the catalog prices the model)."""
    if not _bus.subscribers:
        return
    if found.hit:
        tier = found.tier
    else:
        tier = "none" if found.reason == "no_cache" else "semantic" if semantic else "exact"
    saved_tokens, saved_usd = 0, 0.0
    if found.hit and found.entry is not None:
        usage = found.entry.completion.usage
        saved_tokens = usage.input_tokens + usage.output_tokens
        saved_usd = _usd(usage, _catalog_info(model)) or 0.0
    _bus.emit(CacheLookup(cache=cache, hit=found.hit, tier=tier, key=found.key,
                          latency_s=time.perf_counter() - started_s, distance=found.distance, reason=found.reason,
                          saved_tokens=saved_tokens, saved_usd=saved_usd, model=model))


def compressed_lookup(*, hit: bool, key: str, method: str, started_s: float) -> None:
    """Called by CachedCompressor after each lookup: a CacheLookup of cache "compressed" (tier "exact")."""
    if _bus.subscribers:
        _bus.emit(CacheLookup(cache="compressed", hit=hit, tier="exact", key=key,
                              latency_s=time.perf_counter() - started_s, reason="" if hit else "absent",
                              model=method))


def _catalog_info(model: str) -> Any:
    if not model:
        return None
    from contextwise.models import default_catalog

    return default_catalog().find(model)
