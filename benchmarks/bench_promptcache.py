"""PromptLayout-cache planning on three synthetic traces: the planner's markers and lifetimes against fixed heuristics.

Each trace is generated deterministically (seeded) and replayed with contextwise.cache's simulator under every
candidate strategy for the model; the table prints the planner's cost beside no caching, the fixed heuristic
(tools + system + last user turn, 5-minute markers; for an automatic cache the provider's default), the cheapest
of the fixed heuristics (also at 1 hour, 1-hour tools and system with a 5-minute last turn, the last turn alone),
and the ratios. Run: `PYTHONPATH=src python benchmarks/bench_promptcache.py`
(`--model M` once or more, `--write DIR` to save the traces as JSONL for `contextwise cache simulate`).

- bursty chat: 24 conversations in 3 tenants; bursts of 3-8 turns a minute or so apart, 10-40 minutes idle
  between bursts; a shared 3k-token system prompt and 6 tools.
- agent loop: 8 tasks of 14 steps, 5-20 s apart; each step adds a tool call and 24 parallel tool results (past
  Anthropic's 20-block lookback).
- nightly batch: 3 nights of 200 calls 6 s apart; shared 1.5k-token instructions, then a unique 3k-token
  document and question per call.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

from contextwise.cache import TraceCall, fixed_heuristics, plan_prompt_cache, write_trace
from contextwise.models import cost
from contextwise.types import Usage

WORDS = ("policy account refund order shipping invoice customer warranty return address payment delivery "
         "product support ticket status update record history balance credit report summary agent tool search "
         "result document section clause figure table value metric region quarter").split()


def text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words))


def tools(rng: random.Random, count: int) -> list[dict[str, Any]]:
    return [{"name": f"tool_{i}", "description": text(rng, 90),
             "input_schema": {"type": "object",
                              "properties": {"query": {"type": "string", "description": text(rng, 20)}}}}
            for i in range(count)]


def bursty_chat(seed: int = 1) -> list[TraceCall]:
    rng = random.Random(seed)
    system, kit = text(rng, 2400), tools(rng, 6)
    calls = []
    for conv in range(24):
        t = rng.uniform(0, 3600)
        history: list[dict[str, Any]] = []
        for _burst in range(3):
            for _turn in range(rng.randint(3, 8)):
                history.append({"role": "user", "content": text(rng, rng.randint(30, 150))})
                calls.append(TraceCall(t, {"system": system, "tools": kit, "messages": list(history)},
                                       session=f"c{conv}", tenant=f"t{conv % 3}"))
                history.append({"role": "assistant", "content": text(rng, rng.randint(100, 300))})
                t += rng.uniform(20, 90)
            t += rng.uniform(600, 2400)
    return calls


def agent_loop(seed: int = 2) -> list[TraceCall]:
    rng = random.Random(seed)
    system, kit = text(rng, 1600), tools(rng, 12)
    calls = []
    for task in range(8):
        t = task * 900 + rng.uniform(0, 300)
        history: list[dict[str, Any]] = [{"role": "user", "content": text(rng, 120)}]
        for step in range(14):
            calls.append(TraceCall(t, {"system": system, "tools": kit, "messages": list(history)},
                                   session=f"task{task}", tenant="agent"))
            ids = [f"call_{task}_{step}_{k}" for k in range(24)]
            history.append({"role": "assistant", "content": [
                {"type": "tool_use", "id": i, "name": f"tool_{k % 12}", "input": {"query": text(rng, 6)}}
                for k, i in enumerate(ids)]})
            history.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": i, "content": text(rng, rng.randint(40, 120))} for i in ids]})
            t += rng.uniform(5, 20)
    return calls


def nightly_batch(seed: int = 3) -> list[TraceCall]:
    rng = random.Random(seed)
    system = text(rng, 1200)
    calls = []
    for night in range(3):
        t = night * 86_400.0
        for item in range(200):
            doc = text(rng, 2400)
            calls.append(TraceCall(t, {"system": system, "messages": [
                {"role": "user", "content": [{"type": "text", "text": doc},
                                             {"type": "text", "text": "Summarise clause " + str(item)}]}]},
                session=f"n{night}i{item}", tenant="batch"))
            t += 6.0
    return calls


TRACES = {"bursty chat": bursty_chat, "agent loop": agent_loop, "nightly batch": nightly_batch}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--model", action="append", dest="models",
                        help="model(s) to plan for (default: claude-sonnet-4-5, gpt-5, gemini-2.5-pro)")
    parser.add_argument("--write", type=Path, help="also write the traces as JSONL into this directory")
    args = parser.parse_args(argv)
    models = args.models or ["claude-sonnet-4-5", "gpt-5", "gemini-2.5-pro"]
    traces = {name: make() for name, make in TRACES.items()}
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        for name, calls in traces.items():
            write_trace(args.write / (name.replace(" ", "_") + ".jsonl"), calls)
    print("whole-trace cost in USD; fixed = tools+system+last turn at 5m (explicit markers) or the provider's "
          "default (automatic); best fixed = the cheapest fixed heuristic")
    print(f"{'trace':<14} {'model':<18} {'calls':>5} {'no cache':>9} {'fixed':>9} {'best fixed':>10} "
          f"{'planner':>9} {'plan/fixed':>10} {'plan/best':>9}  plan  (s)")
    for model in models:
        fixed = fixed_heuristics(model)[0].name
        for name, calls in traces.items():
            started = time.perf_counter()
            plan = plan_prompt_cache(calls, model)
            elapsed = time.perf_counter() - started
            costs = {s.strategy: s.total_usd for s in plan.simulations}
            plain = sum(cost(Usage(c.input_tokens, 0), model).total_usd for c in plan.best.calls)
            best = plan.best.total_usd
            print(f"{name:<14} {model:<18} {len(calls):>5} {plain:>9.4f} {costs[fixed]:>9.4f} "
                  f"{plan.heuristic.total_usd:>10.4f} {best:>9.4f} {best / costs[fixed]:>10.3f} "
                  f"{plan.ratio_to_heuristic:>9.3f}  {plan.best.strategy}  ({elapsed:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
