"""Local chat with per-token log-probabilities: the embedded SmolLM2-135M model answering a long prompt.

contextwise's LlamaCppModel.complete(options=ChatOptions(logprobs=True)) beside llama-cpp-python's
create_chat_completion(logprobs=True, top_logprobs=1) — what a llama-cpp-python user calls for the same thing —
on the same GGUF file, the same chat template (the one in the file), greedy decoding, the same run.
llama-cpp-python needs a model built with logits_all=True for log-probabilities (every prompt position's logits
computed and copied) and sorts the vocabulary per generated token; contextwise reads the last position's logits.

    python benchmarks/bench_local_chat.py [--repeat 2] [--max-tokens 48] [--prompt-tokens 700]

`--turns N`: a chat that grows by a question and its answer each turn, over a ~1,100-token system prompt, beside
llama-cpp-python's create_chat_completion on its own Llama (which keeps the longest common token prefix of its
previous call) and beside contextwise evaluating every prompt whole (`reuse_prefix = False`); contextwise's answers
must equal the whole evaluation's bit for bit (text and log-probabilities). Turns alternate between the three.

    python benchmarks/bench_local_chat.py --turns 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench_surprisal import PROMPT  # the sibling script's text

from contextwise.llm import LlamaCppModel, local_model
from contextwise.types import ChatOptions, Message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--prompt-tokens", type=int, default=700)
    parser.add_argument("--turns", type=int, default=0, help="measure a growing chat of this many turns instead")
    args = parser.parse_args()
    if args.turns:
        growing_chat(args.turns)
        return

    model = local_model()
    peer = model._engine.scorer  # noqa: SLF001 (the same file and window, loaded with logits_all=True)
    question = model.detokenize(model.tokenize(PROMPT.read_text())[:args.prompt_tokens]) + "\nAnswer the last question."
    options = ChatOptions(temperature=0.0, logprobs=True, extra={"repeat_penalty": 1.0})

    def ours():
        model._engine.llama.reset()  # noqa: SLF001 (start cold each run, as the peer does)
        return model.complete([Message.user(question)], max_tokens=args.max_tokens, options=options)

    def theirs():
        peer.reset()  # no KV reuse between runs, as for ours (whose context the peer's runs do not touch)
        return peer.create_chat_completion([{"role": "user", "content": question}], max_tokens=args.max_tokens,
                                           temperature=0.0, repeat_penalty=1.0, logprobs=True, top_logprobs=1)

    model.complete([Message.user("warm up")], max_tokens=2)
    ours_s, got = timed(ours, args.repeat)
    peer_s, out = timed(theirs, args.repeat)
    peer_text = out["choices"][0]["message"]["content"]
    print(f"prompt {got.usage.input_tokens} tokens, answer {got.usage.output_tokens} tokens; best of "
          f"{args.repeat} runs; same text: {peer_text.strip() == got.text.strip()}")
    print(f"contextwise LlamaCppModel.complete(logprobs):        {ours_s * 1000:8.0f} ms")
    print(f"llama-cpp-python create_chat_completion(logprobs):   {peer_s * 1000:8.0f} ms")
    print(f"speed-up: {peer_s / ours_s:.2f}x")
    print(f"README row: | local chat with per-token logprobs, SmolLM2-135M, {got.usage.input_tokens}-token prompt, "
          f"{got.usage.output_tokens} tokens out | {ours_s * 1000:.0f} ms | llama-cpp-python "
          f"create_chat_completion(logprobs) {peer_s * 1000:.0f} ms | {peer_s / ours_s:.2f}x faster | "
          f"`python benchmarks/bench_local_chat.py` |")


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The best wall time of `repeat` calls of `fn`, and its last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def growing_chat(turns: int) -> None:
    """Per-turn latency of a chat that grows each turn: contextwise (prefix kept), llama-cpp-python, whole."""
    import llama_cpp

    model = local_model()
    whole = LlamaCppModel(model.path, n_ctx=model.n_ctx, name=model.name)
    whole.reuse_prefix = False
    peer = llama_cpp.Llama(str(model.path), n_ctx=model.n_ctx, n_threads=model.n_threads, verbose=False)
    notes = " ".join(f"Box {i} holds a {c} ball." for i, c in enumerate(["red", "blue", "green", "white"] * 30))
    system = "Answer from the notes in one short sentence.\n\n" + notes
    ours_chat, peer_chat = [Message.system(system)], [{"role": "system", "content": system}]
    greedy = ChatOptions(temperature=0.0, logprobs=True, extra={"repeat_penalty": 1.0})
    seconds: dict[str, list[float]] = {"ours": [], "peer": [], "whole": []}
    evaluated, identical, same_text = [], 0, 0
    print(f"load average {os.getloadavg()[0]:.2f} before", flush=True)
    for turn in range(turns):
        question = f"What colour is the ball in box {turn * 7 % 120}?"
        ours_chat.append(Message.user(question))
        peer_chat.append({"role": "user", "content": question})
        started = time.perf_counter()
        got = model.complete(ours_chat, max_output_tokens=10, options=greedy)
        seconds["ours"].append(time.perf_counter() - started)
        started = time.perf_counter()
        theirs = peer.create_chat_completion(peer_chat, max_tokens=10, temperature=0.0, repeat_penalty=1.0)
        seconds["peer"].append(time.perf_counter() - started)
        started = time.perf_counter()
        want = whole.complete(ours_chat, max_output_tokens=10, options=greedy)
        seconds["whole"].append(time.perf_counter() - started)
        identical += got.text == want.text and [t.logprob for t in got.logprobs or ()] == \
            [t.logprob for t in want.logprobs or ()]
        peer_text = theirs["choices"][0]["message"]["content"] or ""
        same_text += peer_text.strip() == got.text.strip()
        evaluated.append(got.usage.input_tokens - got.usage.cached_input_tokens)
        print(f"turn {turn}: prompt {got.usage.input_tokens}, evaluated {evaluated[-1]}, ours "
              f"{seconds['ours'][-1]:.2f} s, llama-cpp-python {seconds['peer'][-1]:.2f} s, whole "
              f"{seconds['whole'][-1]:.2f} s", flush=True)
        ours_chat.append(Message.assistant(got.text))
        peer_chat.append({"role": "assistant", "content": peer_text})
    later = {k: statistics.median(v[1:]) for k, v in seconds.items()}  # turn 0 evaluates the system prompt for all
    print(f"load average {os.getloadavg()[0]:.2f} after; answers identical to the whole evaluation, bit for bit: "
          f"{identical}/{turns}; same text as llama-cpp-python: {same_text}/{turns}")
    print(f"README row: | local chat growing by a turn, SmolLM2-135M, {turns} turns over a "
          f"{evaluated[0]}-token system prompt, median turn after the first | {later['ours']:.2f} s, "
          f"{statistics.median(evaluated[1:]):.0f} tokens evaluated a turn, answers the whole evaluation's bits "
          f"({identical}/{turns}) | llama-cpp-python create_chat_completion {later['peer']:.2f} s; every prompt "
          f"whole {later['whole']:.2f} s | {later['peer'] / later['ours']:.2f}x; {later['whole'] / later['ours']:.1f}x"
          f" | `python benchmarks/bench_local_chat.py --turns {turns}` |")


if __name__ == "__main__":
    main()
