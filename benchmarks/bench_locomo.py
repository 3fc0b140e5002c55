"""Memory recall on LoCoMo: evidence recall@5/10/20 (turn and session level) for dense, BM25 and hybrid recall.

Every turn is stored as one memory item through `MemoryBackend` (one tenant per conversation), with the real
int8 ONNX MiniLM embedder; each question's evidence turns are looked for in the turns recalled for it.

`tune`: on the tuning conversations only (conv-26 .. conv-47), tries what is embedded (speaker name, session
date, image caption) and the hybrid fusion weights; prints every setting and the one chosen (highest mean of
turn recall@5/10/20, averaged over the three modes for the text; over hybrid weights for the fusion).

`final`: the chosen setting on all ten conversations, reported separately for the tuning conversations and the
held-out ones (conv-48, conv-49, conv-50, never used to choose anything), beside the peer a user would pick for
BM25 (bm25s, same turns, same questions, same metric) and with speed (turns ingested/s, questions/s).

`default`: the path a user writes, nothing tuned by hand: one `UnifiedMemory` per conversation, one
`episodic.record("Speaker: text (session date)")` per turn, `episodic.recall(question, k)`; the same memories
ranked the way episodic recall ranked before (the store's hybrid search, reciprocal-rank fusion 1:4) and bm25s
on the same texts beside it, with the time per query. `--split tuning` for the tuning conversations;
`--split held-out` once, at the end.

    python benchmarks/bench_locomo.py tune  --cache /tmp/locomo-vectors.db
    python benchmarks/bench_locomo.py final
    python benchmarks/bench_locomo.py default --split tuning
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _data import shared_data
from contextwise.memory._base import HYBRID_WEIGHTS
from contextwise.embed import CachedEmbedder, OnnxMiniLM, SQLiteCache
from contextwise.evals.locomo import (
    HELD_OUT,
    TURN_TEXTS,
    LocomoConversation,
    HybridRetrieval,
    RecallReport,
    TurnText,
    evaluate_recall,
    load_locomo,
    score_question,
)

DATA = shared_data() / "locomo" / "locomo10.json"
KS = (5, 10, 20)
#: The paper's other dialog cut-offs, read in a second pass (a hybrid list depends on its depth, so the
#: @5/10/20 figures come from lists 20 deep, as in tuning, and these from lists 50 deep).
DEEP_KS = (25, 50)
#: Maharana et al. (2024), arXiv:2402.17753v1, Table 3, "Recall Accuracy (R@k)", Overall column: RAG with the
#: DRAGON retriever over dialog turns (top-k 5/10/25/50), observations (5/10/25/50) and session summaries
#: (2/5/10), gpt-3.5-turbo-16k reader. Their recall is the fraction of a question's evidence ids retrieved
#: (questions without evidence count 1), on the paper's own conversations (v1 says 50; 10 are released).
PUBLISHED = {"dialog (DRAGON)": {5: 58.8, 10: 67.5, 25: 79.9, 50: 84.8},
             "observation (DRAGON)": {5: 49.6, 10: 57.1, 25: 66.0, 50: 71.1},
             "session summary (DRAGON)": {2: 61.5, 5: 75.1, 10: 90.7}}
TEXTS = TURN_TEXTS
WEIGHTS = ((1.0, 1.0), (2.0, 1.0), (1.0, 2.0), (3.0, 1.0), (1.0, 3.0), (1.0, 1.5), (1.0, 4.0), (1.0, 6.0))
#: Chosen by `tune` on conv-26..conv-47 (see the module docstring); never looked at conv-48..50 to choose.
CHOSEN_TEXT = "speaker+date+caption"
CHOSEN_WEIGHTS = (1.0, 4.0)


def embedder(cache: str | None) -> Any:
    """The ONNX MiniLM, behind a persistent vector cache when `cache` names a file (re-runs skip embedding)."""
    inner = OnnxMiniLM()
    return CachedEmbedder(inner, SQLiteCache(cache)) if cache else inner


def score(report: RecallReport, mode: str) -> float:
    """The tuning criterion: mean turn recall over the cut-offs."""
    m = report.mode(mode)
    return sum(m.turn_recall(k) for k in report.ks) / len(report.ks)


def tune(conversations: Sequence[LocomoConversation], cache: str | None) -> None:
    """Try each text and fusion weight on the tuning conversations; print all and the choice."""
    tuning = [c for c in conversations if c.sample_id not in HELD_OUT]
    assert not {c.sample_id for c in tuning} & set(HELD_OUT)
    emb = embedder(cache)
    hybrids = [HybridRetrieval(d, lex, name=f"hybrid {d:g}:{lex:g}") for d, lex in WEIGHTS]
    best_text, best_text_score = "", -1.0
    for label, text in TEXTS.items():
        started = time.perf_counter()
        report = evaluate_recall(tuning, embedder=emb, mode=["dense", "lexical", *hybrids], ks=KS, turn_text=text)
        modes = {"dense": score(report, "dense"), "lexical": score(report, "lexical"),
                 "hybrid": score(report, "hybrid 1:1")}
        mean = sum(modes.values()) / 3
        print(f"text={label:16} " + "  ".join(f"{k} {v:.3f}" for k, v in modes.items()) + f"  mean {mean:.3f}"
              f"  ({time.perf_counter() - started:.0f} s)", flush=True)
        for h in hybrids:
            print(f"    {h.name:14} turn recall@5/10/20 "
                  + " / ".join(f"{report.mode(h.name).turn_recall(k):.3f}" for k in KS), flush=True)
        if mean > best_text_score:
            best_text, best_text_score, best_report = label, mean, report
    best = max(hybrids, key=lambda h: score(best_report, h.name))
    print(f"chosen on {len(tuning)} tuning conversations: text={best_text}, "
          f"hybrid weights dense:lexical = {best.dense_weight:g}:{best.lexical_weight:g}")


def bm25s_peer(conversations: Sequence[LocomoConversation], text: TurnText,
               depth: int) -> tuple[list[Any], float, float, float]:
    """bm25s on the same turn texts and questions: per-question results, index seconds, and query seconds
    asked one question at a time (as a memory serves them, and as ours are timed) and all in one batch."""
    import bm25s

    def tokens(texts: list[str]) -> Any:
        return bm25s.tokenize(texts, stopwords="en", show_progress=False)

    results, index_s, query_s, batch_s = [], 0.0, 0.0, 0.0
    for conv in conversations:
        began = time.perf_counter()
        retriever = bm25s.BM25()
        retriever.index(tokens([text.render(t) for t in conv.turns]), show_progress=False)
        index_s += time.perf_counter() - began
        asked, k = [q for q in conv.questions if q.evidence], min(depth, len(conv.turns))
        began = time.perf_counter()
        for q in asked:
            retriever.retrieve(tokens([q.text]), k=k, show_progress=False)
        query_s += time.perf_counter() - began
        began = time.perf_counter()
        docs, _ = retriever.retrieve(tokens([q.text for q in asked]), k=k, show_progress=False)
        batch_s += time.perf_counter() - began
        results += [score_question(conv.sample_id, q, [conv.turns[i].dia_id for i in row])
                    for q, row in zip(asked, docs)]
    return results, index_s, query_s, batch_s


def table(report: RecallReport, label: str) -> None:
    """Rows per mode: turn and session recall (fraction found and all found) at each k."""
    print(f"\n{label}: {len(report.conversations)} conversations, {report.questions} questions")
    width = 7 * len(report.ks) + 2
    print(f"{'mode':12} {'turn recall @' + '/'.join(map(str, report.ks)):{width}} {'turn all-found':{width}} "
          f"{'session recall':{width}} {'session all-found':{width}} search q/s")
    for m in report.modes:
        cells = [" ".join(f"{f(k):.3f}" for k in report.ks)
                 for f in (m.turn_recall, m.turn_all, m.session_recall, m.session_all)]
        print(f"{m.mode:12} " + " ".join(f"{c:{width}}" for c in cells) + f" {m.queries_per_s:.0f}")


def final(conversations: Sequence[LocomoConversation], cache: str | None) -> None:
    """The chosen setting on all conversations, tuning and held-out apart, beside bm25s; speed."""
    text = TEXTS[CHOSEN_TEXT]
    hybrid: list[Any] = [HybridRetrieval()]  # MemoryBackend's hybrid search as shipped (the weights chosen by `tune`)
    hybrid.append(HybridRetrieval(1.0, 1.0, name="hybrid 1:1"))  # plain RRF, for comparison
    shared = CachedEmbedder(embedder(cache))
    report = evaluate_recall(conversations, embedder=shared, mode=["dense", "lexical", *hybrid], ks=KS,
                             turn_text=text)
    tuning_ids = [c.sample_id for c in conversations if c.sample_id not in HELD_OUT]
    held_ids = [c.sample_id for c in conversations if c.sample_id in HELD_OUT]
    print(f"setting: text={CHOSEN_TEXT}, hybrid dense:lexical={CHOSEN_WEIGHTS[0]:g}:{CHOSEN_WEIGHTS[1]:g}; "
          f"{report.skipped} questions skipped (no usable evidence), {report.unmatched_evidence} evidence ids "
          "naming no turn dropped")
    for label, ids in (("tuning (conv-26..conv-47)", tuning_ids), ("held-out (conv-48..conv-50)", held_ids)):
        if ids:
            table(report.only(ids), label)
    adversarial_free = [m.only(categories=(1, 2, 3, 4)) for m in report.modes]
    print("\nall conversations without category 5 (adversarial): turn recall@5/10/20 "
          + "; ".join(f"{m.mode} " + "/".join(f"{m.turn_recall(k):.3f}" for k in KS) for m in adversarial_free))
    print(f"\nspeed: {report.turns} turns ingested at {report.turns_per_s:.1f} turns/s (embed + store + BM25 index); "
          f"questions embedded at {report.query_embeds_per_s:.1f}/s; search "
          + ", ".join(f"{m.mode} {m.queries_per_s:.0f} q/s" for m in report.modes))
    peer(conversations, report, text)
    deep = evaluate_recall(conversations, embedder=shared, mode=["dense", "lexical", *hybrid], ks=DEEP_KS,
                           turn_text=text)  # vectors come from the cache: no speed figures from this pass
    published(report, deep)
    readme_rows(report, tuning_ids, held_ids)


def published(report: RecallReport, deep: RecallReport) -> None:
    """Ours (all ten conversations, all categories, fraction of evidence turns) beside the paper's Table 3."""
    print("\nbeside the LoCoMo paper (arXiv:2402.17753v1, Table 3, R@k overall, %):")
    for label, row in PUBLISHED.items():
        print(f"  {label:28} " + "  ".join(f"@{k} {v:.1f}" for k, v in row.items()))
    for m, d in zip(report.modes, deep.modes):
        for level in ("turn", "session"):
            ours = [(k, getattr(m, f"{level}_recall")(k)) for k in report.ks]
            ours += [(k, getattr(d, f"{level}_recall")(k)) for k in deep.ks]
            print(f"  {'ours, ' + m.mode + ' (' + level + 's)':28} "
                  + "  ".join(f"@{k} {100 * v:.1f}" for k, v in ours))


