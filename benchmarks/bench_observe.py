"""Observability overhead: what instrumentation adds to a Context.build(), a model call and a cache lookup.

Text: NaturalQuestions passages (Lost in the Middle's nq-open-oracle file, $CW_BENCH_DATA or
/work/shared/bench/data), with seeded priorities; generated words (bench_assembly.make_chunks) when the file is
absent. The line "text:" says which.

Builds: the assembly benchmark's build (2,000 prioritised chunks into gpt-4o's 128k window, counts cached) with
the instrumentation hook replaced by the identity (the uninstrumented peer), with it and nothing listening, and
with all three exporters attached (JSON logs to a discarding handler, Prometheus, OpenTelemetry spans into the
SDK's in-memory exporter). Runs alternate, so load on a shared machine hits each the same.

Model calls: OpenAIChat sending a built RAG prompt (20 passages) to an in-process httpx transport (no network)
beside the uninstrumented path (the same dialect and transport called directly): preflight off and nothing
listening; preflight on, reusing the count of the build that made the messages; preflight on, counting them
again (no build recorded); and all three exporters attached.

Cache lookups: an exact hit in a memory ResponseCache, nothing listening and with all three exporters.

    python benchmarks/bench_observe.py [--chunks 2000] [--repeat 30] [--calls 3000]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import logging
import os
import random
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

import contextwise.budget._engine as context_module  # noqa: E402  (where build() calls the hook)
from _data import shared_data
from contextwise import observe  # noqa: E402
from contextwise.budget import Context  # noqa: E402
from contextwise.cache import CachedChatModel  # noqa: E402
from contextwise.errors import TruncationWarning  # noqa: E402
from contextwise.llm import OpenAIChat  # noqa: E402
from contextwise.observe import _emit  # noqa: E402
from contextwise.testing import ScriptedChatModel  # noqa: E402
from contextwise.tokens import TokenCounter  # noqa: E402
from contextwise.types import ChatOptions, Message  # noqa: E402

NQ = shared_data() / "lost-in-the-middle" / \
    "nq-open-oracle.jsonl.gz"

ANSWER = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o",
          "choices": [{"index": 0, "message": {"role": "assistant", "content": "OK."}, "finish_reason": "stop"}],
          "usage": {"prompt_tokens": 1200, "completion_tokens": 3, "total_tokens": 1203,
                    "prompt_tokens_details": {"cached_tokens": 1024}}}
BODY = json.dumps(ANSWER).encode()


def real_chunks(n: int, seed: int = 7) -> tuple[list[tuple[str, float]], str]:
    """`n` (passage, priority) pairs from NQ (cycled when n exceeds the file), or generated text without it."""
    if not NQ.exists():
        return make_chunks(n, seed), "generated words (NQ file absent)"
    with gzip.open(NQ, "rt", encoding="utf-8") as f:
        passages = [ctx["text"] for line in f for ctx in json.loads(line)["ctxs"]]
    rng = random.Random(seed)
    return [(passages[i % len(passages)], rng.random()) for i in range(n)], f"NQ passages ({NQ.name})"


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


def bench_build(chunks: list[tuple[str, float]], repeat: int) -> dict[str, list[float]]:
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


def rag_prompt(chunks: list[tuple[str, float]]) -> tuple[list[Message], int]:
    """A built prompt of 20 passages (the messages a client is sent) and its count."""
    ctx = Context("gpt-4o", output_reserve_tokens=1000)
    built = ctx.system("Answer from the documents.").documents([t for t, _ in chunks[:20]]).user("Which?").build()
    return list(built.messages), built.report.prompt_tokens


def billing(prompt_tokens: int) -> bytes:
    """The answer's body, billing the prompt as counted (so preflight sees no truncation)."""
    usage = {**ANSWER["usage"], "prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens + 3}  # type: ignore[dict-item]
    return json.dumps({**ANSWER, "usage": usage}).encode()


def bench_calls(chunks: list[tuple[str, float]], calls: int) -> dict[str, list[float]]:
    messages, tokens = rag_prompt(chunks)
    body = billing(tokens)
    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=body)))
    bare = OpenAIChat("gpt-4o", base_url="http://bench.invalid/v1", api_key="k", http_client=http, preflight=False)
    checked = OpenAIChat("gpt-4o", base_url="http://bench.invalid/v1", api_key="k", http_client=http)
    counter = checked._check.counter
    exporters = Exporters()

    def peer() -> None:  # what complete() did before instrumentation: request, post, parse
        bare._dialect.parse(bare._transport.post_json(bare._dialect.request(messages, None, None, stream=False)))

    def reused() -> None:  # the build's record is there, as right after Context.build()
        _emit.built_count(messages, (), tokens, counter)
        checked.complete(messages)

    def recounted() -> None:  # no build recorded: preflight counts the prompt (its counter's caches are warm)
        _emit._last_count.set(None)
        checked.complete(messages)

    variants = {"uninstrumented": peer, "nothing listening": lambda: bare.complete(messages),
                "preflight, build's count": reused, "preflight, counting again": recounted}
    times = alternate(variants, calls)
    with exporters:
        times["three exporters + preflight"] = alternate({"x": reused}, calls)["x"]
    return times


