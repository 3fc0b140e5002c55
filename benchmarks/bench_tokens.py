"""Token counting: contextwise vs raw tiktoken on the same 10 MB, and recounting a growing 10,000-turn chat.

Figures printed:
  1. cold: a fresh process imports, loads the o200k_base tokenizer and counts 10 kB, then 10 MB (median of
     --cold-runs processes each); tiktoken gets its best cold case, its rank file already in its own disk cache.
  2. warm: tokenizer loaded, a 10 MB text never seen before (and the same text again: a cache hit).
  3. conversation: after each of --turns turns, the whole history is counted as a chat request. contextwise
     reuses its running totals; the peer recounts every message with tiktoken each turn (the cookbook's loop),
     timed on every --sample-every-th turn and scaled up (its cost per turn grows linearly, so this is fair).

Run: python benchmarks/bench_tokens.py            (about a minute on 2 cores)
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ESSAYS = Path(__file__).resolve().parents[1] / ".." / "shared" / "bench" / "data" / "niah-paul-graham-essays"
TARGET_CHARS = 10_000_000
WORDS = ["context", "budget", "token", "window", "model", "cache", "prompt", "history", "memory", "summary", "retrieval", "answer", "question", "tool", "call", "result", "image", "price", "latency", "vector", "store", "search", "rank", "chunk", "document", "citation"]


def corpus(chars: int = TARGET_CHARS) -> tuple[str, str]:
    """About `chars` characters of text: the Paul Graham essays repeated if present, else generated prose."""
    essays = sorted((ESSAYS / "PaulGrahamEssays").glob("*.txt")) if ESSAYS.exists() else []
    if essays:
        base = "\n\n".join(p.read_text(encoding="utf-8") for p in essays)
        return (base * (chars // len(base) + 1))[:chars], "Paul Graham essays (repeated)"
    rng = random.Random(7)
    lines = []
    while sum(map(len, lines)) < chars:
        lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30))).capitalize() + ".\n")
    return "".join(lines)[:chars], "generated prose (seed 7)"


COLD_CONTEXTWISE = """
import sys, time
text = open(sys.argv[1], encoding="utf-8").read()[: int(sys.argv[2])]
t0 = time.perf_counter()
import contextwise
t1 = time.perf_counter()
from contextwise.tokens import get_tokenizer
n = get_tokenizer("o200k_base").count(text)
print(time.perf_counter() - t0, n, t1 - t0)
"""
COLD_CONTEXTWISE_TIKTOKEN = """
import sys, time
text = open(sys.argv[1], encoding="utf-8").read()[: int(sys.argv[2])]
t0 = time.perf_counter()
import contextwise
t1 = time.perf_counter()
from contextwise.tokens import tiktoken_tokenizer
n = tiktoken_tokenizer("o200k_base").count(text)
print(time.perf_counter() - t0, n, t1 - t0)
"""
COLD_TIKTOKEN = """
import sys, time
text = open(sys.argv[1], encoding="utf-8").read()[: int(sys.argv[2])]
t0 = time.perf_counter()
import tiktoken
n = len(tiktoken.get_encoding("o200k_base").encode_ordinary(text))
print(time.perf_counter() - t0, n, 0.0)
"""


def cold_once(script: str, path: str, env: dict[str, str], chars: int) -> tuple[float, int, float]:
    done = subprocess.run([sys.executable, "-c", script, path, str(chars)], capture_output=True, text=True, env=env,
                          check=True)
    seconds, count, import_s = done.stdout.split()
    return float(seconds), int(count), float(import_s)


def tiktoken_cache(tmp: str) -> dict[str, str]:
    """An environment where plain tiktoken finds o200k_base in its own disk cache (its best cold case)."""
    from contextwise.tokens._openai import RANK_FILES, read_rank_bytes

    info = RANK_FILES["o200k_base"]
    Path(tmp, hashlib.sha1(info.url.encode()).hexdigest()).write_bytes(read_rank_bytes("o200k_base"))
    return {**os.environ, "TIKTOKEN_CACHE_DIR": tmp}


def bench_cold(text: str, runs: int, chars: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "text.txt")
        Path(path).write_text(text, encoding="utf-8")
        cache = os.path.join(tmp, "cache")
        os.mkdir(cache)
        env = tiktoken_cache(cache)
        # Interleaved, so a busy machine slows every side alike.
        scripts = {"contextwise": COLD_CONTEXTWISE, "contextwise (tiktoken back-end)": COLD_CONTEXTWISE_TIKTOKEN,
                   "tiktoken": COLD_TIKTOKEN}
        runs_by = {name: [] for name in scripts}
        for _ in range(runs):
            for name, script in scripts.items():
                runs_by[name].append(cold_once(script, path, env, chars))
    counts = {n for runs_ in runs_by.values() for _, n, _ in runs_}
    assert len(counts) == 1, runs_by
    tokens = counts.pop()
    median = {name: statistics.median(t for t, _, _ in runs_) for name, runs_ in runs_by.items()}
    imports = {name: statistics.median(i for _, _, i in runs_) for name, runs_ in runs_by.items()}
    theirs = median.pop("tiktoken")
    for name, ours in median.items():
        print(f"cold  load+count {chars:,} chars: {name} {ours:.3f} s, tiktoken {theirs:.3f} s -> {theirs / ours:.2f}x "
              f"(median of {runs}; {tokens:,} tokens, identical; of which `import contextwise` {imports[name]:.3f} s, "
              f"without it {theirs / (ours - imports[name]):.2f}x)")
    return median["contextwise"], theirs


def bench_warm(text: str) -> tuple[float, float]:
    import tiktoken

    from contextwise.tokens import TokenCounter, get_tokenizer

    enc = tiktoken.get_encoding("o200k_base")
    counter = TokenCounter(get_tokenizer("o200k_base"))
    assert counter.tokenizer.count(text) == len(enc.encode_ordinary(text))  # both loaded and warmed up
    fresh = text[1:] + text[:1]  # never counted before in this process
    t0 = time.perf_counter()
    theirs = len(enc.encode_ordinary(fresh))
    t1 = time.perf_counter()
    ours = counter.count(fresh)
    t2 = time.perf_counter()
    again = counter.count(fresh[:])
    t3 = time.perf_counter()
    assert ours == theirs == again
    print(f"warm  count new 10 MB: contextwise {t2 - t1:.3f} s, tiktoken {t1 - t0:.3f} s -> {(t1 - t0) / (t2 - t1):.2f}x"
          f"; same text again (cache hit) {t3 - t2:.4f} s -> {(t1 - t0) / max(t3 - t2, 1e-9):,.0f}x")
    print(f"      backend: {get_tokenizer('o200k_base')!r}")
    return t2 - t1, t1 - t0


def conversation(turns: int) -> list:
    from contextwise.types import Message

    rng = random.Random(11)
    out = []
    for i in range(turns):
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 80)))
        out.append(Message.user(f"Turn {i}: {words}?") if i % 2 == 0 else Message.assistant(f"{words}."))
    return out


def cookbook_count(enc, history) -> int:
    """The cookbook's per-turn loop: every message re-encoded (3 per message + role + content, +3 priming)."""
    return sum(3 + len(enc.encode_ordinary(m.role)) + len(enc.encode_ordinary(m.content)) for m in history) + 3


