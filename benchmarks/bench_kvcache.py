"""KV-state cache: time to first token on a precomputed 2,000-token scenario prefix, restored from disk, beside the
same model evaluating the whole prompt, in one process; the state's real bytes per token and its restore time.

The scenario is a system prompt and a common context (GSM8K's hardest prompt, then Paul Graham essays) cut so the
prefix is --prefix-tokens tokens of SmolLM2-135M. Each round runs the plain model (every prompt evaluated whole)
and then the KVCachedModel; the plain call switches the model's own cache away from the tenant, so every cached
run restores the state from its file (the file is in the OS page cache: a warm read). A child process then
answers the same question from the same directory: the scenario precomputed here, served after a restart.

    python benchmarks/bench_kvcache.py [--prefix-tokens 2000] [--repeat 3] [--max-tokens 16] [--no-child]
        [--data /work/shared/bench/data]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from _data import shared_data
from contextwise.cache import KVCachedModel, KVStateCache
from contextwise.llm import LlamaCppModel, smollm2_path
from contextwise.observe import CacheLookup, subscribe
from contextwise.types import ChatOptions, Completion, Message

SYSTEM = "You are a careful assistant. Answer from the context below, briefly."
QUESTION = "What is the first question in the context about?"
GREEDY = ChatOptions(temperature=0.0, logprobs=True)
N_CTX = 4096  # the prefix, the question and the answer fit with room to spare


def first_token(stream: Iterator[str | Completion]) -> tuple[float, Completion]:
    """Seconds until the first text delta, and the finished Completion."""
    started, ttft, done = time.perf_counter(), None, None
    for item in stream:
        if isinstance(item, str) and ttft is None:
            ttft = time.perf_counter() - started
        if isinstance(item, Completion):
            done = item
    assert done is not None
    return (ttft if ttft is not None else time.perf_counter() - started), done


def context_for(model: LlamaCppModel, prefix_tokens: int, data: Path) -> str:
    """Essays cut so the scenario's prefix is `prefix_tokens` long (the template and system prompt counted)."""
    overhead = len(model._tokens(model.template.prefix([Message.system(f"{SYSTEM}\n\n")])))  # noqa: SLF001
    ids: list[int] = []
    for essay in sorted((data / "niah-paul-graham-essays" / "PaulGrahamEssays").glob("*.txt")):
        ids += model.tokenize(essay.read_text() + "\n\n")
        if len(ids) >= prefix_tokens:
            break
    if len(ids) < prefix_tokens - overhead:
        raise SystemExit(f"not enough text under {data} (pass --data: the folder holding niah-paul-graham-essays)")
    return model.detokenize(ids[:prefix_tokens - overhead])


