"""Short-term memory: a token-bounded buffer of recent items with importance-aware eviction."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterator

from contextwise.errors import UsageError
from contextwise.memory._base import MemoryItem, Stored, Timer, check_importance
from contextwise.types import Message


@dataclass(frozen=True)
class _Entry:
    item: MemoryItem
    tokens: int
    seq: int


class ShortTermMemory:
    """The most recent items, within `max_tokens`.

    When over the limit, the least important item outside the last `keep_last` is evicted first (the oldest
    among equals), so an important remark survives a run of small talk; every eviction is reported in the
    `Stored.evicted` of the add that caused it. An item larger than the whole buffer is refused (UsageError),
    never dropped silently. Each item is counted once, when added.

    Args:
        max_tokens: the buffer's budget, counted with `counter` (a TokenCounter; by default gpt-4o-mini's).
        keep_last: the most recent items never evicted by importance (they go only when they alone overflow).

    >>> stm = ShortTermMemory(max_tokens=10, keep_last=1)
    >>> _ = stm.add("remember: the door code is 4711", importance=0.9)
    >>> _ = stm.add("ok"); _ = stm.add("sure")
    >>> [i.text for i in stm]
    ['remember: the door code is 4711', 'sure']
    """

    def __init__(self, max_tokens: int, *, keep_last: int = 4, counter: Any = None,
                 clock: Any = None) -> None:
        if max_tokens <= 0 or keep_last < 0:
            raise UsageError("ShortTermMemory needs max_tokens > 0 and keep_last >= 0")
        import time

        from contextwise.tokens import TokenCounter

        self.max_tokens = max_tokens
        self.keep_last = keep_last
        self.counter = counter or TokenCounter.for_model("gpt-4o-mini")
        self._clock = clock or time.time
        self._entries: list[_Entry] = []
        self._tokens = 0
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self.evicted = 0

    @property
    def tokens(self) -> int:
        """Tokens held now."""
        return self._tokens

    def add(self, content: str | Message, *, importance: float = 0.5, **metadata: Any) -> Stored:
        """Add an item; the result holds it, the items evicted to make room (oldest first), and the stats.

        Raises:
            UsageError: no text, a bad importance, or an item larger than the whole buffer (which would be
                evicted at once: it is refused instead, and nothing changes).
        """
        timer = Timer("short_term.add")
        text, tokens = self.check(content)
        if isinstance(content, Message):
            metadata.setdefault("role", content.role)
        importance = check_importance(importance)
        seq = next(self._seq)
        item = MemoryItem(f"short_term:{seq}", text, "short_term", importance, self._clock(), metadata)
        with self._lock:
            self._entries.append(_Entry(item, tokens, seq))
            self._tokens += tokens
            evicted = self._evict()
        return Stored(item, timer.stats(tokens=tokens), evicted)

    def check(self, content: str | Message) -> tuple[str, int]:
        """The text of `content` and its tokens, if it can be added; else UsageError (nothing changes)."""
        text = content.text if isinstance(content, Message) else content
        if not isinstance(text, str) or not text:
            raise UsageError("a short-term item needs text")
        tokens = self.counter.count(text)
        if tokens > self.max_tokens:
            raise UsageError(f"an item of {tokens:,} tokens cannot fit a short-term memory of {self.max_tokens:,} "
                             "tokens; raise max_tokens (short_term_tokens) or keep it in episodic memory")
        return text, tokens

    def _evict(self) -> tuple[MemoryItem, ...]:
        evicted: list[_Entry] = []
        while self._tokens > self.max_tokens and self._entries:
            candidates = self._entries[:-self.keep_last] if self.keep_last else self._entries
            pool = candidates or self._entries[:1]
            victim = min(pool, key=lambda e: (e.item.importance, e.seq))
            self._entries.remove(victim)
            self._tokens -= victim.tokens
            evicted.append(victim)
        self.evicted += len(evicted)
        return tuple(e.item for e in sorted(evicted, key=lambda e: e.seq))

    def items(self) -> list[MemoryItem]:
        """The items held, oldest first."""
        with self._lock:
            return [e.item for e in self._entries]

    def __iter__(self) -> Iterator[MemoryItem]:
        return iter(self.items())

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._entries.clear()
            self._tokens = 0
