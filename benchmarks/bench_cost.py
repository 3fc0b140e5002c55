"""Cost-targeted building: what a session of calls costs when each call must stay under a target.

One assistant, Claude Sonnet 4.5 prices: a stable policy block in the system prompt (cached by Anthropic after
the first call), retrieved NQ passages (or generated text without ../shared/bench/data) and the user's question.
Each call must cost at most the target. Two ways to get there, on the same sections in the same run:

- optimize (cache-aware, as shipped): cuts the lowest-priority sections outside the cached prefix first;
- optimize without cache awareness (`cache_warm=False`): cuts by priority alone, so the low-priority policy block
  goes first, the prefix changes, and the cache no longer pays.

Printed: per way, the prompt tokens kept, the cost of a call against the target, the session's total over
`--calls` calls (the first call writes the cache, the others read it), and what was kept of each section.

    python benchmarks/bench_cost.py [--calls 50] [--target 0.03]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import warnings

from contextwise.budget import Context, optimize
from contextwise.budget._cost import call_usd
from contextwise.budget.section import Item
from contextwise.errors import TruncationWarning
from contextwise.models import get_model
from _data import shared_data

NQ = shared_data() / "lost-in-the-middle" / \
    "nq-open-oracle.jsonl.gz"
POLICY = [f"Rule {i}: refunds within 30 days of purchase; helmets are required on every e-bike; a rider under 16 "
          f"needs a guardian on the account; station {i} closes at midnight." for i in range(120)]


def passages(n: int) -> list[str]:
    if NQ.exists():
        with gzip.open(NQ, "rt", encoding="utf-8") as f:
            rows = [json.loads(line) for _, line in zip(range(n), f)]
        return [f"{c['title']}\n{c['text']}" for r in rows for c in r["ctxs"]][:n]
    rng = random.Random(3)
    words = "harbour station bike rider route price refund helmet city council repair tyre".split()
    return [" ".join(rng.choice(words) for _ in range(120)) for _ in range(n)]


def context(docs: list[str]) -> Context:
    ctx = Context("claude-sonnet-4-5").system("You are the bike-share assistant; cite documents as [n].")
    ctx.memory(POLICY, name="policy", priority=10, stable=True, placement="system")
    ctx.documents([Item(d, float(len(docs) - i), f"doc{i}") for i, d in enumerate(docs)], priority=40)
    return ctx.user("Which documents mention a station, and when does it close?")


def session_usd(built, info, calls: int, output_tokens: int, rewritten: bool) -> float:
    first = call_usd(built, info, output_tokens=output_tokens, prefix_rewritten=True)
    rest = call_usd(built, info, output_tokens=output_tokens, cache_warm=not rewritten)
    return first + (calls - 1) * rest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--target", type=float, default=0.03)
    parser.add_argument("--output-tokens", type=int, default=300)
    args = parser.parse_args()
    warnings.simplefilter("ignore", TruncationWarning)
    info = get_model("claude-sonnet-4-5")
    ctx = context(passages(args.docs))
    full = ctx.build()
    print(f"{args.docs} passages + {len(POLICY)} policy rules: {full.report.prompt_tokens:,} prompt tokens, "
          f"cached prefix {full.report.cache_plan.prefix_tokens:,}; target ${args.target:.4f} a call, "
          f"{args.output_tokens} output tokens")
    aware = optimize(ctx, target_usd=args.target, output_tokens=args.output_tokens)
    blind = optimize(ctx, target_usd=args.target, output_tokens=args.output_tokens, cache_warm=False)
    rows = []
    for name, result in (("optimize, cache-aware (shipped)", aware), ("optimize, priority only", blind)):
        cut_prefix = any(c.section == "policy" for c in result.cuts)
        per_call = call_usd(result.built, info, output_tokens=args.output_tokens, cache_warm=not cut_prefix)
        rows.append((name, result.built.report.prompt_tokens, per_call,
                     session_usd(result.built, info, args.calls, args.output_tokens, cut_prefix),
                     result.built.report.section("documents").items_kept,
                     result.built.report.section("policy").items_kept))
    for name, tokens, per_call, total, docs, policy in rows:
        print(f"{name:34s} {tokens:7,} tokens  ${per_call:.5f}/call ({'<=' if per_call <= args.target else '>'} "
              f"target)  session ${total:.4f}  {docs} passages, {policy}/{len(POLICY)} policy rules kept")
    print(f"same target: cache-aware keeps {rows[0][1] / rows[1][1]:.2f}x the prompt tokens "
          f"({rows[0][1]:,} vs {rows[1][1]:,}: every policy rule and {rows[0][4]} passages, against "
          f"{rows[1][5]} rules and {rows[1][4]} passages); session cost {rows[0][3]:.4f} vs {rows[1][3]:.4f}")


if __name__ == "__main__":
    main()
