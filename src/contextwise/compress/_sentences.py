"""Sentence splitting that survives real text: abbreviations, initials, decimals, bullets, headings, code blocks.

The splitter works on character offsets, so every sentence is an exact slice of the input and the whitespace
between sentences is known (an extractive summary re-joins kept sentences with their original separators).
"""

from __future__ import annotations

import re
from typing import NamedTuple

# Words that end with a period without ending the sentence (compared lower-cased, period removed).
_ABBREVIATIONS = frozenset("""
mr mrs ms dr prof sr jr st mt ft vs al approx dept est inc ltd co corp jan feb mar apr jun jul aug sep sept
oct nov dec gen col lt sgt capt cmdr rev gov sen rep hon pres e.g i.e cf ca viz ph.d
""".split())
# ... and these only before a number ("No. 5", "pp. 12").
_BEFORE_NUMBER = frozenset("no nos vol vols pp p fig figs sec ch art eq".split())
_END = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s)")
_FENCE = re.compile(r"^\s*(```|~~~)")
_ITEM = re.compile(r"^\s*([-*+\u2022>|#]|\d{1,3}[.)])\s")
_ONE_LINE = re.compile(r"^\s*[#|]")
_DOTTED = re.compile(r"^(?:[^\W\d_]\.)+[^\W\d_]?$")


class Span(NamedTuple):
    """A sentence as offsets into its text: `text[start:end]` (no surrounding whitespace)."""

    start: int
    end: int


def split_sentences(text: str) -> list[str]:
    """Split `text` into sentences: each one a slice of `text`, in order, without surrounding whitespace.

    A period after a known abbreviation, an initial ("J. R. R."), or a dotted abbreviation ("U.S.") does not end
    a sentence, nor does one followed by a lower-case word; decimals never do. Blank lines, list items,
    headings and table rows start a new sentence; a fenced code block stays whole as one.

    >>> split_sentences("Dr. Smith paid $3.50. Then he left.\\n- item one\\n- item two")
    ['Dr. Smith paid $3.50.', 'Then he left.', '- item one', '- item two']
    """
    return [text[s.start:s.end] for s in sentence_spans(text)]


def sentence_spans(text: str) -> list[Span]:
    """The sentences of `text` as offsets (see `split_sentences`)."""
    spans: list[Span] = []
    for start, end, is_code in _blocks(text):
        if is_code:
            spans.append(_strip(text, start, end))
        else:
            spans.extend(_split_prose(text, start, end))
    return [s for s in spans if s.end > s.start]


def _blocks(text: str) -> list[tuple[int, int, bool]]:
    """Paragraph-like blocks (start, end, is_code): prose blocks break at blank lines, items, headings, rows."""
    blocks: list[tuple[int, int, bool]] = []
    lines = _lines(text)
    i = 0
    while i < len(lines):
        start, end, line = lines[i]
        if _FENCE.match(line):
            j = _fence_end(lines, i)
            blocks.append((start, lines[j][1], True))
            i = j + 1
            continue
        j = i
        while j + 1 < len(lines) and _continues(lines[j][2], lines[j + 1][2]):
            j += 1
        blocks.append((start, lines[j][1], False))
        i = j + 1
    return blocks


def _lines(text: str) -> list[tuple[int, int, str]]:
    out, pos = [], 0
    for line in text.splitlines(keepends=True):
        out.append((pos, pos + len(line), line))
        pos += len(line)
    return out


def _fence_end(lines: list[tuple[int, int, str]], i: int) -> int:
    marker = _FENCE.match(lines[i][2]).group(1)  # type: ignore[union-attr]
    for j in range(i + 1, len(lines)):
        if lines[j][2].lstrip().startswith(marker):
            return j
    return len(lines) - 1


def _continues(line: str, following: str) -> bool:
    """Whether `following` continues the block `line` is in (a wrapped line of the same paragraph or item)."""
    if not line.strip() or not following.strip():
        return False
    if _ONE_LINE.match(line) or _ITEM.match(following) or _FENCE.match(following):
        return False
    return True


def _split_prose(text: str, start: int, end: int) -> list[Span]:
    spans, begin = [], start
    for match in _END.finditer(text, start, end):
        if _is_boundary(text, match.start(), match.end(), end):
            spans.append(_strip(text, begin, match.end()))
            begin = match.end()
    spans.append(_strip(text, begin, end))
    return spans


def _is_boundary(text: str, mark_start: int, mark_end: int, block_end: int) -> bool:
    following = text[mark_end:block_end].lstrip()
    if not following:
        return False  # the block's end is a boundary anyway
    if following[0].islower():
        return False
    if text[mark_start] != ".":
        return True
    token = _word_before(text, mark_start).lower().lstrip("(\"'\u201c\u2018[")
    bare = token.rstrip(".")
    if bare in _ABBREVIATIONS or _DOTTED.match(token):
        return False
    if bare in _BEFORE_NUMBER and following[0].isdigit():
        return False
    return not (len(bare) == 1 and bare.isalpha() and text[mark_start:mark_end] == ".")


def _word_before(text: str, mark_start: int) -> str:
    """The whitespace-delimited word that ends with the mark at `mark_start`, mark included."""
    begin = mark_start
    while begin > 0 and not text[begin - 1].isspace():
        begin -= 1
    return text[begin:mark_start + 1]


def _strip(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end)
