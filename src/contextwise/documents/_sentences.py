"""Sentence spans: character offsets of the sentences a splitter finds, so cuts and citations map back exactly."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from contextwise.compress._sentences import sentence_spans as offset_spans
from contextwise.compress.truncate import token_windows

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


__all__ = ["Span", "Splitter", "sentence_spans", "token_windows"]
