"""Prometheus export: counters and histograms of every event, with label values bounded per label."""

from __future__ import annotations

import threading
from typing import Any

from contextwise.errors import MissingDependencyError, UsageError
from contextwise.observe._events import (
    CacheLookup, Compression, ContextBuilt, ContextOverflow, Event, MemoryOp, ModelCall, PromptTruncated, SpendAlert,
)
from contextwise.observe._exporters import Exporter

OTHER = "other"
_RATIO_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
_TOKEN_BUCKETS = (16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)
# The `bucket` label values of the token counter; the input ones sum to the whole prompt.
TOKEN_KINDS = ("uncached_input", "cache_read", "cache_write", "cache_write_long", "output", "reasoning")
_SECONDS_BUCKETS = (0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def _client() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:
        raise MissingDependencyError("PrometheusExporter", "prometheus") from exc
    return prometheus_client


class BoundedLabels:
    """Keeps each label to at most `max_values` distinct values; later new values become "other"."""

    def __init__(self, max_values: int) -> None:
        self.max_values = max_values
        self._seen: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def __call__(self, label: str, value: object) -> str:
        text = "" if value is None else str(value)
        seen = self._seen.setdefault(label, set())
        if text in seen:
            return text
        with self._lock:
            if len(seen) >= self.max_values:
                return OTHER
            seen.add(text)
        return text


class PrometheusExporter(Exporter):
    """Counters and histograms in a prometheus_client registry (a new one by default).

    Tokens are counted by bucket (uncached input, cache read, cache write, output, reasoning), so input and its
    cached part are never added twice. Tenant, model and the other labels keep at most `max_label_values`
    distinct values each; the rest are reported as "other". `metrics_text()` is the exposition text; `serve(port)`
    serves it at /metrics.

    Raises:
        MissingDependencyError: prometheus_client is not installed (extra `prometheus`).
    """

    def __init__(self, registry: Any = None, *, namespace: str = "contextwise", max_label_values: int = 50) -> None:
        prom = _client()
        if max_label_values < 1:
            raise UsageError(f"max_label_values must be at least 1, got {max_label_values}")
        self._prom = prom
        self.registry = registry if registry is not None else prom.CollectorRegistry()
        self.label = BoundedLabels(max_label_values)
        # label lookups cost more than the updates; the label values are bounded, so this is too
        self._children: dict[tuple[str, ...], tuple[Any, ...]] = {}
        self._metrics(prom, namespace)

    def _metrics(self, prom: Any, ns: str) -> None:
        c, h, r = prom.Counter, prom.Histogram, self.registry
        self.calls = c(f"{ns}_model_calls", "Model calls", ["provider", "model", "tenant", "outcome"], registry=r)
        self.tokens = c(f"{ns}_tokens", "Tokens billed, by bucket (input buckets sum to the whole prompt)",
                        ["provider", "model", "tenant", "bucket"], registry=r)
        self.cost = c(f"{ns}_cost_usd", "Cost at list prices, USD", ["provider", "model", "tenant"], registry=r)
        self.duration = h(f"{ns}_model_call_duration_seconds", "Model call latency", ["provider", "model"],
                          buckets=_SECONDS_BUCKETS, registry=r)
        self.prompt = h(f"{ns}_context_prompt_tokens", "Built prompt size", ["model"], buckets=_TOKEN_BUCKETS,
                        registry=r)
        self.utilisation = h(f"{ns}_context_utilisation_ratio", "Prompt tokens / available tokens",
                             ["model", "tenant"], buckets=_RATIO_BUCKETS, registry=r)
        self.section = h(f"{ns}_context_section_tokens", "Tokens of each part of a built prompt", ["section"],
                         buckets=_TOKEN_BUCKETS, registry=r)
        self.keep = h(f"{ns}_context_keep_ratio", "Content kept / content offered per build", ["model"],
                      buckets=_RATIO_BUCKETS, registry=r)
        self.cuts = c(f"{ns}_context_cuts", "Items dropped, truncated or compressed to fit", ["section", "action"],
                      registry=r)
        self.cache_tokens = c(f"{ns}_prompt_cache_tokens", "Prompt-cache reads: predicted by the layout, returned "
                              "by the provider", ["model", "source"], registry=r)
        self.lookups = c(f"{ns}_cache_lookups", "Cache lookups by the tier read last (hit rate of a tier: its hits "
                         "over its lookups; every lookup reads the exact tier)", ["cache", "tier", "result", "reason"],
                         registry=r)
        self.saved = c(f"{ns}_cache_saved_tokens", "Tokens a cache hit did not send or generate", ["cache", "tier"],
                       registry=r)
        self.memory = h(f"{ns}_memory_operation_duration_seconds", "Memory operations", ["operation"],
                        buckets=_SECONDS_BUCKETS, registry=r)
        self.compress = h(f"{ns}_compression_keep_ratio", "Compressed tokens / original tokens", ["method"],
                          buckets=_RATIO_BUCKETS, registry=r)
        self.overflows = c(f"{ns}_context_overflows", "Prompts over the input limit, not sent", ["provider", "model"],
                           registry=r)
        self.truncations = c(f"{ns}_prompt_truncations", "Prompts billed shorter than sent", ["provider", "model"],
                             registry=r)
        self.alerts = c(f"{ns}_spend_alerts", "Tenant spend limits passed", ["tenant"], registry=r)

    def export(self, event: Event) -> None:
        """Update the metrics from `event`."""
        L = self.label
        if isinstance(event, ModelCall):
            self._model_call(event)
        elif isinstance(event, ContextBuilt):
            self._built(event)
        elif isinstance(event, MemoryOp):
            self.memory.labels(L("operation", event.stats.operation)).observe(float(event.stats.latency_s))
        elif isinstance(event, CacheLookup):
            self._lookup(event)
        elif isinstance(event, Compression):
            self.compress.labels(L("method", event.method)).observe(event.keep_ratio)
        elif isinstance(event, ContextOverflow):
            self.overflows.labels(L("provider", event.provider), L("model", event.model)).inc()
        elif isinstance(event, PromptTruncated):
            self.truncations.labels(L("provider", event.provider), L("model", event.model)).inc()
        elif isinstance(event, SpendAlert):
            self.alerts.labels(L("tenant", event.tenant)).inc()

    def _lookup(self, e: CacheLookup) -> None:
        L = self.label
        key = ("lookup", L("cache", e.cache), L("tier", e.tier), "hit" if e.hit else "miss",
               L("reason", e.reason.split(":", 1)[0]) if not e.hit else "")
        children = self._children.get(key)
        if children is None:
            children = self._children.setdefault(key, (self.lookups.labels(*key[1:]),
                                                       self.saved.labels(key[1], key[2])))
        lookups, saved = children
        lookups.inc()
        if e.saved_tokens:
            saved.inc(e.saved_tokens)

    def _model_call(self, e: ModelCall) -> None:
        L = self.label
        key = (L("provider", e.provider), L("model", e.model), L("tenant", e.tenant), "error" if e.error else "ok")
        children = self._children.get(key)
        if children is None:
            children = self._children.setdefault(key, self._call_children(*key))
        calls, duration, cost, tokens = children
        calls.inc()
        duration.observe(e.latency_s)
        u = e.usage
        for child, n in zip(tokens, (u.uncached_input_tokens, u.cached_input_tokens, u.cache_write_tokens,
                                     u.cache_write_1h_tokens, u.visible_output_tokens, u.reasoning_tokens)):
            if n:
                child.inc(n)
        if e.cost_usd:
            cost.inc(e.cost_usd)
        if e.context is not None:
            self.cache_tokens.labels(key[1], "predicted").inc(e.context.composition.predicted_cached_tokens)
            self.cache_tokens.labels(key[1], "returned").inc(u.cached_input_tokens)

    def _call_children(self, provider: str, model: str, tenant: str, outcome: str) -> tuple[Any, ...]:
        """The metric children one (provider, model, tenant, outcome) updates, looked up once."""
        tokens = tuple(self.tokens.labels(provider, model, tenant, bucket) for bucket in TOKEN_KINDS)
        return (self.calls.labels(provider, model, tenant, outcome), self.duration.labels(provider, model),
                self.cost.labels(provider, model, tenant), tokens)

    def _built(self, e: ContextBuilt) -> None:
        L, c = self.label, e.composition
        model = L("model", c.model)
        self.prompt.labels(model).observe(c.prompt_tokens)
        self.utilisation.labels(model, L("tenant", e.tenant)).observe(c.utilisation)
        self.keep.labels(model).observe(c.keep_ratio)
        for part, tokens in c.parts.items():
            if tokens:
                self.section.labels(part).observe(tokens)
        for (section, action), n in c.cut_counts.items():
            self.cuts.labels(L("section", section), action).inc(n)

    def metrics_text(self) -> str:
        """The registry in the Prometheus text exposition format."""
        return str(self._prom.generate_latest(self.registry).decode("utf-8"))

    def serve(self, port: int, *, addr: str = "127.0.0.1") -> Any:
        """Serve /metrics on `addr:port` from a background thread; returns (server, thread) (call
        `server.shutdown()` to stop)."""
        return self._prom.start_http_server(port, addr=addr, registry=self.registry)
