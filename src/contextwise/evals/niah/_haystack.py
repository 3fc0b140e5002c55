"""The haystack: documents the user supplies, cut into sentences, laid out coherent or shuffled by a seed, and
filled to an exact token length with the needle's sentences at the asked depths."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from contextwise.compress import split_sentences
from contextwise.errors import UsageError
from contextwise.evals.niah._needles import place_depths
from contextwise.protocols import Tokenizer

#: The file endings read from a directory.
TEXT_SUFFIXES = (".txt", ".md", ".rst", ".text")
ORDERS = ("coherent", "shuffled")


class HaystackTooShortError(UsageError):
    """The haystack has fewer tokens than the longest context of the grid asks for."""


@dataclass(frozen=True)
class Haystack:
    """Named documents in a fixed order (file names sorted), and their content hash.

    >>> Haystack.from_texts(["One. Two.", "Three."]).sentences("coherent", 0)
    ['One.', 'Two.', 'Three.']
    """

    documents: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        if not any(text.strip() for _, text in self.documents):
            raise UsageError("the haystack is empty: give files or a directory with text in them")

    @classmethod
    def load(cls, paths: str | Path | Iterable[str | Path]) -> Haystack:
        """Read text files, or every text file (TEXT_SUFFIXES) under directories, sorted by path."""
        items = [paths] if isinstance(paths, (str, Path)) else list(paths)
        files: list[Path] = []
        for item in map(Path, items):
            if item.is_dir():
                files += sorted(p for p in item.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES)
            elif item.is_file():
                files.append(item)
            else:
                raise UsageError(f"haystack: no file or directory at {item}")
        if not files:
            raise UsageError(f"haystack: no {'/'.join(TEXT_SUFFIXES)} files in {', '.join(map(str, items))}")
        return cls(tuple((p.name, p.read_text(encoding="utf-8", errors="replace")) for p in files))

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> Haystack:
        """A haystack of in-memory texts, named doc0, doc1, …"""
        return cls(tuple((f"doc{i}", t) for i, t in enumerate(texts)))

    @property
    def digest(self) -> str:
        """sha256 of the names and texts, in order (part of the cell id)."""
        h = hashlib.sha256()
        for name, text in self.documents:
            h.update(name.encode() + b"\0" + text.encode() + b"\0")
        return h.hexdigest()[:16]

    def sentences(self, order: str, seed: int) -> list[str]:
        """The sentences in reading order: "coherent" starts at document `seed` (mod the count) and goes on in
        order; "shuffled" shuffles every sentence of every document with the seed (Chroma's context-rot test)."""
        if order not in ORDERS:
            raise UsageError(f"order {order!r}: use coherent or shuffled")
        docs = [split_sentences(text) for _, text in self.documents]
        if order == "shuffled":
            flat = [s for doc in docs for s in doc]
            random.Random(seed).shuffle(flat)
            return flat
        start = seed % len(docs)
        return [s for doc in docs[start:] + docs[:start] for s in doc]


@dataclass(frozen=True)
class Placed:
    """A built context: its text, its exact token count and where each insert went (fraction of the text)."""

    text: str
    tokens: int
    insert_depths: tuple[float, ...]
    prefix_chars: int  # characters before the first insert: the part shared with other needles and depths


class ContextBuilder:
    """Fills contexts to exact token lengths from one haystack layout, counting each sentence once."""

    def __init__(self, haystack: Haystack, tokenizer: Tokenizer, *, order: str = "coherent", seed: int = 0) -> None:
        self.tokenizer = tokenizer
        self._sentences = haystack.sentences(order, seed)
        self._costs: list[int] = []

    def _cost(self, i: int) -> int:
        while len(self._costs) <= i:
            self._costs.append(self.tokenizer.count(" " + self._sentences[len(self._costs)]))
        return self._costs[i]

    def filler(self, budget_tokens: int) -> list[str]:
        """The leading sentences whose counted tokens fit `budget_tokens`.

        Raises:
            HaystackTooShortError: the haystack runs out first.
        """
        total, n = 0, 0
        while n < len(self._sentences) and total + self._cost(n) <= budget_tokens:
            total, n = total + self._cost(n), n + 1
        if n == len(self._sentences) and total < budget_tokens - 64:
            raise HaystackTooShortError(f"the haystack has about {total:,} tokens; the grid needs "
                                        f"{budget_tokens:,}: add documents or shorten the lengths")
        return self._sentences[:n]

    def build(self, context_tokens: int, depth_percent: float, inserts: Sequence[str]) -> Placed:
        """A context of at most `context_tokens` tokens with `inserts` placed from `depth_percent` on
        (`place_depths`), each at the sentence boundary nearest its depth."""
        if not 0 <= depth_percent <= 100:
            raise UsageError(f"depth {depth_percent} is not a percentage in 0..100")
        insert_tokens = sum(self.tokenizer.count(" " + s) for s in inserts)
        budget = context_tokens - insert_tokens
        if budget < 0:
            raise UsageError(f"the needle alone has {insert_tokens} tokens; the length {context_tokens} is too short")
        filler = self.filler(budget)
        while True:
            placed = self._place(filler, depth_percent, inserts)
            if placed.tokens <= context_tokens or not filler:
                return placed
            filler = filler[:-max(1, len(filler) // 200)]

    def _place(self, filler: list[str], depth_percent: float, inserts: Sequence[str]) -> Placed:
        total = sum(self._costs[:len(filler)])
        cuts, at, running = [], 0, 0
        for depth in place_depths(depth_percent, len(inserts)):
            goal = total * depth / 100
            while at < len(filler) and running + self._costs[at] / 2 <= goal:
                running, at = running + self._costs[at], at + 1
            cuts.append(at)
        pieces: list[str] = []
        start, prefix_chars = 0, -1
        for cut, insert in zip(cuts, inserts):
            pieces += filler[start:cut]
            if prefix_chars < 0:
                prefix_chars = len(" ".join(pieces))
            pieces.append(insert)
            start = cut
        pieces += filler[start:]
        text = " ".join(pieces)
        depths = tuple(c / max(1, len(filler)) for c in cuts)
        return Placed(text, self.tokenizer.count(text), depths, max(0, prefix_chars))
