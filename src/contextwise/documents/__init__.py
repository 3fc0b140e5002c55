"""Documents as context: rank chunks, fuse them into a cited context within a token budget, check citations.

- `chunk_document` splits a document into token-bounded Chunks of whole sentences, with exact offsets.
- `rank` scores chunks by relevance (`Dense`, `Hybrid` with BM25, or `Precomputed`), recency and authority,
  weighted by `RankWeights`, and keeps every component (`Ranked`).
- `fuse` lays them out (`Sequential`, `Interleaved`, `Structured`) with markers in a `CitationStyle`, never over
  the budget, and says what became of every chunk (`Fused`, `ChunkOutcome`). It is a shortcut over the budget
  engine: the same layouts are orderings of a documents section, `Context.documents(ranked, order=Structured())`.
- `parse_citations` / `Fused.check` find the markers in an answer, report unknown ones, map each to its
  source span and attach them to the answer's sentences (`CitationCheck`, `Claim`).

>>> from contextwise.testing import FakeTokenizer, HashEmbedder
>>> chunks = chunk_document("Cats purr when content. Dogs bark at strangers.", FakeTokenizer(), max_tokens=5,
...                         doc_id="pets", source="pets.txt")
>>> fused = fuse(rank(chunks, "why do cats purr", embedder=HashEmbedder()), 20, FakeTokenizer())
>>> fused.check("Cats purr when content [1].").citations[0].chunk_id
'pets#0'
"""

from __future__ import annotations

from contextwise.documents._chunk import chunk_document
from contextwise.documents._cite import CitationCheck, CitationStyle, Claim, parse_citations
from contextwise.documents._fuse import ChunkOutcome, Fused, Interleaved, Layout, Sequential, Structured, fuse
from contextwise.documents._rank import Dense, Hybrid, Precomputed, Ranked, RankWeights, rank

__all__ = [
    "ChunkOutcome", "CitationCheck", "CitationStyle", "Claim", "Dense", "Fused", "Hybrid", "Interleaved", "Layout",
    "Precomputed", "RankWeights", "Ranked", "Sequential", "Structured", "chunk_document", "fuse",
    "parse_citations", "rank",
]
