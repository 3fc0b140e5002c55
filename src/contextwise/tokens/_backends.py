"""Tokenizer back-ends: tiktoken (always there), quicktok (the `fast` extra) and calibrated estimates.

All three satisfy `contextwise.protocols.Tokenizer`. Exact back-ends encode user text as ordinary text:
special-token strings inside content are counted as the text they are, which is what chat APIs bill.
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
import math
import os
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from contextwise.errors import BackendError, MissingDependencyError, UsageError
from contextwise.protocols import Tokenizer

#: Texts at least this long are counted in pieces on all cores (the pieces are cut where the result cannot change).
PARALLEL_MIN_CHARS = 1_000_000
#: Below this many characters in all, `count_many` counts its texts one by one (threads would not repay).
MANY_MIN_CHARS = 200_000

# A newline followed by a letter ends a pre-token under every pattern used here (cl100k, o200k, Llama 3,
# Qwen 2): no pattern alternative spans "\n" + letter. Splitting there gives the same tokens as not splitting;
# tests/tokens/test_backends_split.py checks it against whole-text counts.
_SAFE_CUT = re.compile(r"\n(?=[^\W\d_])")


def split_for_parallel(text: str, pieces: int) -> list[str]:
    """Cut `text` into about `pieces` parts at positions where tokenisation cannot change (joins back to `text`)."""
    if pieces <= 1 or len(text) < 2:
        return [text]
    step = max(1, len(text) // pieces)
    cuts, start = [], 0
    while start + step < len(text):
        match = _SAFE_CUT.search(text, start + step)
        if match is None:
            break
        cuts.append(match.end())
        start = match.end()
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _threads() -> int:
    return max(1, min(8, os.cpu_count() or 1))


class _EncodingTokenizer:
    """Shared by the exact back-ends: `_enc` offers tiktoken's `encode_ordinary` and `decode`."""

    exact = True
    name: str
    _enc: Any

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, special-token strings treated as plain text."""
        ids: list[int] = self._enc.encode_ordinary(text)
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids` (invalid UTF-8 at the edges becomes U+FFFD)."""
        text: str = self._enc.decode(list(ids))
        return text

    def count(self, text: str) -> int:
        """Number of tokens in `text`; long texts are counted on all cores."""
        if len(text) < PARALLEL_MIN_CHARS:
            return self._count_one(text)
        return self._count_pieces(split_for_parallel(text, _threads() * 4))

    def _count_one(self, text: str) -> int:
        return len(self._enc.encode_ordinary(text))

    def _count_pieces(self, pieces: list[str]) -> int:
        raise NotImplementedError

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Tokens in each of `texts` (what `count` gives each); many texts together are counted on all cores."""
        if len(texts) < 2 or sum(map(len, texts)) < MANY_MIN_CHARS or _threads() < 2:
            return [self.count(t) for t in texts]
        return self._count_each(list(texts))

    def _count_each(self, texts: list[str]) -> list[int]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class TiktokenTokenizer(_EncodingTokenizer):
    """An exact tokenizer backed by a tiktoken `Encoding`.

    >>> TiktokenTokenizer.for_encoding("o200k_base").count("hello world")
    2
    """

    def __init__(self, encoding: Any, *, name: str | None = None) -> None:
        self._enc = encoding
        self.name = name or encoding.name
        self.backend = "tiktoken"

    @classmethod
    def for_encoding(cls, encoding: str) -> TiktokenTokenizer:
        """Build (once per process) the named OpenAI encoding from the rank files installed with contextwise."""
        from contextwise.tokens._openai import RANK_FILES, tiktoken_encoding

        if encoding not in RANK_FILES:
            raise UsageError(f"tiktoken back-end knows {sorted(RANK_FILES)}, not {encoding!r}")
        return cls(tiktoken_encoding(encoding))

    def _count_pieces(self, pieces: list[str]) -> int:
        return sum(map(len, self._enc.encode_ordinary_batch(pieces, num_threads=_threads())))

    def _count_each(self, texts: list[str]) -> list[int]:
        # One contiguous share of the texts per core (tiktoken releases the GIL while it encodes). Measured on
        # 2,000 NQ passages, idle: 40 ms against 64 ms one by one, while encode_ordinary_batch's task per text
        # took 108 ms.
        shares = _threads()
        size = -(-len(texts) // shares)
        groups = [texts[i:i + size] for i in range(0, len(texts), size)]
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            counted = list(pool.map(lambda group: [self.count(t) for t in group], groups))
        return [n for group in counted for n in group]


# Our tokenizer ids -> quicktok's bundled encoding names.
QUICKTOK_ENCODINGS = {"o200k_base": "o200k_base", "cl100k_base": "cl100k_base", "llama3": "llama3",
                      "qwen2": "qwen3"}


def quicktok_available() -> bool:
    """Whether the optional fast back-end (`pip install 'contextwise[fast]'`) is importable."""
    try:
        import quicktok  # noqa: F401
    except ImportError:
        return False
    return True


class QuicktokTokenizer(_EncodingTokenizer):
    """An exact tokenizer backed by quicktok (C++), giving the same ids as tiktoken / the model's reference.

    Needs the `fast` extra. It also carries the Llama 3 (Meta Llama 3 Community License) and Qwen 2/2.5/3
    (Apache-2.0) vocabularies, which contextwise therefore does not redistribute itself.
    """

    def __init__(self, name: str) -> None:
        if name not in QUICKTOK_ENCODINGS:
            raise UsageError(f"quicktok back-end knows {sorted(QUICKTOK_ENCODINGS)}, not {name!r}")
        try:
            import quicktok
        except ImportError as exc:
            raise MissingDependencyError(f"the fast {name} tokenizer", "fast") from exc
        try:
            self._enc = quicktok.get_encoding(QUICKTOK_ENCODINGS[name])
        except (RuntimeError, OSError) as exc:
            raise BackendError(f"cannot load {name}: {exc}; reinstall quicktok-v1", backend="quicktok") from exc
        self._count_batch = quicktok.count_batch
        self.name = name
        self.backend = "quicktok"
        self._tiktoken: TiktokenTokenizer | None = None

    def _reference(self, text: str) -> TiktokenTokenizer | None:
        """tiktoken, for a text quicktok might split differently: one with code points this Python's Unicode
        tables leave unassigned (characters newer than them), whose letter-or-not class the two back-ends' regex
        tables disagree on (found by the property test; e.g. U+323B0 followed by ":A"). None otherwise."""
        if self.name not in ("o200k_base", "cl100k_base") or not has_unassigned(text):
            return None
        if self._tiktoken is None:
            self._tiktoken = TiktokenTokenizer.for_encoding(self.name)
        return self._tiktoken

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, special-token strings treated as plain text (lone surrogates as U+FFFD)."""
        reference = self._reference(text)
        if reference is not None:
            return reference.encode(text)
        try:
            ids: list[int] = self._enc.encode_ordinary(text)
        except (TypeError, UnicodeEncodeError):
            ids = self._enc.encode_ordinary(_without_surrogates(text))
        return ids

    def _count_one(self, text: str) -> int:
        reference = self._reference(text)
        if reference is not None:
            return reference.count(text)
        try:
            return int(self._enc.count(text))
        except (TypeError, UnicodeEncodeError):
            return int(self._enc.count(_without_surrogates(text)))

    def _count_pieces(self, pieces: list[str]) -> int:
        if any(self._reference(p) is not None for p in pieces):
            return sum(self._count_one(p) for p in pieces)
        try:
            return int(self._count_batch(self._enc, pieces).sum())
        except (TypeError, UnicodeEncodeError):
            return int(self._count_batch(self._enc, [_without_surrogates(p) for p in pieces]).sum())

    def _count_each(self, texts: list[str]) -> list[int]:
        if any(self._reference(t) is not None for t in texts):
            return [self.count(t) for t in texts]
        try:
            return [int(n) for n in self._count_batch(self._enc, texts)]
        except (TypeError, UnicodeEncodeError):
            return [self.count(t) for t in texts]


