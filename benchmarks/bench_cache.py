"""The response cache beside its peers, in one run: key coverage (LiteLLM), exact lookup latency (LiteLLM's caches on
the same back-ends), semantic hit and false-hit rates (GPTCache's default threshold, same pairs and embeddings),
semantic lookup latency at 100k entries, and repeated compressions.

    python benchmarks/bench_cache.py                       # every part
    python benchmarks/bench_cache.py --keys --exact        # a selection: --keys --exact --semantic --latency
                                                           #   --compress
    python benchmarks/bench_cache.py --latency --entries 100000 --queries 200

--keys   mutates each documented parameter of the OpenAI chat, Anthropic messages and Ollama schemas
         (src/contextwise/cache/params.toml) alone and reports where a key does not change: for contextwise only
         the reviewed output-irrelevant fields may stay; for LiteLLM (`Cache.get_cache_key`, the parameters passed
         the way a LiteLLM user passes them: top level) every relevant field it misses is a wrong answer served.
--exact  p50/p95 of a lookup that hits (key computation included) with 10,000 entries stored, on SQLite and on a
         Redis server over loopback (one is started on a free 127.0.0.1 port if redis-server is on PATH), and in
         memory, beside LiteLLM's Redis and in-memory caches holding the same entries (LiteLLM 1.110 has no SQLite
         or disk cache type).
--semantic  the NQ pair set (benchmarks/data/cache_pairs.jsonl, see cache_pairs.md): the threshold chosen by
         `calibrate` (false-hit budget 1%) on the calibration half, measured on the test half, with 95% Wilson
         intervals and per kind; beside GPTCache's default semantic setting (SearchDistanceEvaluation on L2
         distance, similarity_threshold 0.8, run through GPTCache's own evaluation code) and a plain threshold at
         the same budget, on the same MiniLM embeddings, embedding only the last message (GPTCache's default).
--latency  a semantic lookup (query embedding included) in one tenant and frame holding --entries entries
         (2,655 NQ questions embedded for real, the rest near-copies of their vectors), with the exact search
         and with an HNSW index (SQLiteStore + hnswlib, built before timing; --ef-search), beside the query
         embedding alone, interleaved so all three see the same load. The exact-search lookups add a space to
         the prompt, so their embedding is not already cached.
--compress  a 4,000-token token-pruning (and extractive) compression through CachedCompressor: first call vs
         repeat.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # LiteLLM would fetch its price map at import

import numpy as np  # noqa: E402
from _data import shared_data

HERE = Path(__file__).parent
PAIRS = HERE / "data" / "cache_pairs.jsonl"
NQ = shared_data() / "lost-in-the-middle" / \
    "nq-open-oracle.jsonl.gz"
SCHEMAS = ("openai_chat", "anthropic_messages", "ollama_chat")
BASE = {
    "openai_chat": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Capital of France?"}]},
    "anthropic_messages": {"model": "claude-sonnet-4-5", "max_tokens": 256,
                           "messages": [{"role": "user", "content": "Capital of France?"}]},
    "ollama_chat": {"model": "ollama/llama3.2", "messages": [{"role": "user", "content": "Capital of France?"}]},
}
# Two values per kind that any key must tell apart (neither is a documented default).
SAMPLES: dict[str, tuple[Any, Any]] = {
    "string": ("alpha", "beta"), "boolean": (True, False), "integer": (3, 7), "number": (0.25, 0.75),
    "string_list": (["x"], ["y"]), "stop": (["END"], ["STOP"]), "object": ({"a": 1}, {"a": 2}),
    "list": ([{"type": "function", "function": {"name": "f"}}], [{"type": "function", "function": {"name": "g"}}]),
    "choice": ("auto", "none"), "messages": ([{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]),
}
IGNORED_SAMPLES: dict[str, tuple[Any, Any]] = {
    "metadata": ({"user_id": "u1"}, {"user_id": "u2"}), "stream_options": ({"include_usage": True}, {}),
    "store": (True, False), "use_mmap": (True, False), "use_mlock": (True, False), "numa": (True, False),
    "low_vram": (True, False), "num_thread": (2, 4), "num_gpu": (0, 1), "main_gpu": (0, 1), "num_batch": (256, 512),
}


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


# -- key coverage -------------------------------------------------------------------------------------------------


def samples(param: Any) -> tuple[Any, Any]:
    if param.kind == "enum":
        return param.values[0], param.values[-1]
    if param.kind == "integer" and param.min is not None and param.min > 3:
        return int(param.min) + 1, int(param.min) + 2
    if param.kind == "number" and param.max is not None and param.max < 0.75:
        return param.max / 4, param.max / 2
    return SAMPLES[param.kind]


def put(body: dict[str, Any], name: str, value: Any, *, flat: bool) -> dict[str, Any]:
    out = json.loads(json.dumps(body))
    head, _, tail = name.partition(".")
    if tail and not flat:
        out.setdefault(head, {})[tail] = value
    else:
        out[tail or head] = value
    return out


def keys() -> None:
    from contextwise.cache import get_schema, request_key

    try:
        from litellm.caching.caching import Cache
    except ImportError:
        print("keys: LiteLLM is not installed (pip install litellm); contextwise only")
        Cache = None  # noqa: N806
    peer = Cache(type="local") if Cache is not None else None
    print("\n== key coverage: does the key change when one parameter changes? ==")
    for schema_name in SCHEMAS:
        schema = get_schema(schema_name)
        ours_missed, peer_missed, peer_split = [], [], []
        names = [n for n, p in schema.params.items() if not p.nested and n not in ("model",)]
        for name in names:
            a, b = samples(schema.params[name])
            if request_key(put(BASE[schema_name], name, a, flat=False), tenant="t", schema=schema) == \
                    request_key(put(BASE[schema_name], name, b, flat=False), tenant="t", schema=schema):
                ours_missed.append(name)
            if peer is not None and peer.get_cache_key(**put(BASE[schema_name], name, a, flat=True)) == \
                    peer.get_cache_key(**put(BASE[schema_name], name, b, flat=True)):
                peer_missed.append(name)
        for name in schema.ignored:
            a, b = IGNORED_SAMPLES.get(name.rpartition(".")[2], ("u1", "u2"))
            if peer is not None and peer.get_cache_key(**put(BASE[schema_name], name, a, flat=True)) != \
                    peer.get_cache_key(**put(BASE[schema_name], name, b, flat=True)):
                peer_split.append(name)
        defaulted = [n for n, p in schema.params.items() if p.has_default]
        peer_defaults = [n for n in defaulted if peer is not None and peer.get_cache_key(**BASE[schema_name]) ==
                         peer.get_cache_key(**put(BASE[schema_name], n, schema.params[n].default, flat=True))]
        print(f"{schema_name}: {len(names)} output-relevant parameters")
        if peer is not None:
            print(f"  an omitted parameter keyed as its documented default: contextwise {len(defaulted)}/"
                  f"{len(defaulted)}, LiteLLM {len(peer_defaults)}/{len(defaulted)}")
        print(f"  contextwise misses {len(ours_missed)}: {', '.join(ours_missed) or '-'}")
        if peer is not None:
            print(f"  LiteLLM misses     {len(peer_missed)}: {', '.join(peer_missed) or '-'}")
            print(f"  LiteLLM keys on output-irrelevant fields (lost hits): {', '.join(peer_split) or '-'}")


# -- exact lookup latency -----------------------------------------------------------------------------------------


def chat_request(i: int) -> Any:
    from contextwise.cache import CacheRequest
    from contextwise.types import Message

    messages = (Message.system("You are a support assistant for Acme. Answer briefly and cite the handbook."),
                Message.user(f"How do I reset my password? (ticket {i})"),
                Message.assistant("Open Settings, then Security, then Reset password."),
                Message.user(f"And if I no longer have access to the e-mail address on account {i}?"))
    body = {"model": "gpt-4o-mini", "messages": [m.to_openai() for m in messages], "temperature": 0,
            "max_tokens": 300}
    return CacheRequest(body, "openai_chat", {"url": "https://api.openai.com/v1/chat/completions"}, messages)


def start_redis() -> tuple[str, Any] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="cw-bench-redis-")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                             "--dir", folder], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    for _ in range(100):
        try:
            redis.Redis(port=port).ping()
            return f"redis://127.0.0.1:{port}/0", proc
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    return None


def time_calls(fn: Any, args: list[Any]) -> list[float]:
    out = []
    for a in args:
        start = time.perf_counter()
        fn(a)
        out.append((time.perf_counter() - start) * 1000)
    return out


def exact(entries: int, queries: int) -> None:
    from contextwise.cache import ResponseCache
    from contextwise.types import Completion, Usage

    print(f"\n== exact lookup (hit), {entries:,} entries, {queries} timed lookups; {load_average()} ==")
    answer = Completion("Use the recovery codes from your account page, or contact support with your ID.",
                        Usage(120, 20), model="gpt-4o-mini", finish_reason="stop")
    requests = [chat_request(i) for i in range(entries)]
    probe = [requests[(i * 7919) % entries] for i in range(queries)]
    folder = Path(tempfile.mkdtemp(prefix="cw-bench-cache-"))
    started = start_redis()
    backends = [("memory", "memory:"), ("sqlite", f"sqlite:{folder / 'cache.db'}")] + \
        ([("redis", started[0])] if started else [])
    peers = litellm_caches(folder, started[0] if started else None)
    for label, spec in backends:
        cache = ResponseCache(spec)
        for r in requests:
            cache.store(r, answer, tenant="acme")
        for r in probe[:50]:
            cache.lookup(r, tenant="acme")
        ours = time_calls(lambda r, c=cache: c.lookup(r, tenant="acme"), probe)
        assert all(cache.lookup(r, tenant="acme").hit for r in probe[:20])
        line = f"{label:7s} contextwise p50 {percentile(ours, 50):.3f} ms  p95 {percentile(ours, 95):.3f} ms"
        peer = peers.get(label)
        if peer is not None:
            kwargs = [dict(r.body) for r in probe]
            import litellm

            stored = litellm.ModelResponse(choices=[{"message": {"role": "assistant", "content": answer.text}}],
                                           model="gpt-4o-mini")
            for r in requests:
                peer.add_cache(stored, **dict(r.body))
            theirs = time_calls(lambda kw, p=peer: p.get_cache(**kw), kwargs)
            assert all(peer.get_cache(**kw) is not None for kw in kwargs[:20]), "the peer did not hit"
            ratio = percentile(theirs, 50) / percentile(ours, 50)
            line += (f" | LiteLLM {label} p50 {percentile(theirs, 50):.3f} ms  p95 {percentile(theirs, 95):.3f} ms"
                     f" | LiteLLM / contextwise p50 {ratio:.2f}x")
        print(line)
        cache.close()
    if started:
        started[1].terminate()
    else:
        print("redis: redis-server not on PATH; skipped (apt-get install redis-server)")
    shutil.rmtree(folder, ignore_errors=True)


def litellm_caches(folder: Path, redis_url: str | None) -> dict[str, Any]:
    try:
        from litellm.caching.caching import Cache
        from litellm.caching.caching import CacheMode
    except ImportError:
        return {}
    on = CacheMode.default_on
    from litellm.caching.in_memory_cache import InMemoryCache

    out = {"memory": Cache(type="local", mode=on)}  # LiteLLM 1.110 has no disk/SQLite cache type
    out["memory"].cache = InMemoryCache(max_size_in_memory=1_000_000, default_ttl=None)  # default bound: 200
    if redis_url:
        host, port = redis_url.split("//")[1].split("/")[0].split(":")
        out["redis"] = Cache(type="redis", host=host, port=int(port), mode=on)
    return out


# -- semantic quality ---------------------------------------------------------------------------------------------


def semantic() -> None:
    from contextwise.cache._anchors import anchors
    from contextwise.cache._semantic import DEFAULT_THRESHOLD, choose_threshold, evaluate, prompt_text
    from contextwise.embed import CachedEmbedder, default_embedder
    from contextwise.types import Message

    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]
    print(f"\n== semantic hit and false-hit rates: {len(rows):,} NQ pairs; {load_average()} ==")
    embedder = CachedEmbedder(default_embedder())
    texts = [prompt_text([Message.user(t)]) for r in rows for t in (r["prompt"], r["cached"])]
    started = time.perf_counter()
    vectors = np.asarray(embedder.embed(texts, kind="query"))
    print(f"embedded {len(set(texts)):,} distinct prompts in {time.perf_counter() - started:.0f} s")
    sim = np.einsum("ij,ij->i", vectors[0::2], vectors[1::2])
    labels = np.array([r["same"] for r in rows])
    passes = np.array([anchors(a).mismatch(anchors(b)) is None for a, b in zip(texts[0::2], texts[1::2])])
    calib = np.array([r["split"] == "calibrate" for r in rows])
    kinds = np.array([r["kind"] for r in rows])
    test = ~calib
    ours = choose_threshold(sim[calib], passes[calib], labels[calib], max_false_hit_rate=0.01)
    blind = choose_threshold(sim[calib], np.ones_like(passes)[calib], labels[calib], max_false_hit_rate=0.01)
    gpt_served = gptcache_served(vectors)
    rules = [(f"contextwise (guard + threshold {ours.threshold:.4f})", (sim >= ours.threshold) & passes),
             (f"threshold only, same budget ({blind.threshold:.4f})", sim >= blind.threshold),
             (f"as shipped (guard + threshold {DEFAULT_THRESHOLD})", (sim >= DEFAULT_THRESHOLD) & passes)]
    if gpt_served is not None:
        rules.append(("GPTCache default (L2 search distance, 0.8)", gpt_served))
    else:
        print("GPTCache is not installed (pip install gptcache); its row is left out")
    print(f"test half: {int((labels & test).sum())} positive and {int((~labels & test).sum())} negative pairs")
    for name, served in rules:
        found = evaluate(sim[test], served[test], labels[test], -2.0)
        print(f"{name:44s} hit {found.hit_rate:.3f} [{found.hit_ci[0]:.3f}, {found.hit_ci[1]:.3f}]  false hit "
              f"{found.false_hit_rate:.4f} [{found.false_hit_ci[0]:.4f}, {found.false_hit_ci[1]:.4f}]")
    print("served share per kind (test half):")
    print("  " + f"{'kind':24s}" + "".join(f"{name.split(' (')[0][:18]:>20s}" for name, _ in rules))
    for kind in sorted(set(kinds)):
        mask = test & (kinds == kind)
        print(f"  {kind:24s}" + "".join(f"{served[mask].mean():>20.3f}" for _, served in rules) + f"   n={mask.sum()}")


def gptcache_served(vectors: np.ndarray) -> np.ndarray | None:
    """GPTCache's decision for each pair with its default semantic settings: the cached vector's squared L2
    distance (what its faiss/hnswlib vector stores return) scored by SearchDistanceEvaluation, served when the
    rank reaches similarity_threshold scaled to the evaluation's range, as gptcache/adapter/adapter.py does."""
    try:
        from gptcache.config import Config
        from gptcache.similarity_evaluation.distance import SearchDistanceEvaluation
    except ImportError:
        return None
    evaluation, config = SearchDistanceEvaluation(), Config()
    low, high = evaluation.range()
    rank_threshold = min(max((high - low) * config.similarity_threshold * 1.0, low), high)
    distances = ((vectors[0::2] - vectors[1::2]) ** 2).sum(axis=1)
    return np.array([evaluation.evaluation({}, {"search_result": (float(d), None)}) >= rank_threshold
                     for d in distances])


