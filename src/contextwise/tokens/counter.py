"""TokenCounter: exact (or estimated) prompt tokens for texts, messages, tools and images, never counted twice.

Three caches make recounting cheap: texts by content (bounded LRU), messages by value (bounded LRU), and
running totals of recently counted message sequences, so counting a history that grew by one turn costs one
message, not the whole history.
"""

from __future__ import annotations

import functools
import itertools
import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from contextwise.errors import UsageError
from contextwise.protocols import Tokenizer
from contextwise.tokens._catalog import tokenizer_and_model
from contextwise.tokens._families import families
from contextwise.tokens.framing import GENERIC, Framing, framing_for
from contextwise.types import ImagePart, Message, MessageLike, TextPart, Tool, as_messages



class _LRU:
    """A bounded, thread-safe least-recently-used map with an optional weight budget (characters)."""

    def __init__(self, max_entries: int, max_weight: int | None = None) -> None:
        self._data: OrderedDict[Hashable, int] = OrderedDict()
        self._weights: dict[Hashable, int] = {}
        self._max_entries = max_entries
        self._max_weight = max_weight
        self._weight = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> int | None:
        with self._lock:
            value = self._data.get(key)
            if value is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: int, weight: int = 0) -> None:
        if self._max_entries <= 0 or (self._max_weight is not None and weight > self._max_weight):
            return
        with self._lock:
            if key in self._data:
                return
            self._data[key] = value
            if weight:
                self._weights[key] = weight
                self._weight += weight
            while len(self._data) > self._max_entries or (
                    self._max_weight is not None and self._weight > self._max_weight):
                old, _ = self._data.popitem(last=False)
                self._weight -= self._weights.pop(old, 0)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self._weights.clear()
            self._weight = 0


class _Snapshot:
    """A message sequence counted before, with running totals: `totals[i]` is the framed size of `msgs[:i]`."""

    __slots__ = ("msgs", "totals")

    def __init__(self, msgs: list[Message], totals: list[int]) -> None:
        self.msgs = msgs
        self.totals = totals


