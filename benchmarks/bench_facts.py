"""Facts that are right: precision and recall of extracted facts and of decisions, on a labelled set.

The set (benchmarks/data/facts_labelled.jsonl, written by benchmarks/data/make_facts_set.py; see its docstring) has
statements, chit-chat, corrections, contradictions (a new value of a single-valued attribute), negations, relative
times and repeats. Each case starts from a fresh memory holding its `stored` facts, learns one message said at
`said_at` through `SemanticMemory.learn` (the path `observe` takes), and is scored:

- facts: an extracted fact (a decision's candidate) matches a labelled one when it contains all of its `must`
  words (case-insensitive), one to one; precision = matched / extracted, recall = matched / labelled. "wording"
  is the share of matched facts whose text equals the labelled sentence (case and final period aside).
- decisions: a decision matches a labelled one when the op, the stored fact targeted and the `must` words of the
  text agree; precision / recall as above.
- history: of the contradictions decided SUPERSEDE, the share where the old fact is gone from `facts()` and still
  returned by `facts(at=<the day before the new value became true>)`.

Extractors: the rules (the default, no model) and the local model (SmolLM2-135M-Instruct through llama.cpp, the
embedded default chat model; its schema-constrained answers, retried and falling back to the rules as `learn`
does). Both use the real ONNX MiniLM embedder for the similarity the decisions read.

    python benchmarks/bench_facts.py                 # rules
    python benchmarks/bench_facts.py --model local   # rules and the local model (slow: ~2 model calls a case)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from contextwise.memory import MemoryBackend, SemanticMemory
from contextwise.stores import InMemoryStore

DATA = Path(__file__).resolve().parent / "data" / "facts_labelled.jsonl"
YEAR_S = 365 * 86_400.0


@dataclass
class Tally:
    """Matched / predicted / labelled counts of facts and decisions, overall or for one kind of case."""

    facts: list[int] = field(default_factory=lambda: [0, 0, 0])
    decisions: list[int] = field(default_factory=lambda: [0, 0, 0])
    wording: list[int] = field(default_factory=lambda: [0, 0])
    history: list[int] = field(default_factory=lambda: [0, 0])

    def add(self, other: Tally) -> None:
        for mine, theirs in ((self.facts, other.facts), (self.decisions, other.decisions),
                             (self.wording, other.wording), (self.history, other.history)):
            for i, v in enumerate(theirs):
                mine[i] += v


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "  - "


def _has(text: str, must: Sequence[str]) -> bool:
    low = text.lower()
    return all(m.lower() in low for m in must)


def _norm(text: str) -> str:
    return text.strip().rstrip(".").lower()


def score_case(case: dict[str, Any], memory: SemanticMemory) -> tuple[Tally, list[str]]:
    """Learn one case's message in `memory` (holding its stored facts) and score what it did."""
    said = datetime.fromisoformat(case["said_at"]).timestamp()
    ids = [memory.remember(t, timestamp=said - 2 * YEAR_S).changes[0].fact_id for t in case["stored"]]
    learned = memory.learn(case["text"], timestamp=said)
    tally, notes = Tally(), []
    extracted = [d.candidate.text for d in learned.decisions]
    free = list(case["facts"])
    for text in extracted:
        hit = next((g for g in free if _has(text, g["must"])), None)
        if hit is None:
            notes.append(f"extra fact: {text!r}")
            continue
        free.remove(hit)
        tally.facts[0] += 1
        if hit["text"]:
            tally.wording[1] += 1
            tally.wording[0] += _norm(hit["text"]) == _norm(text)
    notes += [f"missed fact: {g['text'] or g['must']!r}" for g in free]
    tally.facts[1], tally.facts[2] = len(extracted), len(case["facts"])
    predicted = [(d.op, ids.index(d.target_id) if d.target_id in ids else None, d.text) for d in learned.decisions]
    gold = list(case["decisions"])
    for op, target, text in predicted:
        hit = next((g for g in gold if g["op"] == op and g["target"] == target and _has(text, g["must"])), None)
        if hit is None:
            notes.append(f"wrong decision: {op} {target} {text!r}")
            continue
        gold.remove(hit)
        tally.decisions[0] += 1
    notes += [f"missed decision: {g['op']} {g['target']}" for g in gold]
    tally.decisions[1], tally.decisions[2] = len(predicted), len(case["decisions"])
    if case["kind"] == "contradiction" and any(op == "SUPERSEDE" for op, _, _ in predicted):
        current = memory.facts()
        began = min([f.valid_from for f in current if f.valid_from is not None] + [said])
        now = {f.text for f in current}
        before = {f.text for f in memory.facts(at=began - 86_400)}
        tally.history[1] += 1
        tally.history[0] += case["stored"][0] not in now and case["stored"][0] in before
    return tally, notes


