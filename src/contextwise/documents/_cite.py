"""Citation markers: how they look, how they are parsed back out of an answer, and what each sentence cites."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from contextwise.documents._sentences import Splitter, sentence_spans
from contextwise.errors import UsageError
from contextwise.types import Citation

T = TypeVar("T")
MAX_RANGE = 1000  # a range wider than this ("[1-99999]") is reported as one unknown marker, not expanded


@dataclass(frozen=True)
class CitationStyle:
    """The citation marker style: "[1]", "[2]" … by default; CitationStyle(prefix="S") gives "[S1]", "[S2]" ….

    Args:
        prefix: letters before the number.
        brackets: the opening and closing characters.

    >>> CitationStyle(prefix="S").marker(2)
    '[S2]'
    >>> CitationStyle().render([1, 2, 3, 5])
    '[1-3, 5]'
    """

    prefix: str = ""
    brackets: str = "[]"

    def __post_init__(self) -> None:
        if self.prefix and not self.prefix.isalpha():
            raise UsageError(f"a marker prefix must be letters only, got {self.prefix!r}")
        if len(self.brackets) != 2 or self.brackets[0] == self.brackets[1] or self.brackets.isalnum():
            raise UsageError(f"brackets must be two different non-alphanumeric characters, got {self.brackets!r}")

    def marker(self, number: int) -> str:
        """The marker for citation `number` (1-based)."""
        return f"{self.brackets[0]}{self.prefix}{number}{self.brackets[1]}"

    def render(self, numbers: Iterable[int]) -> str:
        """One marker group citing `numbers`, with runs of three or more written as ranges."""
        runs: list[list[int]] = []
        for n in sorted(set(numbers)):
            if runs and n == runs[-1][-1] + 1:
                runs[-1].append(n)
            else:
                runs.append([n])
        parts = [self._range(run) for run in runs]
        return f"{self.brackets[0]}{', '.join(parts)}{self.brackets[1]}" if parts else ""

    def neutralize(self, text: str) -> str:
        """`text` with the brackets of anything that reads as a marker group swapped ("[3]" becomes "(3)").

        The length is unchanged, so character offsets still hold; a footnote copied from a web page can then
        not pass for a citation of the context.
        """
        if self.brackets[0] not in text:
            return text
        swap = "()" if self.brackets != "()" else "[]"
        chars = list(text)
        for start, end, _, _ in self.groups(text):
            chars[start], chars[end - 1] = swap[0], swap[1]
        return "".join(chars)

    def _range(self, run: list[int]) -> str:
        if len(run) >= 3:
            return f"{self.prefix}{run[0]}-{self.prefix}{run[-1]}"
        return ", ".join(f"{self.prefix}{n}" for n in run)

    @cached_property
    def _group(self) -> re.Pattern[str]:
        left, right, p = re.escape(self.brackets[0]), re.escape(self.brackets[1]), re.escape(self.prefix)
        item = rf"{p}\d+(?:\s*[-–]\s*(?:{p})?\d+)?"
        return re.compile(rf"(?<!\w){left}\s*({item}(?:\s*[,;]\s*{item})*)\s*{right}")

    @cached_property
    def _item(self) -> re.Pattern[str]:
        p = re.escape(self.prefix)
        return re.compile(rf"{p}(\d+)(?:\s*[-–]\s*(?:{p})?(\d+))?")

    def groups(self, text: str) -> list[tuple[int, int, list[int], list[str]]]:
        """Every marker group in `text`: (start, end, numbers cited, raw items that are not valid numbers)."""
        out = []
        for match in self._group.finditer(text):
            numbers: list[int] = []
            bad: list[str] = []
            for item in self._item.finditer(match.group(1)):
                first, last = int(item.group(1)), int(item.group(2) or item.group(1))
                if last < first or last - first >= MAX_RANGE:
                    bad.append(f"{self.brackets[0]}{item.group()}{self.brackets[1]}")
                else:
                    numbers.extend(range(first, last + 1))
            out.append((match.start(), match.end(), numbers, bad))
        return out


@dataclass(frozen=True)
class Claim:
    """A sentence of the answer (its exact span in the answer) and the citations it carries."""

    text: str
    start_char: int
    end_char: int
    citations: tuple[Citation, ...]
    unknown_markers: tuple[str, ...] = ()


@dataclass(frozen=True)
class CitationCheck:
    """The citations found in an answer, validated against the citation map.

    Attributes:
        citations: the distinct citations that resolved, in order of first appearance.
        unknown_markers: markers the answer used that the context never defined, in order of first appearance.
        claims: each sentence of the answer with the citations attached to it.
    """

    citations: tuple[Citation, ...]
    unknown_markers: tuple[str, ...]
    claims: tuple[Claim, ...]

    @property
    def ok(self) -> bool:
        """True when every marker in the answer resolved."""
        return not self.unknown_markers

    @property
    def uncited_claims(self) -> tuple[Claim, ...]:
        """The sentences that carry no citation at all."""
        return tuple(c for c in self.claims if not c.citations and not c.unknown_markers)


def parse_citations(answer: str, citations: Mapping[str, Citation] | Sequence[Citation], *,
                    style: CitationStyle | None = None, splitter: Splitter | None = None) -> CitationCheck:
    """Find the citation markers in `answer`, resolve them and attach them to the sentences they follow.

    Understands "[1]", "[1, 3]", "[1][2]", "[1-3]" (and the same with the marker prefix in use). A marker that
    is not in `citations` is reported in `unknown_markers`, never dropped.

    Args:
        answer: the model's answer.
        citations: the citation map (marker to Citation, e.g. `Fused.citation_map`) or the citations themselves.
        style: the marker style the context used (default "[1]").
        splitter: the sentence splitter for claims (default contextwise.compress.split_sentences).

    >>> cmap = {"[1]": Citation("[1]", "doc#0", "a.txt", "A", 0, 10)}
    >>> check = parse_citations("It is so [1]. And so [2].", cmap)
    >>> [c.chunk_id for c in check.citations], check.unknown_markers
    (['doc#0'], ('[2]',))
    """
    style = style or CitationStyle()
    cmap = citations if isinstance(citations, Mapping) else {c.marker: c for c in citations}
    sentences = _claim_spans(answer, splitter)
    found: dict[int, list[str]] = {i: [] for i in range(len(sentences))}
    for start, _end, numbers, bad in style.groups(answer):
        owner = _owner(answer, sentences, start, style)
        found[owner].extend([style.marker(n) for n in numbers] + bad)
    claims = tuple(_claim(answer, span, found[i], cmap) for i, span in enumerate(sentences)
                   if _has_words(answer[span[0]:span[1]], style))
    every = [m for i in range(len(sentences)) for m in found[i]]
    resolved = _unique(cmap[m] for m in every if m in cmap)
    unknown = _unique(m for m in every if m not in cmap)
    return CitationCheck(resolved, unknown, claims)


def _claim_spans(answer: str, splitter: Splitter | None) -> list[tuple[int, int]]:
    return sentence_spans(answer, splitter) or [(0, len(answer))]


def _owner(answer: str, sentences: list[tuple[int, int]], start: int, style: CitationStyle) -> int:
    """The sentence a marker group belongs to: the one it is in, or the one before if it opens its sentence."""
    owner = 0
    for i, (s, _) in enumerate(sentences):
        if s <= start:
            owner = i
    s = sentences[owner][0]
    if owner > 0 and not _has_words(answer[s:start], style):
        owner -= 1
    return owner


def _has_words(text: str, style: CitationStyle) -> bool:
    for start, end, _, _ in reversed(style.groups(text)):
        text = text[:start] + text[end:]
    return bool(re.search(r"\w", text))


def _claim(answer: str, span: tuple[int, int], found: list[str], cmap: Mapping[str, Citation]) -> Claim:
    return Claim(answer[span[0]:span[1]], span[0], span[1], _unique(cmap[m] for m in found if m in cmap),
                 _unique(m for m in found if m not in cmap))


def _unique(items: Iterable[T]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(items))
