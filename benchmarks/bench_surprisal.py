"""Token surprisal speed: score every token of a text under the embedded SmolLM2-135M model.

Four ways to the same numbers, on the same weights, threads and text, interleaved round by round in one run
(the machine is shared: each run's best of N is reported, with CPU time beside wall time):

- contextwise `LlamaCppModel.token_surprisal`: logits only where a token is scored, read in place, float32
  log-softmax, a window that slides (no token evaluated twice);
- raw llama.cpp prompt evaluation with no logits at all (`Llama.eval`, logits_all=False): the ceiling, since
  any scorer must at least evaluate the text;
- the previous contextwise path: `Llama.eval` with logits_all=True, rows copied out of `Llama.scores`, float64
  log-softmax, windows re-evaluating a quarter-window of overlap;
- what a llama-cpp-python user writes: create_completion(echo=True, logprobs=1, max_tokens=1) (one window at
  most). It also checks the numbers: llama-cpp-python 0.3's echo log-probabilities are one position late.

The text is GSM8K's 8-shot "prompt_hardest" (the prompt LLMLingua's token-level compression is benchmarked on),
continued with Paul Graham essays when `--max-tokens` asks for more.

    python benchmarks/bench_surprisal.py [--repeat 3] [--max-tokens 600] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any
from collections.abc import Callable

import numpy as np

from _data import shared_data
from contextwise.llm import LlamaCppModel, local_model

DATA = shared_data()
PROMPT = DATA / "gsm8k" / "prompt_hardest.txt"
ESSAYS = DATA / "niah-paul-graham-essays" / "PaulGrahamEssays"


def load_text(model: LlamaCppModel, max_tokens: int) -> str:
    """GSM8K prompt_hardest, then essays, cut to `max_tokens` model tokens (re-tokenizing to the same count)."""
    parts = [PROMPT.read_text()] + [p.read_text() for p in sorted(ESSAYS.glob("*.txt"))]
    ids: list[int] = []
    for part in parts:
        ids += model.tokenize(part + "\n\n")
        if len(ids) >= max_tokens:
            break
    text = model.detokenize(ids[:max_tokens])
    return model.detokenize(model.tokenize(text))


def raw_eval(llama: Any, ids: list[int], n_ctx: int) -> None:
    """The ceiling: llama.cpp evaluates the tokens, one window after another, computing no logits."""
    for start in range(0, len(ids), n_ctx):
        llama.reset()
        llama.eval(ids[start:start + n_ctx])


def previous(llama: Any, lead: list[int], ids: list[int], n_ctx: int) -> list[float]:
    """contextwise before: logits_all eval, rows copied from Llama.scores, float64 log-softmax, 1/4 overlap."""
    out: list[float] = []
    overlap = n_ctx // 4
    while len(out) < len(ids):
        done = len(out)
        context = list(ids[max(0, done - overlap):done]) if done else lead
        chunk = list(ids[done:done + n_ctx - len(context)])
        llama.reset()
        llama.eval(context + chunk)
        rows = llama.scores[len(context) - 1:len(context) + len(chunk) - 1]
        for start in range(0, len(chunk), 128):
            block = np.asarray(rows[start:start + 128], dtype=np.float64)
            peak = block.max(axis=1, keepdims=True)
            norm = peak[:, 0] + np.log(np.exp(block - peak).sum(axis=1))
            out.extend((norm - block[np.arange(len(block)), chunk[start:start + len(block)]]).tolist())
    return out


def peer(llama: Any, text: str) -> dict:
    """Prompt log-probabilities the llama-cpp-python way: create_completion(echo=True, logprobs=1)."""
    llama.reset()  # no KV reuse from the previous run: every path evaluates the whole text
    return llama.create_completion(text, max_tokens=1, echo=True, logprobs=1, temperature=0.0)


def aligned_from_logits(llama: Any, ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """From the logits the peer left behind: -log p of token i under row i-1 (right) and under row i (what the
    peer reports)."""
    rows = np.asarray(llama.scores[:len(ids)], dtype=np.float64)
    norm = rows.max(1) + np.log(np.exp(rows - rows.max(1, keepdims=True)).sum(1))
    picked_prev = rows[np.arange(len(ids) - 1), ids[1:]] - norm[:-1]
    picked_same = rows[np.arange(1, len(ids)), ids[1:]] - norm[1:]
    return -picked_prev, -picked_same


def interleaved(paths: dict[str, Callable[[], Any]], repeat: int) -> tuple[dict[str, tuple[float, float]], dict]:
    """Best wall and CPU seconds of each path over `repeat` rounds, the paths taking turns within a round."""
    wall: dict[str, list[float]] = {k: [] for k in paths}
    cpu: dict[str, list[float]] = {k: [] for k in paths}
    results: dict[str, Any] = {}
    for _ in range(repeat):
        for name, fn in paths.items():
            start, cpu_start = time.perf_counter(), time.process_time()
            results[name] = fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - cpu_start)
    return {k: (min(wall[k]), min(cpu[k])) for k in paths}, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=600)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: every usable CPU)")
    parser.add_argument("--no-previous", action="store_true", help="skip the previous path and the peer")
    args = parser.parse_args()

    model = local_model(n_threads=args.threads)
    import llama_cpp  # after local_model(), which sets OMP_WAIT_POLICY first

    text = load_text(model, args.max_tokens)
    ids = model.tokenize(text)
    lead = list(model._engine.doc_start)  # noqa: SLF001 (the previous path conditions on the same separator)
    make = lambda logits_all: llama_cpp.Llama(  # noqa: E731
        str(model.path), n_ctx=model.n_ctx, n_threads=model.n_threads, n_threads_batch=model.n_threads,
        logits_all=logits_all, verbose=False)
    plain = make(False)
    paths: dict[str, Callable[[], Any]] = {
        "ours": lambda: model.token_surprisal(text),
        "raw": lambda: raw_eval(plain, lead + ids[:-1], model.n_ctx),
    }
    everything = make(True) if not args.no_previous else None
    if everything is not None:
        paths["previous"] = lambda: previous(everything, lead, ids, model.n_ctx)
        if len(ids) < model.n_ctx:
            paths["peer"] = lambda: peer(everything, text)
    print(f"tokens scored: {len(ids)}; threads {model.n_threads}; window {model.n_ctx}; best of {args.repeat} "
          f"interleaved rounds; load average {os.getloadavg()[0]:.2f} before")
    times, results = interleaved(paths, args.repeat)
    labels = {"ours": "contextwise token_surprisal", "raw": "raw llama.cpp eval, no logits (ceiling)",
              "previous": "previous contextwise path", "peer": "llama-cpp-python echo+logprobs"}
    for name, (wall, cpu) in times.items():
        print(f"{labels[name]:42s} {wall * 1000:9.1f} ms  {len(ids) / wall:6.0f} tokens/s  "
              f"{len(ids) / cpu:6.0f} tokens/CPU-s  ({times['raw'][0] / wall:.2f}x raw speed)")
    print(f"load average {os.getloadavg()[0]:.2f} after")
    ours = np.array([s for _, s in results["ours"]])
    if "previous" in results:
        print(f"ours vs previous: max |diff| {np.abs(ours - np.array(results['previous'])).max():.4f} nats "
              f"(equal within one window; past it the previous path saw a shorter context)")
    if "peer" in results:
        check_peer(results["peer"], everything, ids, ours)
    ours_s, raw_s = times["ours"][0], times["raw"][0]
    base = times.get("previous", (float("nan"),))[0]
    print(f"README row: | token surprisal, SmolLM2-135M, {len(ids)} tokens, {model.n_threads} threads | "
          f"{ours_s * 1000:,.0f} ms ({len(ids) / ours_s:,.0f} tokens/s) | raw llama.cpp eval without logits "
          f"{raw_s * 1000:,.0f} ms; previous path {base * 1000:,.0f} ms | {raw_s / ours_s:.2f}x raw, "
          f"{base / ours_s:.2f}x faster than before | "
          f"`python benchmarks/bench_surprisal.py --max-tokens {args.max_tokens}` |")


def check_peer(out: dict, llama: Any, ids: list[int], ours: np.ndarray) -> None:
    reported = -np.array(out["choices"][0]["logprobs"]["token_logprobs"][1:len(ids)], dtype=np.float64)
    right, same_row = aligned_from_logits(llama, ids)
    print(f"peer's values equal -log p(token i | logits row i), one position late: "
          f"{bool(np.allclose(reported, same_row, atol=1e-3))}; correlation with the correctly aligned values: "
          f"{np.corrcoef(reported, right)[0, 1]:.3f}")
    print(f"ours vs correctly aligned (ours also conditions token 1 on the document separator): correlation "
          f"{np.corrcoef(ours[1:][5:], right[5:])[0, 1]:.3f}, median |diff| "
          f"{statistics.median(abs(ours[1:] - right)):.3f} nats")


if __name__ == "__main__":
    main()