def peer(conversations: Sequence[LocomoConversation], report: RecallReport, text: TurnText) -> None:
    """bm25s beside our lexical recall, same metric."""
    try:
        results, index_s, query_s, batch_s = bm25s_peer(conversations, text, max(KS))
    except ImportError:
        print("bm25s is not installed: no lexical peer (pip install bm25s)")
        return
    ours = report.mode("lexical")
    theirs = type(ours)("bm25s", tuple(results), query_s)
    print("\nlexical vs bm25s (all conversations), turn recall@5/10/20: ours "
          + "/".join(f"{ours.turn_recall(k):.3f}" for k in KS) + ", bm25s "
          + "/".join(f"{theirs.turn_recall(k):.3f}" for k in KS)
          + f"; search one question at a time {ours.queries_per_s:.0f} vs {theirs.queries_per_s:.0f} q/s "
          f"(ratio {ours.queries_per_s / max(theirs.queries_per_s, 1e-9):.2f}x); bm25s batched "
          f"{len(results) / max(batch_s, 1e-9):.0f} q/s; bm25s index {index_s:.2f} s")


def readme_rows(report: RecallReport, tuning_ids: list[str], held_ids: list[str]) -> None:
    """One README row per split and mode."""
    print("\nREADME rows:")
    for label, ids in (("tuning", tuning_ids), ("held-out", held_ids)):
        for m in report.only(ids).modes:
            turn = "/".join(f"{m.turn_recall(k):.2f}" for k in KS)
            session = "/".join(f"{m.session_recall(k):.2f}" for k in KS)
            shipped = "hybrid {:g}:{:g} (MemoryBackend as shipped)".format(*HYBRID_WEIGHTS)
            name = shipped if m.mode == "hybrid" else m.mode
            print(f"| LoCoMo evidence recall@5/10/20, {label}, {name} | turn {turn}, session {session} | "
                  f"`python benchmarks/bench_locomo.py final` |")


