"""The grid of context lengths x needle depths x seeds, and the content-addressed id of one cell."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from contextwise.errors import UsageError

SPACINGS = ("linear", "sigmoid")


def spaced_depths(count: int, spacing: str = "linear") -> tuple[float, ...]:
    """`count` depths from 0 to 100 percent: evenly, or on a logistic curve that samples the edges densely
    (gkamradt's "sigmoid" option), rounded to 3 decimals; 0 and 100 are always included.

    >>> spaced_depths(5)
    (0.0, 25.0, 50.0, 75.0, 100.0)
    """
    if count < 1 or spacing not in SPACINGS:
        raise UsageError(f"need count >= 1 and spacing in {SPACINGS}, got {count} and {spacing!r}")
    if count == 1:
        return (50.0,)
    xs = [100 * i / (count - 1) for i in range(count)]
    if spacing == "linear":
        return tuple(round(x, 3) for x in xs)
    inner = [round(100 / (1 + math.exp(-0.1 * (x - 50))), 3) for x in xs[1:-1]]
    return (0.0, *inner, 100.0)


def spaced_lengths(min_tokens: int, max_tokens: int, count: int) -> tuple[int, ...]:
    """`count` context lengths from `min_tokens` to `max_tokens`, evenly spaced, rounded to whole tokens."""
    if count < 1 or min_tokens < 1 or max_tokens < min_tokens:
        raise UsageError(f"need 1 <= min_tokens <= max_tokens and count >= 1, got {min_tokens}, {max_tokens}, "
                         f"{count}")
    if count == 1:
        return (max_tokens,)
    step = (max_tokens - min_tokens) / (count - 1)
    return tuple(sorted({round(min_tokens + i * step) for i in range(count)}))


@dataclass(frozen=True)
class Grid:
    """Context lengths (tokens, in the target model's tokenizer), needle depths (percent of the context before
    the needle) and haystack seeds.

    >>> Grid((500, 1000), (0, 50, 100)).size
    6
    """

    lengths: tuple[int, ...]
    depths: tuple[float, ...]
    seeds: tuple[int, ...] = (0,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lengths", tuple(sorted(set(int(n) for n in self.lengths))))
        object.__setattr__(self, "depths", tuple(sorted(set(float(d) for d in self.depths))))
        object.__setattr__(self, "seeds", tuple(dict.fromkeys(int(s) for s in self.seeds)))
        if not self.lengths or not self.depths or not self.seeds:
            raise UsageError("a grid needs at least one length, one depth and one seed")
        if self.lengths[0] < 1:
            raise UsageError(f"lengths must be positive, got {self.lengths[0]}")
        if self.depths[0] < 0 or self.depths[-1] > 100:
            raise UsageError(f"depths are percentages in 0..100, got {self.depths[0]}..{self.depths[-1]}")

    @classmethod
    def parse(cls, lengths: str, depths: str, seeds: str = "0") -> Grid:
        """From comma-separated text, e.g. ("500,1000,2000", "0,25,50,75,100", "0,1,2")."""
        def numbers(text: str, what: str, kind: type) -> tuple:  # type: ignore[type-arg]
            try:
                return tuple(kind(part) for part in text.split(",") if part.strip())
            except ValueError:
                raise UsageError(f"{what} {text!r}: give numbers separated by commas") from None
        return cls(numbers(lengths, "lengths", int), numbers(depths, "depths", float), numbers(seeds, "seeds", int))

    @property
    def size(self) -> int:
        """Cells per needle and strategy."""
        return len(self.lengths) * len(self.depths) * len(self.seeds)


def cell_id(**fields: object) -> str:
    """A content hash of everything that decides a cell's outcome (model, tokenizer, length, depth, needle,
    seed, haystack, …): equal fields, equal id; a changed field, a new cell."""
    body = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()[:24]


def format_depths(depths: Sequence[float]) -> str:
    """Depths as short labels ("0", "12.5")."""
    return ", ".join(f"{d:g}" for d in depths)
