"""Exporters: JSON log lines, Prometheus text a real parser accepts, OpenTelemetry GenAI spans (in-memory
exporter), and the context composition record summing to the prompt and to gen_ai.usage.input_tokens."""

from __future__ import annotations

import json
import logging
import urllib.request

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

import contextwise as cw
from contextwise import observe
from contextwise.llm import OpenAIChat
from contextwise.memory import ShortTermMemory
from contextwise.types import Message

DOCS = [f"Document {i}: " + "Facts about the Eiffel Tower and its iron lattice. " * 30 for i in range(6)]


def _built(window_tokens: int | None = None):
    ctx = cw.Context("gpt-4o", output_reserve=500) if window_tokens is None else \
        cw.Context("gpt-4o", window_tokens=window_tokens, tokenizer="o200k_base", output_reserve=500)
    ctx.system("You answer from the documents.").memory(["The user prefers short answers."])
    ctx.history([Message.user("Hello"), Message.assistant("Hi! How can I help?")])
    return ctx.documents(DOCS).user("How tall is the Eiffel Tower?").build()


@pytest.fixture
def spans():
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with observe.OtelExporter(provider) as exporter:
        yield memory, exporter
    provider.shutdown()


def _chat_span(memory):
    (span,) = [s for s in memory.get_finished_spans() if s.name.startswith("chat ")]
    return span


def test_composition_parts_sum_to_the_prompt_and_to_billed_input(counting_server, spans):
    memory, _ = spans
    with observe.scope(tenant="acme", user="u7", conversation="conv-1"):
        with pytest.warns(cw.TruncationWarning):
            built = _built(window_tokens=1500)
        got = OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k").complete(built.messages)
    attrs = dict(_chat_span(memory).attributes)
    parts = {k: v for k, v in attrs.items() if k.startswith("contextwise.context.part.")}
    assert set(parts) == {f"contextwise.context.part.{p}.tokens" for p in observe.PARTS}
    assert sum(parts.values()) == built.report.prompt_tokens == attrs["contextwise.context.prompt_tokens"]
    assert sum(parts.values()) == attrs["gen_ai.usage.input_tokens"] == got.usage.input_tokens
    assert attrs["contextwise.context.part.documents.tokens"] > 0 and attrs["contextwise.context.part.history.tokens"] > 0
    assert attrs["contextwise.context.cuts"] == len(built.report.decisions) > 0  # the window forced cuts
    assert attrs["contextwise.context.keep_ratio"] < 1
    assert any("documents/" in r for r in attrs["contextwise.context.cut_reasons"])
    assert (attrs["gen_ai.conversation.id"], attrs["contextwise.tenant"], attrs["contextwise.user"]) == \
        ("conv-1", "acme", "u7")


def test_otel_chat_span_follows_the_genai_conventions(counting_server, spans):
    memory, _ = spans
    counting_server.cached_tokens = 1024
    OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k").complete(_built().messages)
    span = _chat_span(memory)
    attrs = dict(span.attributes)
    assert span.name == "chat gpt-4o" and span.kind.name == "CLIENT"
    assert (attrs["gen_ai.operation.name"], attrs["gen_ai.provider.name"], attrs["gen_ai.request.model"],
            attrs["gen_ai.response.model"]) == ("chat", "openai", "gpt-4o", "gpt-4o")
    # input is the whole prompt, the cached part inside it (never added on top)
    assert attrs["gen_ai.usage.cache_read.input_tokens"] == 1024 < attrs["gen_ai.usage.input_tokens"]
    assert attrs["gen_ai.usage.output_tokens"] == 2 and attrs["gen_ai.usage.reasoning.output_tokens"] == 0
    assert attrs["contextwise.cache.returned_read_tokens"] == 1024
    assert "contextwise.cache.predicted_read_tokens" in attrs
    assert span.end_time >= span.start_time
    assert "gen_ai.input.messages" not in attrs and "gen_ai.output.messages" not in attrs


def test_otel_captures_content_only_when_asked(counting_server):
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with observe.OtelExporter(provider, capture_content=True):
        OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k").complete([Message.user("secret words")])
    attrs = _chat_span(memory).attributes
    assert "secret words" in attrs["gen_ai.input.messages"] and "OK." in attrs["gen_ai.output.messages"]


def test_otel_memory_operations_use_genai_operation_names(spans):
    memory, _ = spans
    ShortTermMemory(max_tokens=1000).add("the user likes tea")
    names = [s.name for s in memory.get_finished_spans()]
    assert "create_memory" in names
    span = next(s for s in memory.get_finished_spans() if s.name == "create_memory")
    assert span.attributes["gen_ai.operation.name"] == "create_memory"


