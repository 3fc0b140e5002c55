"""Token counting: contextwise vs raw tiktoken on real text (cold and warm), and recounting a growing chat.

Sets (each repeated to --chars characters): the Paul Graham essays as shipped (curly quotes, dashes, no-break
spaces), LoCoMo dialogue, NQ passages, MemoryBank's Chinese dialogues (all from ../shared/bench/data; skipped when
it is absent) and generated ASCII prose. Figures printed per set:
  1. cold: a fresh process imports, loads the o200k_base tokenizer and counts 10 kB, then the whole set (median of
     --cold-runs processes each, interleaved with the peer); tiktoken gets its best cold case, its rank file
     already in its own disk cache.
  2. warm: tokenizer loaded, the set's text never seen before (and the same text again: a cache hit).
Then the conversation: after each of --turns turns, the whole history is counted as a chat request. contextwise
reuses its running totals; the peer recounts every message with tiktoken each turn (the cookbook's loop), timed
on every --sample-every-th turn and scaled up (its cost per turn grows linearly, so this is fair).
Counts are asserted identical to tiktoken's everywhere. contextwise counts long texts in pieces on all cores;
tiktoken's `encode_ordinary` is the call its users make.

Run: python benchmarks/bench_tokens.py --cold-runs 3     (about five minutes on 2 cores)
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _data import shared_data

DATA = shared_data()
TARGET_CHARS = 10_000_000
WORDS = ("context budget token window model cache prompt history memory summary retrieval answer question "
         "tool call result image price latency vector store search rank chunk document citation").split()


def _essays() -> str:
    """The Paul Graham essays as shipped (English, with curly quotes, dashes and no-break spaces)."""
    files = sorted((DATA / "niah-paul-graham-essays" / "PaulGrahamEssays").glob("*.txt"))
    return "\n\n".join(p.read_text(encoding="utf-8") for p in files)


def _locomo() -> str:
    """Every LoCoMo dialogue turn as `speaker: text` lines."""
    convs = json.loads((DATA / "locomo" / "locomo10.json").read_text(encoding="utf-8"))
    sessions = [turns for conv in convs for key, turns in conv["conversation"].items()
                if key.startswith("session_") and isinstance(turns, list)]
    return "\n".join(f"{turn['speaker']}: {turn['text']}" for turns in sessions for turn in turns)


def _nq() -> str:
    """The NQ (lost-in-the-middle) passages, title and text."""
    with gzip.open(DATA / "lost-in-the-middle" / "nq-open-oracle.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return "\n\n".join(f"{c['title']}\n{c['text']}" for row in rows for c in row["ctxs"])


def _chinese() -> str:
    """MemoryBank's Chinese dialogues (user query and reply), one line each."""
    bank = json.loads((DATA / "memorybank" / "cn" / "memory_bank_cn.json").read_text(encoding="utf-8"))
    return "\n".join(f"{turn['query']}\n{turn['response']}" for person in bank.values()
                     for turns in person["history"].values() for turn in turns)


def _generated() -> str:
    rng = random.Random(7)
    lines = []
    while sum(map(len, lines)) < 1_000_000:
        lines.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 30))).capitalize() + ".\n")
    return "".join(lines)


#: Name -> (description, loader, needs ../shared/bench/data).
SETS = {
    "essays": ("Paul Graham essays as shipped", _essays, True),
    "locomo": ("LoCoMo dialogue turns", _locomo, True),
    "nq": ("NQ passages (lost-in-the-middle)", _nq, True),
    "chinese": ("MemoryBank Chinese dialogues", _chinese, True),
    "generated": ("generated ASCII prose (seed 7)", _generated, False),
}


def corpus(name: str, chars: int = TARGET_CHARS) -> tuple[str, str] | None:
    """About `chars` characters of set `name`, repeated to length; None when its data is not here."""
    description, load, shared = SETS[name]
    if shared and not DATA.exists():
        return None
    base = load()
    return (base * (chars // len(base) + 1))[:chars], description


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


def bench_warm(text: str) -> tuple[float, float, float | None]:
    """Seconds to count a never-seen text: contextwise as it starts, after `load_fast()`, and tiktoken."""
    import tiktoken

    from contextwise.tokens import AdaptiveTokenizer, TokenCounter

    enc = tiktoken.get_encoding("o200k_base")
    default, fast = AdaptiveTokenizer("o200k_base"), AdaptiveTokenizer("o200k_base")
    counter = TokenCounter(default)
    assert default.count(text) == len(enc.encode_ordinary(text))  # both loaded and warmed up
    fresh = text[1:] + text[:1]  # never counted before in this process
    t0 = time.perf_counter()
    theirs = len(enc.encode_ordinary(fresh))
    t1 = time.perf_counter()
    ours = counter.count(fresh)
    t2 = time.perf_counter()
    again = counter.count(fresh[:])
    t3 = time.perf_counter()
    assert ours == theirs == again
    fast_s = None
    if fast.load_fast():
        fast.count(text)  # warmed up on the same text as the others
        t4 = time.perf_counter()
        assert fast.count(fresh) == theirs
        fast_s = time.perf_counter() - t4
    print(f"warm  count new text: contextwise {t2 - t1:.3f} s ({default!r}), tiktoken {t1 - t0:.3f} s -> "
          f"{(t1 - t0) / (t2 - t1):.2f}x; same text again (cache hit) {t3 - t2:.4f} s")
    if fast_s is not None:
        print(f"      after load_fast(): {fast_s:.3f} s -> {(t1 - t0) / fast_s:.2f}x")
    return t2 - t1, t1 - t0, fast_s


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
    parser.add_argument("--chars", type=int, default=TARGET_CHARS)
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated: " + ", ".join(SETS))
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    rows = []
    command = f"`python benchmarks/bench_tokens.py --cold-runs {args.cold_runs}`"
    for name in args.sets.split(","):
        got = corpus(name, args.chars)
        if got is None:
            print(f"{name}: skipped, {DATA} is not here")
            continue
        text, source = got
        print(f"-- {name}: {len(text):,} chars of {source}, {sum(ord(c) > 127 for c in text):,} non-ASCII")
        small_ours, small_theirs = bench_cold(text, args.cold_runs, 10_000)
        cold_ours, cold_theirs = bench_cold(text, args.cold_runs, len(text))
        warm_ours, warm_theirs, fast = bench_warm(text)
        mb = len(text) / 1e6
        fast_cell = f"; after `load_fast()` {fast:.2f} s" if fast else ""
        fast_ratio = f"; {warm_theirs / fast:.1f}x" if fast else ""
        rows.append(f"| count {mb:.0f}M chars of {source}: cold (import + load + count, median of {args.cold_runs}) "
                    f"/ warm (loaded, new text) | {cold_ours:.2f} s / {warm_ours:.2f} s{fast_cell} "
                    f"| tiktoken {cold_theirs:.2f} s / {warm_theirs:.2f} s "
                    f"| {cold_theirs / cold_ours:.2f}x / {warm_theirs / warm_ours:.2f}x{fast_ratio} "
                    f"(10 kB cold: {small_theirs / small_ours:.2f}x) | {command} |")
    chat_ours, chat_theirs = bench_conversation(args.turns, args.sample_every)
    rows.append(f"| recount a growing {args.turns:,}-turn chat every turn | contextwise {chat_ours:.2f} s "
                f"| tiktoken afresh ~{chat_theirs:.0f} s | {chat_theirs / chat_ours:.0f}x | {command} |")
    print(f"load average {os.getloadavg()[0]:.1f}\nREADME rows:")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
