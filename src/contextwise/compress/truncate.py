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
