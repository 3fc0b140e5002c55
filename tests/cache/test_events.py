"""Every cache lookup is an event: exact and semantic tiers, hit and miss, with the key, the tier read last, the
nearest semantic distance and what a hit saved; Prometheus counts them by tier with bounded labels, OpenTelemetry
makes a span of each, UsageStats counts them into the cache hit rate; CachedCompressor's lookups are events too."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client.parser import text_string_to_metric_families
from support import need

from contextwise import observe
from contextwise.cache import AsyncCachedChatModel, CacheControl, CachedChatModel, CachedCompressor, ResponseCache
from contextwise.testing import AsyncScriptedChatModel, FakeTokenizer, ScriptedChatModel
from contextwise.types import ChatOptions, Completion, Message, Usage

ASK = [Message.system("Be brief."), Message.user("Capital of France?")]
ZERO = ChatOptions(temperature=0)
PRICED = Completion("Paris.", Usage(1200, 30), model="gpt-4o")


@pytest.fixture
def lookups():
    seen: list[observe.CacheLookup] = []
    with observe.subscribe(seen.append, kinds=observe.CacheLookup):
        yield seen


def _priced_model():
    return ScriptedChatModel([PRICED], name="gpt-4o", repeat_last=True)


def test_exact_miss_then_hit_are_events_with_key_tier_and_savings(make_cache, lookups):
    cache = make_cache()
    model = CachedChatModel(_priced_model(), cache, tenant="acme")
    with observe.scope(tenant="acme"):
        first = model.complete_cached(ASK, options=ZERO)
        second = model.complete_cached(ASK, options=ZERO)
    miss, hit = lookups
    assert (miss.hit, miss.tier, miss.reason, miss.saved_tokens) == (False, "exact", "absent", 0)
    assert (hit.hit, hit.tier, hit.reason) == (True, "exact", "")
    assert miss.key == first.lookup.key == hit.key == second.lookup.key and len(hit.key) > 16
    assert hit.saved_tokens == 1230 and hit.saved_usd > 0  # gpt-4o is priced by the catalog
    assert hit.cache == cache.kind and cache.kind in ("memory", "sqlite", "redis")
    assert hit.model == "gpt-4o" and hit.tenant == "acme" and hit.latency_s >= 0
    assert hit.distance is None


def test_no_cache_is_a_miss_of_no_tier_and_sampled_requests_are_no_lookup(lookups):
    model = CachedChatModel(ScriptedChatModel(["Paris."], repeat_last=True), "memory:", tenant="acme")
    model.with_control(CacheControl(no_cache=True)).complete(ASK, options=ZERO)
    model.complete(ASK, options=ChatOptions(temperature=0.7))  # not cacheable: the cache is not asked
    (event,) = lookups
    assert (event.hit, event.tier, event.reason) == (False, "none", "no_cache")
    assert model.cache.stats.misses == 1


def test_async_lookups_emit_the_same_events():
    seen: list[observe.CacheLookup] = []

    async def twice() -> None:
        model = AsyncCachedChatModel(AsyncScriptedChatModel(["Paris."]), "memory:", tenant="acme")
        await model.complete(ASK, options=ZERO)
        await model.complete(ASK, options=ZERO)

    with observe.subscribe(seen.append, kinds=observe.CacheLookup):
        asyncio.run(twice())
    assert [(e.hit, e.tier) for e in seen] == [(False, "exact"), (True, "exact")]


def test_nothing_is_emitted_and_stats_still_count_when_nobody_listens():
    model = CachedChatModel(ScriptedChatModel(["Paris."]), "memory:", tenant="acme")
    model.complete(ASK, options=ZERO)
    model.complete(ASK, options=ZERO)
    assert (model.cache.stats.misses, model.cache.stats.exact_hits) == (1, 1)


@pytest.fixture(scope="module")
def onnx():
    need("onnxruntime", "the semantic tier embeds with the embedded ONNX MiniLM (extra `embed`)")
    from contextwise.embed import default_embedder

    return default_embedder()


def _ask(text):
    return [Message.system("Be brief."), Message.user(text)]


def test_semantic_tier_hit_and_miss_carry_the_nearest_distance(onnx, lookups):
    model = CachedChatModel(ScriptedChatModel(["Dark mode is on."], repeat_last=True), "memory:", tenant="acme",
                            semantic=True)
    model.complete(_ask("turn on dark mode"), options=ZERO)
    near = model.complete_cached(_ask("please turn on the dark mode"), options=ZERO)
    guarded = model.lookup(_ask("turn off dark mode"), options=ZERO)
    empty, hit, miss = lookups
    assert (empty.tier, empty.hit, empty.distance) == ("semantic", False, None)  # nothing stored yet
    assert (hit.tier, hit.hit) == ("semantic", True) and near.cached
    assert hit.distance == pytest.approx(near.lookup.distance) and hit.distance < 0.2
    assert hit.key == near.lookup.key  # the exact key of the request, not of the entry served
    assert (miss.tier, miss.hit, miss.reason) == ("semantic", False, guarded.reason)
    assert miss.distance == pytest.approx(guarded.distance) and miss.reason.startswith("guard")


def _families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_prometheus_counts_lookups_by_tier_with_bounded_labels():
    exporter = observe.PrometheusExporter(max_label_values=3)
    with exporter:
        for hit in (True, True, False):
            observe.emit_cache_lookup(cache="sqlite", hit=hit, tier="exact", saved_tokens=100 if hit else 0,
                                      reason="" if hit else "expired")
        observe.emit_cache_lookup(cache="sqlite", hit=True, tier="semantic", distance=0.05, saved_tokens=40)
        observe.emit_cache_lookup(cache="sqlite", hit=False, tier="semantic", reason="guard: numbers differ")
        for i in range(5):  # more distinct reasons than the bound: the rest become "other"
            observe.emit_cache_lookup(cache="sqlite", hit=False, tier="exact", reason=f"odd{i}: x")
    samples = [s for s in _families(exporter.metrics_text())["contextwise_cache_lookups"].samples
               if s.name.endswith("_total")]
    by = {(s.labels["tier"], s.labels["result"], s.labels["reason"]): s.value for s in samples}
    assert by[("exact", "hit", "")] == 2 and by[("semantic", "hit", "")] == 1
    assert by[("exact", "miss", "expired")] == 1 and by[("semantic", "miss", "guard")] == 1
    # three distinct miss reasons at most (expired, guard, odd0); later new ones are "other"
    assert {s.labels["reason"] for s in samples} == {"", "expired", "guard", "odd0", "other"}
    assert by[("exact", "miss", "odd0")] == 1 and by[("exact", "miss", "other")] == 4
    saved = {s.labels["tier"]: s.value for s in _families(exporter.metrics_text())["contextwise_cache_saved_tokens"]
             .samples if s.name.endswith("_total")}
    assert saved == {"exact": 200, "semantic": 40}


def test_otel_span_per_lookup_and_stats_hit_rate_from_real_lookups(tmp_path):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    stats = observe.UsageStats(tmp_path / "stats.sqlite3")
    model = CachedChatModel(ScriptedChatModel(["Paris."], repeat_last=True), "memory:", tenant="acme")
    with observe.OtelExporter(provider), stats, observe.scope(tenant="acme"):
        for _ in range(4):
            model.complete(ASK, options=ZERO)
        CachedCompressor(Counting()).compress("one two three four", 2, FakeTokenizer())
    lookup_spans = [s for s in spans.get_finished_spans() if s.name == "cache_lookup"]
    assert len(lookup_spans) == 5
    attrs = dict(lookup_spans[1].attributes)
    assert attrs["contextwise.cache_lookup.hit"] is True and attrs["contextwise.cache_lookup.tier"] == "exact"
    assert attrs["contextwise.cache_lookup.key"] == model.lookup(ASK, options=ZERO).key
    assert attrs["contextwise.tenant"] == "acme"
    (row,) = stats.summary()
    assert (row.cache_hits, row.cache_lookups, row.cache_hit_rate) == (3, 4, 0.75)  # compressions left out
    stats.close()
    provider.shutdown()


class Counting:
    """A compressor that counts its calls (keeps the first `target_tokens` words)."""

    name = "first-words"

    def __init__(self) -> None:
        self.calls = 0

    def compress(self, text, target_tokens, tokenizer, query=None):
        from contextwise.types import Compressed

        self.calls += 1
        kept = " ".join(text.split()[:target_tokens])
        return Compressed(kept, tokenizer.count(text), tokenizer.count(kept), self.name)


def test_cached_compressor_lookups_are_events(tmp_path, lookups):
    inner = Counting()
    store = ResponseCache(f"sqlite:{tmp_path / 'c.db'}").entries
    squeeze = CachedCompressor(inner, store=store, tenant="acme")
    first = squeeze.compress("a b c d e f", 3, FakeTokenizer())
    second = squeeze.compress("a b c d e f", 3, FakeTokenizer())
    again = CachedCompressor(Counting(), store=store, tenant="acme").compress("a b c d e f", 3, FakeTokenizer())
    assert [(e.cache, e.hit, e.tier, e.model) for e in lookups] == [
        ("compressed", False, "exact", "first-words"), ("compressed", True, "exact", "first-words"),
        ("compressed", True, "exact", "first-words")]
    assert lookups[0].key == first.key == second.key == again.key and again.from_cache and inner.calls == 1