#: Below this many characters `has_unassigned` looks at the text's distinct characters, above it at a numpy array.
_SMALL_TEXT_CHARS = 256


def has_unassigned(text: str) -> bool:
    """Whether `text` holds a code point this Python's Unicode tables leave unassigned (category Cn).

    One pass in C over the text (a few percent of counting it): Basic Multilingual Plane characters are looked
    up in a table, and the distinct characters above it (emoji, rare CJK) one by one.
    """
    if text.isascii():
        return False
    if len(text) < _SMALL_TEXT_CHARS:
        chars = set(text)
        if not _unassigned_bmp().isdisjoint(chars):
            return True
        return max(chars) > "\uffff" and _any_unassigned(c for c in chars if c > "\uffff")
    import numpy as np

    code_points = np.array([text]).view(np.uint32)  # one copy of the text as UCS-4
    high = code_points[code_points >= 0x80]
    found = int(np.bitwise_or.reduce(_unassigned_table()[np.minimum(high, 0x10000)], initial=0))
    if found & 1:
        return True
    return bool(found & 2) and _any_unassigned(map(chr, np.unique(high[high > 0xFFFF]).tolist()))


def _any_unassigned(chars: Iterable[str]) -> bool:
    return any(unicodedata.category(c) == "Cn" for c in chars)