# -- semantic lookup latency --------------------------------------------------------------------------------------


def latency(entries: int, queries: int, ef_search: int) -> None:
    from contextwise.cache import CachedChatModel, ResponseCache, SemanticIndex
    from contextwise.cache._entry import Entry
    from contextwise.cache._semantic import prompt_text
    from contextwise.embed import OnnxMiniLM
    from contextwise.stores import ExactSearch, HnswSearch, SQLiteStore
    from contextwise.testing import ScriptedChatModel
    from contextwise.types import ChatOptions, Completion, Message, Record

    with gzip.open(NQ, "rt", encoding="utf-8") as handle:
        questions = list(dict.fromkeys(json.loads(line)["question"] for line in handle))
    print(f"\n== semantic lookup latency, {entries:,} entries in one tenant; {load_average()} ==")
    embedder = OnnxMiniLM()
    folder = Path(tempfile.mkdtemp(prefix="cw-bench-sem-"))
    path = folder / "cache.db"
    system = Message.system("Answer from general knowledge.")
    zero = ChatOptions(temperature=0)
    cache = ResponseCache(f"sqlite:{path}", semantic=SemanticIndex(SQLiteStore(path, 384, search=ExactSearch()),
                                                                 embedder=embedder))
    model = CachedChatModel(ScriptedChatModel(["x"], repeat_last=True), cache, tenant="acme", semantic=True)
    request = model._plan([system, Message.user(questions[0])], None, zero, False).request
    frame = request.frame_key("acme", "")
    partition = SemanticIndex.partition("acme", frame)
    started = time.perf_counter()
    base = np.asarray(embedder.embed([prompt_text([Message.user(q)]) for q in questions], kind="query"))
    print(f"embedded {len(questions):,} questions in {time.perf_counter() - started:.0f} s; writing entries ...")
    rng = np.random.default_rng(0)
    records, answer = [], Completion("an answer", model="gpt")
    for i in range(entries):
        q = questions[i % len(questions)]
        text = prompt_text([Message.user(q if i < len(questions) else f"{q} (variant {i})")])
        key = f"bench{i:07d}"
        vector = base[i % len(questions)] + (rng.normal(0, 0.02, 384) if i >= len(questions) else 0)
        vector = vector / np.linalg.norm(vector)
        entry = Entry("acme", "", key, answer, 0.0, None, None, (), text, frame)
        cache.entries.put("acme", "", key, entry.to_bytes(), expires_at=None)
        records.append(Record(key, text, tuple(float(x) for x in vector)))
        if len(records) == 5000 or i == entries - 1:
            cache.semantic_index().vectors.upsert(records, tenant=partition)
            records = []
            print(f"  {i + 1:,} / {entries:,}", file=sys.stderr, flush=True)
    asks = [[system, Message.user("can you tell me " + questions[(i * 131) % len(questions)] + "?")]
            for i in range(queries)]
    others = [[system, Message.user(f"please tell me {questions[(i * 17) % len(questions)]}")] for i in range(queries)]
    cache.close()
    store = SQLiteStore(path, 384, search=HnswSearch(min_vectors=10_000, ef_search=ef_search))
    started = time.perf_counter()
    store.build_index(tenant=partition)
    print(f"HNSW index built in {time.perf_counter() - started:.0f} s")
    exact_model = CachedChatModel(ScriptedChatModel(["x"], repeat_last=True), ResponseCache(
        f"sqlite:{path}", semantic=SemanticIndex(SQLiteStore(path, 384, search=ExactSearch()), embedder=embedder)),
        tenant="acme", semantic=True)
    cache = ResponseCache(f"sqlite:{path}", semantic=SemanticIndex(store, embedder=embedder))
    model = CachedChatModel(ScriptedChatModel(["x"], repeat_last=True), cache, tenant="acme", semantic=True)
    model.lookup(others[0], options=zero)
    exact_model.lookup(others[1], options=zero)
    embed_only, hnsw, exact_search, hits, exact_hits = [], [], [], 0, 0
    for i, (ask, other) in enumerate(zip(asks, others)):  # interleaved, so all three see the same load
        embed_only += time_calls(lambda m: embedder.embed([prompt_text(m)], kind="query"), [other])
        start = time.perf_counter()
        hits += model.lookup(ask, options=zero).hit
        hnsw.append((time.perf_counter() - start) * 1000)
        if i % 4 == 0:
            start = time.perf_counter()
            exact_hits += exact_model.lookup([ask[0], Message.user(ask[1].text + " ")], options=zero).hit
            exact_search.append((time.perf_counter() - start) * 1000)
    print(f"query embedding alone          p50 {percentile(embed_only, 50):.2f} ms  p95 "
          f"{percentile(embed_only, 95):.2f} ms")
    print(f"lookup, exact search           p50 {percentile(exact_search, 50):.2f} ms  p95 "
          f"{percentile(exact_search, 95):.2f} ms  ({exact_hits}/{len(exact_search)} paraphrases served)")
    print(f"lookup, HNSW (ef_search {ef_search})    p50 {percentile(hnsw, 50):.2f} ms  p95 "
          f"{percentile(hnsw, 95):.2f} ms  ({hits}/{len(hnsw)} paraphrases served); lookup / embedding alone "
          f"{percentile(hnsw, 50) / percentile(embed_only, 50):.2f}x")
    exact_model.cache.close()
    cache.close()
    shutil.rmtree(folder, ignore_errors=True)


