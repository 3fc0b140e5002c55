"""Split a long document into chunks by tokens, with overlap at sentence boundaries and exact character offsets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contextwise.documents._sentences import Span, Splitter, sentence_spans, token_windows
from contextwise.errors import UsageError
from contextwise.protocols import Tokenizer
from contextwise.tokens import resolve_tokenizer
from contextwise.types import Chunk


def chunk_document(text: str, tokenizer: Tokenizer | str, *, max_tokens: int = 256, overlap_tokens: int = 0,
                   doc_id: str = "doc", source: str = "", title: str = "", timestamp: float | None = None,
                   authority: float = 0.5, metadata: Mapping[str, Any] | None = None,
                   splitter: Splitter | None = None) -> list[Chunk]:
    """Split `text` into Chunks of at most `max_tokens` tokens made of whole sentences.

    Each chunk's text is exactly `text[chunk.start_char:chunk.start_char + len(chunk.text)]`, so a citation of
    a chunk maps back to its span in the document. Consecutive chunks share up to `overlap_tokens` tokens of
    whole trailing sentences. A sentence longer than `max_tokens` is split on token boundaries.

    Args:
        text: the document.
        tokenizer: what chunk sizes are counted in: a Tokenizer, a tokenizer id, "provider:name" or a model name.
        max_tokens: the most tokens a chunk may have.
        overlap_tokens: the most tokens of sentences repeated from the previous chunk; less than max_tokens.
        doc_id: chunk ids are "<doc_id>#0", "<doc_id>#1", ….
        source, title, timestamp, authority, metadata: copied onto every chunk.
        splitter: the sentence splitter (default contextwise.compress.split_sentences).

    >>> from contextwise.testing import FakeTokenizer
    >>> [c.text for c in chunk_document("One two. Three four. Five.", FakeTokenizer(), max_tokens=4)]
    ['One two. Three four.', 'Five.']
    """
    if max_tokens < 1 or not 0 <= overlap_tokens < max_tokens:
        raise UsageError(f"need max_tokens >= 1 and 0 <= overlap_tokens < max_tokens, got {max_tokens} and "
                         f"{overlap_tokens}")
    tok = resolve_tokenizer(tokenizer)
    units = _units(text, tok, max_tokens, splitter)
    return [Chunk(f"{doc_id}#{n}", text[s:e], source, title, dict(metadata or {}), timestamp, authority, s)
            for n, (s, e) in enumerate(_pack(text, units, tok, max_tokens, overlap_tokens))]


def _units(text: str, tok: Tokenizer, max_tokens: int, splitter: Splitter | None) -> list[Span]:
    """Sentences, with any sentence over max_tokens split into token windows."""
    units: list[Span] = []
    for start, end in sentence_spans(text, splitter):
        if tok.count(text[start:end]) <= max_tokens:
            units.append((start, end))
        else:
            units.extend(token_windows(text, (start, end), tok, max_tokens))
    return units


def _pack(text: str, units: list[Span], tok: Tokenizer, max_tokens: int, overlap_tokens: int) -> list[Span]:
    """Greedy runs of units within max_tokens; each run after the first starts with the previous run's tail."""
    def cost(first: int, last: int) -> int:
        return tok.count(text[units[first][0]:units[last][1]])

    spans: list[Span] = []
    first = 0
    while first < len(units):
        stop = first + 1
        while stop < len(units) and cost(first, stop) <= max_tokens:
            stop += 1
        spans.append((units[first][0], units[stop - 1][1]))
        if stop == len(units):
            break
        nxt = stop
        while nxt - 1 > first and cost(nxt - 1, stop - 1) <= overlap_tokens:
            nxt -= 1
        first = nxt
    return spans