@lru_cache(maxsize=1)
def _unassigned_bmp() -> frozenset[str]:
    """This Python's unassigned code points in the Basic Multilingual Plane (built once, ~15 ms)."""
    return frozenset(c for c in map(chr, range(0x80, 0x10000)) if unicodedata.category(c) == "Cn")


@lru_cache(maxsize=1)
def _unassigned_table() -> Any:
    """A numpy table indexed by code point up to 0x10000: 1 = unassigned, 2 (the last entry) = above the BMP."""
    import numpy as np

    table = np.zeros(0x10001, dtype=np.uint8)
    table[sorted(map(ord, _unassigned_bmp()))] = 1
    table[0x10000] = 2
    return table


def _without_surrogates(text: str) -> str:
    # What tiktoken does with text that is not valid Unicode: each lone surrogate becomes U+FFFD.
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


# What loading costs, as the characters of English prose tiktoken counts on one thread in the same time, and how
# many times faster quicktok counts per thread (the least over the four real texts). `benchmarks/bench_tokens.py`
# prints all three as measured in its own run (on 2 cores under load: 5.5M, 11.7M, 2.4-4.5x).
TIKTOKEN_LOAD_CHARS = 5_000_000
QUICKTOK_LOAD_CHARS = 11_000_000
QUICKTOK_SPEEDUP = 2.4


def fast_break_even_chars(threads: int | None = None) -> int:
    """The shortest text whose count on quicktok, load included, takes no longer than on a loaded tiktoken.

    Each character quicktok counts saves `1 - 1/QUICKTOK_SPEEDUP` of tiktoken's time, spread over `threads`
    (default: the cores long texts are counted on); the load costs `QUICKTOK_LOAD_CHARS`.
    """
    return math.ceil(QUICKTOK_LOAD_CHARS * (threads or _threads()) / (1 - 1 / QUICKTOK_SPEEDUP))


