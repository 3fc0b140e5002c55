"""Truncation on token boundaries: the baseline compressor, and the cut every other compressor falls back on.

`side` names the side that is cut: "tail" keeps the beginning, "head" keeps the end, "middle" keeps both ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from collections.abc import Sequence

from contextwise.compress._base import check_target
from contextwise.errors import UsageError
from contextwise.protocols import Tokenizer
from contextwise.types import Compressed

Side = Literal["head", "tail", "middle"]
SIDES: tuple[str, ...] = ("head", "tail", "middle")
_REPLACEMENT = "\ufffd"


def truncate_tokens(text: str, max_tokens: int, tokenizer: Tokenizer, *, side: Side = "tail") -> Compressed:
    """Cut `text` on token boundaries to at most `max_tokens` tokens under `tokenizer`.

    A cut never splits a character: where a token boundary falls inside a multi-byte character, one more token
    is dropped. The result is re-counted, so `tokens` is exact even where the pieces re-merge at a seam.

    Args:
        side: the side that is cut — "tail" keeps the beginning, "head" keeps the end, "middle" keeps both ends.

    Raises:
        UsageError: `max_tokens` is negative or `side` is unknown.

    >>> from contextwise.testing import FakeTokenizer
    >>> truncate_tokens("one two three four", 2, FakeTokenizer()).text
    'one two'
    """
    check_target(max_tokens)
    if side not in SIDES:
        raise UsageError(f"side must be one of {', '.join(SIDES)}, not {side!r}")
    ids = tokenizer.encode(text)
    if len(ids) <= max_tokens:
        return Compressed(text, len(ids), len(ids), f"truncate-{side}")
    cut = _cut(text, ids, max_tokens, tokenizer, side)
    return Compressed(cut, len(ids), tokenizer.count(cut), f"truncate-{side}")


def _cut(text: str, ids: Sequence[int], max_tokens: int, tokenizer: Tokenizer, side: str) -> str:
    keep = max_tokens
    while keep > 0:
        candidate = _take(ids, keep, tokenizer, side)
        if _REPLACEMENT in candidate and _REPLACEMENT not in text:  # the cut fell inside a character
            keep -= 1
            continue
        tokens = tokenizer.count(candidate)
        if tokens <= max_tokens:
            return candidate
        keep -= max(1, tokens - max_tokens)
    return ""


def _take(ids: Sequence[int], keep: int, tokenizer: Tokenizer, side: str) -> str:
    if side == "tail":
        return tokenizer.decode(ids[:keep])
    if side == "head":
        return tokenizer.decode(ids[len(ids) - keep:])
    first = (keep + 1) // 2
    return tokenizer.decode(ids[:first]) + tokenizer.decode(ids[len(ids) - (keep - first):])


def fit_tokens(text: str, max_tokens: int, tokenizer: Tokenizer, *, original_tokens: int,
               method: str) -> Compressed:
    """`text` as a Compressed of `original_tokens`, cut at the tail on token boundaries if it is over `max_tokens`."""
    tokens = tokenizer.count(text)
    if tokens > max_tokens:
        text = _cut(text, tokenizer.encode(text), max_tokens, tokenizer, "tail")
        tokens = tokenizer.count(text)
    return Compressed(text, original_tokens, tokens, method)


@dataclass(frozen=True)
class TruncateTokens:
    """The truncation baseline as a Compressor: cut `side` on token boundaries; the query is ignored.

    >>> from contextwise.testing import FakeTokenizer
    >>> TruncateTokens(side="head").compress("one two three four", 2, FakeTokenizer()).text
    ' three four'
    """

    side: Side = "tail"

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise UsageError(f"side must be one of {', '.join(SIDES)}, not {self.side!r}")

    @property
    def name(self) -> str:
        """"truncate-<side>"."""
        return f"truncate-{self.side}"

    def compress(self, text: str, target_tokens: int, tokenizer: Tokenizer,
                 query: str | None = None) -> Compressed:
        """Cut `text` to at most `target_tokens`."""
        return truncate_tokens(text, target_tokens, tokenizer, side=self.side)


def token_windows(text: str, span: tuple[int, int], tokenizer: Tokenizer, max_tokens: int) -> list[tuple[int, int]]:
    """Split `text[span]` into consecutive spans of at most `max_tokens` tokens, cut on token boundaries: the
    one windowing cut (chunking and the summarizer's map step both use it).

    A boundary that would split a character moves back to the character's start. Only when a single character
    costs more than `max_tokens` tokens does a span exceed it. Whitespace at the ends of a span is left out.
    """
    start, end = span
    ids = tokenizer.encode(text[start:end])
    out: list[tuple[int, int]] = []
    pos, first = start, 0
    while first < len(ids):
        piece, first = _piece(text, pos, ids, first, tokenizer, max_tokens)
        if not piece:  # the tokenizer does not round-trip this text: keep the rest whole rather than lose it
            piece = text[pos:end]
            first = len(ids)
        out.append(_strip(text, pos, pos + len(piece)))
        pos += len(piece)
    return [(s, e) for s, e in out if e > s]


def _piece(text: str, pos: int, ids: Sequence[int], first: int, tokenizer: Tokenizer,
           max_tokens: int) -> tuple[str, int]:
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


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    return start + lead, max(start + lead, end - (len(piece) - len(piece.rstrip())))