# -- compressions -------------------------------------------------------------------------------------------------


def compress(repeats: int) -> None:
    from contextwise.cache import CachedCompressor
    from contextwise.compress import Extractive, TokenPruning
    from contextwise.tokens import get_tokenizer

    tok = get_tokenizer("o200k_base")
    with gzip.open(NQ, "rt", encoding="utf-8") as handle:
        row = json.loads(next(handle))
        others = [json.loads(next(handle)) for _ in range(60)]
    parts, used = [], 0
    for r in [row, *others]:
        for ctx in r["ctxs"]:
            block = f"{ctx['title']}\n{ctx['text']}"
            if used + tok.count(block) > 4000:
                break
            parts.append(block)
            used += tok.count(block) + 1
    text = "\n".join(parts)
    print(f"\n== repeated compression of a {tok.count(text):,}-token context to 2,000 tokens; {load_average()} ==")
    for compressor in (TokenPruning(), Extractive()):
        cached = CachedCompressor(compressor)
        start = time.perf_counter()
        first = cached.compress(text, 2000, tok, query=row["question"])
        cold = (time.perf_counter() - start) * 1000
        warm = time_calls(lambda _, c=cached: c.compress(text, 2000, tok, query=row["question"]),
                          list(range(repeats)))
        assert not first.from_cache and cached.compress(text, 2000, tok, query=row["question"]).from_cache
        print(f"{compressor.name:20s} first {cold:10.1f} ms | repeat p50 {percentile(warm, 50):.3f} ms  p95 "
              f"{percentile(warm, 95):.3f} ms | first / repeat {cold / percentile(warm, 50):,.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for part in ("keys", "exact", "semantic", "latency", "compress"):
        parser.add_argument(f"--{part}", action="store_true")
    parser.add_argument("--entries", type=int, default=100_000, help="entries for --latency")
    parser.add_argument("--exact-entries", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef-search", type=int, default=100, help="HNSW ef_search for --latency (a neighbour the "
                        "index misses costs a hit, never a wrong answer, so the cache needs less than search does)")
    args = parser.parse_args()
    chosen = [p for p in ("keys", "exact", "semantic", "latency", "compress") if getattr(args, p)]
    print(f"bench_cache: {', '.join(chosen) or 'all parts'}; {load_average()}")
    for part in chosen or ("keys", "exact", "semantic", "latency", "compress"):
        if part == "keys":
            keys()
        elif part == "exact":
            exact(args.exact_entries, args.queries)
        elif part == "semantic":
            semantic()
        elif part == "latency":
            latency(args.entries, args.queries, args.ef_search)
        else:
            compress(args.queries)
    print(f"\ndone; {load_average()}")


if __name__ == "__main__":
    main()
