"""Local chat with per-token log-probabilities: the embedded SmolLM2-135M model answering a long prompt.

contextwise's LlamaCppModel.complete(options=ChatOptions(logprobs=True)) beside llama-cpp-python's
create_chat_completion(logprobs=True, top_logprobs=1) — what a llama-cpp-python user calls for the same thing —
on the same GGUF file, the same chat template (the one in the file), greedy decoding, the same run.
llama-cpp-python needs a model built with logits_all=True for log-probabilities (every prompt position's logits
computed and copied) and sorts the vocabulary per generated token; contextwise reads the last position's logits.

    python benchmarks/bench_local_chat.py [--repeat 2] [--max-tokens 48] [--prompt-tokens 700]
"""

from __future__ import annotations

import argparse

from bench_surprisal import DATA, timed  # the sibling script: same text, same timer

from contextwise.llm import local_model
from contextwise.types import ChatOptions, Message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--prompt-tokens", type=int, default=700)
    args = parser.parse_args()

    model = local_model()
    peer = model._engine.scorer  # noqa: SLF001 (the same file and window, loaded with logits_all=True)
    question = model.detokenize(model.tokenize(DATA.read_text())[:args.prompt_tokens]) + "\nAnswer the last question."
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


if __name__ == "__main__":
    main()