class TokenCounter:
    """Counts prompt tokens the way a provider bills them, caching by content so nothing is counted twice.

    Args:
        tokenizer: a Tokenizer, a tokenizer id ("o200k_base"), a "provider:name" string, or a model name.
        framing: the provider framing; by default the one that goes with the tokenizer (or model).
        max_cached_texts: texts remembered by content (least recently used dropped first).
        max_cached_chars: total characters of remembered texts.
        max_cached_messages: messages remembered by value.

    >>> counter = TokenCounter("o200k_base")
    >>> counter.count("hello world"), counter.messages([Message.user("hello world")])
    (2, 9)
    """

    def __init__(self, tokenizer: Tokenizer | str, framing: Framing | str | None = None, *,
                 max_cached_texts: int = 100_000, max_cached_chars: int = 64_000_000,
                 max_cached_messages: int = 100_000) -> None:
        self.tokenizer, model = tokenizer_and_model(tokenizer)
        if isinstance(framing, str):
            framing = framing_for(framing)
        self.framing = framing or _default_framing(self.tokenizer, model)
        self.model = model
        self._texts = _LRU(max_cached_texts, max_cached_chars)
        self._messages = _LRU(max_cached_messages)
        self._tools: dict[tuple[Tool, ...], int] = {}
        self._snapshots: list[_Snapshot] = []
        self._snap_lock = threading.Lock()

    @classmethod
    def for_model(cls, model: str) -> TokenCounter:
        """A counter with the model's tokenizer and its provider's framing (and image rule)."""
        from contextwise.tokens._catalog import tokenizer_for_model

        counter = cls(tokenizer_for_model(model), framing_for(model))
        counter.model = model
        return counter

    @property
    def exact(self) -> bool:
        """Whether counts are exact for the model (False for estimated tokenizers)."""
        return bool(self.tokenizer.exact)

    def count(self, text: str) -> int:
        """Tokens in `text`, cached by content.

        Raises:
            UsageError: `text` is not a string.
        """
        if not isinstance(text, str):
            raise UsageError(f"count() takes a string, got {type(text).__name__}; use messages() for messages")
        if not text:
            return 0
        cached = self._texts.get(text)
        if cached is not None:
            return cached
        tokens = self.tokenizer.count(text)
        self._texts.put(text, tokens, len(text))
        return tokens

    def count_many(self, texts: Sequence[str]) -> list[int]:
        """Tokens in each of `texts`, cached by content like `count`; the ones not cached yet are counted together
        (on all cores when there is enough text, with a tokenizer that offers `count_many`).

        Raises:
            UsageError: an entry is not a string.
        """
        if isinstance(texts, str):
            raise UsageError("count_many() takes a sequence of strings; use count() for one")
        out: list[int] = []
        missing: dict[str, list[int]] = {}
        for i, text in enumerate(texts):
            if text.__class__ is not str and not isinstance(text, str):
                raise UsageError(f"count_many() takes strings, got {type(text).__name__} at {i}")
            cached = self._texts.get(text) if text else 0
            if cached is None:
                missing.setdefault(text, []).append(i)
            out.append(cached or 0)
        if missing:
            batch = getattr(self.tokenizer, "count_many", None)
            unique = list(missing)
            counts = batch(unique) if batch is not None else [self.tokenizer.count(t) for t in unique]
            for text, tokens in zip(unique, counts):
                self._texts.put(text, tokens, len(text))
                for i in missing[text]:
                    out[i] = tokens
        return out

    def message(self, msg: Message) -> int:
        """Tokens one message adds to a prompt under the framing (overhead included), cached by value."""
        cached = self._messages.get(msg)
        if cached is not None:
            return cached
        tokens = self._frame(msg)
        self._messages.put(msg, tokens)
        return tokens

    def messages(self, msgs: Iterable[MessageLike], *, tools: Iterable[Tool | Mapping[str, Any]] = ()) -> int:
        """Prompt tokens of a whole request: every message, the reply priming and the tool definitions.

        `msgs` may hold `Message`s, OpenAI-format dicts or SDK message objects (see `as_messages`). Counting a
        sequence that extends (or is a prefix of) one counted recently costs only the difference.
        """
        seq = msgs if isinstance(msgs, list) and all(isinstance(m, Message) for m in msgs) else as_messages(msgs)
        return self._sum(seq) + self.framing.reply_priming_tokens + self.tools(tools)

    def tools(self, tools: Iterable[Tool | Mapping[str, Any]]) -> int:
        """Prompt tokens the tool definitions add (0 for none)."""
        key = tuple(t if isinstance(t, Tool) else Tool.from_openai(t) for t in tools)
        if not key:
            return 0
        cached = self._tools.get(key)
        if cached is None:
            cached = self.framing.tool_rule.tokens(key, self.count)
            if len(self._tools) < 1024:
                self._tools[key] = cached
        return cached

    def image(self, part: ImagePart, model: str | None = None) -> int:
        """Tokens for one image part, by `model`'s family when given, else by this counter's framing."""
        rule = framing_for(model).image_rule if model else self.framing.image_rule
        return rule.tokens(part)

    def clear(self) -> None:
        """Forget everything cached."""
        self._texts.clear()
        self._messages.clear()
        self._tools.clear()
        with self._snap_lock:
            self._snapshots.clear()

    def _frame(self, msg: Message) -> int:
        f = self.framing
        total = f.per_message_tokens + (self.count(msg.role) if f.role_counted else 0)
        if isinstance(msg.content, str):
            total += self.count(msg.content)
        else:
            total += sum(self.count(p.text) if isinstance(p, TextPart) else f.image_rule.tokens(p)
                         for p in msg.content)
        if msg.name:
            total += self.count(msg.name) + f.per_name_tokens
        for call in msg.tool_calls:
            total += f.per_tool_call_tokens + self.count(call.name) + self.count(call.arguments)
            total += self.count(call.id) if f.tool_call_id_counted else 0
        if msg.role == "tool":
            total += f.per_tool_result_tokens
            total += self.count(msg.tool_call_id or "") if f.tool_call_id_counted else 0
        return total

    def _sum(self, seq: list[Message]) -> int:
        # Under one lock: snapshots are extended in place, so a turn costs one C-level prefix comparison plus
        # the new messages, not copies of the whole history.
        if not seq:
            return 0
        with self._snap_lock:
            snap = self._find_snapshot(seq)
            if snap is None:
                snap = _Snapshot([], [0])
            elif len(snap.msgs) >= len(seq):
                return snap.totals[len(seq)]
            else:
                self._snapshots.remove(snap)
            tail = seq[len(snap.msgs):]
            snap.totals.extend(itertools.accumulate(map(self.message, tail), initial=snap.totals[-1]))
            del snap.totals[len(snap.msgs) + 1]  # accumulate repeats its initial value
            snap.msgs.extend(tail)
            self._snapshots.insert(0, snap)
            del self._snapshots[8:]
            return snap.totals[-1]

    def _find_snapshot(self, seq: list[Message]) -> _Snapshot | None:
        """The snapshot sharing the longest prefix with `seq` (one that `seq` extends, or a prefix of)."""
        best = None
        for snap in self._snapshots:
            size = min(len(snap.msgs), len(seq))
            if not size or (best is not None and size <= len(best.msgs)):
                continue
            if (seq[:size] == snap.msgs) if size == len(snap.msgs) else (seq == snap.msgs[:size]):
                if size == len(seq):
                    return snap
                best = snap
        return best


def _default_framing(tokenizer: Tokenizer, model: str | None) -> Framing:
    if model:
        return framing_for(model)
    provider = families().framing_by_tokenizer.get(getattr(tokenizer, "name", ""))
    return framing_for(provider) if provider else GENERIC


def count_message(msg: Message, counter: TokenCounter) -> int:
    """Tokens one message adds to a prompt (see `TokenCounter.message`)."""
    return counter.message(msg)


def count_messages(msgs: Sequence[Message], counter: TokenCounter, *,
                   tools: Iterable[Tool | Mapping[str, Any]] = ()) -> int:
    """Prompt tokens of a request (see `TokenCounter.messages`)."""
    return counter.messages(msgs, tools=tools)


@functools.lru_cache(maxsize=16)
def shared_counter(model: str) -> TokenCounter:
    """The TokenCounter of a catalog model that every Context, every client's preflight, choose_model and the
    prompt-cache planner share in the process (keyed by model name, bounded), so content counted once is not
    counted again.

    Raises:
        UnknownBackendError: no tokenizer is known for `model`.
    """
    return TokenCounter.for_model(model)