def run(cases: Sequence[dict[str, Any]], embedder: Any, model: Any, label: str, show: int) -> dict[str, Tally]:
    """Every case in a fresh tenant; the tallies per kind and overall ("all"), printed as a table."""
    store = InMemoryStore(embedder.dimensions)
    by_kind: dict[str, Tally] = defaultdict(Tally)
    started, shown = time.perf_counter(), 0
    for n, case in enumerate(cases):
        memory = SemanticMemory(MemoryBackend(store, embedder, tenant=f"{label.split()[0]}-{n}"), model=model)
        tally, notes = score_case(case, memory)
        by_kind[case["kind"]].add(tally)
        by_kind["all"].add(tally)
        for note in notes:
            if shown < show:
                print(f"  {case['id']}: {note}")
                shown += 1
    seconds = time.perf_counter() - started
    print(f"\n{label}: {len(cases)} cases in {seconds:.0f} s ({1000 * seconds / len(cases):.0f} ms a case)")
    print(f"{'kind':14} {'cases':>5}  fact P   fact R  wording  decision P  decision R  history")
    counts = defaultdict(int, {k: sum(1 for c in cases if c["kind"] == k) for k in by_kind})
    counts["all"] = len(cases)
    for kind, t in sorted(by_kind.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        print(f"{kind:14} {counts[kind]:5}  {_ratio(t.facts[0], t.facts[1]):>6}  {_ratio(t.facts[0], t.facts[2]):>6}"
              f"  {_ratio(*t.wording):>7}  {_ratio(t.decisions[0], t.decisions[1]):>10}"
              f"  {_ratio(t.decisions[0], t.decisions[2]):>10}  {_ratio(*t.history):>7}")
    return by_kind


def main(argv: Sequence[str] | None = None) -> None:
    """Score the rules, and the local model when asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--model", choices=["none", "local"], default="none")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N cases of each kind")
    parser.add_argument("--show", type=int, default=40, help="print up to N misses")
    args = parser.parse_args(argv)
    cases = [json.loads(line) for line in Path(args.data).read_text(encoding="utf-8").splitlines() if line]
    if args.limit:
        seen: dict[str, int] = defaultdict(int)
        cases = [c for c in cases if (seen.__setitem__(c["kind"], seen[c["kind"]] + 1) or seen[c["kind"]])
                 <= args.limit]
    from contextwise.embed import CachedEmbedder, OnnxMiniLM

    embedder = CachedEmbedder(OnnxMiniLM())
    rules = run(cases, embedder, None, "rules", args.show)
    if args.model == "local":
        from contextwise.llm import local_model

        model = run(cases, embedder, local_model(), "local model (SmolLM2-135M)", args.show)
        a, b = rules["all"], model["all"]
        print(f"\nrules / model, decision recall: {_ratio(a.decisions[0], a.decisions[2])} / "
              f"{_ratio(b.decisions[0], b.decisions[2])}")


if __name__ == "__main__":
    sys.exit(main())
