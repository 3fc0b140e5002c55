"""Sentence spans: character offsets of the sentences a splitter finds, so cuts and citations map back exactly."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from contextwise.compress._sentences import sentence_spans as offset_spans

Splitter = Callable[[str], Sequence[str]]
Span = tuple[int, int]


def sentence_spans(text: str, splitter: Splitter | None = None) -> list[Span]:
    """The (start, end) character span in `text` of each sentence, in order; whitespace between them is left out.

    The default splitter's offsets are used as they are (contextwise.compress's, the one sentence splitter). A
    custom splitter returns strings, which are found in order; one it changed (so it is not found verbatim)
    ends the search: the rest of the text becomes one span, so no text is ever lost.
    """
    if splitter is None:
        return [(span.start, span.end) for span in offset_spans(text)]
    spans: list[Span] = []
    pos = 0
    for sentence in splitter(text):
        sentence = sentence.strip()
        if not sentence:
            continue
        start = text.find(sentence, pos)
        if start < 0:
            break
        spans.append((start, start + len(sentence)))
        pos = start + len(sentence)
    rest = text[pos:]
    if rest.strip():
        lead = len(rest) - len(rest.lstrip())
        spans.append((pos + lead, len(text.rstrip())))
    return spans


def token_windows(text: str, span: Span, tokenizer: Any, max_tokens: int) -> list[Span]:
    """Split `text[span]` into consecutive spans of at most `max_tokens` tokens, cut on token boundaries.

    A boundary that would split a character moves back to the character's start. Only when a single character
    costs more than `max_tokens` tokens does a span exceed it. Whitespace at the ends of a span is left out.
    """
    start, end = span
    ids = tokenizer.encode(text[start:end])
    out: list[Span] = []
    pos, first = start, 0
    while first < len(ids):
        piece, first = _piece(text, pos, ids, first, tokenizer, max_tokens)
        if not piece:  # the tokenizer does not round-trip this text: keep the rest whole rather than lose it
            piece = text[pos:end]
            first = len(ids)
        out.append(_strip(text, pos, pos + len(piece)))
        pos += len(piece)
    return [(s, e) for s, e in out if e > s]


def _piece(text: str, pos: int, ids: Sequence[int], first: int, tokenizer: Any, max_tokens: int) -> tuple[str, int]:
    """The decoded text of the next window of ids at `pos`, shortened until it is real text within max_tokens."""
    for stop in range(min(len(ids), first + max_tokens), first, -1):
        piece = tokenizer.decode(ids[first:stop])
        if text.startswith(piece, pos) and tokenizer.count(piece) <= max_tokens:
            return piece, stop
    for stop in range(first + max_tokens + 1, len(ids) + 1):  # one character costs more than max_tokens
        piece = tokenizer.decode(ids[first:stop])
        if text.startswith(piece, pos):
            return piece, stop
    return "", first


def _strip(text: str, start: int, end: int) -> Span:
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    return start + lead, max(start + lead, end - (len(piece) - len(piece.rstrip())))