def bench_conversation(turns: int, sample_every: int) -> tuple[float, float]:
    import tiktoken

    from contextwise.tokens import TokenCounter

    msgs = conversation(turns)
    enc = tiktoken.get_encoding("o200k_base")
    counter = TokenCounter.for_model("gpt-4o")
    history: list = []
    ours: dict[int, int] = {}
    t0 = time.perf_counter()
    for i, msg in enumerate(msgs, 1):
        history.append(msg)
        ours[i] = counter.messages(history)
    ours_s = time.perf_counter() - t0
    sampled_s, checked = 0.0, 0
    for i in range(sample_every, turns + 1, sample_every):
        t = time.perf_counter()
        theirs = cookbook_count(enc, msgs[:i])
        sampled_s += time.perf_counter() - t
        assert theirs == ours[i], (i, theirs, ours[i])
        checked += 1
    theirs_s = sampled_s * sample_every
    print(f"chat  {turns:,} turns, whole history counted every turn: contextwise {ours_s:.2f} s, "
          f"tiktoken afresh ~{theirs_s:.1f} s (every {sample_every}th turn timed, x{sample_every}) "
          f"-> {theirs_s / ours_s:.0f}x; {checked} sampled totals identical; final {ours[turns]:,} tokens")
    return ours_s, theirs_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold-runs", type=int, default=5)
    parser.add_argument("--turns", type=int, default=10_000)
    parser.add_argument("--sample-every", type=int, default=100)
    args = parser.parse_args()
    text, source = corpus()
    print(f"text: {len(text):,} chars of {source}; {os.cpu_count()} cores")
    small_ours, small_theirs = bench_cold(text, args.cold_runs, 10_000)
    cold_ours, cold_theirs = bench_cold(text, args.cold_runs, len(text))
    warm_ours, warm_theirs = bench_warm(text)
    chat_ours, chat_theirs = bench_conversation(args.turns, args.sample_every)
    command = "`python benchmarks/bench_tokens.py`"
    print("README rows:")
    print(f"| count 10 kB, o200k_base (cold: import + load + count) | contextwise {small_ours:.2f} s "
          f"| tiktoken {small_theirs:.2f} s | {small_theirs / small_ours:.1f}x | {command} |")
    print(f"| count 10 MB, o200k_base (cold: load + count) | contextwise {cold_ours:.2f} s | tiktoken {cold_theirs:.2f} s "
          f"| {cold_theirs / cold_ours:.1f}x | {command} |")
    print(f"| count 10 MB, o200k_base (tokenizer loaded) | contextwise {warm_ours:.2f} s | tiktoken {warm_theirs:.2f} s "
          f"| {warm_theirs / warm_ours:.1f}x | {command} |")
    print(f"| recount a growing {args.turns:,}-turn chat every turn | contextwise {chat_ours:.2f} s "
          f"| tiktoken afresh ~{chat_theirs:.0f} s | {chat_theirs / chat_ours:.0f}x | {command} |")


if __name__ == "__main__":
    main()