class AdaptiveTokenizer:
    """Exact o200k_base / cl100k_base on tiktoken, moving to quicktok only where no call gets slower for it.

    Both give identical ids. tiktoken loads in less than half the time; quicktok counts 2.4-4.5x faster per
    thread, but its load holds the GIL for about 0.7 s (a background load would stall every thread as long), so
    it happens inside a call only when that call's own text repays it: a text of at least `switch_after_chars`
    characters (by default `fast_break_even_chars()`), or a first text of that times
    `1 - TIKTOKEN_LOAD_CHARS / QUICKTOK_LOAD_CHARS` (it saves tiktoken's load too). No single call is then
    slower than tiktoken's. Where a 0.7 s pause is free (a server's start-up), `load_fast()` moves at once.
    """

    exact = True

    def __init__(self, name: str, *, switch_after_chars: int | None = None) -> None:
        if name not in ("o200k_base", "cl100k_base"):
            raise UsageError(f"the adaptive back-end serves o200k_base and cl100k_base, not {name!r}")
        if switch_after_chars is not None and switch_after_chars < 0:
            raise UsageError(f"switch_after_chars must be 0 or more, got {switch_after_chars}")
        self.name = name
        self.switch_after_chars = fast_break_even_chars() if switch_after_chars is None else switch_after_chars
        self._current: TiktokenTokenizer | QuicktokTokenizer | None = None
        self._fast_failed = False
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        """The back-end in use: "tiktoken", "quicktok", or "none" before the first call."""
        return self._current.backend if self._current is not None else "none"

    def load_fast(self) -> bool:
        """Move to quicktok now (about 0.7 s, holding the GIL); True if it is in use, False without the extra."""
        with self._lock:
            if self.backend != "quicktok":
                self._current = self._load(True)
        return self.backend == "quicktok"

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, special-token strings treated as plain text."""
        return self._pick(len(text)).encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`."""
        return self._pick(0).decode(ids)

    def count(self, text: str) -> int:
        """Number of tokens in `text`."""
        return self._pick(len(text)).count(text)

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Tokens in each of `texts`; the back-end is chosen for their total size, as for one text that long."""
        return self._pick(sum(map(len, texts))).count_many(texts)

    def _pick(self, size_chars: int) -> TiktokenTokenizer | QuicktokTokenizer:
        current = self._current
        if current is not None and (current.backend == "quicktok" or not self._repays(size_chars, first=False)):
            return current
        with self._lock:
            if self._current is None:
                self._current = self._load(self._repays(size_chars, first=True))
            elif self._current.backend == "tiktoken" and self._repays(size_chars, first=False):
                self._current = self._load(True)
            return self._current

    def _repays(self, size_chars: int, *, first: bool) -> bool:
        """Whether loading quicktok for a call on `size_chars` characters costs no more than tiktoken's count."""
        if self._fast_failed:
            return False
        needed = self.switch_after_chars * (1 - TIKTOKEN_LOAD_CHARS / QUICKTOK_LOAD_CHARS) if first else \
            self.switch_after_chars
        return size_chars >= needed

    def _load(self, fast: bool) -> TiktokenTokenizer | QuicktokTokenizer:
        if fast:
            try:
                return QuicktokTokenizer(self.name)
            except (BackendError, MissingDependencyError):
                self._fast_failed = True
        return self._current if self._current is not None else TiktokenTokenizer.for_encoding(self.name)

    def __repr__(self) -> str:
        return f"AdaptiveTokenizer({self.name!r}, backend={self.backend!r})"


# CJK ideographs, kana, hangul and full-width forms: scripts where proxy and model vocabularies differ most.
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]")


class EstimatedTokenizer:
    """A calibrated estimate for a model whose tokenizer is not shipped: the proxy's count times a ratio.

    With `cjk_ratio`, the ratio moves from `ratio` towards `cjk_ratio` by the share of CJK characters in the
    text. `encode`/`decode` are the proxy's (useful for cutting text at about the right place); `count` is the
    estimate, and `exact` is False so every report says so.
    """

    exact = False

    def __init__(self, name: str, proxy: Tokenizer, ratio: float, *, cjk_ratio: float | None = None) -> None:
        if ratio <= 0 or (cjk_ratio is not None and cjk_ratio <= 0):
            raise UsageError(f"estimate ratios must be positive, got {ratio} and {cjk_ratio}")
        self.name = name
        self.proxy = proxy
        self.ratio = ratio
        self.cjk_ratio = cjk_ratio
        self.backend = "estimate"

    def encode(self, text: str) -> list[int]:
        """The proxy tokenizer's ids (the model's own ids are not available)."""
        return self.proxy.encode(text)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of proxy ids."""
        return self.proxy.decode(ids)

    def ratio_for(self, text: str) -> float:
        """The ratio applied to `text`'s proxy count."""
        if self.cjk_ratio is None or not text:
            return self.ratio
        share = len(_CJK.findall(text)) / len(text)
        return self.ratio + (self.cjk_ratio - self.ratio) * share

    def count(self, text: str) -> int:
        """Estimated number of model tokens in `text` (0 for empty text)."""
        return math.ceil(self.proxy.count(text) * self.ratio_for(text)) if text else 0

    def __repr__(self) -> str:
        return f"EstimatedTokenizer({self.name!r}, proxy={self.proxy.name!r}, ratio={self.ratio})"