def preflight_alone(chunks: list[tuple[str, float]], n: int = 20_000) -> dict[str, tuple[float, float]]:
    """Seconds of preflight's count before a call, best of 5 runs of `n`: (taking the build's count, counting the
    messages again with the same warm counter), for the RAG prompt and for a built 400-message conversation."""
    from contextwise.types import as_messages

    rag, rag_tokens = rag_prompt(chunks)
    turns = [Message.user(t) if i % 2 == 0 else Message.assistant(t[:200]) for i, (t, _) in enumerate(chunks[:400])]
    ctx = Context("gpt-4o", output_reserve_tokens=1000)
    long = ctx.system("Be brief.").history(turns[:-1]).user(turns[-1].text).build()
    model = OpenAIChat("gpt-4o", base_url="http://bench.invalid/v1", api_key="k")
    check = model._check
    assert check is not None
    out = {}
    for name, messages, tokens in (("20-passage prompt", rag, rag_tokens),
                                   (f"{len(long.messages)}-message conversation", list(long.messages),
                                    long.report.prompt_tokens)):
        sent = as_messages(messages)
        _emit.built_count(messages, (), tokens, check.counter)

        def reuse(sent: list[Message] = sent) -> None:
            check.before(sent, (), 0, raw_tokens=_emit.counted_before(sent, (), check.counter))

        def recount(sent: list[Message] = sent) -> None:
            check.before(sent, (), 0)

        out[name] = (min(hook_cost_s(reuse, n) for _ in range(5)), min(hook_cost_s(recount, n) for _ in range(5)))
    return out


def bench_lookups(lookups: int) -> dict[str, list[float]]:
    model = CachedChatModel(ScriptedChatModel(["Paris."], name="gpt-4o"), "memory:", tenant="acme")
    ask, zero = [Message.system("Be brief."), Message.user("Capital of France?")], ChatOptions(temperature=0)
    model.complete(ask, options=zero)  # stored: every lookup below is an exact hit
    exporters = Exporters()
    times = alternate({"nothing listening": lambda: model.lookup(ask, options=zero)}, lookups)
    with exporters:
        times["three exporters"] = alternate({"x": lambda: model.lookup(ask, options=zero)}, lookups)["x"]
    return times


def hook_cost_s(fn: object, n: int = 200_000) -> float:
    """Seconds per call of an instrumentation hook called on its own: a bound on its overhead that load on a
    shared machine cannot blur the way it blurs a difference of two medians."""
    start = time.perf_counter()
    for _ in range(n):
        fn()  # type: ignore[operator]
    return (time.perf_counter() - start) / n


def hooks(chunks: list[tuple[str, float]]) -> tuple[float, float]:
    """(build hook, call hook) seconds per call, nothing listening (a cache lookup's hook is one check of the
    subscriber tuple, below what this can time)."""
    built = build(chunks, TokenCounter.for_model("gpt-4o"))
    messages = list(built.messages)
    http = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, content=BODY)))
    bare = OpenAIChat("gpt-4o", base_url="http://bench.invalid/v1", api_key="k", http_client=http, preflight=False)
    completion = bare.complete([Message.user("hi")])
    build_hook = hook_cost_s(lambda: context_module.observe_built(built.report, messages))
    call_hook = hook_cost_s(lambda: bare._done(messages, completion, None, time.perf_counter(), streamed=False))
    return build_hook, call_hook


def per_exporter(chunks: list[tuple[str, float]], n: int = 20) -> dict[str, float]:
    """Seconds each exporter takes for one build's event (composition record computed once per event, apart)."""
    built = build(chunks, TokenCounter.for_model("gpt-4o"))
    event = observe.ContextBuilt(report=built.report, messages=built.messages)
    out = {"composition record": hook_cost_s(lambda: observe.composition_of(built.report), n)}
    _ = event.composition
    for exporter in Exporters().all:
        out[type(exporter).__name__] = hook_cost_s(lambda e=exporter: e(event), n)
    out["decisions"] = float(len(built.report.decisions))
    return out


def report(title: str, times: dict[str, list[float]], unit: str) -> None:
    scale = 1e3 if unit == "ms" else 1e6
    base = statistics.median(times["uninstrumented"] if "uninstrumented" in times else next(iter(times.values())))
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
    chunks, source = real_chunks(args.chunks)
    print(f"text: {source}")
    builds = bench_build(chunks, args.repeat)
    report(f"Context.build(), {args.chunks} chunks into 128k (warm counts), {args.repeat} runs each", builds, "ms")
    calls = bench_calls(chunks, args.calls)
    report(f"OpenAIChat.complete() of a 20-passage prompt on an in-process transport, {args.calls} calls each",
           calls, "us")
    for name, (reuse, recount) in preflight_alone(chunks).items():
        print(f"preflight alone, {name}: build's count {reuse * 1e6:.2f} us, counting again {recount * 1e6:.2f} us "
              f"(warm counter), {recount / reuse:.1f}x")
    lookups = bench_lookups(args.calls)
    report(f"CachedChatModel.lookup(), an exact hit in memory, {args.calls} lookups each", lookups, "us")
    build_hook, call_hook = hooks(chunks)
    base = statistics.median(builds["uninstrumented"])
    print(f"hooks alone, nothing listening: build {build_hook * 1e6:.2f} us = {build_hook / base:.4%} of a build; "
          f"model call {call_hook * 1e6:.2f} us (target: under 2% and under 50 us)")
    parts = per_exporter(chunks)
    cuts = int(parts.pop("decisions"))
    print(f"one build's event ({cuts} cuts), each part timed alone: "
          + ", ".join(f"{name} {sec * 1e3:.2f} ms" for name, sec in parts.items()))
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
