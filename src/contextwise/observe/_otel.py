"""OpenTelemetry export: one span per model call, memory operation, build, compression and cache lookup, with
the GenAI semantic conventions (gen_ai.*) and the context composition record (contextwise.*)."""

from __future__ import annotations

import json
from typing import Any

from contextwise.errors import MissingDependencyError
from contextwise.observe._attributes import AttributeValue, composition_attributes, model_call_attributes, \
    scope_attributes
from contextwise.observe._events import (
    CacheLookup, Compression, ContextBuilt, ContextOverflow, Event, MemoryOp, ModelCall, PromptTruncated, SpendAlert,
)
from contextwise.observe._exporters import Exporter, content_of

_NS = 1_000_000_000
_METRIC_KEYS = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model", "gen_ai.response.model")


def _trace() -> Any:
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise MissingDependencyError("OtelExporter", "otel") from exc
    return trace


class OtelExporter(Exporter):
    """Spans through an OpenTelemetry tracer provider (the global one by default).

    A model call is a CLIENT span "chat {model}" timed from its start to its answer, with `gen_ai.*` attributes
    (input tokens are the whole prompt, cache reads included, as the conventions define them) and, when the
    messages sent were built by an observed `Context.build()`, its composition under `contextwise.context.*`.
    Memory operations are spans named by their GenAI operation (search_memory, create_memory, update_memory,
    delete_memory). Message content is recorded (`gen_ai.input.messages`, `gen_ai.output.messages`) only with
    `capture_content=True`. With a `meter_provider`, model calls also record the GenAI client metrics
    `gen_ai.client.token.usage` (per `gen_ai.token.type`: input, output) and `gen_ai.client.operation.duration`.

    Raises:
        MissingDependencyError: opentelemetry is not installed (extra `otel`).
    """

    def __init__(self, tracer_provider: Any = None, *, meter_provider: Any = None,
                 capture_content: bool = False) -> None:
        trace = _trace()
        self.tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("contextwise")
        self._status = trace.Status
        self._status_code = trace.StatusCode
        self._kind = trace.SpanKind
        self.capture_content = capture_content
        self._tokens = self._duration = None
        if meter_provider is not None:
            meter = meter_provider.get_meter("contextwise")
            self._tokens = meter.create_histogram("gen_ai.client.token.usage", unit="{token}",
                                                  description="Tokens used per model call, by gen_ai.token.type")
            self._duration = meter.create_histogram("gen_ai.client.operation.duration", unit="s",
                                                    description="Model call duration")

    def export(self, event: Event) -> None:
        """Record `event` as a span."""
        if isinstance(event, ModelCall):
            self._model_call(event)
        elif isinstance(event, MemoryOp):
            attrs: dict[str, AttributeValue] = {"gen_ai.operation.name": event.operation,
                                                "contextwise.memory.operation": str(event.stats.operation),
                                                "contextwise.memory.tokens": int(event.stats.tokens),
                                                "contextwise.memory.model_calls": int(event.stats.model_calls)}
            self._span(event.operation, event, attrs, float(event.stats.latency_s))
        elif isinstance(event, ContextBuilt):
            self._span("build_context", event, composition_attributes(event.composition), 0.0)
        else:
            name, attrs = _other(event)
            self._span(name, event, attrs, float(getattr(event, "latency_s", 0.0)),
                       error=isinstance(event, (ContextOverflow, PromptTruncated, SpendAlert)))

    def _model_call(self, event: ModelCall) -> None:
        attrs = model_call_attributes(event)
        if self.capture_content:
            content = content_of(event)
            attrs["gen_ai.input.messages"] = json.dumps(content["input_messages"], ensure_ascii=False, default=str)
            attrs["gen_ai.output.messages"] = json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": content["output_text"]}]}],
                ensure_ascii=False)
        self._span(f"{event.operation} {event.model}", event, attrs, event.latency_s, kind=self._kind.CLIENT,
                   error=event.error is not None)
        if self._tokens is not None and self._duration is not None:
            base: dict[str, AttributeValue] = {k: attrs[k] for k in _METRIC_KEYS if k in attrs}
            if event.error:
                base["error.type"] = event.error
            self._duration.record(event.latency_s, base)
            if event.error is None:
                self._tokens.record(event.usage.input_tokens, {**base, "gen_ai.token.type": "input"})
                self._tokens.record(event.usage.output_tokens, {**base, "gen_ai.token.type": "output"})

    def _span(self, name: str, event: Event, attrs: dict[str, AttributeValue], latency_s: float, *,
              kind: Any = None, error: bool = False) -> None:
        end_ns = int(event.at_s * _NS)
        attrs.update(scope_attributes(event))
        span = self.tracer.start_span(name, kind=kind or self._kind.INTERNAL, attributes=attrs,
                                      start_time=end_ns - int(latency_s * _NS))
        if error:
            span.set_status(self._status(self._status_code.ERROR, str(attrs.get("error.type", name))))
        span.end(end_time=end_ns)


def _other(event: Event) -> tuple[str, dict[str, AttributeValue]]:
    """Span name and attributes of the smaller events: every field under contextwise.<kind>."""
    fields: dict[str, AttributeValue] = {f"contextwise.{event.kind}.{k}": v for k, v in event.fields().items()
              if isinstance(v, (str, bool, int, float))}
    names = {CacheLookup: "cache_lookup", Compression: "compress", ContextOverflow: "context_overflow",
             PromptTruncated: "prompt_truncated", SpendAlert: "spend_alert"}
    return names.get(type(event), event.kind), fields