def child_run(folder: str, max_tokens: int) -> dict[str, float]:
    """A new process: load the model, answer the scenario from the saved state; its timings."""
    code = f"""
import json, sys, time
started = time.perf_counter()
from contextwise.cache import KVCachedModel, KVStateCache
from contextwise.llm import LlamaCppModel, smollm2_path
from contextwise.types import ChatOptions, Completion, Message
model = LlamaCppModel(smollm2_path(), n_ctx={N_CTX}, name="smollm2-135m-instruct")
kv = KVCachedModel(model, KVStateCache(sys.argv[1]), tenant="bench")
kv.fingerprint
loaded = time.perf_counter() - started
begin, ttft = time.perf_counter(), None
for item in kv.stream_scenario("bench", [Message.user({QUESTION!r})], {max_tokens},
                               ChatOptions(temperature=0.0, logprobs=True)):
    if isinstance(item, str) and ttft is None:
        ttft = time.perf_counter() - begin
    if isinstance(item, Completion):
        done = item
print(json.dumps({{"load_s": loaded, "ttft_s": ttft, "cached": done.usage.cached_input_tokens,
                  "text": done.text}}))
"""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code, folder], capture_output=True, text=True, env=env,
                         check=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix-tokens", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=16)
    parser.add_argument("--no-child", action="store_true", help="skip the new-process run")
    parser.add_argument("--data", type=Path, default=shared_data(),
                        help="the public benchmark data folder (default ../shared/bench/data beside the checkout)")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]

    model = LlamaCppModel(smollm2_path(), n_ctx=N_CTX, name="smollm2-135m-instruct")
    plain = LlamaCppModel(smollm2_path(), n_ctx=N_CTX, name=model.name)  # the same loaded model
    plain.reuse_prefix = False
    folder = tempfile.mkdtemp(prefix="cw-bench-kv-")
    kv = KVCachedModel(model, KVStateCache(folder), tenant="bench")
    context = context_for(model, args.prefix_tokens, args.data)
    ask = [Message.user(QUESTION)]
    plain.complete([Message.user("warm up")], max_output_tokens=2)

    done = kv.precompute("bench", SYSTEM, context)
    (entry,) = kv.states.entries()
    state = kv.states.load(entry)
    assert state is not None
    messages = kv.scenario_messages("bench", ask)

    plain_s, cached_s, restore_s, same = [], [], [], True
    for _ in range(args.repeat):
        took, want = first_token(plain.stream(messages, args.max_tokens, GREEDY))
        plain_s.append(took)
        seen: list[CacheLookup] = []
        with subscribe(seen.append, kinds=CacheLookup):
            took, got = first_token(kv.stream_scenario("bench", ask, args.max_tokens, GREEDY))
        assert got.usage.cached_input_tokens == done.tokens, got.usage
        cached_s.append(took)
        restore_s.append(seen[0].latency_s)
        same &= got.text == want.text and got.logprobs == want.logprobs

    read = time.perf_counter()
    again = kv.states.load(entry)
    read_s = time.perf_counter() - read
    assert again is not None
    engine = model._engine  # noqa: SLF001 (llama.cpp's part of a restore, timed alone)
    with engine.hold():
        put = time.perf_counter()
        assert engine.restore_state(again.tokens, again.data, len(again.tokens), prompt_tokens=done.tokens + 1)
        put_s = time.perf_counter() - put
        engine.forget()

    p, c = statistics.median(plain_s), statistics.median(cached_s)
    print(f"prefix {done.tokens} tokens ({args.prefix_tokens} asked), prompt {want.usage.input_tokens}, answer "
          f"{want.usage.output_tokens} tokens; median of {args.repeat}; load average {load_start:.1f} -> "
          f"{os.getloadavg()[0]:.1f}")
    print(f"precompute (evaluate + save): {done.seconds:.2f} s")
    print(f"state: {entry.bytes:,} bytes on disk = {entry.bytes_per_token:,.0f} bytes/token "
          f"(llama.cpp's sequence state {len(state.data) / done.tokens:,.0f} bytes/token)")
    print(f"TTFT whole prompt evaluated:  {p * 1000:9.0f} ms  (runs: {', '.join(f'{s:.2f}' for s in plain_s)} s)")
    print(f"TTFT prefix restored:         {c * 1000:9.0f} ms  (runs: {', '.join(f'{s:.3f}' for s in cached_s)} s)")
    print(f"restore (find + read + sha256 + llama.cpp), median: {statistics.median(restore_s) * 1000:.1f} ms; "
          f"read + verify alone {read_s * 1000:.1f} ms, llama_state_seq_set_data {put_s * 1000:.1f} ms")
    print(f"TTFT ratio: {p / c:.1f}x; answers identical (text and logprobs, every run): {same}")
    if not args.no_child:
        child = child_run(folder, args.max_tokens)
        print(f"new process: model load {child['load_s']:.2f} s, then TTFT {child['ttft_s'] * 1000:.0f} ms with "
              f"{child['cached']} tokens restored; same answer: {child['text'] == want.text}")
    print(f"README row: | KV-state cache, SmolLM2-135M, time to first token on a {done.tokens}-token precomputed "
          f"prefix (warm file) | {c * 1000:.0f} ms (restore {statistics.median(restore_s) * 1000:.0f} ms; "
          f"{entry.bytes_per_token / 1000:.1f} kB/token) | the same model evaluating the prompt: {p * 1000:.0f} ms "
          f"| {p / c:.1f}x | `python benchmarks/bench_kvcache.py --repeat {args.repeat}` |")


if __name__ == "__main__":
    main()
