"""Observability: usage that adds up across providers, preflight and truncation checks, calibration of
estimated counts, an in-process event bus, and exporters (JSON logs, Prometheus, OpenTelemetry GenAI).

Every `Context.build()`, model call, memory operation, compression and cache lookup becomes an event; nothing is
built when nobody listens. Listen with a callback, or attach an exporter with one call:

>>> from contextwise import observe
>>> seen = []
>>> with observe.subscribe(seen.append), observe.scope(tenant="acme"):
...     _ = observe.emit_cache_lookup(cache="demo", hit=True)
>>> seen[0].kind, seen[0].tenant, seen[0].hit
('cache_lookup', 'acme', True)

Exporters (each behind its extra, imported on first use): `LogExporter()` (stdlib logging, JSON lines),
`PrometheusExporter()` (extra `prometheus`), `OtelExporter()` (extra `otel`); `exporter.attach()` /
`exporter.detach()`, or `with exporter:`. `UsageStats` keeps aggregates per tenant and user in SQLite or
PostgreSQL and fires `SpendAlert`s.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from contextwise.observe._bus import Scope, Subscription, current_scope, emit, scope, subscribe
from contextwise.observe._calibration import Calibration, Correction, calibration, use_calibration
from contextwise.observe._composition import PARTS, Composition, composition_of
from contextwise.observe._emit import emit_cache_lookup
from contextwise.observe._events import (
    CacheLookup, Compression, ContextBuilt, ContextOverflow, Event, MemoryOp, ModelCall, PromptTruncated, SpendAlert,
)
from contextwise.observe._preflight import Counted, Preflight, PreflightCheck

if TYPE_CHECKING:
    from contextwise.observe._exporters import Exporter, LogExporter
    from contextwise.observe._otel import OtelExporter
    from contextwise.observe._prometheus import PrometheusExporter
    from contextwise.observe._stats import SpendLimit, UsageStats

_LAZY = {"Exporter": "_exporters", "LogExporter": "_exporters", "OtelExporter": "_otel",
         "PrometheusExporter": "_prometheus", "SpendLimit": "_stats", "UsageStats": "_stats"}

__all__ = [
    "PARTS", "CacheLookup", "Calibration", "Composition", "Compression", "ContextBuilt", "ContextOverflow",
    "Correction", "Counted", "Event", "Exporter", "LogExporter", "MemoryOp", "ModelCall", "OtelExporter",
    "Preflight", "PreflightCheck", "PrometheusExporter", "PromptTruncated", "Scope", "SpendAlert", "SpendLimit",
    "Subscription", "UsageStats", "calibration", "composition_of", "current_scope", "emit", "emit_cache_lookup",
    "listening", "scope", "subscribe", "use_calibration",
]


def listening() -> bool:
    """Whether anything is subscribed (instrumented code builds no event otherwise)."""
    from contextwise.observe import _bus

    return bool(_bus.subscribers)


def __getattr__(name: str) -> Any:
    """The exporters and the stats store load on first use (their libraries are optional)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f"contextwise.observe.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'contextwise.observe' has no attribute {name!r}")
