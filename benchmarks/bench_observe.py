"""Observability overhead: what instrumentation adds to a Context.build() and to a model call.

Builds: the assembly benchmark's build (2,000 prioritised chunks into gpt-4o's 128k window, counts cached) with
the instrumentation hook replaced by the identity (the uninstrumented peer), with it and nothing listening, and
with all three exporters attached (JSON logs to a discarding handler, Prometheus, OpenTelemetry spans into the
SDK's in-memory exporter). Runs alternate, so load on a shared machine hits each the same.

Model calls: OpenAIChat against an in-process httpx transport (no network) beside the uninstrumented path (the
same dialect and transport called directly), with preflight off and nothing listening, with preflight on (it
counts the prompt), and with all three exporters attached.

    python benchmarks/bench_observe.py [--chunks 2000] [--repeat 30] [--calls 3000]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(__file__))

import httpx  # noqa: E402
from bench_assembly import build, make_chunks  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

import contextwise.budget.context as context_module  # noqa: E402
from contextwise import observe  # noqa: E402
from contextwise.errors import TruncationWarning  # noqa: E402
from contextwise.llm import OpenAIChat  # noqa: E402
from contextwise.tokens import TokenCounter  # noqa: E402
from contextwise.types import Message  # noqa: E402

ANSWER = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "OK."}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1200, "completion_tokens": 3, "total_tokens": 1203,
                    "prompt_tokens_details": {"cached_tokens": 1024}}}
BODY = json.dumps(ANSWER).encode()


class Exporters:
    """All three exporters, attached and detached together."""

    def __init__(self) -> None:
        logger = logging.getLogger("bench.observe")
        logger.propagate = False
        logger.addHandler(logging.StreamHandler(io.StringIO()))
        logger.setLevel(logging.INFO)
        self.spans = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.all = [observe.LogExporter(logger), observe.PrometheusExporter(), observe.OtelExporter(provider)]

    def __enter__(self) -> Exporters:
        for e in self.all:
            e.attach()
        return self

    def __exit__(self, *exc: object) -> None:
        for e in self.all:
            e.detach()
        self.spans.clear()


def alternate(variants: dict[str, object], repeat: int) -> dict[str, list[float]]:
    """Seconds per run of each variant, the variants taking turns."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(repeat):
        for name, run in variants.items():
            start = time.perf_counter()
            run()  # type: ignore[operator]
            times[name].append(time.perf_counter() - start)
    return times


def bench_build(chunks_n: int, repeat: int) -> dict[str, list[float]]:
    chunks = make_chunks(chunks_n)
    counter = TokenCounter.for_model("gpt-4o")
    build(chunks, counter)  # count the chunks once: the warm build is the one measured
    hook = context_module.observe_built
    exporters = Exporters()

    def peer() -> None:
        context_module.observe_built = lambda report, messages=(): report
        try:
            build(chunks, counter)
        finally:
            context_module.observe_built = hook

    def with_exporters() -> None:
        with exporters:
            build(chunks, counter)

    return alternate({"uninstrumented": peer, "nothing listening": lambda: build(chunks, counter),
                      "three exporters": with_exporters}, repeat)


def bench_calls(calls: int) -> dict[str, list[float]]:
    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=BODY)))
    messages = [Message.system("Answer from the documents."), Message.user("Which dock is open? " * 60)]
    bare = OpenAIChat("gpt-4o", base_url="http://bench.invalid/v1", api_key="k", http_client=http, preflight=False)
    checked = OpenAIChat("gpt-4o", base_url="http://bench.invalid/v1", api_key="k", http_client=http)
    exporters = Exporters()

    def peer() -> None:  # what complete() did before instrumentation: request, post, parse
        bare._dialect.parse(bare._transport.post_json(bare._dialect.request(messages, None, None, stream=False)))

    def with_exporters() -> None:
        checked.complete(messages)

    variants = {"uninstrumented": peer, "nothing listening": lambda: bare.complete(messages),
                "preflight on": lambda: checked.complete(messages)}
    times = alternate(variants, calls)
    with exporters:
        times["three exporters + preflight"] = alternate({"x": with_exporters}, calls)["x"]
    return times


def hook_cost_s(fn: object, n: int = 200_000) -> float:
    """Seconds per call of an instrumentation hook called on its own: a bound on its overhead that load on a
    shared machine cannot blur the way it blurs a difference of two medians."""
    start = time.perf_counter()
    for _ in range(n):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - start) / n


def hooks(chunks_n: int) -> tuple[float, float]:
    """(build hook, call hook) seconds per call, nothing listening."""
    built = build(make_chunks(chunks_n), TokenCounter.for_model("gpt-4o"))
    messages = list(built.messages)
    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=BODY)))
    bare = OpenAIChat("gpt-4o", base_url="http://bench.invalid/v1", api_key="k", http_client=http, preflight=False)
    completion = bare.complete([Message.user("hi")])
    build_hook = hook_cost_s(lambda: context_module.observe_built(built.report, messages))
    call_hook = hook_cost_s(lambda: bare._done(messages, completion, None, time.perf_counter(), streamed=False))
    return build_hook, call_hook


def per_exporter(chunks_n: int, n: int = 20) -> dict[str, float]:
    """Seconds each exporter takes for one build's event (composition record computed once per event, apart)."""
    built = build(make_chunks(chunks_n), TokenCounter.for_model("gpt-4o"))
    event = observe.ContextBuilt(report=built.report, messages=built.messages)
    out = {"composition record": hook_cost_s(lambda: observe.composition_of(built.report), n)}
    _ = event.composition
    for exporter in Exporters().all:
        out[type(exporter).__name__] = hook_cost_s(lambda e=exporter: e(event), n)
    out["decisions"] = float(len(built.report.decisions))
    return out


def report(title: str, times: dict[str, list[float]], unit: str) -> None:
    scale = 1e3 if unit == "ms" else 1e6
    base = statistics.median(times["uninstrumented"])
    print(title)
    for name, runs in times.items():
        med = statistics.median(runs)
        print(f"  {name:<28} median {med * scale:8.1f} {unit}   +{(med - base) * scale:7.1f} {unit}   "
              f"ratio to uninstrumented {med / base:.3f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    warnings.simplefilter("ignore", TruncationWarning)
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    builds = bench_build(args.chunks, args.repeat)
    report(f"Context.build(), {args.chunks} chunks into 128k (warm counts), {args.repeat} runs each", builds, "ms")
    calls = bench_calls(args.calls)
    report(f"OpenAIChat.complete() on an in-process transport, {args.calls} calls each", calls, "us")
    build_hook, call_hook = hooks(args.chunks)
    base = statistics.median(builds["uninstrumented"])
    print(f"hooks alone, nothing listening: build {build_hook * 1e6:.2f} us = {build_hook / base:.4%} of a build; "
          f"model call {call_hook * 1e6:.2f} us (target: under 2% and under 50 us)")
    parts = per_exporter(args.chunks)
    cuts = int(parts.pop("decisions"))
    print(f"one build's event ({cuts} cuts), each part timed alone: "
          + ", ".join(f"{name} {sec * 1e3:.2f} ms" for name, sec in parts.items()))


if __name__ == "__main__":
    main()