def test_otel_failed_call_is_an_error_span(spans, closed_port_url):
    memory, _ = spans
    with pytest.raises(cw.UnavailableError):
        OpenAIChat("gpt-4o", base_url=closed_port_url, api_key="k").complete([Message.user("hi")])
    span = _chat_span(memory)
    assert span.status.status_code.name == "ERROR" and span.attributes["error.type"] == "UnavailableError"


def test_otel_detach_stops_spans(counting_server):
    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    exporter = observe.OtelExporter(provider).attach()
    assert exporter.attached and exporter.attach() is exporter
    exporter.detach()
    OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k").complete([Message.user("hi")])
    assert memory.get_finished_spans() == () and not exporter.attached


def _families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_prometheus_text_parses_and_counts_buckets_once(counting_server):
    with observe.PrometheusExporter() as prom, observe.scope(tenant="acme"):
        counting_server.cached_tokens = 1024
        built = _built()
        got = OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k").complete(built.messages)
        observe.emit_cache_lookup(cache="sqlite", hit=True)
    families = _families(prom.metrics_text())
    tokens = {s.labels["bucket"]: s.value for s in families["contextwise_tokens"].samples
              if s.name == "contextwise_tokens_total"}
    assert tokens["uncached_input"] + tokens["cache_read"] == got.usage.input_tokens
    assert tokens["cache_read"] == 1024
    calls = [s for s in families["contextwise_model_calls"].samples if s.name.endswith("_total")]
    assert calls[0].labels == {"provider": "openai", "model": "gpt-4o", "tenant": "acme", "outcome": "ok"}
    sections = {s.labels["section"] for s in families["contextwise_context_section_tokens"].samples}
    assert {"system", "memory", "documents", "history", "user", "framing"} <= sections
    cost = [s.value for s in families["contextwise_cost_usd"].samples if s.name.endswith("_total")]
    assert cost[0] == pytest.approx(cw.cost(got.usage, "gpt-4o").total_usd)
    assert families["contextwise_cache_lookups"].samples[0].labels["result"] == "hit"


def test_prometheus_label_values_are_bounded():
    prom = observe.PrometheusExporter(max_label_values=3)
    with prom:
        for i in range(10):
            with observe.scope(tenant=f"t{i}"):
                observe.emit(observe.SpendAlert(spent_usd=2.0, limit_usd=1.0, window_s=60))
    tenants = {s.labels["tenant"] for s in _families(prom.metrics_text())["contextwise_spend_alerts"].samples}
    assert tenants == {"t0", "t1", "t2", "other"}


def test_prometheus_serves_metrics_over_http():
    prom = observe.PrometheusExporter()
    with prom:
        cw.Context("gpt-4o-mini").system("Be brief.").user("Hi").build()
    server, thread = prom.serve(0)
    try:
        port = server.server_address[1]
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        server.shutdown()
        server.server_close()
    assert "contextwise_context_prompt_tokens" in _families(text)


def test_log_exporter_writes_one_json_line_per_event(counting_server, caplog):
    with caplog.at_level(logging.INFO, logger="contextwise.events"), observe.LogExporter():
        with observe.scope(tenant="acme"):
            OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k").complete(
                [Message.user("private text")])
    records = [json.loads(r.getMessage()) for r in caplog.records if r.name == "contextwise.events"]
    (call,) = [r for r in records if r["event"] == "model_call"]
    assert call["tenant"] == "acme" and call["input_tokens"] > 0 and call["model"] == "gpt-4o"
    assert "private text" not in caplog.text


def test_log_exporter_captures_content_when_asked(counting_server, caplog):
    with caplog.at_level(logging.INFO, logger="contextwise.events"), observe.LogExporter(capture_content=True):
        OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k").complete([Message.user("private text")])
    assert "private text" in caplog.text


def test_otel_genai_client_metrics(counting_server):
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    with observe.OtelExporter(TracerProvider(), meter_provider=MeterProvider(metric_readers=[reader])):
        got = OpenAIChat("gpt-4o", base_url=counting_server.url, api_key="k").complete([Message.user("hi")])
    metrics = {m.name: m for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics
               for m in sm.metrics}
    tokens = {p.attributes["gen_ai.token.type"]: p.sum for p in metrics["gen_ai.client.token.usage"].data.data_points}
    assert tokens == {"input": got.usage.input_tokens, "output": got.usage.output_tokens}
    (duration,) = metrics["gen_ai.client.operation.duration"].data.data_points
    assert duration.count == 1 and duration.attributes["gen_ai.request.model"] == "gpt-4o"
