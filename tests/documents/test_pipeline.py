"""The whole path with the real parts: chunk, rank with the ONNX embedder, fuse in o200k tokens, check citations."""

from __future__ import annotations

import pytest
from support import need

from contextwise.documents import Hybrid, RankWeights, Structured, chunk_document, fuse, rank

TIDES = ("Tides are caused mainly by the Moon's gravity pulling on the oceans. The Sun adds a smaller pull. "
         "When Sun and Moon line up, spring tides are highest. At right angles they give neap tides.")
BREAD = ("Yeast ferments sugars in dough and releases carbon dioxide. The gas makes bread rise. "
         "Baking sets the crumb and browns the crust through the Maillard reaction.")
BEES = ("Honey bees tell each other where flowers are with a waggle dance. The angle of the dance "
        "points toward the food relative to the Sun. Its length says how far away the food is.")
DOCS = {"tides.md": ("Tides", 1_700_000_000.0, TIDES), "bread.md": ("Bread", 1_600_000_000.0, BREAD),
        "bees.md": ("Bees", 1_650_000_000.0, BEES)}


@pytest.mark.slow
def test_pipeline_real_embedder_and_tokenizer_cites_the_right_source(o200k):
    need("onnxruntime")
    from contextwise.embed import OnnxMiniLM

    chunks = [c for n, (source, (title, ts, text)) in enumerate(DOCS.items())
              for c in chunk_document(text, o200k, max_tokens=24, doc_id=f"d{n}", source=source, title=title,
                                      timestamp=ts)]
    ranked = rank(chunks, "Why does the Moon cause tides?", embedder=OnnxMiniLM(), relevance=Hybrid(0.3),
                  weights=RankWeights(relevance=0.9, recency=0.1, half_life_s=3e8), now=1_700_000_000.0)
    assert ranked[0].chunk.source == "tides.md"
    fused = fuse(ranked, 80, o200k, strategy=Structured())
    assert fused.tokens <= 80 and fused.text.startswith("## Tides\nSource: tides.md | Date: 2023-11-14")
    first = fused.citations[0]
    check = fused.check(f"The Moon's gravity drives the tides {first.marker}. Bees dance [99].")
    assert check.unknown_markers == ("[99]",)
    (cited,) = check.citations
    assert cited.source == "tides.md"
    original = DOCS["tides.md"][2]
    assert original[cited.start_char:cited.end_char] in fused.text
    assert [c.text for c in check.claims] == ["The Moon's gravity drives the tides [1].", "Bees dance [99]."]