def user_text(turn: Any) -> str:
    """A turn as a user of the library would record it: "Speaker: text (session date)"."""
    return f"{turn.speaker}: {turn.text} ({turn.date})"


def default_path(conversations: Sequence[LocomoConversation], cache: str | None, split: str, store: str) -> None:
    """Recall through `UnifiedMemory.episodic` as shipped, beside the ranking it replaced and bm25s. `store`
    "sqlite" is the default a user gets (a SQLite file: FTS5 bm25 for the lexical side); "memory" the
    in-memory store (its own BM25 index); "postgres" one PostgreSQL table (a pgserver started here; full-text
    search ranked by ts_rank), a tenant per conversation."""
    import tempfile

    from contextwise.memory import UnifiedMemory
    from contextwise.memory.episodic import recall_tier

    chosen = [c for c in conversations if (c.sample_id in HELD_OUT) == (split == "held-out")]
    emb = CachedEmbedder(embedder(cache))
    results: dict[str, list[Any]] = {"episodic.recall (default)": [], "before: store hybrid RRF 1:4": []}
    seconds = dict.fromkeys(results, 0.0)
    ingest_s, turns = 0.0, 0
    folder = tempfile.TemporaryDirectory(prefix="cw-locomo-")
    server: Any = None
    shared: Any = None
    if store == "postgres":
        from bench_stores import start_postgres

        from contextwise.stores import PostgresStore

        server = start_postgres(Path(folder.name))
        shared = PostgresStore(server.get_uri(), 384, "cw_locomo")
    for conv in chosen:
        spec = shared or (f"sqlite:{folder.name}/{conv.sample_id}.db" if store == "sqlite" else "memory:")
        mem = UnifiedMemory(store=spec, embedder=emb, tenant=conv.sample_id)
        began = time.perf_counter()
        for turn in conv.turns:
            mem.episodic.record(user_text(turn), metadata={"dia_id": turn.dia_id})
        ingest_s, turns = ingest_s + time.perf_counter() - began, turns + len(conv.turns)
        for q in (q for q in conv.questions if q.evidence):
            for name in results:
                began = time.perf_counter()
                items = mem.episodic.recall(q.text, max(KS)).items if name.startswith("episodic") else \
                    recall_tier(mem.backend, "episodic", q.text, max(KS), mem.episodic.weights, mode="hybrid",
                                where=None).items
                seconds[name] += time.perf_counter() - began
                results[name].append(score_question(conv.sample_id, q, [i.metadata["dia_id"] for i in items]))
    if server is not None:
        shared.close()
        server.cleanup()
    folder.cleanup()
    questions = len(results['episodic.recall (default)'])
    print(f"{split}, {store} store: {len(chosen)} conversations, {questions} questions; "
          f"{turns} turns recorded one call at a time in {ingest_s:.0f} s ({turns / ingest_s:.0f} turns/s)")
    print(f"{'ranking':32} turn recall@5/10/20   ms/query (with embedding)")
    for name, found in results.items():
        row = "/".join(f"{sum(r.turn_recall(k) for r in found) / len(found):.3f}" for k in KS)
        print(f"{name:32} {row}    {1000 * seconds[name] / len(found):.1f}")
    try:
        peer, _, query_s, _ = bm25s_peer(chosen, _UserText(), max(KS))
    except ImportError:
        print("bm25s is not installed: no lexical peer (pip install bm25s)")
        return
    row = "/".join(f"{sum(r.turn_recall(k) for r in peer) / len(peer):.3f}" for k in KS)
    print(f"{'bm25s (same texts)':32} {row}    {1000 * query_s / len(peer):.1f}")
    ours = sum(r.turn_recall(10) for r in results["episodic.recall (default)"]) / len(peer)
    theirs = sum(r.turn_recall(10) for r in peer) / len(peer)
    print(f"recall@10 ratio default / bm25s: {ours / theirs:.2f}x; time per query ratio: "
          f"{seconds['episodic.recall (default)'] / max(query_s, 1e-9):.1f}x")


class _UserText(TurnText):
    def render(self, turn: Any) -> str:
        return user_text(turn)


def main(argv: Sequence[str] | None = None) -> None:
    """Parse arguments and run `tune`, `final` or `default`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["tune", "final", "default"])
    parser.add_argument("--split", choices=["tuning", "held-out"], default="tuning",
                        help="for `default`: the conversations to report")
    parser.add_argument("--data", default=str(DATA), help="the locomo10.json file")
    parser.add_argument("--store", choices=["sqlite", "memory", "postgres"], default="sqlite",
                        help="for `default`: the store (sqlite: what UnifiedMemory uses when given none)")
    parser.add_argument("--cache", default=None, help="a SQLite file caching vectors across runs (speed is then "
                                                      "not the embedder's)")
    args = parser.parse_args(argv)
    conversations = load_locomo(args.data)
    if args.what == "default":
        default_path(conversations, args.cache, args.split, args.store)
    else:
        (tune if args.what == "tune" else final)(conversations, args.cache)


if __name__ == "__main__":
    sys.exit(main())
